import Foundation

/// Where the project's files are: the checkout holding `.funnel/` (installed by
/// scripts/bootstrap.sh), `deploy/` and `schemas/`.
public enum ProjectPaths {
    /// `$FUNNEL_HOME`, else the nearest directory (from the current one upwards, then from
    /// this source file's checkout) that holds `Package.swift` and `.funnel/` or `deploy/`.
    public static let root: String? = {
        let fm = FileManager.default
        if let home = ProcessInfo.processInfo.environment["FUNNEL_HOME"] { return home }
        func search(from start: String) -> String? {
            var dir = URL(fileURLWithPath: start).standardizedFileURL
            while dir.path != "/" {
                if fm.fileExists(atPath: dir.appendingPathComponent(".funnel").path)
                    || fm.fileExists(atPath: dir.appendingPathComponent("deploy").path),
                   fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                    return dir.path
                }
                dir.deleteLastPathComponent()
            }
            return nil
        }
        return search(from: fm.currentDirectoryPath)
            ?? search(from: URL(fileURLWithPath: #filePath).deletingLastPathComponent().path)
    }()

    /// `$FUNNEL_CONFIG_DIR`, else `<root>/deploy`.
    public static var configDirectory: String {
        ProcessInfo.processInfo.environment["FUNNEL_CONFIG_DIR"] ?? ((root ?? ".") + "/deploy")
    }
}
