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
                     "x@" + String(repeating: "d.", count: 125) + "co", "a@b.co\u{0B}", "a\u{1F}@b.co"]
        for text in fixed {
            #expect(Check.isASCIIEmail(text) == Check.isEmailByCharacters(text), "\(text.debugDescription)")
        }
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", "Z", "9", ".", "@", " ", "-", "_", "+", "\t", "co", "example", "..", "@@", "\r\n", "x1"]
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
