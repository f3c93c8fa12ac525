/// A payload that can write itself as JSON without `JSONEncoder`: the hot-path events
/// (`LeadScored`). The bytes are identical to `EventCoding`'s Foundation output (sorted keys,
/// unescaped slashes, absent optionals omitted) — a test compares them.
public protocol FastJSONEncodable {
    func writeJSON(to w: inout JSONWriter)
}

/// Appends JSON tokens to a byte buffer. The caller writes keys in sorted order.
///
/// It writes into a plain allocation, without an array's uniqueness and capacity checks on
/// every byte (those were a third of the cost of writing an event). Use one writer per
/// document and pass it `inout`: copies share the allocation.
/// Finds where a run of bytes a JSON string can carry as they are ends, eight bytes at a time
/// (SWAR): most strings in events have nothing to escape.
enum JSONScan {
    /// The index of the first byte in `start..<end` that is `"`, `\`, a control character, or
    /// (with `stopAtNonASCII`) a byte ≥ 0x80; `end` if there is none.
    @inline(__always)
    static func plainRun(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int, stopAtNonASCII: Bool) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var i = start
        while i + 8 <= end {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            // A zero byte in `w ^ c` is a byte equal to c; `(w - 0x20…) & ~w` flags bytes < 0x20.
            // Borrows may flag bytes above a real hit, never a word without one.
            let quote = w ^ (ones &* 0x22), backslash = w ^ (ones &* 0x5C)
            var special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- ones &* 0x20) & ~w)
            if stopAtNonASCII { special |= w }
            if special & highs != 0 { break }
            i += 8
        }
        while i < end {
            let b = base[i]
            if b == 0x22 || b == 0x5C || b < 0x20 || (stopAtNonASCII && b >= 0x80) { return i }
            i += 1
        }
        return end
    }
}

public struct JSONWriter {
    /// Owns the buffer (freed with the last writer that uses it); the writer keeps the
    /// pointer itself, so writing touches no class property.
    private final class Allocation {
        let pointer: UnsafeMutablePointer<UInt8>
        init(capacity: Int) { pointer = .allocate(capacity: capacity) }
        deinit { pointer.deallocate() }
    }
    private var allocation: Allocation
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0
    /// One bit per open object or array (bit 0: the innermost): whether the next member
    /// needs a comma. Nesting is limited to 63 levels (the events written here use 4).
    private var needsComma: UInt64 = 0

    public init(capacity: Int = 1024) {
        self.capacity = max(capacity, 64)
        allocation = Allocation(capacity: self.capacity)
        base = allocation.pointer
    }

    /// The JSON written so far (a copy).
    public var bytes: [UInt8] { withExtendedLifetime(allocation) { Array(UnsafeBufferPointer(start: base, count: count)) } }

    /// Calls `body` with the JSON written so far, without copying it.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(allocation) { try body(UnsafeRawBufferPointer(start: base, count: count)) }
    }

    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(to: count + n) }
    }

    private mutating func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let grown = Allocation(capacity: newCapacity)
        grown.pointer.update(from: base, count: count)
        allocation = grown
        base = grown.pointer
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let source = buffer.baseAddress, buffer.count > 0 else { return }
        reserve(buffer.count)
        (base + count).update(from: source, count: buffer.count)
        count += buffer.count
    }

    mutating func append(_ buffer: UnsafeRawBufferPointer) {
        append(buffer.bindMemory(to: UInt8.self))
    }

    mutating func append(_ bytes: some Sequence<UInt8>) {
        for b in bytes { append(b) }
    }

    public mutating func beginObject() { value(); append(UInt8(ascii: "{")); push() }
    public mutating func endObject() { needsComma >>= 1; append(UInt8(ascii: "}")) }
    public mutating func beginArray() { value(); append(UInt8(ascii: "[")); push() }
    public mutating func endArray() { needsComma >>= 1; append(UInt8(ascii: "]")) }

    private mutating func push() {
        precondition(needsComma >> 63 == 0, "JSONWriter: nesting deeper than 63 levels")
        needsComma <<= 1
    }

    public mutating func key(_ name: StaticString) {
        if needsComma & 1 != 0 { append(UInt8(ascii: ",")) }
        needsComma &= ~1
        append(UInt8(ascii: "\""))
        name.withUTF8Buffer { append($0) }
        append(UInt8(ascii: "\""))
        append(UInt8(ascii: ":"))
    }

    /// After a key written by hand: the value that follows needs no comma.
    mutating func markKeyWritten() { needsComma &= ~1 }

    /// Before a value: a comma inside arrays after the first element.
    private mutating func value() {
        if needsComma & 1 != 0 { append(UInt8(ascii: ",")) }
        needsComma |= 1
    }

    /// The decimal digits of `v`, without a String in between.
    private mutating func digits(_ v: Int64) {
        var magnitude = v.magnitude
        if v < 0 { append(UInt8(ascii: "-")) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in // UInt64.max has 20 digits
            var i = buffer.count
            repeat {
                i -= 1
                buffer[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            append(UnsafeBufferPointer(rebasing: buffer[i...]))
        }
    }

    public mutating func string(_ s: String) {
        value()
        append(UInt8(ascii: "\""))
        // Most strings need no escaping: copy them whole.
        let plain = s.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            guard let start = utf8.baseAddress else { return true }
            guard JSONScan.plainRun(start, from: 0, to: utf8.count, stopAtNonASCII: false) == utf8.count else { return false }
            append(utf8)
            return true
        } ?? false
        if plain {
            append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): append(UInt8(ascii: "\\")); append(b)
            case UInt8(ascii: "\\"): append(UInt8(ascii: "\\")); append(b)
            case 0x0A: append(UInt8(ascii: "\\")); append(UInt8(ascii: "n"))
            case 0x0D: append(UInt8(ascii: "\\")); append(UInt8(ascii: "r"))
            case 0x09: append(UInt8(ascii: "\\")); append(UInt8(ascii: "t"))
            case 0x08: append(UInt8(ascii: "\\")); append(UInt8(ascii: "b"))
            case 0x0C: append(UInt8(ascii: "\\")); append(UInt8(ascii: "f"))
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                append([UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xf)]])
            default: append(b)
            }
        }
        append(UInt8(ascii: "\""))
    }

    public mutating func bool(_ v: Bool) {
        value()
        let word: StaticString = v ? "true" : "false"
        word.withUTF8Buffer { append($0) }
    }

    public mutating func int(_ v: Int) { value(); digits(Int64(v)) }

    /// An explicit `null` (for keys a schema requires even without a value).
    public mutating func null() {
        value()
        let word: StaticString = "null"
        word.withUTF8Buffer { append($0) }
    }

    /// As Foundation writes them: the shortest round-trip form (`description`) without a
    /// trailing `.0` (so integral values have no fraction, and -0 is `-0`).
    public mutating func number(_ v: Double) {
        value()
        if v == v.rounded(), abs(v) < 1e15, v != 0 || v.sign == .plus { digits(Int64(v)); return }
        let text = v.description
        append(text.hasSuffix(".0") ? text.utf8.dropLast(2) : text.utf8[...])
    }

    /// A field whose value is written by `body`.
    public mutating func field(_ name: StaticString, _ body: (inout JSONWriter) -> Void) { key(name); body(&self) }
    public mutating func field(_ name: StaticString, _ v: String) { key(name); string(v) }
    public mutating func field(_ name: StaticString, _ v: String?) { if let v { key(name); string(v) } }
    public mutating func field(_ name: StaticString, _ v: Double) { key(name); number(v) }
    public mutating func field(_ name: StaticString, _ v: Bool) { key(name); bool(v) }
    public mutating func field(_ name: StaticString, _ v: Bool?) { if let v { key(name); bool(v) } }
    public mutating func field(_ name: StaticString, _ v: Int?) { if let v { key(name); int(v) } }
}

extension JSONWriter {
    /// Bytes written so far.
    var byteCount: Int { count }

    /// ``EventCoding/contentHash(_:)`` of the bytes written in `range`.
    func contentHash(_ range: Range<Int>) -> UInt64 {
        withBytes { EventCoding.contentHash(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
}

extension EventCoding {
    /// A 64-bit hash of a payload's bytes, eight at a time (multiply, xor-shift; the tail byte
    /// by byte): part of content-addressed ids, so it must never change for the same bytes.
    /// Byte-wise FNV-1a here was 5 % of the scorer's loop.
    public static func contentHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(bytes.count)
        let k: UInt64 = 0x9e37_79b9_7f4a_7c15
        var i = 0
        while i + 8 <= bytes.count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            h = (h ^ word) &* k
            h ^= h >> 29
            i += 8
        }
        while i < bytes.count {
            h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01b3
            i += 1
        }
        h ^= h >> 32
        return h
    }

    public static func contentHash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { contentHash($0) } }
}

extension EventCoding {
    /// An event whose id derives from `parts` *and the bytes of its payload*: whatever made it,
    /// one id always carries the same content. For stages whose output for an input depends on
    /// more than that input (funnel-score: on which of the lead's other events were read first),
    /// so a replay that saw another interleaving says so with another id instead of re-using one.
    /// The bytes are those of `CloudEvent(id:…)` with the returned id (a test compares them).
    public static func encodeContentAddressed<P: Codable & Sendable & FastJSONEncodable>(
        _ data: P, deriving parts: [String], source: String, type: String, time: String, subject: String
    ) -> (id: String, bytes: [UInt8]) {
        var w = JSONWriter()
        w.beginObject()
        w.key("data")
        let start = w.byteCount
        data.writeJSON(to: &w)
        let digest = w.contentHash(start..<w.byteCount)
        let id = EventID.derive(parts + [String(digest, radix: 16)])
        w.field("datacontenttype", "application/json")
        w.field("dataschema", Schemas.uri(for: type))
        w.field("id", id)
        w.field("source", source)
        w.field("specversion", "1.0")
        w.field("subject", subject)
        w.field("time", time)
        w.field("type", type)
        w.endObject()
        return (id, w.bytes)
    }
}

extension CloudEvent {
    /// The structured-mode event, keys sorted as `EventCoding` writes them.
    func fastJSON(_ data: any FastJSONEncodable) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("data") { data.writeJSON(to: &$0) }
        w.field("datacontenttype", datacontenttype)
        w.field("dataschema", dataschema)
        w.field("id", id)
        w.field("source", source)
        w.field("specversion", specversion)
        w.field("subject", subject)
        w.field("time", time)
        w.field("type", type)
        w.endObject()
        return w.bytes
    }
}

extension LeadScored: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("account_owner", accountOwner)
        w.field("account_tier", accountTier)
        w.field("campaign", campaign)
        w.field("contact_available", contactAvailable)
        w.field("country", country)
        w.field("disqualification", disqualification)
        w.field("email_class", emailClass?.rawValue)
        w.field("employees", employees)
        w.field("fit", fit)
        w.field("grade", grade)
        w.field("industry", industry)
        w.field("intent", intent?.rawValue)
        w.field("interest", interest)
        w.field("interest_band", interestBand)
        w.field("lead_id", leadID)
        w.field("model", model)
        w.field("mql", mql)
        w.field("profile_known", profileKnown)
        w.field("quadrant", quadrant)
        w.field("rules") { w in
            w.beginArray()
            for rule in rules {
                w.beginObject()
                w.field("category", rule.category)
                w.field("events", rule.events)
                w.field("points", rule.points)
                w.field("rule", rule.rule)
                w.endObject()
            }
            w.endArray()
        }
        w.field("scored_at", scoredAt)
        if let scores {
            w.field("scores") { w in
                w.beginArray()
                for s in scores {
                    w.beginObject()
                    w.field("fit", s.fit)
                    w.field("grade", s.grade)
                    w.field("interest", s.interest)
                    w.field("interest_band", s.interestBand)
                    w.field("name", s.name)
                    w.field("quadrant", s.quadrant)
                    w.field("total", s.total)
                    w.endObject()
                }
                w.endArray()
            }
        }
        w.field("source", source)
        w.field("total", total)
        w.endObject()
    }
}

extension JSONWriter {
    /// A string map with its keys in byte order (as `JSONEncoder`'s `.sortedKeys` writes them).
    public mutating func field(_ name: StaticString, _ map: [String: String]?) {
        guard let map else { return }
        key(name)
        beginObject()
        for (k, v) in map.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            dynamicKey(k)
            string(v)
        }
        endObject()
    }

    /// A key that is not a literal (dictionary keys), escaped like a string.
    mutating func dynamicKey(_ name: String) {
        string(name)
        append(UInt8(ascii: ":"))
        markKeyWritten()
    }
}

// The ingest's events: written on every HTTP request and CSV row.
extension LeadCaptured: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("attributes", attributes)
        w.field("campaign", campaign)
        w.field("captured_at", capturedAt)
        w.field("company", company)
        w.field("company_domain", companyDomain)
        if let consent { w.field("consent") { w in w.beginObject(); w.field("email", consent.email); w.endObject() } }
        w.field("country", country)
        w.field("email", email)
        w.field("employees", employees)
        w.field("first_name", firstName)
        w.field("industry", industry)
        w.field("job_title", jobTitle)
        w.field("last_name", lastName)
        w.field("lead_id", leadID)
        w.field("phone", phone)
        w.field("source", source)
        w.endObject()
    }
}

extension LeadActivity: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("attributes", attributes)
        w.field("lead_id", leadID)
        w.field("occurred_at", occurredAt)
        w.field("source", source)
        w.field("type", type.rawValue)
        w.field("url", url)
        w.endObject()
    }
}

extension LeadOutcome: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        if let amount { w.field("amount", amount) }
        if let bant { w.field("bant") { bant.writeJSON(to: &$0) } }
        w.field("currency", currency)
        w.field("lead_id", leadID)
        w.field("occurred_at", occurredAt)
        w.field("outcome", outcome.rawValue)
        w.field("reason", reason)
        w.endObject()
    }
}
