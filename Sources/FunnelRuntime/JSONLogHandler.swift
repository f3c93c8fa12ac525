import Foundation
import Logging

/// swift-log handler writing one JSON object per line to stderr, with personal data
/// (e-mail addresses, phone numbers) masked in messages and metadata.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let service: String

    public init(label: String, service: String, level: Logger.Level = .info) {
        self.label = label
        self.service = service
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: String] = [
            "time": ISO8601DateFormatter().string(from: Date()),
            "level": "\(event.level)",
            "service": service,
            "logger": label,
            "message": Redact.personalData("\(event.message)"),
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = Redact.personalData("\(value)")
        }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }

    /// Installs the handler for the whole process (once, at start-up). `FUNNEL_LOG_LEVEL` sets the level.
    public static func bootstrap(service: String) {
        let level = ProcessInfo.processInfo.environment["FUNNEL_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, service: service, level: level) }
    }
}

/// Masks personal data in free text before it is logged.
public enum Redact {
    /// Replaces e-mail addresses with `<email>` and runs of 7+ digits (phone numbers) with `<phone>`.
    public static func personalData(_ text: String) -> String {
        guard text.contains("@") || text.contains(where: \.isNumber) else { return text }
        var out = ""
        for token in text.split(separator: " ", omittingEmptySubsequences: false) {
            if token.contains("@"), token.split(separator: "@").count == 2 {
                out += "<email>"
            } else if token.filter(\.isNumber).count >= 7, token.allSatisfy({ $0.isNumber || "+-(). ".contains($0) }) {
                out += "<phone>"
            } else {
                out += token
            }
            out += " "
        }
        return String(out.dropLast())
    }
}
