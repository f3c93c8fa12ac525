import Foundation

/// A message the local SMTP sink stored, parsed enough for tests and the demo's "recipients":
/// its headers and the tracking links in its body (quoted-printable soft breaks undone).
public struct DeliveredMail: Sendable {
    public let raw: String
    /// Header names lower-cased; folded lines unfolded.
    public private(set) var headers: [String: String] = [:]

    public init(_ bytes: [UInt8]) {
        raw = String(decoding: bytes, as: UTF8.self)
        let head = raw.components(separatedBy: "\r\n\r\n").first ?? raw
        let unfolded = head.replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n\t", with: " ")
        for line in unfolded.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }

    public var lead: String? { headers["x-funnel-lead"] }
    /// `sequence/step` (or `alert/queue`).
    public var campaign: String? { headers["x-funnel-campaign"] }
    public var to: String? { headers["to"] }

    /// Paths in the body that start with `prefix` (`/t/o/`, `/t/c/`, `/u/`), with their token.
    public func paths(_ prefix: String) -> [String] {
        let body = raw.replacingOccurrences(of: "=\r\n", with: "").replacingOccurrences(of: "=3D", with: "=")
        var out: [String] = []
        var rest = body[...]
        while let r = rest.range(of: prefix) {
            let token = rest[r.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
            if !token.isEmpty, !out.contains(prefix + token) { out.append(prefix + token) }
            rest = rest[r.upperBound...]
        }
        return out
    }
}

extension LocalSMTPSink {
    /// Every delivered message, parsed.
    public func deliveredMail() -> [DeliveredMail] { deliveredMessages().map(DeliveredMail.init) }
}
