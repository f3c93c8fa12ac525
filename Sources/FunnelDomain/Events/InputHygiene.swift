import Foundation

/// The rules for text that comes in from outside, applied where it comes in (funnel-ingest's
/// request items and CSV rows), before it becomes an event. Consumers of the topics check the
/// event schemas (`LeadCaptured.validate()` and friends), which stay as they were: an event
/// produced before these rules still validates.
///
/// Everything here is a scan of the text's bytes or scalars (O(length), no regular expressions).
/// The OpenAPI document (`deploy/openapi.yaml`) spells each rule out as a JSON Schema; keep
/// them in step.
///
/// - Blank optional fields (empty, or only whitespace) are absent.
/// - Control characters (C0 U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F) are rejected in
///   every text field. Only multi-line fields (an outcome's `reason`, BANT notes, attribute
///   values) take tab, line feed and carriage return. Surrounding whitespace of the fields
///   that are trimmed (`email`, `phone`, `lead_id`) is removed first.
/// - `email`: the unquoted form of RFC 5321/5322 (``EmailAddress``), with IDN domains turned
///   into A-labels (punycode); `company_domain`: a host name (``Hostname``); `country`: an
///   assigned ISO 3166-1 alpha-2 code (``ISO3166``), alpha-3 code or country name
///   (``CountryNames``), stored as the alpha-2 code; `lead_id`: `lead-` and 20 hex digits.
public enum InputHygiene {
    /// Whether a field may span lines (tab, LF and CR allowed) or not.
    public enum Lines: Sendable { case single, multi }

    /// Why a value is not accepted (a phrase to put after the field's name).
    public struct Invalid: Error, Sendable, Equatable {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
    }

    /// The first control character in `text` (C0, DEL or C1; with `.multi`, tab, LF and CR are
    /// not), or nil.
    public static func controlCharacter(in text: String, lines: Lines) -> Unicode.Scalar? {
        var previous: UInt8 = 0
        for byte in text.utf8 {
            defer { previous = byte }
            if byte < 0x20 {
                if lines == .multi && (byte == 0x09 || byte == 0x0A || byte == 0x0D) { continue }
                return Unicode.Scalar(byte)
            }
            if byte == 0x7F { return Unicode.Scalar(byte) }
            // C1 controls are U+0080–U+009F: 0xC2 then 0x80–0x9F in UTF-8.
            if previous == 0xC2 && byte >= 0x80 && byte <= 0x9F { return Unicode.Scalar(byte) }
        }
        return nil
    }

    /// The reason for a control character in a field, or nil when there is none.
    public static func controlCharacterReason(_ text: String, lines: Lines) -> String? {
        guard let scalar = controlCharacter(in: text, lines: lines) else { return nil }
        return lines == .multi ? "must not contain control characters other than tab and line breaks (found \(code(scalar.value)))"
                               : "must not contain control characters (found \(code(scalar.value)))"
    }

    /// `U+001B`.
    static func code(_ value: UInt32) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// Whether `text` is empty or only whitespace (as `Normalise.text` trims it).
    public static func isBlank(_ text: String) -> Bool {
        for byte in text.utf8 {
            if byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) { continue }
            if byte < 0x80 { return false }
            return text.allSatisfy(\.isWhitespace)
        }
        return true
    }

    /// `value`, or nil when it is absent or blank: the one rule for empty optional fields.
    public static func present(_ value: String?) -> String? {
        guard let value, !isBlank(value) else { return nil }
        return value
    }

    /// Field errors for control characters in `fields` (name, value; nil values are skipped).
    public static func controlCharacterErrors(_ fields: [(String, String?)], lines: Lines = .single) -> [FieldError] {
        var errors: [FieldError] = []
        for (field, value) in fields {
            if let value, let reason = controlCharacterReason(value, lines: lines) {
                errors.append(FieldError(field: field, reason: reason))
            }
        }
        return errors
    }

    /// Control characters in free attributes: keys are single-line, values multi-line.
    public static func attributeErrors(_ attributes: [String: String]?) -> [FieldError] {
        guard let attributes else { return [] }
        var errors: [FieldError] = []
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
            if let reason = controlCharacterReason(key, lines: .single) {
                errors.append(FieldError(field: "attributes", reason: "keys " + reason))
                break
            }
            if let reason = controlCharacterReason(value, lines: .multi) {
                errors.append(FieldError(field: "attributes.\(key)", reason: reason))
            }
        }
        return errors
    }

    /// The longest `country` text the edge reads (the longest ISO name is under 60 characters).
    public static let maxCountryLength = 100

    /// A `country` as the edge takes it: an assigned ISO 3166-1 alpha-2 code (ASCII letters
    /// upper-cased: not `ß` → `SS`, not `ﬁ` → `FI`), an alpha-3 code or a country name in
    /// `names` (``CountryNames``: `Germany`, `Deutschland`, `DEU`, `U.K.`); stored as the alpha-2
    /// code. A name several countries go by (`Congo`) is refused naming the candidates.
    public static func country(_ text: String, names: CountryNames) -> Result<String, Invalid> {
        if let code = CountryNames.alpha2(text) { return .success(code) }
        if let reason = controlCharacterReason(text, lines: .single) { return .failure(Invalid(reason)) }
        if text.exceeds(characters: maxCountryLength) { return .failure(Invalid("must be at most \(maxCountryLength) characters")) }
        switch names.match(text) {
        case .country(let code): return .success(code)
        case .ambiguous(let codes):
            return .failure(Invalid("'\(text.trimmingWhitespace)' is ambiguous: it may be \(codes.joined(separator: " or ")); give the ISO 3166-1 code"))
        case .unknown:
            let upper = String(decoding: text.utf8.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }, as: UTF8.self)
            if upper.utf8.count == 2, upper.utf8.allSatisfy({ (0x41...0x5A).contains($0) }) {
                if upper == "UK" { return .failure(Invalid("must be an ISO 3166-1 alpha-2 code or a country name: UK is reserved, the United Kingdom is GB")) }
                return .failure(Invalid("must be an ISO 3166-1 alpha-2 code or a country name: \(upper) is not assigned to a country (user-assigned and reserved codes are not countries)"))
            }
            return .failure(Invalid("'\(text.trimmingWhitespace)' is not a country name or ISO 3166-1 code (alpha-2 like DE, alpha-3 like DEU, or a name like Germany)"))
        }
    }

    /// A `lead_id` as the edge takes it: trimmed, then exactly the format `POST /v1/leads`
    /// answers (``LeadID``).
    public static func leadID(_ text: String) -> Result<String, Invalid> {
        let trimmed = text.trimmingWhitespace
        if LeadID.isValid(trimmed) { return .success(trimmed) }
        if let reason = controlCharacterReason(trimmed, lines: .single) { return .failure(Invalid(reason)) }
        if trimmed.exceeds(characters: 128) { return .failure(Invalid("must be at most 128 characters")) }
        return .failure(Invalid("must be a lead id as POST /v1/leads returns it: \(LeadID.formatDescription)"))
    }
}

/// Lead ids: `lead-` and 20 lower-case hex digits (``EventID/lead(forContact:)``).
public enum LeadID {
    public static let formatDescription = "lead- and 20 lower-case hex digits, like lead-4617d6144834188ce681"

    public static func isValid(_ text: String) -> Bool {
        let prefix: [UInt8] = Array("lead-".utf8)
        var count = 0
        for byte in text.utf8 {
            if count < 5 {
                guard byte == prefix[count] else { return false }
            } else {
                guard (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) else { return false }
            }
            count += 1
            if count > 25 { return false }
        }
        return count == 25
    }
}

/// E-mail addresses as the edge takes them: RFC 5321/5322's unquoted form.
///
/// - Local part: 1 to 64 of the `atext` characters (ASCII letters, digits and
///   ``localPartSymbols``) in dot-separated runs (no dot first, last or twice in a row). Quoted
///   local parts (`"a b"@x`) and non-ASCII local parts (RFC 6531) are not accepted.
/// - Domain: a ``Hostname``. Unicode labels (IDNs) are accepted and converted to A-labels
///   (punycode, RFC 3492), so `ada@bücher.example` is stored, and keyed, as
///   `ada@xn--bcher-kva.example`; address literals (`[192.0.2.1]`) are not accepted.
/// - At most 254 characters in all (in the stored form).
///
/// The whole address is lower-cased (the lead id derives from it).
public enum EmailAddress {
    public static let localPartSymbols = "!#$%&'*+/=?^_`{|}~-"
    public static let maxLength = 254
    public static let maxLocalPart = 64
    static let notAnAddress = "is not an e-mail address"

    /// The stored form (trimmed, lower case, the domain in A-labels), or why it is not an address.
    public static func canonical(_ text: String) -> Result<String, InputHygiene.Invalid> {
        var bytes = Array(text.utf8)
        if let first = bytes.first, let last = bytes.last, first < 0x80, last < 0x80,
           !(first == 0x20 || (0x09...0x0D).contains(first)), !(last == 0x20 || (0x09...0x0D).contains(last)) {
            // Nothing to trim (nearly every address).
        } else {
            bytes = Array(text.trimmingWhitespace.utf8)
        }
        if bytes.allSatisfy({ $0 < 0x80 }) {
            for i in bytes.indices where (0x41...0x5A).contains(bytes[i]) { bytes[i] += 0x20 }
            if let control = bytes.first(where: { $0 < 0x20 || $0 == 0x7F }) {
                return .failure(InputHygiene.Invalid("must not contain control characters (found \(InputHygiene.code(UInt32(control))))"))
            }
            guard let at = bytes.firstIndex(of: UInt8(ascii: "@")), bytes.lastIndex(of: UInt8(ascii: "@")) == at else {
                return .failure(InputHygiene.Invalid(notAnAddress))
            }
            if let problem = check(local: bytes[..<at]) { return .failure(problem) }
            if let problem = Hostname.checkASCII(bytes[(at + 1)...], hints: false) {
                return .failure(InputHygiene.Invalid(notAnAddress + ": the domain " + problem))
            }
            guard bytes.count <= maxLength else { return .failure(InputHygiene.Invalid("must be at most \(maxLength) characters")) }
            return .success(String(decoding: bytes, as: UTF8.self))
        }
        // Non-ASCII: only the domain may have it (IDN labels, converted to A-labels).
        let trimmed = String(decoding: bytes, as: UTF8.self)
        if let reason = InputHygiene.controlCharacterReason(trimmed, lines: .single) { return .failure(InputHygiene.Invalid(reason)) }
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .failure(InputHygiene.Invalid(notAnAddress)) }
        var local = Array(parts[0].utf8)
        guard local.allSatisfy({ $0 < 0x80 }) else {
            return .failure(InputHygiene.Invalid(notAnAddress + ": only ASCII is accepted before the @ (internationalised local parts, RFC 6531, are not)"))
        }
        for i in local.indices where (0x41...0x5A).contains(local[i]) { local[i] += 0x20 }
        if let problem = check(local: local[...]) { return .failure(problem) }
        switch Hostname.canonical(String(parts[1]), hints: false) {
        case .failure(let problem): return .failure(InputHygiene.Invalid(notAnAddress + ": the domain " + problem.reason))
        case .success(let domain):
            let address = String(decoding: local, as: UTF8.self) + "@" + domain
            guard address.utf8.count <= maxLength else {
                return .failure(InputHygiene.Invalid("must be at most \(maxLength) characters (with the domain in A-labels)"))
            }
            return .success(address)
        }
    }

    /// What is wrong with the (ASCII) local part, or nil.
    private static func check(local: ArraySlice<UInt8>) -> InputHygiene.Invalid? {
        guard !local.isEmpty else { return InputHygiene.Invalid(notAnAddress + ": nothing before the @") }
        guard local.count <= maxLocalPart else { return InputHygiene.Invalid(notAnAddress + ": more than \(maxLocalPart) characters before the @") }
        let dots = InputHygiene.Invalid(notAnAddress + ": a dot first, last or twice in a row before the @")
        var previousDot = true // a dot first counts as two in a row
        for byte in local {
            if byte == UInt8(ascii: ".") {
                if previousDot { return dots }
                previousDot = true
            } else {
                guard isAtext(byte) else {
                    return InputHygiene.Invalid(notAnAddress + ": \(Hostname.show(byte)) is not allowed before the @ (letters, digits, dots and \(localPartSymbols); quoted forms are not accepted)")
                }
                previousDot = false
            }
        }
        return previousDot ? dots : nil
    }

    /// RFC 5322 `atext`: ASCII letters, digits and ``localPartSymbols``.
    static func isAtext(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"),
             UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"),
             UInt8(ascii: "-"): true
        default: false
        }
    }
}

/// Host names (`company_domain`, the domain of an e-mail address): two or more dot-separated
/// labels of 1 to 63 letters, digits and hyphens, no hyphen first or last in a label, 253
/// characters at most; the last label (the top-level domain) is letters only, or an A-label
/// (`xn--…`). No scheme, port, path or trailing dot.
///
/// Unicode labels (IDNs) are lower-cased, put in NFC and converted to A-labels (punycode,
/// RFC 3492); the length limits apply to the A-labels. Such a label may hold any non-ASCII
/// character but those in ``excludedScalars`` (controls, spaces, invisible format characters,
/// the ideographic full stops) — a check of the form, not IDNA 2008's per-character tables.
public enum Hostname {
    public static let maxLength = 253
    public static let maxLabel = 63

    /// Non-ASCII scalars a Unicode label must not hold (the OpenAPI document's `Hostname`
    /// and `Email` patterns exclude the same ranges).
    public static let excludedScalars: [ClosedRange<UInt32>] = [
        0x80...0xA0, 0xAD...0xAD, 0x37E...0x37E, 0x61C...0x61C, 0x1680...0x1680, 0x180E...0x180E, 0x1FEF...0x1FEF,
        0x2000...0x200F, 0x2028...0x202F, 0x205F...0x206F, 0x3000...0x3000, 0x3002...0x3002, 0xFEFF...0xFEFF, 0xFF0E...0xFF0E,
        0xFF61...0xFF61, 0xFFF0...0xFFFF,
    ] // U+037E and U+1FEF: NFC makes them `;` and `` ` ``


    /// The stored form (lower case, A-labels), or what is wrong with it (a phrase after "the
    /// domain" or "must be a host name like acme.example:"). `hints`: name a scheme, port or
    /// path as such (a `company_domain` copied from a URL).
    public static func canonical(_ text: String, hints: Bool = true) -> Result<String, InputHygiene.Invalid> {
        var bytes = Array(text.utf8)
        if bytes.allSatisfy({ $0 < 0x80 }) {
            for i in bytes.indices where (0x41...0x5A).contains(bytes[i]) { bytes[i] += 0x20 }
            if let problem = checkASCII(bytes[...], hints: hints) { return .failure(InputHygiene.Invalid(problem)) }
            return .success(String(decoding: bytes, as: UTF8.self))
        }
        if let reason = InputHygiene.controlCharacterReason(text, lines: .single) { return .failure(InputHygiene.Invalid(reason)) }
        // Unicode labels become A-labels; then the whole name is checked as ASCII.
        var labels: [String] = []
        for label in text.split(separator: ".", omittingEmptySubsequences: false) {
            if label.utf8.allSatisfy({ $0 < 0x80 }) { labels.append(label.lowercased()); continue }
            for scalar in label.unicodeScalars where scalar.value >= 0x80 && excludedScalars.contains(where: { $0.contains(scalar.value) }) {
                return .failure(InputHygiene.Invalid("has \(InputHygiene.code(scalar.value)), which is not allowed in a label"))
            }
            if label.unicodeScalars.first == "-" || label.unicodeScalars.last == "-" {
                return .failure(InputHygiene.Invalid("has a label that starts or ends with a hyphen"))
            }
            let unicode = label.lowercased().precomposedStringWithCanonicalMapping
            if unicode.utf8.allSatisfy({ $0 < 0x80 }) { labels.append(unicode); continue }
            let scalars = Array(unicode.unicodeScalars)
            if let bad = scalars.first(where: { $0.value < 0x80 && !isLDH(UInt8($0.value)) }) {
                return .failure(InputHygiene.Invalid(forbidden(UInt8(bad.value))))
            }
            guard scalars.count <= maxLabel, let encoded = Punycode.encode(scalars) else {
                return .failure(InputHygiene.Invalid("has a label longer than \(maxLabel) characters"))
            }
            labels.append("xn--" + encoded)
        }
        let ascii = Array(labels.joined(separator: ".").utf8)
        if let problem = checkASCII(ascii[...], hints: hints) { return .failure(InputHygiene.Invalid(problem)) }
        return .success(String(decoding: ascii, as: UTF8.self))
    }

    /// What is wrong with a lower-case ASCII host name, or nil.
    static func checkASCII(_ name: ArraySlice<UInt8>, hints: Bool) -> String? {
        if hints {
            let text = String(decoding: name, as: UTF8.self)
            if text.contains("://") { return "has a scheme; give the host name only (acme.example, not https://acme.example/)" }
            if name.contains(UInt8(ascii: "/")) { return "has a path; give the host name only (acme.example, not acme.example/about)" }
            if name.contains(UInt8(ascii: ":")) { return "has a port; give the host name only (acme.example, not acme.example:443)" }
        }
        guard !name.isEmpty else { return "is empty" }
        var labels = 0, labelStart = name.startIndex, lettersOnly = true
        var i = name.startIndex
        while true {
            let end = i == name.endIndex || name[i] == UInt8(ascii: ".")
            if end {
                let length = i - labelStart
                if length == 0 { return "has an empty label (a dot at the start or the end, or two in a row)" }
                if length > maxLabel { return "has a label longer than \(maxLabel) characters" }
                if name[labelStart] == UInt8(ascii: "-") || name[i - 1] == UInt8(ascii: "-") { return "has a label that starts or ends with a hyphen" }
                labels += 1
                if i == name.endIndex { break }
                labelStart = i + 1
                lettersOnly = true
            } else {
                let byte = name[i]
                guard isLDH(byte) else { return forbidden(byte) }
                lettersOnly = lettersOnly && (0x61...0x7A).contains(byte)
            }
            i += 1
        }
        guard labels >= 2 else { return "needs at least two labels (like acme.example)" }
        let tld = name[labelStart...]
        let isALabel = tld.count > 4 && tld.starts(with: Array("xn--".utf8))
        guard (lettersOnly && tld.count >= 2) || isALabel else {
            return "ends in \"\(String(decoding: tld, as: UTF8.self))\", which is not a top-level domain (two or more letters, or an xn-- A-label)"
        }
        guard name.count <= maxLength else { return "is longer than \(maxLength) characters" }
        return nil
    }

    static func isLDH(_ byte: UInt8) -> Bool {
        (0x61...0x7A).contains(byte) || (0x41...0x5A).contains(byte) || (0x30...0x39).contains(byte) || byte == UInt8(ascii: "-")
    }

    private static func forbidden(_ byte: UInt8) -> String {
        "has \(show(byte)), which is not allowed (letters, digits, hyphens, and dots between labels)"
    }

    /// An ASCII byte for a message: `a space`, `U+0001`, or the character in quotes.
    static func show(_ byte: UInt8) -> String {
        if byte == 0x20 { return "a space" }
        if byte < 0x20 || byte >= 0x7F { return InputHygiene.code(UInt32(byte)) }
        return "\"\(String(decoding: [byte], as: UTF8.self))\""
    }
}

/// Punycode (RFC 3492): a Unicode label as the ASCII of its A-label (without `xn--`).
public enum Punycode {
    private static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700, initialBias = 72, initialN = 128

    /// The encoded label, or nil on overflow (not reached for labels of at most 63 scalars).
    public static func encode(_ input: [Unicode.Scalar]) -> String? {
        var output: [UInt8] = input.compactMap { $0.value < 0x80 ? UInt8($0.value) : nil }
        let basic = output.count
        var handled = basic
        if basic > 0 { output.append(UInt8(ascii: "-")) }
        var n = initialN, delta = 0, bias = initialBias
        while handled < input.count {
            guard let m = input.lazy.map({ Int($0.value) }).filter({ $0 >= n }).min() else { return nil }
            let (step, overflow) = (m - n).multipliedReportingOverflow(by: handled + 1)
            guard !overflow, delta <= Int.max - step else { return nil }
            delta += step
            n = m
            for scalar in input {
                let c = Int(scalar.value)
                if c < n { delta += 1 }
                guard c == n else { continue }
                var q = delta, k = base
                while true {
                    let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                    if q < t { break }
                    output.append(digit(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digit(q))
                bias = adapt(delta, points: handled + 1, first: handled == basic)
                delta = 0
                handled += 1
            }
            delta += 1
            n += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func digit(_ d: Int) -> UInt8 {
        d < 26 ? UInt8(0x61 + d) : UInt8(0x30 + d - 26)
    }

    private static func adapt(_ delta: Int, points: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / points
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}
