import Foundation
import FunnelDevKit
import Testing

/// `promtool check metrics` (Debian `prometheus`, installed by scripts/bootstrap.sh) over a
/// service's `/metrics`: the exposition parses, and its names follow Prometheus' conventions
/// (`_total` counters, base units spelled out, help text).
enum Promtool {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "promtool not found on PATH: install Debian's `prometheus` package (scripts/bootstrap.sh does) to check the /metrics expositions"
        }
    }

    /// The promtool executable on `PATH`.
    static func path() throws -> String {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        guard let found = dirs.map({ "\($0)/promtool" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Missing()
        }
        return found
    }

    /// Runs `promtool check metrics` on `exposition`: its exit status and what it printed.
    static func checkMetrics(_ exposition: String, scratch: String) throws -> (status: Int32, output: String) {
        let input = scratch + "/metrics-\(UUID().uuidString.prefix(6)).prom"
        let output = input + ".out"
        try exposition.write(toFile: input, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path())
        process.arguments = ["check", "metrics"]
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: input))
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardOutput = out
        process.standardError = out
        try process.run()
        process.waitUntilExit()
        try? out.close()
        return (process.terminationStatus, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}

/// A parsed exposition: sample values by series (`name{labels}` as exposed).
struct Exposition {
    let samples: [(name: String, labels: String, value: Double)]

    init(_ text: String) {
        samples = text.split(separator: "\n").compactMap { line -> (String, String, Double)? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return (String(series), "", value) }
            return (String(series[..<brace]), String(series[brace...]), value)
        }
    }

    /// The sum over the series of `name` whose labels contain every one of `matching` (`key="value"`).
    func sum(_ name: String, _ matching: [String] = []) -> Double {
        samples.filter { $0.name == name && matching.allSatisfy($0.labels.contains) }.map(\.value).reduce(0, +)
    }

    func has(_ name: String) -> Bool { samples.contains { $0.name == name } }
}
