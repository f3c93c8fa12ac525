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
            object[key] = Redact.metadataValue(key: key, "\(value)")
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

/// Masks personal data in free text before it is logged, without mangling diagnostics.
public enum Redact {
    /// Replaces e-mail addresses with `<email>` and phone numbers with `<phone>`, token by token
    /// (surrounding quotes, brackets and punctuation are kept). An e-mail address is
    /// `local@domain.tld` with the usual characters — librdkafka's `topic[3]@1234` is not one. A
    /// phone number has 7+ digits and only digits and `+-(). `; a decimal number
    /// (`1000000.0`) and an integer without a leading `+` or `0` (`1234567`: an offset, a count)
    /// are numbers, not phones — the phones Funnel stores are E.164 (`+4930…`).
    public static func personalData(_ text: String) -> String {
        guard text.contains("@") || text.contains(where: \.isNumber) else { return text }
        var out = ""
        for token in text.split(separator: " ", omittingEmptySubsequences: false) {
            let trimmed = token.trimmingCharacters(in: edge)
            if isEmail(trimmed) {
                out += token.replacingOccurrences(of: trimmed, with: "<email>")
            } else if isPhone(trimmed) {
                out += token.replacingOccurrences(of: trimmed, with: "<phone>")
            } else {
                out += token
            }
            out += " "
        }
        return String(out.dropLast())
    }

    /// A metadata value: a plain number is a diagnostic (`per_second: 1000000.0`) unless its
    /// key names personal data; anything else as ``personalData(_:)``.
    public static func metadataValue(key: String, _ value: String) -> String {
        if ["email", "phone", "first_name", "last_name"].contains(key) { return value.isEmpty ? value : "<\(key)>" }
        if !value.hasPrefix("+"), !(value.hasPrefix("0") && value.count > 1 && !value.hasPrefix("0.")), Double(value) != nil { return value }
        return personalData(value)
    }

    private static let edge = CharacterSet(charactersIn: "\"'`()<>,;:")

    static func isEmail(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else { return false }
        let local = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._%+-!#$&'*/=?^{|}~"))
        let domain = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-"))
        return parts[0].unicodeScalars.allSatisfy(local.contains) && parts[1].unicodeScalars.allSatisfy(domain.contains)
    }

    static func isPhone(_ s: String) -> Bool {
        let digits = s.filter(\.isNumber).count
        guard digits >= 7, s.allSatisfy({ $0.isNumber || "+-(). ".contains($0) }) else { return false }
        if s.allSatisfy(\.isNumber) && !s.hasPrefix("0") { return false } // an integer: an offset, a count
        if let dot = s.firstIndex(of: "."), s.filter({ $0 == "." }).count == 1, s[s.startIndex..<dot].allSatisfy(\.isNumber),
           !s.hasPrefix("0"), s[s.index(after: dot)...].count <= 3, s[s.index(after: dot)...].allSatisfy(\.isNumber) {
            return false // a decimal number
        }
        return true
    }
}
