/// Signatures of junk form fills (`spam` intent). Each is specific enough to stand on its own;
/// the evidence names the signature, never the data (`keyboard-mash name`, not the name).
public enum SpamSignature {
    /// The first signature `profile` shows, or nil.
    public static func find(_ profile: LeadCaptured, emailClass: EmailClass) -> String? {
        if let email = profile.email, let at = email.lastIndex(of: "@") {
            let local = String(email[..<at])
            let domainLabel = email[email.index(after: at)...].split(separator: ".").first.map(String.init) ?? ""
            if testAddressWords.contains(local) && testAddressWords.contains(domainLabel) { return "test address (\(local)@\(domainLabel))" }
            if local.count >= 4, Set(local).count == 1 { return "repeated characters in the address" }
            if isKeyboardMash(local) && isKeyboardMash(domainLabel) { return "keyboard-mash address" }
        }
        for name in [profile.firstName, profile.lastName].compactMap({ $0 }) {
            let letters = name.lowercased().filter(\.isLetter)
            if placeholderNames.contains(letters) { return "placeholder name" }
            if hasRun(letters, length: 3) && letters.count >= 3 { return "repeated characters in the name" }
            if isKeyboardMash(letters) { return "keyboard-mash name" }
        }
        if let first = profile.firstName?.lowercased(), let last = profile.lastName?.lowercased(), first == last, first.count >= 3,
           isKeyboardMash(first) || placeholderNames.contains(first) {
            return "placeholder name"
        }
        // A phone from another country than the one given: only on an address that names no
        // company (people at companies travel and carry foreign mobiles).
        if emailClass != .corporate && emailClass != .role, let phone = profile.phone, let country = profile.country,
           let phoneCountries = Normalise.countries(forPhone: phone), !phoneCountries.contains(country.uppercased()) {
            return "phone country code does not match country \(country.uppercased())"
        }
        return nil
    }

    /// Whether `text` is typed along a keyboard row (`asdf`, `qwerty`, `zxcvb`, `hjkl`) or has no
    /// vowel in five letters or more (`xkcdfgh`); real names have vowels (`y` counts).
    public static func isKeyboardMash(_ text: String) -> Bool {
        let letters = text.lowercased().filter(\.isLetter)
        guard letters.count >= 4 else { return false }
        if mashGrams.contains(where: { letters.contains($0) }) { return true }
        return letters.count >= 5 && !letters.contains(where: { vowels.contains($0) })
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
                                      "yxcv", "wxcv", "uiop", "jklö", "qwez", "lkjh", "fdsa", "rewq", "poiu"]
    static let vowels: Set<Character> = ["a", "e", "i", "o", "u", "y", "à", "á", "â", "ä", "è", "é", "ê", "ë", "ì", "í", "î", "ï",
                                          "ò", "ó", "ô", "ö", "ù", "ú", "û", "ü", "å", "æ", "ø", "ã", "õ", "ý", "ÿ"]

    /// The same letter `length` + 1 times in a row (`Annna` no, `Aaaaron` yes for 3).
    private static func hasRun(_ letters: String, length: Int) -> Bool {
        var previous: Character?
        var run = 0
        for ch in letters {
            run = ch == previous ? run + 1 : 0
            previous = ch
            if run >= length { return true }
        }
        return false
    }
}
