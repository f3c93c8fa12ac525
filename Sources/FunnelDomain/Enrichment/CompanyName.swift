/// A company name reduced to what identifies it, for matching (LeanData style): lower case,
/// `&` read as `and` and then dropped with it, punctuation removed (`S.A.` is `sa`), legal
/// suffixes at the end stripped (`Inc`, `Ltd`, `LLC`, `GmbH`, `S.A.`, `AG`, `GmbH & Co. KG`, …),
/// a leading `The` dropped. `Acme Software, Inc.`, `ACME software` and `Acme-Software GmbH` have
/// one ``key``: `acmesoftware`.
public struct CompanyName: Sendable, Equatable {
    /// The words that are left, lower case.
    public let tokens: [String]

    public init(_ name: String) {
        var words: [String] = []
        var word = ""
        func end() {
            if !word.isEmpty { words.append(word); word = "" }
        }
        for ch in name.lowercased() {
            if ch.isLetter || ch.isNumber {
                word.append(ch)
            } else if ch == "." || ch == "'" || ch == "’" {
                continue // S.A. → sa, O'Reilly → oreilly
            } else {
                end() // spaces, '&', '-', ',', '/', '(', …
                if ch == "&" || ch == "+" { words.append("and") }
            }
        }
        end()
        if words.count > 1, words.first == "the" { words.removeFirst() }
        while words.count > 1, let last = words.last, Self.legalSuffixes.contains(last) || last == "and" { words.removeLast() }
        tokens = words.filter { $0 != "and" }
    }

    /// The words run together: `acmesoftware` (so `AcmeSoftware` and `Acme Software` match).
    public var key: String { tokens.joined() }

    /// The initials of a name of two words or more, without `of`/`for` (`International Business
    /// Machines` → `ibm`); nil for a single word.
    public var acronym: String? {
        let words = tokens.filter { $0 != "of" && $0 != "for" }
        guard words.count >= 2 else { return nil }
        return String(words.compactMap(\.first))
    }

    /// Legal forms (after punctuation is removed), in many jurisdictions.
    static let legalSuffixes: Set<String> = [
        "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc", "llp", "lp", "plc",
        "gmbh", "mbh", "ag", "kg", "kgaa", "ug", "ev", "se", "sa", "sas", "sarl", "srl", "spa", "sl", "sau", "bv", "nv",
        "oy", "oyj", "ab", "as", "asa", "aps", "pty", "pte", "kk", "ltda", "cv", "sro", "zoo", "sp", "holding", "holdings",
        "group",
    ]
}

extension CompanyName {
    /// Similarity of two keys in 0…1: 1 − the optimal-string-alignment edit distance (a swap of
    /// neighbours counts once) divided by the longer length. `vandelayindustires` against
    /// `vandelayindustries` is 0.94; `acmehardware` against `acmesoftware` is 0.67.
    public static func similarity(_ a: String, _ b: String) -> Double {
        similarity(a.unicodeScalars.map(\.value), b.unicodeScalars.map(\.value))
    }

    /// As above, on keys already split into Unicode scalar values; with `atLeast`, any value
    /// below it may be returned as 0 (the edit distance is only followed as far as it matters:
    /// a band around the diagonal, stopping once two rows exceed the bound).
    static func similarity(_ x: [UInt32], _ y: [UInt32], atLeast minimum: Double = 0) -> Double {
        let longest = max(x.count, y.count)
        guard longest > 0 else { return 1 }
        guard !x.isEmpty, !y.isEmpty else { return 0 }
        // Without a bound the band is the whole table: the distance never exceeds the longer length.
        let limit = minimum > 0 ? Int(((1 - minimum) * Double(longest) + 1e-9).rounded(.down)) : longest
        guard let d = distance(x, y, limit: limit) else { return 0 }
        return 1 - Double(d) / Double(longest)
    }

    /// The optimal-string-alignment distance of `x` and `y` if it is at most `limit`, else nil.
    /// Cells further than `limit` from the diagonal cannot lie on such a path: they hold `limit + 1`.
    static func distance(_ x: [UInt32], _ y: [UInt32], limit k: Int) -> Int? {
        let n = x.count, m = y.count
        guard abs(n - m) <= k else { return nil }
        let over = k + 1
        var previous2 = [Int](repeating: over, count: m + 1)
        var previous = (0...m).map { min($0, over) }
        var current = [Int](repeating: over, count: m + 1)
        var previousMin = 0
        for i in 1...n {
            let low = max(1, i - k), high = min(m, i + k)
            current[0] = min(i, over)
            if low > 1 { current[low - 1] = over }
            var rowMin = current[0]
            for j in low...high {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                var d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d = min(d, previous2[j - 2] + 1) }
                d = min(d, over)
                current[j] = d
                rowMin = min(rowMin, d)
            }
            if high < m { current[high + 1] = over }
            // Every later cell builds on this row or the one before (a transposition) plus one.
            if rowMin > k && previousMin > k { return nil }
            previousMin = rowMin
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[m] <= k ? previous[m] : nil
    }
}
