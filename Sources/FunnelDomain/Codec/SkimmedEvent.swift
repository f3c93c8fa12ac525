import Foundation

/// A CloudEvent read through a ``JSONSkim``: the envelope checked as ``EventDecoder`` checks it
/// (spec version, type, non-empty id and subject, time, content type, schema, and subject equal
/// to `data.lead_id`), the payload left as members for a field-specific reader.
///
/// A reader built on it answers either the values the full decoder would give or nil, never a
/// rejection: nil sends the event to ``EventDecoder``, which decides (and names the field).
public struct SkimmedEvent {
    public let json: JSONSkim
    /// The `id` and `subject` members (strings).
    public let id: JSONSkim.Member
    public let subject: JSONSkim.Member
    /// The members of `data`.
    public let data: Range<Int32>

    /// The envelope of `bytes` as an event of `type`, or nil (leave it to ``EventDecoder``).
    public init?(_ bytes: UnsafeRawBufferPointer, type: String) {
        guard let json = JSONSkim(bytes) else { return nil }
        let root = json.root
        guard let spec = json.member("specversion", in: root), spec.kind == .string, json.value(spec, equals: "1.0"),
              let id = json.member("id", in: root), id.kind == .string, id.valueEnd > id.valueStart,
              let source = json.member("source", in: root), source.kind == .string,
              let kind = json.member("type", in: root), kind.kind == .string, json.value(kind, equals: type),
              let time = json.member("time", in: root), time.kind == .string, Timestamp.isValid(utf8: json.slice(time)),
              let subject = json.member("subject", in: root), subject.kind == .string, subject.valueEnd > subject.valueStart,
              let contentType = json.member("datacontenttype", in: root), contentType.kind == .string,
              json.value(contentType, equals: "application/json"),
              let schema = json.member("dataschema", in: root), schema.kind == .string, Self.isSchema(json.slice(schema), of: type),
              let dataMember = json.member("data", in: root), let data = json.children(dataMember),
              let leadID = json.member("lead_id", in: data), leadID.kind == .string, json.sameValue(leadID, subject)
        else { return nil }
        self.json = json
        self.id = id
        self.subject = subject
        self.data = data
    }

    /// Whether `bytes` are ``Schemas/uri(for:)`` of `type`, without building it.
    static func isSchema(_ bytes: UnsafeBufferPointer<UInt8>, of type: String) -> Bool {
        var base = Schemas.base, type = type
        let suffix: StaticString = ".json"
        return base.withUTF8 { prefix in
            type.withUTF8 { middle in
                guard bytes.count == prefix.count + middle.count + suffix.utf8CodeUnitCount, let p = bytes.baseAddress else { return false }
                return memcmp(p, prefix.baseAddress!, prefix.count) == 0 && memcmp(p + prefix.count, middle.baseAddress!, middle.count) == 0
                    && memcmp(p + prefix.count + middle.count, suffix.utf8Start, suffix.utf8CodeUnitCount) == 0
            }
        }
    }

    /// The lead id (the subject, equal to `data.lead_id`).
    public var leadID: String { json.string(subject) }

    /// FNV-1a of the event id, as ``LeadScoreState/hash(_:)`` computes it from the String.
    public var idHash: UInt64 { FNV1a.hash(json.slice(id)) }

    // MARK: Payload fields (nil: not what the full decoder would accept as such; leave it to it)

    /// A required string of at most `maxLength` characters.
    public func string(_ key: StaticString, maxLength: Int = .max) -> JSONSkim.Member? {
        guard let m = json.member(key, in: data), m.kind == .string, Int(m.valueEnd - m.valueStart) <= maxLength else { return nil }
        return m // ASCII: bytes are characters
    }

    /// An optional string (absent or null: `.some(nil)`) of at most `maxLength` characters.
    public func optionalString(_ key: StaticString, maxLength: Int = .max) -> JSONSkim.Member?? {
        guard let m = json.member(key, in: data), m.kind != .null else { return .some(nil) }
        guard m.kind == .string, Int(m.valueEnd - m.valueStart) <= maxLength else { return nil }
        return .some(m)
    }

    /// A required RFC 3339 time, as milliseconds.
    public func time(_ key: StaticString) -> Int64? {
        string(key).flatMap { Timestamp.milliseconds(utf8: json.slice($0)) }
    }

    /// A required string that is one of `names`.
    public func name<E>(_ key: StaticString, _ names: ByteNames<E>) -> E? {
        string(key).flatMap { names.value(json.slice($0)) }
    }

    /// An optional string that is one of `names`.
    public func optionalName<E>(_ key: StaticString, _ names: ByteNames<E>) -> E?? {
        guard let m = optionalString(key) else { return nil }
        guard let m else { return .some(nil) }
        return names.value(json.slice(m)).map { .some($0) }
    }

    /// Whether `key` is absent from `data`.
    public func absent(_ key: StaticString) -> Bool { json.member(key, in: data) == nil }

    /// An optional whole number written as plain digits (`-?[0-9]{1,15}`); anything else is
    /// left to the full decoder.
    public func optionalInt(_ key: StaticString) -> Int?? {
        guard let m = json.member(key, in: data), m.kind != .null else { return .some(nil) }
        guard m.kind == .number else { return nil }
        let digits = json.slice(m)
        var value = 0, i = 0, negative = false
        if digits.first == UInt8(ascii: "-") { negative = true; i = 1 }
        guard digits.count - i >= 1, digits.count - i <= 15 else { return nil }
        while i < digits.count {
            guard digits[i] >= 0x30, digits[i] <= 0x39 else { return nil }
            value = value * 10 + Int(digits[i] - 0x30)
            i += 1
        }
        return .some(negative ? -value : value)
    }

    /// An optional finite number (absent or null: `.some(nil)`).
    public func optionalDouble(_ key: StaticString) -> Double?? {
        guard let m = json.member(key, in: data), m.kind != .null else { return .some(nil) }
        guard m.kind == .number, let value = Double(json.string(m)), value.isFinite else { return nil }
        return .some(value)
    }

    /// An optional map of strings (absent or null: `.some(nil)`) that passes
    /// `Check.attributes` (at most 50, keys 1 to 64 characters, values up to 1000), as its members.
    public func optionalAttributes(_ key: StaticString) -> Range<Int32>?? {
        guard let m = json.member(key, in: data), m.kind != .null else { return .some(nil) }
        guard let members = json.children(m) else { return nil }
        var count = 0, valid = true
        json.forEachMember(in: members) { a in
            count += 1
            let keyLength = a.keyEnd - a.keyStart
            valid = valid && a.kind == .string && keyLength >= 1 && keyLength <= 64 && a.valueEnd - a.valueStart <= 1000
        }
        return valid && count <= 50 ? .some(members) : nil
    }
}

/// The raw values of a String enum as bytes: a value read without making a String.
public struct ByteNames<E: RawRepresentable & CaseIterable & Sendable>: Sendable where E.RawValue == String {
    private let table: [([UInt8], E)]
    public init() { table = E.allCases.map { (Array($0.rawValue.utf8), $0) } }
    public func value(_ bytes: UnsafeBufferPointer<UInt8>) -> E? {
        for (name, value) in table where name.count == bytes.count
            && name.withUnsafeBufferPointer({ bytes.count == 0 || memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) { return value }
        return nil
    }
}

/// The byte tables of the enums events carry.
enum Names {
    static let stages = ByteNames<Stage>()
    static let activityTypes = ByteNames<ActivityType>()
    static let outcomes = ByteNames<OutcomeType>()
}

/// 64-bit FNV-1a: the event id hash of dedup sets and replay tie-breaks.
public enum FNV1a {
    public static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    public static func hash(_ text: String) -> UInt64 {
        // Over the UTF-8 view: no mutable copy of the string (withUTF8 needs one) on the scorer's path.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}
