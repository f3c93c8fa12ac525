import Foundation
import Synchronization

/// One reason a message or request was rejected: which field, and why.
public struct FieldError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// A JSON path such as `data.email` or `[3].employees`.
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// Decodes and validates an event, turning every failure into precise ``FieldError``s.
public enum EventDecoder {
    /// Decodes `bytes` as a `CloudEvent<P>` of `expectedType` and validates it.
    public static func decode<P: Validatable>(_ type: P.Type, from bytes: [UInt8], expectedType: String) -> Result<CloudEvent<P>, FieldError> {
        bytes.withUnsafeBytes { decode(type, from: $0, expectedType: expectedType) }
    }

    /// As above, reading the bytes in place (no copy).
    public static func decode<P: Validatable>(_ type: P.Type, from buffer: UnsafeRawBufferPointer, expectedType: String) -> Result<CloudEvent<P>, FieldError> {
        let event: CloudEvent<P>
        // Behavioural events, the bulk of the traffic: a direct parser (same acceptance; it
        // defers to JSONDecoder for anything unusual, and for every error).
        if P.self == LeadActivity.self, let fast = FastJSON.activityEvent(buffer) as? CloudEvent<P> {
            return validate(fast, expectedType: expectedType)
        }
        if P.self == LeadEnriched.self, let fast = FastJSON.enrichedEvent(buffer) as? CloudEvent<P> {
            return validate(fast, expectedType: expectedType)
        }
        if P.self == LeadScored.self, let fast = FastJSON.scoredEvent(buffer) as? CloudEvent<P> {
            return validate(fast, expectedType: expectedType)
        }
        if P.self == StageChanged.self, let fast = FastJSON.stageChangedEvent(buffer) as? CloudEvent<P> {
            return validate(fast, expectedType: expectedType)
        }
        if P.self == AssignmentCommand.self, let fast = FastJSON.assignmentCommandEvent(buffer) as? CloudEvent<P> {
            return validate(fast, expectedType: expectedType)
        }
        if P.self == AssignmentAnswer.self, let fast = FastJSON.assignmentAnswerEvent(buffer) as? CloudEvent<P> {
            return validate(fast, expectedType: expectedType)
        }
        do {
            let data = buffer.baseAddress.map { Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0), count: buffer.count, deallocator: .none) } ?? Data()
            event = try sharedDecoder.decode(CloudEvent<P>.self, from: data)
        } catch let error as DecodingError {
            return .failure(fieldError(error))
        } catch {
            return .failure(FieldError(field: "", reason: "not JSON: \(error)"))
        }
        return validate(event, expectedType: expectedType)
    }

    /// The envelope and payload checks after decoding.
    static func validate<P: Validatable>(_ event: CloudEvent<P>, expectedType: String) -> Result<CloudEvent<P>, FieldError> {
        var errors: [FieldError] = []
        if event.specversion != "1.0" { errors.append(FieldError(field: "specversion", reason: "must be \"1.0\"")) }
        if event.type != expectedType { errors.append(FieldError(field: "type", reason: "must be \"\(expectedType)\", got \"\(event.type)\"")) }
        if event.id.isEmpty { errors.append(FieldError(field: "id", reason: "must not be empty")) }
        if event.subject.isEmpty { errors.append(FieldError(field: "subject", reason: "must not be empty")) }
        if !Check.isTimestamp(event.time) { errors.append(FieldError(field: "time", reason: "must be an RFC 3339 date-time")) }
        if event.datacontenttype != "application/json" { errors.append(FieldError(field: "datacontenttype", reason: "must be \"application/json\"")) }
        if event.dataschema != Schemas.uri(for: expectedType) { errors.append(FieldError(field: "dataschema", reason: "must be \"\(Schemas.uri(for: expectedType))\"")) }
        if let lead = event.data.leadIDForSubject, lead != event.subject {
            errors.append(FieldError(field: "subject", reason: "must equal data.lead_id"))
        }
        errors += event.data.validate().map { FieldError(field: "data." + $0.field, reason: $0.reason) }
        if let first = errors.first { return .failure(first) }
        return .success(event)
    }

    /// Configured once; decoding does not mutate it.
    private static let sharedDecoder = EventCoding.decoder()

    /// A `DecodingError` as a field path and a reason.
    public static func fieldError(_ error: DecodingError) -> FieldError {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return FieldError(field: path(context.codingPath + [key]), reason: "is required")
        case .typeMismatch(let type, let context):
            return FieldError(field: path(context.codingPath), reason: "must be \(describe(type))")
        case .valueNotFound(let type, let context):
            return FieldError(field: path(context.codingPath), reason: "must be \(describe(type)), not null")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if context.codingPath.isEmpty { return FieldError(field: "", reason: "not valid JSON") }
            return FieldError(field: field, reason: context.debugDescription)
        @unknown default:
            return FieldError(field: "", reason: "\(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "a boolean"
        default:
            let name = "\(type)"
            if name.hasPrefix("Dictionary") { return "an object" }
            if name.hasPrefix("Array") { return "an array" }
            return "a \(name)"
        }
    }
}

/// A payload that checks what the schema says beyond types: enums, formats, required-one-of.
public protocol Validatable: Codable, Sendable {
    /// Field errors with paths relative to the payload.
    func validate() -> [FieldError]
    /// The lead id the envelope's `subject` must equal (nil: no such rule).
    var leadIDForSubject: String? { get }
}

extension Validatable {
    public var leadIDForSubject: String? { nil }
}

/// Format checks shared by payloads and the HTTP edge.
public enum Check {
    /// RFC 3339 date-time (`2026-11-23T18:09:30Z`, fractions and offsets allowed).
    public static func isTimestamp(_ text: String) -> Bool {
        Timestamp.isValid(text)
    }

    /// A practical e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces;
    /// the last label letters, or an A-label (`xn--…`: the ingest stores IDN domains so). The
    /// edge's own rules are stricter (``EmailAddress``); this is what consumers accept.
    public static func isEmail(_ text: String) -> Bool {
        if let ascii = isASCIIEmail(text) { return ascii }
        return isEmailByCharacters(text)
    }

    /// `isEmail` on bytes for ASCII text (nearly every address): the same rules without
    /// Unicode character properties, which cost more than the rest of validating a lead.
    /// nil when the text is not ASCII.
    static func isASCIIEmail(_ text: String) -> Bool? {
        var at = -1, count = 0, labelLength = 0, labels = 0, lastLabelLetters = true, aLabelPrefix = 0
        let xn: [UInt8] = Array("xn--".utf8)
        for byte in text.utf8 {
            guard byte < 0x80 else { return nil }
            if byte == 0x20 || (0x09...0x0D).contains(byte) { return false }
            if byte == UInt8(ascii: "@") {
                guard at < 0 else { return false }
                at = count
            } else if at >= 0 {
                if byte == UInt8(ascii: ".") {
                    guard labelLength > 0 && labelLength <= 63 else { return false }
                    labels += 1
                    labelLength = 0
                    lastLabelLetters = true
                    aLabelPrefix = 0
                } else {
                    if labelLength == aLabelPrefix && aLabelPrefix < 4 && (byte | (aLabelPrefix < 2 ? 0x20 : 0)) == xn[aLabelPrefix] { aLabelPrefix += 1 }
                    labelLength += 1
                    lastLabelLetters = lastLabelLetters && ((0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte))
                }
            }
            count += 1
        }
        guard count <= 254, at > 0, at <= 64 else { return false }
        return labels >= 1 && labelLength >= 2 && labelLength <= 63 && (lastLabelLetters || (aLabelPrefix == 4 && labelLength > 4))
    }

    static func isEmailByCharacters(_ text: String) -> Bool {
        guard text.count <= 254, !text.contains(where: { $0.isWhitespace }) else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let domain = parts[1]
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 && labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 }) && labels.last!.count >= 2 else { return false }
        let last = labels.last!
        return last.allSatisfy(\.isLetter) || (last.count > 4 && last.lowercased().hasPrefix("xn--"))
    }

    /// ISO 3166-1 alpha-2 shape: two ASCII upper-case letters.
    public static func isCountryCode(_ text: String) -> Bool {
        text.utf8.count == 2 && text.utf8.allSatisfy { $0 >= 65 && $0 <= 90 }
    }
}

/// RFC 3339 timestamps. Validation is a hand-written scan (formatters are costly to create
/// and this runs several times per message); formatting reuses one formatter.
public enum Timestamp {
    /// Whether `text` is an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    public static func isValid(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isValid(utf8: $0) }
    }

    /// ``isValid(_:)`` on UTF-8 bytes (no String needed).
    public static func isValid(utf8 b: UnsafeBufferPointer<UInt8>) -> Bool {
        func digits(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, let _ = digits(0, 4), b[4] == 45, let month = digits(5, 2), b[7] == 45, let day = digits(8, 2),
              b[10] == 84 || b[10] == 116 || b[10] == 32, let hour = digits(11, 2), b[13] == 58, let minute = digits(14, 2),
              b[16] == 58, let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return false }
        var i = 19
        if i < b.count && b[i] == 46 {
            i += 1
            let start = i
            while i < b.count && b[i] >= 48 && b[i] <= 57 { i += 1 }
            guard i > start else { return false }
        }
        guard i < b.count else { return false }
        if b[i] == 90 || b[i] == 122 { return i + 1 == b.count }
        guard b[i] == 43 || b[i] == 45, let oh = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = digits(i + 4, 2) else { return false }
        return oh < 24 && om < 60 && i + 6 == b.count
    }

    public static func parse(_ text: String) -> Date? {
        guard isValid(text) else { return nil }
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }

    /// `2026-11-23T18:09:30.123Z` (UTC, milliseconds truncated). Written by hand: the ICU
    /// formatter behind `ISO8601DateFormatter` cost more than validating a lead.
    public static func format(_ date: Date) -> String {
        // Via whole microseconds, so that 0.999 s (998.99… ms in binary) stays 999 ms.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        return format(milliseconds: micros >= 0 ? micros / 1000 : (micros - 999) / 1000)
    }
}

/// Several field errors at once (one request item can have more than one).
public struct FieldErrors: Error, Sendable {
    public var errors: [FieldError]
    public init(_ errors: [FieldError]) { self.errors = errors }
}

extension String {
    /// Whether the string is longer than `limit` characters as JSON Schema's `maxLength`
    /// counts them (Unicode scalars). A string of at most `limit` UTF-8 bytes cannot be, and
    /// that length is known without walking the string.
    public func exceeds(characters limit: Int) -> Bool {
        utf8.count > limit && unicodeScalars.count > limit
    }
}
