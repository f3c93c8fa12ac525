extension Timestamp {
    /// Milliseconds since the epoch of an RFC 3339 date-time (any offset), or nil. No
    /// Foundation, no locale, no allocation: the scorer calls it for every event.
    public static func milliseconds(_ text: String) -> Int64? {
        var copy = text
        return copy.withUTF8 { milliseconds(utf8: $0) }
    }

    /// ``milliseconds(_:)`` of UTF-8 bytes.
    public static func milliseconds(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        isValid(utf8: bytes) ? parseValid(bytes) : nil
    }

    private static func parseValid(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        func n(_ from: Int, _ count: Int) -> Int64 {
            var v: Int64 = 0
            for i in from..<(from + count) { v = v * 10 + Int64(b[i] - 48) }
            return v
        }
        var ms = daysFromCivil(n(0, 4), n(5, 2), n(8, 2)) * 86_400_000
            + n(11, 2) * 3_600_000 + n(14, 2) * 60_000 + n(17, 2) * 1000
        var i = 19
        if b[i] == 46 { // fraction: first three digits are milliseconds
            i += 1
            var scale: Int64 = 100
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                ms += Int64(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        if b[i] == 43 || b[i] == 45 {
            let offset = n(i + 1, 2) * 3_600_000 + n(i + 4, 2) * 60_000
            ms += b[i] == 43 ? -offset : offset
        }
        return ms
    }

    /// `2026-11-23T10:00:00.000Z` for milliseconds since the epoch (UTC, deterministic).
    public static func format(milliseconds: Int64) -> String {
        let days = milliseconds >= 0 ? milliseconds / 86_400_000 : (milliseconds - 86_399_999) / 86_400_000
        let rest = milliseconds - days * 86_400_000
        let (y, m, d) = civilFromDays(days)
        guard (0...9999).contains(y) else {
            func pad(_ v: Int64, _ width: Int) -> String {
                let s = String(v)
                return String(repeating: "0", count: max(0, width - s.count)) + s
            }
            return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rest / 3_600_000, 2)):\(pad(rest / 60_000 % 60, 2)):\(pad(rest / 1000 % 60, 2)).\(pad(rest % 1000, 3))Z"
        }
        // The common case written digit by digit: the interpolation above built a dozen small
        // strings (a microsecond per scored event).
        return String(unsafeUninitializedCapacity: 24) { out in
            var i = 0
            func put(_ v: Int64, _ width: Int, then separator: UInt8?) {
                var v = v
                for k in stride(from: width - 1, through: 0, by: -1) {
                    out[i + k] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                i += width
                if let separator { out[i] = separator; i += 1 }
            }
            put(y, 4, then: UInt8(ascii: "-"))
            put(m, 2, then: UInt8(ascii: "-"))
            put(d, 2, then: UInt8(ascii: "T"))
            put(rest / 3_600_000, 2, then: UInt8(ascii: ":"))
            put(rest / 60_000 % 60, 2, then: UInt8(ascii: ":"))
            put(rest / 1000 % 60, 2, then: UInt8(ascii: "."))
            put(rest % 1000, 3, then: UInt8(ascii: "Z"))
            return i
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
