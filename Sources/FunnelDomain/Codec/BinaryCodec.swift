/// Appends varints, fixed-width integers and length-prefixed strings: the binary form of
/// changelog values (`LeadScoreState`, `RouteLeadState`, table records).
public struct ByteWriter {
    public var bytes: [UInt8] = []
    public init() { bytes.reserveCapacity(256) }
    public mutating func byte(_ b: UInt8) { bytes.append(b) }
    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    public mutating func fixed64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func string(_ s: String) { varint(UInt64(s.utf8.count)); bytes.append(contentsOf: s.utf8) }
    public mutating func optionalString(_ s: String?) {
        guard let s else { varint(0); return }
        varint(UInt64(s.utf8.count) + 1); bytes.append(contentsOf: s.utf8)
    }
}

/// Reads what ``ByteWriter`` wrote; every read returns nil when the bytes run out.
public struct ByteReader {
    public let bytes: [UInt8]
    public var index = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// Every byte was read.
    public var isAtEnd: Bool { index >= bytes.count }
    public mutating func byte() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }
    public mutating func varint() -> UInt64? {
        var result: UInt64 = 0, shift: UInt64 = 0
        while let b = byte() {
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }
    public mutating func fixed64() -> UInt64? {
        guard index + 8 <= bytes.count else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[index + i]) << (8 * UInt64(i)) }
        index += 8
        return v
    }
    public mutating func string() -> String? {
        guard let n = varint(), index + Int(n) <= bytes.count else { return nil }
        defer { index += Int(n) }
        return String(decoding: bytes[index..<(index + Int(n))], as: UTF8.self)
    }
    /// `.some(nil)` for an absent string, `nil` if truncated.
    public mutating func optionalString() -> String?? {
        guard let n = varint() else { return nil }
        if n == 0 { return .some(nil) }
        guard index + Int(n - 1) <= bytes.count else { return nil }
        defer { index += Int(n - 1) }
        return .some(String(decoding: bytes[index..<(index + Int(n - 1))], as: UTF8.self))
    }
}
