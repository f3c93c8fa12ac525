import Foundation

/// Country names and codes → ISO 3166-1 alpha-2: what the edge accepts as a lead's `country`
/// (``InputHygiene/country(_:names:)``). Pure: the process reads `deploy/data/country-names.tsv`
/// (generated from CLDR and ISO 3166 by `scripts/update_data.py`) and `deploy/data/country-aliases.tsv`
/// (hand-kept) and passes their text to ``init(generated:generatedFile:aliases:aliasesFile:)``.
///
/// A look-up is one dictionary probe on the folded input (``key(_:)``): case, diacritics,
/// punctuation and spaces do not matter, `&` reads as `and`, a leading or trailing word `the` is
/// dropped (`The Netherlands`, `Österreich` = `osterreich`, `U.S.A.` = `USA`). An assigned alpha-2
/// code is taken as it is before any name (`DE`, `gb`); so is the folded form of ASCII text when
/// it is one (`U.S.` → US). A name several countries go by (`Congo`, `Korea`) is ``Match/ambiguous(_:)``.
public struct CountryNames: Sendable, Equatable {
    /// What a text names.
    public enum Match: Sendable, Equatable {
        /// One country: its alpha-2 code.
        case country(String)
        /// Several countries go by the name: their codes, sorted.
        case ambiguous([String])
        /// Neither a code nor a known name.
        case unknown
    }

    /// A name as a file lists it and the codes it stands for (one, or several: ambiguous).
    struct Entry: Sendable, Equatable {
        var name: String
        var codes: [String]
    }

    /// Folded name → entry.
    private var table: [String: Entry] = [:]

    /// Names known (after folding).
    public var count: Int { table.count }

    /// The unambiguous names as the files list them, with their codes, sorted by name (the
    /// OpenAPI document's `CountryName` enumeration).
    public var names: [(name: String, code: String)] {
        table.values.filter { $0.codes.count == 1 }.map { ($0.name, $0.codes[0]) }.sorted { $0.name < $1.name }
    }

    /// No names: only alpha-2 codes are accepted.
    public init() {}

    /// The generated table, then the aliases: an alias replaces a generated name that folds like
    /// it. Two names of one file that fold alike are an error, as is a malformed line.
    /// - Throws: `ConfigFileError` with the file and line.
    public init(generated: String, generatedFile: String, aliases: String, aliasesFile: String) throws(ConfigFileError) {
        table = try Self.parse(generated, file: generatedFile)
        for (key, entry) in try Self.parse(aliases, file: aliasesFile) { table[key] = entry }
    }

    /// The country `text` names.
    public func match(_ text: String) -> Match {
        if let code = Self.alpha2(text) { return .country(code) }
        let folded = Self.key(text)
        if let codes = table[folded]?.codes { return codes.count == 1 ? .country(codes[0]) : .ambiguous(codes) }
        // `U.S.`, `g b`: a code spelt with dots or spaces (ASCII only: `ﬁ` folds to `fi`, but is not FI).
        if text.utf8.allSatisfy({ $0 < 0x80 }), let code = Self.alpha2(folded) { return .country(code) }
        return .unknown
    }

    /// `text` upper-cased when it is two ASCII letters making an assigned code, else nil.
    static func alpha2(_ text: String) -> String? {
        let utf8 = text.utf8
        guard utf8.count == 2, utf8.allSatisfy({ (0x41...0x5A).contains($0 & 0xDF) }) else { return nil }
        let upper = String(decoding: utf8.map { $0 & 0xDF }, as: UTF8.self)
        return ISO3166.isAssigned(upper) ? upper : nil
    }

    /// The folded form names are compared in: lower case, compatibility-decomposed (NFKD), only
    /// letters and digits kept, `&` read as `and`, a leading or trailing word `the` dropped, the
    /// words run together. `scripts/update_data.py` (`country_key`) folds the same way.
    public static func key(_ text: String) -> String {
        var words: [String.UnicodeScalarView] = []
        var word = String.UnicodeScalarView()
        for scalar in text.lowercased().decomposedStringWithCompatibilityMapping.unicodeScalars {
            if isLetterOrDigit(scalar) { word.append(scalar); continue }
            if !word.isEmpty { words.append(word); word = String.UnicodeScalarView() }
            if scalar == "&" { words.append("and".unicodeScalars) }
        }
        if !word.isEmpty { words.append(word) }
        let the = "the".unicodeScalars
        if words.count > 1, words[0].elementsEqual(the) { words.removeFirst() }
        if words.count > 1, words[words.count - 1].elementsEqual(the) { words.removeLast() }
        var folded = String.UnicodeScalarView()
        for word in words { folded.append(contentsOf: word) }
        return String(folded)
    }

    /// Unicode general categories L* and N* (Python's `unicodedata.category(c)[0] in "LN"`).
    static func isLetterOrDigit(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }

    /// `name<TAB>code[ code…]` lines (blank lines and `#` comments ignored) by folded name.
    static func parse(_ text: String, file: String) throws(ConfigFileError) -> [String: Entry] {
        var result: [String: Entry] = [:]
        var firstLine: [String: (line: Int, name: Substring)] = [:]
        var lineNumber = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            func fail(_ reason: String) -> ConfigFileError { ConfigFileError(file: file, line: lineNumber, path: "", reason: reason) }
            if raw.trimmingWhitespaceSubstring.isEmpty || raw.hasPrefix("#") { continue }
            let fields = raw.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 2 else { throw fail("expected name<TAB>code, found \(fields.count) tab-separated fields") }
            let name = fields[0].trimmingWhitespaceSubstring
            let key = Self.key(String(name))
            guard !key.isEmpty else { throw fail("'\(name)' has no letters or digits") }
            let codes = fields[1].split(separator: " ").map(String.init)
            guard !codes.isEmpty else { throw fail("'\(name)' has no code") }
            for code in codes where !ISO3166.isAssigned(code) {
                throw fail("'\(code)' is not an assigned ISO 3166-1 alpha-2 code (upper case, like DE)")
            }
            guard Set(codes).count == codes.count else { throw fail("'\(name)' lists a code twice") }
            if let first = firstLine[key] {
                throw fail("'\(name)' reads like '\(first.name)' on line \(first.line) (names are compared without case, diacritics and punctuation)")
            }
            firstLine[key] = (lineNumber, name)
            result[key] = Entry(name: String(name), codes: codes.sorted())
        }
        return result
    }
}
