/// Signatures of junk form fills (`spam` intent). Each is specific enough to stand on its own;
/// the evidence names the signature, never the data (`keyboard-mash name`, not the name).
/// Checked on every lead, so the checks read UTF-8 bytes and allocate little.
public enum SpamSignature {
    /// The first signature `profile` shows, or nil.
    public static func find(_ profile: LeadCaptured, emailClass: EmailClass) -> String? {
        if let email = profile.email, let at = email.utf8.lastIndex(of: UInt8(ascii: "@")) {
            let local = email[..<at]
            let domain = email[email.utf8.index(after: at)...]
            let domainLabel = domain[..<(domain.utf8.firstIndex(of: UInt8(ascii: ".")) ?? domain.endIndex)]
            if testAddressWords.contains(String(local)) && testAddressWords.contains(String(domainLabel)) {
                return "test address (\(local)@\(domainLabel))"
            }
            if local.utf8.count >= 4, let first = local.utf8.first, local.utf8.allSatisfy({ $0 == first }) {
                return "repeated characters in the address"
            }
            if isKeyboardMash(local) && isKeyboardMash(domainLabel) { return "keyboard-mash address" }
        }
        for name in [profile.firstName, profile.lastName] {
            guard let name else { continue }
            if placeholderNames.contains(name.lowercased()) { return "placeholder name" }
            if hasRepeatedLetters(name) { return "repeated characters in the name" }
            if isKeyboardMash(name) { return "keyboard-mash name" }
        }
        // A phone from another country than the one given: only on an address that names no
        // company (people at companies travel and carry foreign mobiles).
        if emailClass != .corporate && emailClass != .role, let phone = profile.phone, let country = profile.country,
           let phoneCountries = Normalise.countries(forPhone: phone), !phoneCountries.contains(country.uppercased()) {
            return "phone country code does not match country \(country.uppercased())"
        }
        return nil
    }

    /// Whether `text` is typed along a keyboard row (four keys in a row that no name has, see
    /// ``mashGrams``: `asdf`, `zxcv`, `hjkl`) or has no vowel in five letters or more (`xkcdfg`;
    /// `y` counts as a vowel, and any non-ASCII letter is taken for one). Non-letters are skipped.
    public static func isKeyboardMash<S: StringProtocol>(_ text: S) -> Bool {
        var window: UInt32 = 0
        var filled = 0, letters = 0
        var vowel = false
        for byte in text.utf8 {
            if byte >= 0x80 { vowel = true; filled = 0; continue }
            let c = (0x41...0x5A).contains(byte) ? byte + 0x20 : byte
            guard (0x61...0x7A).contains(c) else { continue }
            letters += 1
            if c == 0x61 || c == 0x65 || c == 0x69 || c == 0x6F || c == 0x75 || c == 0x79 { vowel = true }
            window = window << 8 | UInt32(c)
            filled += 1
            if filled >= 4 && mashGramCodes.contains(window) { return true }
        }
        return letters >= 5 && !vowel
    }

    /// The same letter four times in a row (`Aaaaa`), ignoring case; `Aaron` is fine.
    static func hasRepeatedLetters(_ name: String) -> Bool {
        var previous: UInt8 = 0
        var run = 0
        for byte in name.utf8 {
            let c = (0x41...0x5A).contains(byte) ? byte + 0x20 : byte
            run = c == previous ? run + 1 : 1
            previous = c
            if run >= 4 && c >= 0x61 && c <= 0x7A { return true }
        }
        return false
    }

    /// Both sides of a made-up address (`test@test.com`, `foo@bar.com`, `asdf@asdf.de`).
    static let testAddressWords: Set<String> = ["test", "tester", "testing", "asdf", "qwerty", "foo", "bar", "foobar", "xxx", "xyz",
                                                "abc", "fake", "dummy", "noreply", "none", "null", "nobody", "spam", "aaa"]
    /// Names nobody has (`Bar`, `Sample` are real surnames and not here).
    static let placeholderNames: Set<String> = ["test", "tester", "testing", "asdf", "qwerty", "foobar", "xxx", "fake", "dummy",
                                                "none", "null", "nobody", "noname", "spam", "unknown", "anonymous"]
    /// Four keys in a row on QWERTY/QWERTZ/AZERTY that no name has (`wert` is in Wertheimer,
    /// `ertz` in Hertz, `azer` in Azer: not here).
    static let mashGrams: [String] = ["qwer", "asdf", "sdfg", "dfgh", "fghj", "ghjk", "hjkl", "zxcv", "xcvb", "cvbn", "vbnm",
                                      "yxcv", "wxcv", "uiop", "qwez", "lkjh", "fdsa", "rewq", "poiu"]
    /// ``mashGrams`` packed four bytes to a number, as ``isKeyboardMash(_:)`` slides over a text.
    static let mashGramCodes: Set<UInt32> = Set(mashGrams.map { $0.utf8.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } })
}
