import Foundation
import FunnelDevKit
import FunnelDomain
import FunnelKafka
import FunnelProviders
import Testing

/// The content-addressed enriched message is written in one pass (`encodeContentAddressed`):
/// the same id and bytes as before, when the payload went through `JSONEncoder` twice (once to
/// hash, once inside the event).
@Suite("Enriched output: content-addressed ids and bytes unchanged")
struct EnrichedOutputTests {
    /// The message as `EnrichedOutput.message` made it before the single pass.
    static func legacy(_ lead: LeadEnriched, leadID: String, from inputID: String, purpose: String, time: String) -> (id: String, bytes: [UInt8]) {
        let data = (try? Array(EventCoding.encoder().encode(lead))) ?? []
        let id = EventID.derive(inputID, purpose, String(EventCoding.contentHash(data), radix: 16))
        let event = CloudEvent(id: id, source: "funnel-enrich", type: TopicCatalog.enriched, time: time, subject: leadID, data: lead)
        return (id, EventCoding.foundationEncode(event))
    }

    static func lead(_ i: Int, _ rng: inout SplitMix64) -> LeadEnriched {
        func pick(_ options: [String]) -> String { options[rng.below(options.count)] }
        func maybe(_ options: [String]) -> String? { rng.below(3) == 0 ? nil : pick(options) }
        let names = ["Ada", "José Müller", "say \"hi\"", "a/b\\c", "tab\there", "\u{1}\u{1f}", "\u{2028}", "😀 emoji", "北京", ""]
        var attributes: [String: String]? = nil
        if rng.below(2) == 0 {
            var map: [String: String] = [:]
            for _ in 0..<rng.below(6) { map[pick(["utm_source", "b", "a", "Z", "é", "a10", "a2", "x y", "_k"])] = pick(names) }
            attributes = map
        }
        let profile = LeadCaptured(leadID: "lead-\(i)", email: rng.below(4) == 0 ? nil : "u\(i)@acme\(i % 9).example",
                                   firstName: maybe(names), lastName: maybe(names), jobTitle: maybe(["CTO", "VP Sales", "student"]),
                                   company: maybe(names), companyDomain: maybe(["acme.example", "rival.example"]),
                                   employees: rng.below(2) == 0 ? nil : rng.below(100_000), industry: maybe(["software", "retail"]),
                                   country: maybe(["DE", "GB"]), phone: "+49\(i)", source: maybe(["web", "csv"]),
                                   campaign: maybe(names), consent: rng.below(2) == 0 ? nil : .init(email: rng.below(2) == 0),
                                   attributes: attributes, capturedAt: "2026-12-07T09:00:00Z")
        var lead = LeadEnriched(leadID: "lead-\(i)", profile: profile, emailClass: EmailClass.allCases[rng.below(EmailClass.allCases.count)],
                                contactAvailable: rng.below(2) == 0,
                                company: rng.below(2) == 0 ? nil : CompanyInfo(domain: "acme.example", name: maybe(names),
                                                                               employees: rng.below(2) == 0 ? nil : rng.below(5000),
                                                                               industry: maybe(["software"]), country: maybe(["DE"]), owner: maybe(names)),
                                enrichedAt: "2026-12-07T10:00:00.000Z")
        if rng.below(2) == 0 { lead.intent = Intent.allCases[rng.below(Intent.allCases.count)]; lead.intentReason = maybe(names) }
        if rng.below(2) == 0 {
            lead.accountID = "acc-\(rng.below(10_000))"; lead.accountOwner = maybe(names)
            lead.match = AccountMatchKind.allCases[rng.below(AccountMatchKind.allCases.count)]
            lead.matchConfidence = [0.95, 0.9, 0.8100000000000001, 1, 0, Double(rng.below(1000)) / 1000, Double(rng.next() >> 11) / Double(1 << 53)][rng.below(7)]
        }
        lead.enrichment = [nil, EnrichmentStatus.complete, .partial, EnrichmentStatus.none][rng.below(4)]
        lead.contactSource = maybe(["people-api"]); lead.companySource = maybe(["company-api"])
        lead.countrySource = rng.below(2) == 0 ? nil : CountrySource.allCases[rng.below(CountrySource.allCases.count)]
        return lead
    }

    @Test("2,000 seeded leads: EnrichedOutput.message has the id and bytes of the two-pass encoding, and reads back equal")
    func sameIDsAndBytes() throws {
        var rng = SplitMix64(seed: 11)
        for i in 0..<2000 {
            let lead = Self.lead(i, &rng)
            for purpose in ["enriched", "re-enriched"] {
                let inputID = "in-\(i)"
                let old = Self.legacy(lead, leadID: lead.leadID, from: inputID, purpose: purpose, time: "2026-12-07T10:00:00.000Z")
                let message = EnrichedOutput.message(lead, leadID: lead.leadID, from: inputID, purpose: purpose,
                                                     time: "2026-12-07T10:00:00.000Z", contentAddressed: true)
                #expect(message.topic == TopicCatalog.enriched && message.key == Array(lead.leadID.utf8))
                #expect(message.value == old.bytes, "\(String(decoding: message.value ?? [], as: UTF8.self))\n\(String(decoding: old.bytes, as: UTF8.self))")
                let event = try EventDecoder.decode(LeadEnriched.self, from: message.value ?? [], expectedType: TopicCatalog.enriched).get()
                #expect(event.id == old.id && event.data == lead)
            }
        }
    }

    @Test("without content addressing the id still derives from the input alone, bytes as JSONEncoder's")
    func inputDerived() throws {
        var rng = SplitMix64(seed: 12)
        for i in 0..<200 {
            let lead = Self.lead(i, &rng)
            let message = EnrichedOutput.message(lead, leadID: lead.leadID, from: "in-\(i)", purpose: "enriched",
                                                 time: "2026-12-07T10:00:00.000Z", contentAddressed: false)
            let event = CloudEvent(id: EventID.derive("in-\(i)", "enriched"), source: "funnel-enrich", type: TopicCatalog.enriched,
                                   time: "2026-12-07T10:00:00.000Z", subject: lead.leadID, data: lead)
            #expect(message.value == EventCoding.foundationEncode(event))
        }
    }
}
