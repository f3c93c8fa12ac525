/// ISO 3166-1 alpha-2: the one table of country codes Funnel accepts (`country` of a lead, at
/// the HTTP edge and in CSV imports). Every other country table in the domain (time zones,
/// scoring regions, calling codes) covers a subset of it (tested).
///
/// The 249 officially assigned codes as of ISO 3166-1:2020 with its newsletters up to 2024 (the
/// same list as tzdata's `iso3166.tab` and Debian's `iso-codes`). Not countries, so not here:
/// user-assigned codes (`AA`, `QM`-`QZ`, `XA`-`XZ`, `ZZ`), exceptionally or transitionally
/// reserved ones (`UK`, `EU`, `EL`, `AC`, `CP`, `DG`, `EA`, `IC`, `TA`, `UN`, ...) and
/// withdrawn ones (`AN`, `CS`, `YU`, ...). When ISO assigns or withdraws a code, change this
/// list and `deploy/openapi.yaml` (the `Country` schema), nothing else.
public enum ISO3166 {
    /// Each letter's codes, space-separated.
    static let assignedCodes: [String] = [
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ",
        "BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ",
        "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ",
        "DE DJ DK DM DO DZ",
        "EC EE EG EH ER ES ET",
        "FI FJ FK FM FO FR",
        "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY",
        "HK HM HN HR HT HU",
        "ID IE IL IM IN IO IQ IR IS IT",
        "JE JM JO JP",
        "KE KG KH KI KM KN KP KR KW KY KZ",
        "LA LB LC LI LK LR LS LT LU LV LY",
        "MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ",
        "NA NC NE NF NG NI NL NO NP NR NU NZ",
        "OM",
        "PA PE PF PG PH PK PL PM PN PR PS PT PW PY",
        "QA",
        "RE RO RS RU RW",
        "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ",
        "TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ",
        "UA UG UM US UY UZ",
        "VA VC VE VG VI VN VU",
        "WF WS",
        "YE YT",
        "ZA ZM ZW",
    ]

    /// Bit `(first - A) * 26 + (second - A)` set for every assigned code.
    private static let assigned: [UInt64] = {
        var bits = [UInt64](repeating: 0, count: (26 * 26 + 63) / 64)
        for row in assignedCodes {
            for code in row.split(separator: " ") {
                let b = Array(code.utf8)
                precondition(b.count == 2 && b.allSatisfy { $0 >= 65 && $0 <= 90 }, "ISO3166: bad code \(code)")
                let i = Int(b[0] - 65) * 26 + Int(b[1] - 65)
                bits[i / 64] |= 1 << UInt64(i % 64)
            }
        }
        return bits
    }()

    /// Whether `code` is an assigned alpha-2 code, exactly as listed (two upper-case ASCII letters).
    public static func isAssigned(_ code: String) -> Bool {
        var iterator = code.utf8.makeIterator()
        guard let a = iterator.next(), let b = iterator.next(), iterator.next() == nil,
              (65...90).contains(a), (65...90).contains(b) else { return false }
        let i = Int(a - 65) * 26 + Int(b - 65)
        return assigned[i / 64] & (1 << UInt64(i % 64)) != 0
    }

    /// Every assigned code, sorted.
    public static var all: [String] { assignedCodes.flatMap { $0.split(separator: " ").map(String.init) } }
}
