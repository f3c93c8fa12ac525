#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
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
        return hex(a, b, uuidDashes: false)
    }

    /// A random version-4 UUID, lower-case, from the kernel's generator (``RandomPool``; not
    /// Foundation's `UUID()`, which read /dev/urandom through a file per call).
    public static func random() -> String {
        let (high, low) = RandomPool.next128()
        return hex(high & 0xFFFF_FFFF_FFFF_0FFF | 0x0000_0000_0000_4000, // version 4
                   low & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000,  // variant 10
                   uuidDashes: true)
    }

    /// The lead id for a normalised e-mail address (or phone): stable across requests.
    public static func lead(forContact contact: String) -> String {
        "lead-" + String(derive("lead", contact).prefix(20))
    }

    /// 32 lower-case hex digits of `a` then `b`, with a UUID's dashes if asked (36 characters).
    private static func hex(_ a: UInt64, _ b: UInt64, uuidDashes: Bool) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 36) { out in
            var i = 0
            func put(_ value: UInt64) {
                for shift in stride(from: 60, through: 0, by: -4) {
                    if uuidDashes && (i == 8 || i == 13 || i == 18 || i == 23) { out[i] = UInt8(ascii: "-"); i += 1 }
                    out[i] = digits.utf8Start[Int(value >> UInt64(shift) & 0xF)]
                    i += 1
                }
            }
            put(a)
            put(b)
            return i
        }
    }
}

/// Random bytes from the kernel's generator, fetched 4 KiB at a time: one system call per
/// 256 event ids instead of two per id (the syscall was 3 % of the ingest's CPU).
enum RandomPool {
    private struct Pool {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096
    }
    private static let pool = Mutex(Pool())

    static func next128() -> (UInt64, UInt64) {
        pool.withLock { p in
            if p.used + 16 > p.bytes.count {
                // glibc's arc4random_buf: the kernel's getrandom, one call for the whole pool.
                p.bytes.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
                p.used = 0
            }
            defer { p.used += 16 }
            return p.bytes.withUnsafeBytes { raw in
                (raw.loadUnaligned(fromByteOffset: p.used, as: UInt64.self), raw.loadUnaligned(fromByteOffset: p.used + 8, as: UInt64.self))
            }
        }
    }
}
