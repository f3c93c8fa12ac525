import Foundation
@testable import FunnelDomain
import Testing

/// Bad and hostile lead payloads: each case names the exact field and reason it must produce.
@Suite("Hostile input: lead payloads")
struct HostileInputTests {
    static func lead(_ change: (inout LeadCaptured) -> Void) -> LeadCaptured {
        var lead = LeadCaptured(leadID: "lead-1", email: "ada@acme.example", capturedAt: "2026-11-23T10:00:00Z")
        change(&lead)
        return lead
    }
    static func long(_ n: Int) -> String { String(repeating: "x", count: n) }

    static let cases: [(String, LeadCaptured, String, String)] = [
        ("no contact", lead { $0.email = nil }, "email", "is required unless phone is given"),
        ("empty contact", lead { $0.email = "" }, "email", "is required unless phone is given"),
        ("no at sign", lead { $0.email = "ada.acme.example" }, "email", "is not an e-mail address"),
        ("script as e-mail", lead { $0.email = "<script>alert(1)</script>" }, "email", "is not an e-mail address"),
        ("two at signs", lead { $0.email = "a@b@c.example" }, "email", "is not an e-mail address"),
        ("country word", lead { $0.country = "Germany" }, "country", "must be an ISO 3166-1 alpha-2 code"),
        ("country digits", lead { $0.country = "12" }, "country", "must be an ISO 3166-1 alpha-2 code"),
        ("negative size", lead { $0.employees = -1 }, "employees", "must be >= 0"),
        ("bad time", lead { $0.capturedAt = "yesterday" }, "captured_at", "must be an RFC 3339 date-time"),
        ("time without zone", lead { $0.capturedAt = "2026-11-23T10:00:00" }, "captured_at", "must be an RFC 3339 date-time"),
        ("empty lead id", lead { $0.leadID = "" }, "lead_id", "must not be empty"),
        ("long lead id", lead { $0.leadID = long(129) }, "lead_id", "must be at most 128 characters"),
        ("long e-mail", lead { $0.email = long(250) + "@a.example" }, "email", "must be at most 254 characters"),
        ("long first name", lead { $0.firstName = long(101) }, "first_name", "must be at most 100 characters"),
        ("long last name", lead { $0.lastName = long(101) }, "last_name", "must be at most 100 characters"),
        ("long title", lead { $0.jobTitle = long(201) }, "job_title", "must be at most 200 characters"),
        ("long company", lead { $0.company = long(201) }, "company", "must be at most 200 characters"),
        ("long domain", lead { $0.companyDomain = long(254) }, "company_domain", "must be at most 253 characters"),
        ("long industry", lead { $0.industry = long(101) }, "industry", "must be at most 100 characters"),
        ("long phone", lead { $0.phone = long(33) }, "phone", "must be at most 32 characters"),
        ("long source", lead { $0.source = long(101) }, "source", "must be at most 100 characters"),
        ("long campaign", lead { $0.campaign = long(101) }, "campaign", "must be at most 100 characters"),
        ("emoji title counts scalars", lead { $0.jobTitle = String(repeating: "👩‍💻", count: 70) }, "job_title", "must be at most 200 characters"),
        ("too many attributes", lead { $0.attributes = Dictionary(uniqueKeysWithValues: (0..<51).map { ("k\($0)", "v") }) }, "attributes", "must have at most 50 entries"),
        ("empty attribute key", lead { $0.attributes = ["": "v"] }, "attributes", "keys must be 1 to 64 characters"),
        ("long attribute key", lead { $0.attributes = [long(65): "v"] }, "attributes", "keys must be 1 to 64 characters"),
        ("long attribute value", lead { $0.attributes = ["note": long(1001)] }, "attributes.note", "must be at most 1000 characters"),
    ]

    @Test("each bad payload is rejected with the exact field and reason", arguments: cases.indices)
    func rejected(_ index: Int) {
        let (name, lead, field, reason) = Self.cases[index]
        let errors = lead.validate()
        #expect(errors.contains(FieldError(field: field, reason: reason)), "\(name): \(errors)")
    }

    @Test("at the limits and with markup or unicode, a payload is accepted and kept as data")
    func acceptedAtLimits() {
        let lead = Self.lead {
            $0.firstName = Self.long(100); $0.jobTitle = "<b>VP</b> \"Sales\" & ' ; DROP TABLE leads; --"
            $0.company = "Ünïcødé GmbH 🚀"; $0.attributes = Dictionary(uniqueKeysWithValues: (0..<50).map { ("k\($0)", Self.long(1000)) })
        }
        #expect(lead.validate().isEmpty)
        let event = CloudEvent(id: "e", source: "t", type: TopicCatalog.captured, time: "2026-11-23T10:00:00Z", subject: "lead-1", data: lead)
        let decoded = EventDecoder.decode(LeadCaptured.self, from: EventCoding.encode(event), expectedType: TopicCatalog.captured)
        #expect((try? decoded.get().data) == lead)
    }

    @Test("invalid UTF-8, deep nesting and non-JSON are rejected with a field error, never a crash")
    func malformedBytes() {
        let inputs: [[UInt8]] = [
            [0xFF, 0xFE, 0x7B], Array("{\"specversion\":\"1.0\",\"id\":\"\u{0}".utf8) + [0xC3],
            Array(String(repeating: "[", count: 10_000).utf8), Array("not json".utf8), [],
        ]
        for bytes in inputs {
            guard case .failure(let error) = EventDecoder.decode(LeadCaptured.self, from: bytes, expectedType: TopicCatalog.captured) else {
                Issue.record("accepted \(bytes.prefix(16))"); continue
            }
            #expect(!error.reason.isEmpty)
        }
    }
}

@Suite("Phone numbers: E.164 where a country is known")
struct PhoneTests {
    @Test("normalised", arguments: [
        ("+49 30 1234567", nil, "+49301234567"), ("0049 (30) 123-4567", nil, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"), ("(415) 555-0100", "US", "+14155550100"),
        ("020 7946 0958", "gb", "+442079460958"), ("5550100123", nil, "5550100123"),
    ] as [(String, String?, String)])
    func normalised(_ c: (String, String?, String)) {
        let value = try? Normalise.phone(c.0, country: c.1)?.get()
        #expect(value == c.2)
    }

    @Test("rejected", arguments: [("call me", nil), ("+12", nil), ("+0123456789", nil), ("12-34", nil), ("+1234567890123456", nil), ("0", "DE")] as [(String, String?)])
    func rejected(_ c: (String, String?)) {
        guard case .failure(let error)? = Normalise.phone(c.0, country: c.1) else { Issue.record("accepted \(c.0)"); return }
        #expect(error.field == "phone")
    }

    @Test("absent or blank is not an error")
    func absent() {
        #expect(Normalise.phone(nil, country: "DE") == nil)
        #expect(Normalise.phone("   ", country: "DE") == nil)
    }
}

@Suite("E-mail check: the ASCII fast path agrees with the character rules")
struct EmailCheckTests {
    @Test("fixed cases and 200,000 generated strings from e-mail-like pieces")
    func agree() {
        let fixed = ["a@b.co", "a@b.c", "@b.co", "a@.co", "a@b..co", "a@b.co.", "a@@b.co", "a b@c.co", "a@b.c1", "a@b.CO",
                     "\t@b.co", "a@b.co\r\n", String(repeating: "x", count: 64) + "@b.co", String(repeating: "x", count: 65) + "@b.co",
                     "x@" + String(repeating: "d", count: 63) + ".co", "x@" + String(repeating: "d", count: 64) + ".co",
                     "x@" + String(repeating: "d.", count: 125) + "co", "a@b.co\u{0B}", "a\u{1F}@b.co",
                     "a@b.xn--p1ai", "a@b.XN--P1AI", "a@b.xn--", "a@b.xn-", "a@b.xn-p1ai", "a@b.x1n--p1ai"]
        for text in fixed {
            #expect(Check.isASCIIEmail(text) == Check.isEmailByCharacters(text), "\(text.debugDescription)")
        }
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", "Z", "9", ".", "@", " ", "-", "_", "+", "\t", "co", "example", "..", "@@", "\r\n", "x1", "xn--", "Xn", "N-"]
        for _ in 0..<200_000 {
            let text = (0..<Int.random(in: 0...8, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            #expect(Check.isASCIIEmail(text) == Check.isEmailByCharacters(text), "\(text.debugDescription)")
        }
        #expect(Check.isASCIIEmail("ädä@b.co") == nil, "not ASCII: the character rules decide")
    }
}

@Suite("Timestamp formatting")
struct TimestampFormatTests {
    @Test("the hand-written format equals ISO8601DateFormatter's (fractional seconds, UTC) and round-trips")
    func sameAsFoundation() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for ms: Int64 in [0, 1, 999, 1_000, 951_782_400_000 /* 2000-02-29 */, 1_795_435_770_123, 4_102_444_799_999, 86_399_999,
                          -11_676_096_000_000 /* 1600-01-01 */, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */, -1] {
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            #expect(Timestamp.format(date) == reference.string(from: date), "\(ms)")
            #expect(Timestamp.milliseconds(Timestamp.format(date)) == ms)
        }
        // Proleptic Gregorian before 1582 (Foundation's formatter switches to the Julian calendar there).
        #expect(Timestamp.format(milliseconds: -62_135_596_800_000) == "0001-01-01T00:00:00.000Z")
        // Past the four-digit years the digit-by-digit path covers: the general one.
        #expect(Timestamp.format(milliseconds: 253_402_300_800_000) == "10000-01-01T00:00:00.000Z")
    }
}

@Suite("Random event ids")
struct RandomEventIDTests {
    @Test("version-4 UUID text: 36 characters, lower-case hex, version and variant set, and distinct")
    func shape() {
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = EventID.random()
            let uuid = UUID(uuidString: id)
            #expect(uuid != nil && uuid!.uuidString.lowercased() == id, "\(id)")
            let chars = Array(id)
            #expect(chars.count == 36 && chars[14] == "4" && "89ab".contains(chars[19]), "\(id)")
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }
}

/// The edge's rules (``InputHygiene``): each hostile value names its field and why; each good
/// one is stored in its canonical form. Table-driven: a row per case.
@Suite("Hostile input: the edge's rules for text")
struct InputHygieneTests {
    /// (input, stored form, or nil and a fragment the reason must contain)
    static let emails: [(String, String?, String)] = [
        ("Ada.Lovelace@Acme.Example", "ada.lovelace@acme.example", ""),
        ("  ada@acme.example\n", "ada@acme.example", ""),
        ("o'brien+news@acme.example", "o'brien+news@acme.example", ""),
        ("a!#$%&'*+/=?^_`{|}~-z@acme.example", "a!#$%&'*+/=?^_`{|}~-z@acme.example", ""),
        ("ada@mail.xn--p1ai", "ada@mail.xn--p1ai", ""),
        ("ada@bücher.example", "ada@xn--bcher-kva.example", ""),
        ("ADA@BÜCHER.EXAMPLE", "ada@xn--bcher-kva.example", ""),
        ("ada@bu\u{0308}cher.example", "ada@xn--bcher-kva.example", ""), // NFD: the same domain
        ("ada@пример.рф", "ada@xn--e1afmkfd.xn--p1ai", ""),
        ("ada@例え.テスト", "ada@xn--r8jz45g.xn--zckzah", ""),
        (String(repeating: "x", count: 64) + "@acme.example", String(repeating: "x", count: 64) + "@acme.example", ""),
        (String(repeating: "x", count: 65) + "@acme.example", nil, "more than 64 characters before the @"),
        ("ada.acme.example", nil, "is not an e-mail address"),
        ("a@b@acme.example", nil, "is not an e-mail address"),
        ("@acme.example", nil, "nothing before the @"),
        (".ada@acme.example", nil, "a dot first, last or twice in a row"),
        ("ada.@acme.example", nil, "a dot first, last or twice in a row"),
        ("a..da@acme.example", nil, "a dot first, last or twice in a row"),
        ("\"ada lovelace\"@acme.example", nil, "\"\"\" is not allowed before the @"),
        ("ada lovelace@acme.example", nil, "a space is not allowed before the @"),
        ("(comment)ada@acme.example", nil, "\"(\" is not allowed before the @"),
        ("<script>@acme.example", nil, "\"<\" is not allowed before the @"),
        ("ada@[192.0.2.1]", nil, "the domain has \"[\", which is not allowed"),
        ("ada@acme", nil, "the domain needs at least two labels"),
        ("ada@acme.example.", nil, "the domain has an empty label"),
        ("ada@acme..example", nil, "the domain has an empty label"),
        ("ada@.acme.example", nil, "the domain has an empty label"),
        ("ada@-acme.example", nil, "the domain has a label that starts or ends with a hyphen"),
        ("ada@acme-.example", nil, "the domain has a label that starts or ends with a hyphen"),
        ("ada@acme_corp.example", nil, "the domain has \"_\", which is not allowed"),
        ("ada@acme.c0m", nil, "which is not a top-level domain"),
        ("ada@192.0.2.1", nil, "which is not a top-level domain"),
        ("ada@acme.x", nil, "which is not a top-level domain"),
        ("ada@" + String(repeating: "d", count: 64) + ".example", nil, "the domain has a label longer than 63 characters"),
        ("ada@" + String(repeating: "ü", count: 40) + ".example", "ada@xn--" + "tda" + String(repeating: "a", count: 39) + ".example", ""), // 46 in A-label
        ("ada@" + String(repeating: "他们为什么不说中文我们的是在有", count: 2) + ".example", nil, "the domain has a label longer than 63 characters"), // 30 scalars, 76 in A-label
        ("x@" + String(repeating: "d.", count: 125) + "com", nil, "must be at most 254 characters"),
        ("ädä@acme.example", nil, "only ASCII is accepted before the @"),
        ("ada@acme\u{3002}example", nil, "the domain has U+3002, which is not allowed in a label"),
        ("ada@ac\u{200B}me.example", nil, "the domain has U+200B, which is not allowed in a label"),
        ("ada@ac\u{202E}me.example", nil, "the domain has U+202E, which is not allowed in a label"),
        ("ada@ac me.example", nil, "the domain has a space, which is not allowed"),
        ("ada\u{0}@acme.example", nil, "must not contain control characters (found U+0000)"),
        ("ada@acme.example\u{1B}[2J", nil, "must not contain control characters (found U+001B)"),
        ("ada\u{7F}@acme.example", nil, "must not contain control characters (found U+007F)"),
        ("ada@bü\u{85}cher.example", nil, "must not contain control characters (found U+0085)"),
        ("ada@b\u{9B}ücher.example", nil, "must not contain control characters (found U+009B)"),
    ]

    @Test("e-mail addresses: RFC 5321/5322 unquoted form, IDN domains as A-labels", arguments: emails.indices)
    func email(_ index: Int) {
        let (input, stored, reason) = Self.emails[index]
        let result = EmailAddress.canonical(input)
        Self.expect(result, for: input, stored: stored, reason: reason)
        if case .success(let address) = result { #expect(Check.isEmail(address), "what the edge stores, consumers accept: \(address)") }
    }

    /// `result` is `stored`, or (stored nil) a failure whose reason contains `reason`.
    static func expect(_ result: Result<String, InputHygiene.Invalid>, for input: String, stored: String?, reason: String) {
        switch result {
        case .success(let value): #expect(value == stored, "\(input.debugDescription) stored as \(value)")
        case .failure(let invalid):
            #expect(stored == nil, "\(input.debugDescription) rejected: \(invalid.reason)")
            #expect(invalid.reason.contains(reason), "\(input.debugDescription): \(invalid.reason)")
        }
    }

    /// (input, stored form, or nil and a fragment of the reason)
    static let hosts: [(String, String?, String)] = [
        ("acme.example", "acme.example", ""),
        ("WWW.Acme-Software.Example", "www.acme-software.example", ""),
        ("münchen.example", "xn--mnchen-3ya.example", ""),
        ("acme.xn--p1ai", "acme.xn--p1ai", ""),
        ("a.co", "a.co", ""),
        ("https://acme.example/", nil, "has a scheme"),
        ("acme.example/about", nil, "has a path"),
        ("acme.example:443", nil, "has a port"),
        ("acme", nil, "needs at least two labels"),
        ("acme.example.", nil, "has an empty label"),
        (".acme.example", nil, "has an empty label"),
        ("acme..example", nil, "has an empty label"),
        ("acme.123", nil, "is not a top-level domain"),
        ("-acme.example", nil, "starts or ends with a hyphen"),
        ("acme .example", nil, "has a space"),
        ("ada@acme.example", nil, "has \"@\""),
        (String(repeating: "a", count: 64) + ".example", nil, "a label longer than 63 characters"),
        (String(repeating: "abcdefgh.", count: 29) + "example", nil, "is longer than 253 characters"),
        ("-bücher.example", nil, "starts or ends with a hyphen"),
        ("bücher_.example", nil, "has \"_\""),
    ]

    @Test("host names (company_domain): labels, no scheme, port, path or empty label", arguments: hosts.indices)
    func host(_ index: Int) {
        let (input, stored, reason) = Self.hosts[index]
        Self.expect(Hostname.canonical(input), for: input, stored: stored, reason: reason)
    }

    /// RFC 3492 section 7.1's samples (case of basic code points kept), and common IDNs.
    @Test("punycode: RFC 3492 samples", arguments: [
        ("\u{0644}\u{064A}\u{0647}\u{0645}\u{0627}\u{0628}\u{062A}\u{0643}\u{0644}\u{0645}\u{0648}\u{0634}\u{0639}\u{0631}\u{0628}\u{064A}\u{061F}", "egbpdaj6bu4bxfgehfvwxn"),
        ("\u{4ED6}\u{4EEC}\u{4E3A}\u{4EC0}\u{4E48}\u{4E0D}\u{8BF4}\u{4E2D}\u{6587}", "ihqwcrb4cv8a8dqg056pqjye"),
        ("3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}", "3B-ww4c5e180e575a65lsy2b"),
        ("\u{305D}\u{306E}\u{30B9}\u{30D4}\u{30FC}\u{30C9}\u{3067}", "d9juau41awczczp"),
        ("-> $1.00 <-", "-> $1.00 <--"),
        ("bücher", "bcher-kva"), ("☃", "n3h"), ("💩", "ls8h"),
    ])
    func punycode(_ sample: (String, String)) {
        #expect(Punycode.encode(Array(sample.0.unicodeScalars)) == sample.1)
    }

    /// (input, stored code, or nil and a fragment of the reason)
    static let countries: [(String, String?, String)] = [
        ("DE", "DE", ""), ("de", "DE", ""), ("gB", "GB", ""), ("AX", "AX", ""), ("SS", "SS", ""), ("BQ", "BQ", ""),
        ("XX", nil, "XX is not assigned"), ("ZZ", nil, "ZZ is not assigned"), ("AA", nil, "AA is not assigned"),
        ("QM", nil, "QM is not assigned"), ("QZ", nil, "QZ is not assigned"), ("XA", nil, "XA is not assigned"),
        ("XK", nil, "XK is not assigned"), ("XZ", nil, "XZ is not assigned"), ("EU", nil, "EU is not assigned"),
        ("AN", nil, "AN is not assigned"), ("YU", nil, "YU is not assigned"), ("UK", nil, "the United Kingdom is GB"),
        ("Germany", nil, "is not a country name or ISO 3166-1 code"), ("D", nil, "is not a country name or ISO 3166-1 code"),
        ("12", nil, "is not a country name or ISO 3166-1 code"), ("\u{FB01}", nil, "is not a country name or ISO 3166-1 code"), // ﬁ is not FI
        ("D\u{0}", nil, "must not contain control characters (found U+0000)"),
    ]

    @Test("country without name tables: an assigned ISO 3166-1 alpha-2 code (user-assigned, reserved and withdrawn ones are not countries)", arguments: countries.indices)
    func country(_ index: Int) {
        let (input, stored, reason) = Self.countries[index]
        Self.expect(InputHygiene.country(input, names: CountryNames()), for: input, stored: stored, reason: reason)
    }

    @Test("the country table: 249 codes, none user-assigned; every other country table of the domain is a subset of it")
    func countryTable() {
        #expect(ISO3166.all.count == 249 && Set(ISO3166.all).count == 249 && ISO3166.all == ISO3166.all.sorted())
        let letters = (65...90).map { String(UnicodeScalar(UInt8($0))) }
        let userAssigned = ["AA", "ZZ"] + letters.filter { $0 >= "M" }.map { "Q" + $0 } + letters.map { "X" + $0 }
        #expect(userAssigned.count == 2 + 14 + 26)
        for code in userAssigned { #expect(!ISO3166.isAssigned(code), "\(code)") }
        for code in ISO3166.all { #expect(ISO3166.isAssigned(code)) }
        for table in [Array(CountryTimeZones.main.keys), Array(ProfileFacts.regions.keys), Array(Normalise.callingCodes.keys)] {
            for code in table { #expect(ISO3166.isAssigned(code), "\(code) is in a country table but not assigned") }
        }
    }

    @Test("lead ids: lead- and 20 lower-case hex digits, as EventID.lead makes them", arguments: [
        ("lead-4617d6144834188ce681", true), (" lead-4617d6144834188ce681\n", true),
        ("lead-4617D6144834188CE681", false), ("lead-4617d6144834188ce68", false), ("lead-4617d6144834188ce6811", false),
        ("lead-4617d6144834188ce68g", false), ("Lead-4617d6144834188ce681", false), ("lead_4617d6144834188ce681", false),
        ("lead-feedback-1234", false), ("4617d6144834188ce681", false), ("lead-4617d61448\u{0}34188ce681", false),
    ])
    func leadID(_ sample: (String, Bool)) {
        let result = InputHygiene.leadID(sample.0)
        #expect(((try? result.get()) != nil) == sample.1, "\(sample.0.debugDescription): \(result)")
        #expect(LeadID.isValid(EventID.lead(forContact: "ada-\(sample.0.count)@acme.example")))
    }

    /// (text, multi-line field?, the control character it has, or nil)
    static let controls: [(String, InputHygiene.Lines, UInt32?)] = [
        ("Ada Lovelace", .single, nil), ("Ünïcødé 🚀 <b>", .single, nil), ("", .single, nil),
        ("a\u{0}b", .single, 0x00), ("\u{7}", .single, 0x07), ("a\tb", .single, 0x09), ("a\nb", .single, 0x0A),
        ("a\rb", .single, 0x0D), ("\u{1B}[31m", .single, 0x1B), ("a\u{1F}", .single, 0x1F), ("a\u{7F}", .single, 0x7F),
        ("a\u{80}", .single, 0x80), ("\u{85}", .single, 0x85), ("a\u{9F}b", .single, 0x9F),
        ("a\u{A0}b", .single, nil), ("¢\u{100}", .single, nil), // U+00A0 and 0xC2 0xA2: not C1
        ("line one\nline two\r\n\tindented", .multi, nil), ("a\u{0}b", .multi, 0x00), ("a\u{B}b", .multi, 0x0B),
        ("a\u{C}b", .multi, 0x0C), ("a\u{7F}", .multi, 0x7F), ("a\u{85}", .multi, 0x85),
    ]

    @Test("control characters: C0, DEL and C1; tab and line breaks only in multi-line fields", arguments: controls.indices)
    func controlCharacters(_ index: Int) {
        let (text, lines, found) = Self.controls[index]
        #expect(InputHygiene.controlCharacter(in: text, lines: lines)?.value == found, "\(text.debugDescription)")
        if let found {
            #expect(InputHygiene.controlCharacterReason(text, lines: lines)?.contains(InputHygiene.code(found)) == true)
        }
    }

    @Test("blank is absent: empty or only whitespace", arguments: [
        ("", true), (" ", true), ("\t\n\r\u{B}\u{C}", true), ("\u{A0}\u{3000}\u{2028}", true), ("a", false), (" a ", false),
        ("\u{0}", false), ("\u{200B}", false),
    ])
    func blank(_ sample: (String, Bool)) {
        #expect(InputHygiene.isBlank(sample.0) == sample.1, "\(sample.0.debugDescription)")
        #expect((InputHygiene.present(sample.0) == nil) == sample.1)
    }
}

@Suite("Hostile input: duplicate JSON object keys")
struct DuplicateKeyTests {
    /// (document, the duplicates found: "[element].path" or "path")
    static let documents: [(String, [String])] = [
        (#"{"email":"a@x.example","email":"b@x.example"}"#, ["email"]),
        (#"{"email":"a@x.example","em\u0061il":"b@x.example"}"#, ["email"]),
        (#"{"a":1,"b":{"c":1,"c":2},"a":3}"#, ["b.c"]),
        (#"{"attributes":{"utm":"a","x":"y","utm":"b"}}"#, ["attributes.utm"]),
        (#"{"bant":{"budget":{"met":true,"note":"a","note":"b"}}}"#, ["bant.budget.note"]),
        (#"[{"email":"a@x.example"},{"email":"b@x.example","type":"x","type":"y","email":"c"},{"k":[{"z":1,"z":2}]}]"#, ["[1].type", "[2].k[0].z"]),
        (#"[[{"a":1,"a":2}]]"#, ["[0][0].a"]),
        (#"{"caf\u00e9":1,"café":2}"#, ["café"]),
        ("{\"e\u{301}\":1,\"\u{E9}\":2}", ["é"]), // canonically equivalent, as Swift (and JSONDecoder) compare them
        (#"{"a":"x\"a\":1","b":[1,{"a":2}],"c":{"a":{"a":{}}}}"#, []),
        (#"{"email":"a@x.example","Email":"b@x.example"}"#, []),
        (#"[{"a":1},{"a":1}]"#, []),
        (#"{"\ud83d\ude00":1,"😀":2}"#, ["😀"]),
        ("[]", []), ("{}", []), ("5", []), ("not json", []), (#"{"a":1,"a""#, ["a"]), (String(repeating: "[", count: 100_000), []),
    ]

    @Test("each duplicate is found with its path, the first per array element", arguments: documents.indices)
    func found(_ index: Int) {
        let (document, expected) = Self.documents[index]
        #expect(JSONDuplicateKeys.find(Array(document.utf8)).map(\.description) == expected, "\(document.prefix(80))")
    }

    @Test("what Foundation's JSONDecoder does with a key given twice: it keeps one value without an error (so the ingest checks)")
    func foundationKeepsOne() throws {
        struct Item: Decodable { var email: String }
        let item = try JSONDecoder().decode(Item.self, from: Data(#"{"email":"first@x.example","email":"last@x.example"}"#.utf8))
        #expect(item.email == "first@x.example") // swift-corelibs-foundation 6.3: the first; Darwin's keeps the last
        let map = try JSONDecoder().decode([String: String].self, from: Data(#"{"k":"first","k":"last"}"#.utf8))
        #expect(map == ["k": "first"])
    }

    @Test("a wide object (100,000 keys) and deep nesting are scanned in one pass")
    func wide() {
        let wide = "{" + (0..<100_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"k5\":0}"
        let started = ContinuousClock.now
        #expect(JSONDuplicateKeys.find(Array(wide.utf8)).map(\.description) == ["k5"])
        let deep = String(repeating: "{\"a\":", count: 50_000) + "1" + String(repeating: "}", count: 50_000)
        #expect(JSONDuplicateKeys.find(Array(deep.utf8)).isEmpty)
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
