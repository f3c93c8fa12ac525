/// Finds duplicate object keys in a JSON document.
///
/// RFC 8259 leaves an object with a key twice to the parser ("names SHOULD be unique"), and
/// Foundation's `JSONDecoder` keeps one of the values without a word (on Linux with Swift 6.3
/// the first, as `HostileInputTests` records; other parsers keep the last). The ingest rejects
/// such a request naming the key instead: two `email`s, one read by a check and the other by a
/// later consumer, is a classic way to slip a value past a check. Keys are compared as Swift
/// strings (canonically equivalent spellings such as `é` and `e\u0301` are the same key, as
/// they are to `JSONDecoder`), after unescaping.
///
/// One pass, a set of keys per open object, no recursion: O(length) for any nesting.
public enum JSONDuplicateKeys {
    public struct Duplicate: Sendable, Equatable, CustomStringConvertible {
        /// The top-level array element it is in; nil when the document is not an array.
        public var element: Int?
        /// The duplicated key's path relative to that element (or to the document):
        /// `email`, `attributes.utm_source`, `bant.budget.note`.
        public var path: String

        public init(element: Int?, path: String) {
            self.element = element
            self.path = path
        }

        /// The path from the document's root: `[3].email`.
        public var description: String {
            guard let element else { return path }
            return "[\(element)]" + (path.hasPrefix("[") ? "" : ".") + path
        }
    }

    /// The first duplicate in each top-level array element (or the first in the document when
    /// it is not an array), in document order. Meant for documents a JSON parser accepted: on
    /// malformed input it stops where it cannot go on and returns what it found so far.
    public static func find(_ buffer: UnsafeRawBufferPointer) -> [Duplicate] {
        var scanner = Scanner(bytes: buffer.bindMemory(to: UInt8.self))
        return scanner.run()
    }

    public static func find(_ bytes: [UInt8]) -> [Duplicate] {
        bytes.withUnsafeBytes { find($0) }
    }

    private enum Frame {
        case object(keys: Set<String>, key: String)
        case array(index: Int)
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0
        var stack: [Frame] = []
        var found: [Duplicate] = []
        /// The top-level element whose first duplicate was recorded (later ones are not).
        var reported: Int?

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func run() -> [Duplicate] {
            // What comes next: a value, or (inside a container) the end or a key.
            enum Expect { case value, valueOrEnd, keyOrEnd, key, afterValue }
            var expect = Expect.value
            while true {
                skipSpace()
                guard i < bytes.count else { return found }
                let c = bytes[i]
                switch expect {
                case .value, .valueOrEnd:
                    if expect == .valueOrEnd && c == UInt8(ascii: "]") {
                        i += 1
                        stack.removeLast()
                        expect = .afterValue
                        continue
                    }
                    switch c {
                    case UInt8(ascii: "{"):
                        i += 1
                        stack.append(.object(keys: [], key: ""))
                        expect = .keyOrEnd
                    case UInt8(ascii: "["):
                        i += 1
                        stack.append(.array(index: 0))
                        expect = .valueOrEnd
                    case UInt8(ascii: "\""):
                        guard skipString() else { return found }
                        expect = .afterValue
                    default:
                        // A number or literal: up to the next delimiter.
                        let start = i
                        while i < bytes.count, !isDelimiter(bytes[i]) { i += 1 }
                        guard i > start else { return found }
                        expect = .afterValue
                    }
                    if stack.isEmpty, expect == .afterValue { return found }
                case .keyOrEnd, .key:
                    if expect == .keyOrEnd && c == UInt8(ascii: "}") {
                        i += 1
                        stack.removeLast()
                        expect = .afterValue
                        if stack.isEmpty { return found }
                        continue
                    }
                    guard c == UInt8(ascii: "\""), let key = readString() else { return found }
                    guard case .object(var keys, _) = stack.removeLast() else { return found }
                    if !keys.insert(key).inserted { record(key) }
                    stack.append(.object(keys: keys, key: key))
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return found }
                    i += 1
                    expect = .value
                case .afterValue:
                    guard let top = stack.last else { return found }
                    if c == UInt8(ascii: ",") {
                        i += 1
                        if case .array(let index) = top {
                            stack[stack.count - 1] = .array(index: index + 1)
                            expect = .value
                        } else {
                            expect = .key
                        }
                    } else if c == UInt8(ascii: "]"), case .array = top {
                        i += 1
                        stack.removeLast()
                        if stack.isEmpty { return found }
                    } else if c == UInt8(ascii: "}"), case .object = top {
                        i += 1
                        stack.removeLast()
                        if stack.isEmpty { return found }
                    } else {
                        return found
                    }
                }
            }
        }

        func isDelimiter(_ c: UInt8) -> Bool {
            c == UInt8(ascii: ",") || c == UInt8(ascii: "]") || c == UInt8(ascii: "}") || c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09
        }

        /// Records the duplicate `key` of the object just taken off the stack (the first per
        /// top-level element).
        mutating func record(_ key: String) {
            var element: Int?
            var frames = stack[...]
            if case .array(let index)? = stack.first {
                element = index
                frames = stack.dropFirst()
                if reported == index { return }
                reported = index
            } else if !found.isEmpty {
                return
            }
            var path = ""
            // Every open container names a step of the path: its current key or index.
            for frame in frames {
                switch frame {
                case .object(_, let key): path += path.isEmpty ? key : "." + key
                case .array(let index): path += "[\(index)]"
                }
            }
            path += path.isEmpty ? key : "." + key
            found.append(Duplicate(element: element, path: path))
        }

        /// Moves past a string value.
        mutating func skipString() -> Bool {
            i += 1
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; return true }
                i += c == UInt8(ascii: "\\") ? 2 : 1
            }
            return false
        }

        /// Reads a string (at its opening quote), unescaped; nil if malformed.
        mutating func readString() -> String? {
            i += 1
            let start = i
            var escaped = false
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                if bytes[i] == UInt8(ascii: "\\") { escaped = true; i += 1 }
                i += 1
            }
            guard i < bytes.count else { return nil }
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<i])
            i += 1
            return escaped ? Self.unescape(raw) : String(decoding: raw, as: UTF8.self)
        }

        static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String? {
            var out: [UInt8] = []
            out.reserveCapacity(raw.count)
            var j = 0
            func hex4(_ at: Int) -> UInt32? {
                guard at + 4 <= raw.count else { return nil }
                var v: UInt32 = 0
                for k in at..<(at + 4) {
                    let h = raw[k]
                    let d: UInt32
                    switch h {
                    case 0x30...0x39: d = UInt32(h - 0x30)
                    case 0x41...0x46: d = UInt32(h - 0x41 + 10)
                    case 0x61...0x66: d = UInt32(h - 0x61 + 10)
                    default: return nil
                    }
                    v = v << 4 | d
                }
                return v
            }
            while j < raw.count {
                let c = raw[j]
                guard c == UInt8(ascii: "\\") else { out.append(c); j += 1; continue }
                guard j + 1 < raw.count else { return nil }
                let e = raw[j + 1]
                j += 2
                switch e {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var v = hex4(j) else { return nil }
                    j += 4
                    if (0xD800...0xDBFF).contains(v), j + 6 <= raw.count, raw[j] == UInt8(ascii: "\\"), raw[j + 1] == UInt8(ascii: "u"),
                       let low = hex4(j + 2), (0xDC00...0xDFFF).contains(low) {
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                        j += 6
                    }
                    // A lone surrogate: U+FFFD, as a lenient decoder would read it.
                    out.append(contentsOf: String(Character(Unicode.Scalar(v) ?? "\u{FFFD}")).utf8)
                default: out.append(e) // \" \\ \/
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
