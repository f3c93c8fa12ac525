import Foundation
@testable import FunnelDomain
import Testing

/// funnel-enrich's event through `FastJSONEncodable`: the same bytes as `JSONEncoder` (and so
/// the same content hash and content-addressed id), and it reads back to the same value.
@Suite("Fast JSON for enriched events")
struct FastJSONEnrichedTests {
    typealias Seeded = BacktestTests.Seeded // SplitMix64

    static let time = "2026-12-07T10:00:00.000Z"

    /// Fast and Foundation bytes of `lead`'s event, whether they are equal, and whether the fast
    /// bytes read back (through the direct parser and `JSONDecoder`; with `validated`, also
    /// through `EventDecoder`) to `lead`.
    @discardableResult
    static func check(_ lead: LeadEnriched, validated: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let event = CloudEvent(id: "id-1", source: "funnel-enrich", type: TopicCatalog.enriched, time: time, subject: lead.leadID, data: lead)
        let fast = EventCoding.encode(event), slow = EventCoding.foundationEncode(event)
        #expect(fast == slow, "\(String(decoding: fast, as: UTF8.self))\n\(String(decoding: slow, as: UTF8.self))", sourceLocation: sourceLocation)
        // The direct parser leaves what it does not handle to JSONDecoder (nil); what it reads must be equal.
        let direct = fast.withUnsafeBytes { FastJSON.enrichedEvent($0) }
        if let direct { #expect(direct.data == lead, sourceLocation: sourceLocation) }
        #expect((try? EventCoding.decoder().decode(CloudEvent<LeadEnriched>.self, from: Data(fast)))?.data == lead, sourceLocation: sourceLocation)
        if validated {
            let decoded = EventDecoder.decode(LeadEnriched.self, from: fast, expectedType: TopicCatalog.enriched)
            #expect((try? decoded.get())?.data == lead, "\(decoded)", sourceLocation: sourceLocation)
        }
        // The payload alone (what content-addressed ids hash), and the content-addressed event.
        var w = JSONWriter()
        lead.writeJSON(to: &w)
        let payload = Array(try! EventCoding.encoder().encode(lead))
        #expect(w.bytes == payload, sourceLocation: sourceLocation)
        let (id, bytes) = EventCoding.encodeContentAddressed(lead, deriving: ["in-1", "enriched"], source: "funnel-enrich",
                                                             type: TopicCatalog.enriched, time: time, subject: lead.leadID)
        #expect(id == EventID.derive("in-1", "enriched", String(EventCoding.contentHash(payload), radix: 16)), sourceLocation: sourceLocation)
        var withID = event
        withID.id = id
        #expect(bytes == EventCoding.foundationEncode(withID), sourceLocation: sourceLocation)
        return direct != nil
    }

    static func bare() -> LeadEnriched {
        LeadEnriched(leadID: "lead-1", profile: LeadCaptured(leadID: "lead-1", phone: "+4930123", capturedAt: "2026-12-07T09:59:00Z"),
                     emailClass: .missing, contactAvailable: false, company: nil, enrichedAt: time)
    }

    static func full() -> LeadEnriched {
        let profile = LeadCaptured(leadID: "lead-1", email: "ada@acme.example", firstName: "Ada", lastName: "Lovelace", jobTitle: "CTO",
                                   company: "Acme", companyDomain: "acme.example", employees: 120, industry: "software", country: "GB",
                                   phone: "+441234", source: "web", campaign: "spring", consent: .init(email: true),
                                   attributes: ["utm_source": "ads", "b": "2"], capturedAt: "2026-12-07T09:59:00Z")
        var lead = LeadEnriched(leadID: "lead-1", profile: profile, emailClass: .corporate, contactAvailable: true,
                                company: CompanyInfo(domain: "acme.example", name: "Acme Ltd", employees: 130, industry: "software",
                                                     country: "GB", owner: "ana"),
                                enrichedAt: time)
        lead.intent = .competitor; lead.intentReason = "competitor domain rival.example"
        lead.accountID = "acc-1"; lead.accountOwner = "bo"; lead.match = .name; lead.matchConfidence = 0.95
        lead.enrichment = .partial; lead.contactSource = "people-api"; lead.companySource = "company-api"
        lead.countrySource = .phone
        return lead
    }

    @Test("every field set, none set, and each optional unset on its own: byte-identical to JSONEncoder")
    func everyField() {
        #expect(Self.check(Self.bare()))
        let full = Self.full()
        #expect(Self.check(full))
        let unsetters: [(inout LeadEnriched) -> Void] = [
            { $0.company = nil }, { $0.company?.name = nil }, { $0.company?.employees = nil }, { $0.company?.industry = nil },
            { $0.company?.country = nil }, { $0.company?.owner = nil },
            { $0.intent = nil }, { $0.intentReason = nil }, { $0.accountID = nil }, { $0.accountOwner = nil }, { $0.match = nil },
            { $0.matchConfidence = nil }, { $0.enrichment = nil }, { $0.contactSource = nil }, { $0.companySource = nil },
            { $0.countrySource = nil }, { $0.contactAvailable = false },
            { $0.profile.email = nil }, { $0.profile.firstName = nil }, { $0.profile.lastName = nil }, { $0.profile.jobTitle = nil },
            { $0.profile.company = nil }, { $0.profile.companyDomain = nil }, { $0.profile.employees = nil },
            { $0.profile.industry = nil }, { $0.profile.country = nil }, { $0.profile.phone = nil }, { $0.profile.source = nil },
            { $0.profile.campaign = nil }, { $0.profile.consent = nil }, { $0.profile.consent = .init(email: false) },
            { $0.profile.attributes = nil }, { $0.profile.attributes = [:] },
        ]
        for unset in unsetters {
            var lead = full
            unset(&lead)
            Self.check(lead)
        }
        // Every enum case.
        for c in EmailClass.allCases { var l = full; l.emailClass = c; Self.check(l) }
        for i in Intent.allCases { var l = full; l.intent = i; Self.check(l) }
        for m in AccountMatchKind.allCases { var l = full; l.match = m; Self.check(l) }
        for s in [EnrichmentStatus.complete, .partial, .none] { var l = full; l.enrichment = s; Self.check(l) }
        for s in CountrySource.allCases { var l = full; l.countrySource = s; Self.check(l) }
    }

    static let hostile = [
        "say \"hi\"", "back\\slash", "a/b//c", "</script>", "tab\there", "nl\nand\rcr", "\u{8}\u{c}", "\u{7f}",
        String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }), "\u{2028}line\u{2029}para", "😀👩‍👩‍👧 non-BMP",
        "José Müller", "Ægir Þórsson", "北京", "Ñandú", "\u{0}", "é\u{301}", "\u{FEFF}bom", "\\u0041", "",
    ]

    @Test("hostile strings in every string field (quotes, backslashes, controls, U+2028/2029, emoji, slashes, non-ASCII)")
    func hostileStrings() {
        for s in Self.hostile {
            var lead = Self.full()
            lead.intentReason = s; lead.accountID = s; lead.accountOwner = s; lead.contactSource = s; lead.companySource = s
            lead.company = CompanyInfo(domain: s, name: s, employees: 1, industry: s, country: s, owner: s)
            lead.profile.firstName = s; lead.profile.lastName = s; lead.profile.jobTitle = s; lead.profile.company = s
            lead.profile.companyDomain = s; lead.profile.industry = s; lead.profile.source = s; lead.profile.campaign = s
            lead.profile.attributes = [s.isEmpty ? "k" : s: s, "plain": s]
            Self.check(lead)
            // Where validation would refuse them (ids, timestamps): the bytes still match.
            var raw = lead
            raw.leadID = s; raw.profile.leadID = s; raw.enrichedAt = s; raw.profile.capturedAt = s; raw.profile.email = s
            raw.profile.phone = s; raw.profile.country = s
            Self.check(raw, validated: false)
        }
    }

    @Test("attribute maps with several keys in random insertion order are written in JSONEncoder's key order")
    func attributeOrder() {
        var rng = Seeded(state: 7)
        let keys = ["b", "a", "aa", "a b", "a_b", "a-b", "A", "Z", "z", "é", "e", "_x", "10", "9", "a10", "a2", "utm_source",
                    "utm-medium", "ß", "😀", "\u{1}", "\"q\"", "k/v", "ÄB", "äb", "ab"]
        for _ in 0..<200 {
            var map: [String: String] = [:]
            for key in keys.shuffled(using: &rng).prefix(Int.random(in: 2...keys.count, using: &rng)) { map[key] = "v-" + key }
            var lead = Self.full()
            lead.profile.attributes = map
            Self.check(lead)
        }
    }

    @Test("match_confidence and counts: Doubles and Ints printed as JSONEncoder prints them")
    func numbers() {
        let doubles: [Double] = [0.95, 0.9, 0.8100000000000001, 1, 0, 0.1, 0.5, 0.333_333_333_333_333_3, 1e-7, 0.000_1, 0.99999999999,
                                 0.7 * 0.9, 2.0 / 3.0, 0.1 + 0.2, 12.5, 1e15, -1e15, 5e15 + 1, 9007199254740992, 1e16, 123456789.125,
                                 -0.0, -0.5, 1e-300, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        for d in doubles {
            var lead = Self.full()
            lead.matchConfidence = d
            Self.check(lead)
        }
        for n in [0, 1, 9, 10, 999_999, Int(Int32.max), Int.max] {
            var lead = Self.full()
            lead.profile.employees = n; lead.company?.employees = n
            Self.check(lead)
        }
    }

    /// A seeded random lead: every optional set or not, strings from plain to hostile.
    static func random(_ rng: inout Seeded, _ i: Int) -> LeadEnriched {
        func maybe<T>(_ value: @autoclosure () -> T) -> T? { Bool.random(using: &rng) ? value() : nil }
        func text() -> String {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: return hostile.randomElement(using: &rng)!
            case 1: return String((0..<Int.random(in: 0...12, using: &rng)).map { _ in
                        Character(Unicode.Scalar(UInt8.random(in: 0...0x7f, using: &rng))) })
            case 2: return ["Acme", "Ada", "VP Sales", "software", "spring-2026", "web", "rival.example"].randomElement(using: &rng)!
            default: return String((0..<Int.random(in: 1...6, using: &rng)).map { _ in
                        Character(["a", "é", "\"", "\\", "/", "\n", "\u{2028}", "😀", "ß", "Z", " ", "\u{1f}"].randomElement(using: &rng)!) })
            }
        }
        let id = "lead-\(i)"
        var attributes: [String: String]? = nil
        if Bool.random(using: &rng) {
            var map: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                let key = text()
                map[key.isEmpty ? "k" : String(key.prefix(20))] = text()
            }
            attributes = map
        }
        let hasEmail = Bool.random(using: &rng)
        let profile = LeadCaptured(
            leadID: id, email: hasEmail ? "u\(i)@acme\(i % 7).example" : nil, firstName: maybe(text()), lastName: maybe(text()),
            jobTitle: maybe(text()), company: maybe(text()), companyDomain: maybe(text()), employees: maybe(Int.random(in: 0...1_000_000, using: &rng)),
            industry: maybe(text()), country: maybe(["DE", "GB", "US", "FR"].randomElement(using: &rng)!),
            phone: hasEmail ? maybe("+49\(i)") : "+49\(i)", source: maybe(text()), campaign: maybe(text()),
            consent: maybe(LeadCaptured.Consent(email: Bool.random(using: &rng))), attributes: attributes,
            capturedAt: "2026-12-07T09:\(10 + i % 50):00Z")
        var lead = LeadEnriched(leadID: id, profile: profile, emailClass: EmailClass.allCases.randomElement(using: &rng)!,
                                contactAvailable: Bool.random(using: &rng),
                                company: maybe(CompanyInfo(domain: text(), name: maybe(text()), employees: maybe(Int.random(in: 0...100_000, using: &rng)),
                                                           industry: maybe(text()), country: maybe(text()), owner: maybe(text()))),
                                enrichedAt: Bool.random(using: &rng) ? time : "2026-12-07T10:00:00Z")
        lead.intent = maybe(Intent.allCases.randomElement(using: &rng)!)
        lead.intentReason = maybe(text())
        lead.accountID = maybe("acc-\(Int.random(in: 0...9999, using: &rng))")
        lead.accountOwner = maybe(text())
        lead.match = maybe(AccountMatchKind.allCases.randomElement(using: &rng)!)
        lead.matchConfidence = maybe(Bool.random(using: &rng) ? Double.random(in: 0...1, using: &rng)
                                                              : Double(Int.random(in: 0...100, using: &rng)) / 100 * [1, 0.9, 0.81].randomElement(using: &rng)!)
        lead.enrichment = maybe([EnrichmentStatus.complete, .partial, .none].randomElement(using: &rng)!)
        lead.contactSource = maybe(text())
        lead.companySource = maybe(text())
        lead.countrySource = maybe(CountrySource.allCases.randomElement(using: &rng)!)
        return lead
    }

    @Test("3,000 seeded random enriched leads: byte-identical to JSONEncoder and read back equal")
    func randomLeads() {
        var rng = Seeded(state: 2026)
        var direct = 0
        for i in 0..<3000 where Self.check(Self.random(&rng, i)) { direct += 1 }
        #expect(direct > 100) // the direct parser read plain ones (it leaves escapes and the unusual to JSONDecoder)
    }
}
