import Foundation

/// A flat, allocation-light view of one JSON document for the readers of millions of events
/// (`funnel report`, `funnel backtest`): one pass checks the grammar and records every object
/// member (key and value as byte ranges), so a decoder reads the few fields it needs without
/// building a tree or a String per key.
///
/// It is deliberately narrower than ``FastJSON/parse(_:)``: a string with an escape or a
/// non-ASCII byte, an array, a duplicate key, more than ``capacity`` members or nesting deeper
/// than 8 make it give up (nil), and the caller decodes the event the full way. So whatever it
/// accepts, the full decoder accepts with the same values.
public struct JSONSkim {
    /// What a member's value is.
    public enum Kind: UInt8 { case string, number, `true`, `false`, null, object }

    /// One object member. Ranges index the document's bytes; a string's excludes the quotes.
    /// An object value's members follow it; `end` is the index after its last descendant.
    public struct Member {
        public var keyStart: Int32, keyEnd: Int32
        public var valueStart: Int32, valueEnd: Int32
        public var kind: Kind
        /// The index after this member and its descendants (its next sibling's).
        public var end: Int32
        /// An object value's first member's index.
        var firstChild: Int32
    }

    /// At most this many members in all (a stage change has about 20).
    static let capacity = 96

    public let bytes: UnsafeBufferPointer<UInt8>
    private(set) var members: [Member] = []
    /// The number of top-level members (they come first in document order, each followed by its descendants).
    private var rootEnd: Int32 = 0

    /// Skims `bytes`, a JSON object; nil when it is not one or holds something this view leaves to the full decoder.
    public init?(_ raw: UnsafeRawBufferPointer) {
        bytes = raw.bindMemory(to: UInt8.self)
        members.reserveCapacity(32)
        var i = 0
        skipSpace(&i)
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{"), object(&i, depth: 0) else { return nil }
        skipSpace(&i)
        guard i == bytes.count else { return nil }
        rootEnd = Int32(members.count)
    }

    // MARK: Reading

    /// The member `key` of the object whose members span `range` (the root: ``root``), or nil.
    public func member(_ key: StaticString, in range: Range<Int32>) -> Member? {
        var m = range.lowerBound
        while m < range.upperBound {
            let member = members[Int(m)]
            if equals(member.keyStart, member.keyEnd, key) { return member }
            m = member.end
        }
        return nil
    }

    /// The members of the top-level object.
    public var root: Range<Int32> { 0..<rootEnd }

    /// The members of an object value.
    public func children(_ object: Member) -> Range<Int32>? {
        guard object.kind == .object else { return nil }
        return object.firstChild..<object.end
    }

    /// Whether a member's value (string contents) equals `text`.
    public func value(_ member: Member, equals text: StaticString) -> Bool { equals(member.valueStart, member.valueEnd, text) }

    /// Whether a member's value (string contents) equals `text`'s UTF-8.
    public func value(_ member: Member, equals text: String) -> Bool {
        var text = text
        return text.withUTF8 { same(member.valueStart, member.valueEnd, $0) }
    }

    /// Whether two members' values have the same bytes.
    public func sameValue(_ a: Member, _ b: Member) -> Bool { same(a.valueStart, a.valueEnd, slice(b.valueStart, b.valueEnd)) }

    /// A member's value bytes (string contents without quotes).
    public func slice(_ member: Member) -> UnsafeBufferPointer<UInt8> { slice(member.valueStart, member.valueEnd) }

    /// A string member's value as a String (ASCII, checked while skimming).
    public func string(_ member: Member) -> String { String(decoding: slice(member), as: UTF8.self) }

    /// Every member of an object, in document order (for maps such as `attributes`).
    public func forEachMember(in range: Range<Int32>, _ body: (Member) -> Void) {
        var m = range.lowerBound
        while m < range.upperBound { let member = members[Int(m)]; body(member); m = member.end }
    }

    /// A member's key bytes.
    public func key(_ member: Member) -> UnsafeBufferPointer<UInt8> { slice(member.keyStart, member.keyEnd) }

    private func slice(_ start: Int32, _ end: Int32) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[Int(start)..<Int(end)])
    }

    private func equals(_ start: Int32, _ end: Int32, _ text: StaticString) -> Bool {
        same(start, end, UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Whether the bytes in `start..<end` are `other`'s (lengths first: keys mostly differ in length).
    @inline(__always)
    private func same(_ start: Int32, _ end: Int32, _ other: UnsafeBufferPointer<UInt8>) -> Bool {
        Int(end - start) == other.count && (other.count == 0 || memcmp(bytes.baseAddress! + Int(start), other.baseAddress!, other.count) == 0)
    }

    // MARK: Skimming

    private func skipSpace(_ i: inout Int) {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    /// An object starting at `i` (at its `{`): records its members.
    private mutating func object(_ i: inout Int, depth: Int) -> Bool {
        guard depth < 8 else { return false }
        i += 1
        let first = members.count
        var siblings = 0
        skipSpace(&i)
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return true }
        while true {
            skipSpace(&i)
            // At most 64 members an object, as FastJSON.
            guard members.count < Self.capacity, siblings < 64, let key = string(&i) else { return false }
            siblings += 1
            // No duplicate keys among this object's members (FastJSON leaves them to JSONDecoder).
            var m = first
            while m < members.count {
                if same(members[m].keyStart, members[m].keyEnd, slice(Int32(key.lowerBound), Int32(key.upperBound))) { return false }
                m = Int(members[m].end)
            }
            skipSpace(&i)
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
            i += 1
            skipSpace(&i)
            guard i < bytes.count else { return false }
            let slot = members.count
            members.append(Member(keyStart: Int32(key.lowerBound), keyEnd: Int32(key.upperBound), valueStart: Int32(i), valueEnd: 0, kind: .null, end: 0,
                                  firstChild: Int32(slot + 1)))
            let kind: Kind
            switch bytes[i] {
            case UInt8(ascii: "\""):
                guard let value = string(&i) else { return false }
                members[slot].valueStart = Int32(value.lowerBound)
                members[slot].valueEnd = Int32(value.upperBound)
                kind = .string
            case UInt8(ascii: "{"):
                guard object(&i, depth: depth + 1) else { return false }
                members[slot].valueEnd = Int32(i)
                kind = .object
            case UInt8(ascii: "t"): guard literal(&i, "true") else { return false }; kind = .true
            case UInt8(ascii: "f"): guard literal(&i, "false") else { return false }; kind = .false
            case UInt8(ascii: "n"): guard literal(&i, "null") else { return false }; kind = .null
            default:
                let start = i
                while i < bytes.count, let c = Optional(bytes[i]),
                      (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                    i += 1
                }
                guard i > start, FastJSON.isJSONNumber(UnsafeBufferPointer(rebasing: bytes[start..<i])) else { return false }
                members[slot].valueEnd = Int32(i)
                kind = .number
            }
            if kind != .string && kind != .object && kind != .number { members[slot].valueEnd = Int32(i) }
            members[slot].kind = kind
            members[slot].end = Int32(members.count)
            skipSpace(&i)
            guard i < bytes.count else { return false }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return true }
            return false
        }
    }

    /// A string at `i` (at its quote): the range of its contents; nil for an escape, a
    /// control character or a non-ASCII byte.
    private func string(_ i: inout Int) -> Range<Int>? {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        let start = i + 1
        let end = JSONScan.plainRun(bytes.baseAddress!, from: start, to: bytes.count, stopAtNonASCII: true)
        guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else { return nil }
        i = end + 1
        return start..<end
    }

    private func literal(_ i: inout Int, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }
}
