/// Deterministic identifiers: the same input always yields the same id, so a replayed or
/// re-delivered input produces byte-identical output ids (idempotent downstream).
public enum EventID {
    /// A 128-bit hex id derived from `parts` (two independent 64-bit FNV-1a hashes).
    public static func derive(_ parts: String...) -> String {
        derive(parts)
    }

    public static func derive(_ parts: [String]) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x8422_2325_cbf2_9ce4 ^ 0x9e37_79b9_7f4a_7c15
        for (index, part) in parts.enumerated() {
            for byte in part.utf8 {
                a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
                b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
                b = (b << 7) | (b >> 57)
            }
            // Separator, so ("ab","c") and ("a","bc") differ.
            a = (a ^ UInt64(0x1f &+ index)) &* 0x0000_0100_0000_01b3
            b = (b ^ UInt64(0x1f &+ index)) &* 0x0000_0100_0000_01b3
        }
        return hex(a) + hex(b)
    }

    /// A random version-4 UUID, lower-case (`getrandom`, not Foundation's `UUID()`, which read
    /// /dev/urandom through a file per call and showed in the ingest's profile).
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = (generator.next() as UInt64) & 0xFFFF_FFFF_FFFF_0FFF | 0x0000_0000_0000_4000 // version 4
        let low = (generator.next() as UInt64) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000 // variant 10
        let hex = hex(high) + hex(low)
        let chars = Array(hex.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (index, char) in chars.enumerated() {
            if index == 8 || index == 12 || index == 16 || index == 20 { out.append(UInt8(ascii: "-")) }
            out.append(char)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The lead id for a normalised e-mail address (or phone): stable across requests.
    public static func lead(forContact contact: String) -> String {
        "lead-" + String(derive("lead", contact).prefix(20))
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
