extension Normalise {
    /// A person's name trimmed, its inner whitespace single, and re-cased only where it was typed
    /// in one case: a word all lower or all upper becomes title case (`ada LOVELACE` → `Ada
    /// Lovelace`), with a capital after `'` and `-` (`o'neil` → `O'Neil`, `jean-luc` → `Jean-Luc`)
    /// and after `Mc` (`MCDONALD` → `McDonald`). Name particles stay lower case before another word
    /// (`VAN DER BERG` → `van der Berg`; see ``nameParticles``). A word already in mixed case is kept as typed
    /// (`McDonald`, `DeVries`, `van der Berg`, `MacKenzie`): the person knows best.
    public static func name(_ value: String?) -> String? {
        guard let t = text(value) else { return nil }
        let words = t.split(whereSeparator: \.isWhitespace)
        var out: [String] = []
        out.reserveCapacity(words.count)
        for (i, word) in words.enumerated() {
            let hasLower = word.contains(where: \.isLowercase), hasUpper = word.contains(where: \.isUppercase)
            if hasLower && hasUpper { out.append(String(word)); continue }
            let lower = word.lowercased()
            if i < words.count - 1, i > 0 || words.count > 2, nameParticles.contains(lower) {
                out.append(lower)
                continue
            }
            out.append(titleCase(lower))
        }
        return out.joined(separator: " ")
    }

    /// Particles of family names (Dutch, German, French, Italian, Spanish, Portuguese), lowered
    /// inside a name of three words or more or after its first word: `van der Berg`, but
    /// `Van Morrison` (two words, the first could be a given name).
    static let nameParticles: Set<String> = ["van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "la", "le",
                                             "ter", "ten", "zu"]

    /// `o'neil` → `O'Neil`, `jean-luc` → `Jean-Luc`, `mcdonald` → `McDonald`.
    private static func titleCase(_ lower: String) -> String {
        var result = ""
        var capitalNext = true
        for ch in lower {
            result += capitalNext ? ch.uppercased() : String(ch)
            capitalNext = ch == "-" || ch == "'" || ch == "’"
            if result == "Mc" { capitalNext = true }
        }
        return result
    }
}
