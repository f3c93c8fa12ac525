import Foundation
@testable import FunnelDomain
import Testing

/// Intent from enrichment through the shipped scoring model and routing to the stage change:
/// the disqualification names the evidence; an account's owner reaches the router.
@Suite struct IntentScoringTests {
    static func deploy(_ name: String) throws -> String {
        try String(contentsOfFile: #filePath.components(separatedBy: "/Tests/")[0] + "/deploy/" + name, encoding: .utf8)
    }

    static let scorer = Scorer(model: try! ScoringModel.parse(yaml: deploy("scoring-model.yaml")))
    static let router = LifecycleRouter(routing: try! RoutingConfig.parse(yaml: deploy("routing.yaml")),
                                        mqlThreshold: scorer.model.mqlThreshold)

    /// captured → enriched (committed lists) → scored (shipped model) → the router's transitions.
    static func lifecycle(_ lead: LeadCaptured) -> (LeadEnriched, LeadScored, [Transition]) {
        let enriched = Enricher.enrich(lead, emails: EmailListsTests.directory, companies: CompanyDirectory([]),
                                       intents: IntentTests.intents, accounts: AccountMatchingTests.accounts, at: lead.capturedAt)
        var state = LeadScoreState()
        state.apply(profile: ProfileFacts(enriched, time: Timestamp.milliseconds(lead.capturedAt)!, eventID: "e1"))
        let scored = scorer.score(&state, leadID: lead.leadID)
        var lifecycle = LeadLifecycle()
        return (enriched, scored, router.apply(scored, to: &lifecycle))
    }

    static func lead(_ email: String, title: String? = nil, company: String? = nil) -> LeadCaptured {
        LeadCaptured(leadID: "lead-1", email: email, jobTitle: title, company: company, capturedAt: "2026-12-07T10:00:00Z")
    }

    @Test("each non-buyer intent the model disqualifies reaches the stage change with its evidence", arguments: [
        (lead("kim@rivalfunnel.example", title: "Head of Growth"), "competitor: competitor domain rivalfunnel.example"),
        (lead("sam.student@gmail.com", title: "Student"), "student: title: student"),
        (lead("jo@cs.stanford.edu"), "student: academic domain (.edu)"),
        (lead("jane@gartner.com", title: "VP Analyst"), "analyst: analyst firm domain gartner.com"),
        (lead("test@test.com"), "spam: test address (test@test)"),
        (lead("pat@gmail.com", title: "Open to work"), "job seeker: title: open to work"),
    ])
    func disqualified(_ lead: LeadCaptured, _ reason: String) {
        let (_, scored, transitions) = Self.lifecycle(lead)
        #expect(scored.disqualification == reason)
        #expect(scored.mql == false)
        #expect(transitions.map(\.to) == [.captured, .disqualified])
        #expect(transitions.last?.reason == reason)
    }

    @Test("buyers are not disqualified: an Analyst at a buyer company, a partner, a university's IT director")
    func buyersPass() {
        for lead in [Self.lead("jane@acme.example", title: "Senior Data Analyst"),
                     Self.lead("bob@growthagency.example", title: "Founder"),
                     Self.lead("it.director@stanford.edu", title: "IT Director")] {
            let (enriched, scored, transitions) = Self.lifecycle(lead)
            #expect(scored.disqualification == nil, "\(lead.email ?? "")")
            #expect(!scored.rules.contains { $0.category == "negative" || $0.category == "disqualify" })
            #expect(transitions.last?.to != .disqualified)
            #expect(enriched.intent == (lead.email == "bob@growthagency.example" ? .partner : .buyer))
        }
    }

    @Test("a known account's owner is the scored event's account owner, and the router assigns the lead to them")
    func accountOwner() {
        let (enriched, scored, transitions) = Self.lifecycle(Self.lead("ada@gmail.com", title: "VP Operations", company: "Globex Logistics Inc."))
        #expect(enriched.accountID == "acc-0001" && enriched.match == .name)
        #expect(scored.accountOwner == "rep-grace")
        #expect(scored.accountTier == "enterprise")
        // Fit 60 (VP 25, operations 5, the account's 1200 employees 20, logistics 10): an MQL, and
        // the routing rule `account-owner` gives it to the account's owner, not to a pool.
        #expect(transitions.map(\.to) == [.captured, .identified, .mql])
        #expect(transitions.last?.reason.contains("account owner rep-grace") == true, "\(transitions.last?.reason ?? "")")
    }

    @Test("a partner that qualifies goes to the partners pool (routing reads intent), not to sales")
    func partnerRouting() {
        let partner = LeadCaptured(leadID: "lead-1", email: "bob@growthagency.example", jobTitle: "VP Sales", employees: 500,
                                   industry: "software", country: "DE", capturedAt: "2026-12-07T10:00:00Z")
        let (enriched, scored, transitions) = Self.lifecycle(partner)
        #expect(enriched.intent == .partner && scored.intent == .partner)
        #expect(transitions.map(\.to) == [.captured, .identified, .mql])
        #expect(transitions.last?.awaitsPool == "partners")
        var buyer = partner
        buyer.email = "bob@acme-software.example"
        #expect(Self.lifecycle(buyer).2.last?.awaitsPool == "inbound")
    }

    @Test("the scored event carries intent through the fast writer and reader, byte-identical to JSONEncoder")
    func scoredIntentCodec() throws {
        var scored = Self.lifecycle(Self.lead("bob@growthagency.example", title: "Founder")).1
        #expect(scored.intent == .partner)
        scored.intent = .partner
        let event = CloudEvent(id: "e1", source: "funnel-score", type: TopicCatalog.scored, time: "2026-12-07T10:00:00Z",
                               subject: "lead-1", data: scored)
        let fast = EventCoding.encode(event)
        #expect(fast == EventCoding.foundationEncode(event))
        #expect(String(decoding: fast, as: UTF8.self).contains("\"intent\":\"partner\""))
        let back = try EventDecoder.decode(LeadScored.self, from: fast, expectedType: TopicCatalog.scored).get()
        #expect(back.data.intent == .partner)
        // An unknown intent is not silently dropped: the event does not decode.
        let bad = Array(String(decoding: fast, as: UTF8.self).replacingOccurrences(of: "\"partner\"", with: "\"recruiter\"").utf8)
        #expect((try? EventDecoder.decode(LeadScored.self, from: bad, expectedType: TopicCatalog.scored).get()) == nil)
    }

    @Test("the enriched event's new fields survive encoding and the scorer's fast reader; unknown values are rejected")
    func enrichedCodec() throws {
        let enriched = Self.lifecycle(Self.lead("kim@eu.globex.example", title: "Alliances Manager")).0
        #expect(enriched.intent == .partner && enriched.accountID == "acc-0001" && enriched.matchConfidence == 0.95)
        let event = CloudEvent(id: "e1", source: "funnel-enrich", type: TopicCatalog.enriched, time: "2026-12-07T10:00:00Z",
                               subject: "lead-1", data: enriched)
        let bytes = EventCoding.encode(event)
        let fast = bytes.withUnsafeBytes { FastJSON.enrichedEvent($0) }
        #expect(fast?.data == enriched)
        #expect(try EventDecoder.decode(LeadEnriched.self, from: bytes, expectedType: TopicCatalog.enriched).get().data == enriched)
        let text = String(decoding: bytes, as: UTF8.self)
        for (from, to) in [("\"partner\"", "\"recruiter\""), ("\"match\":\"domain\"", "\"match\":\"fuzzy\"")] {
            let bad = Array(text.replacingOccurrences(of: from, with: to).utf8)
            #expect((try? EventDecoder.decode(LeadEnriched.self, from: bad, expectedType: TopicCatalog.enriched).get()) == nil, "\(to)")
        }
    }

    @Test("funnel explain shows the intent with its evidence and the account")
    func explain() {
        let lead = Self.lead("kim@rivalfunnel.example", title: "Head of Growth")
        let enriched = Enricher.enrich(lead, emails: EmailListsTests.directory, companies: CompanyDirectory([]),
                                       intents: IntentTests.intents, accounts: AccountMatchingTests.accounts, at: lead.capturedAt)
        var state = LeadScoreState()
        state.apply(profile: ProfileFacts(enriched, time: Timestamp.milliseconds(lead.capturedAt)!, eventID: "e1"))
        let text = ScoreExplanation.render(leadID: "lead-1", state: state, scorer: Self.scorer, at: state.lastEventTime)
        #expect(text.contains("intent=competitor (competitor domain rivalfunnel.example)"))
        #expect(text.contains("DISQUALIFIED: competitor: competitor domain rivalfunnel.example"))
    }

    @Test("a placeholder in a reason must name a known field; a missing value leaves no dangling separator")
    func reasonTemplate() throws {
        let yaml = """
        version: "t"
        mql: { threshold: 60, release: 50 }
        grades: { a: 45, b: 30, c: 15 }
        interest_bands: { high: 30, medium: 15 }
        negative:
          - { name: rival, field: intent, equals: competitor, disqualify: "competitor: {shoe_size}" }
        """
        #expect(throws: ScoringModel.ModelError.self) { try ScoringModel.parse(yaml: yaml) }
        do { _ = try ScoringModel.parse(yaml: yaml, file: "m.yaml") } catch {
            #expect(error.description == "m.yaml:6: negative[0].disqualify: unknown field '{shoe_size}' in the reason")
        }
        var facts = ProfileFacts(enriched("kim@acme.example"), time: 0, eventID: "e")
        facts.intent = "competitor"
        #expect(Scorer.fill("competitor: {intent_reason}", facts) == "competitor")
        #expect(Scorer.fill("{intent} ({intent_reason})", facts) == "competitor")
        facts.intentReason = "competitor domain rival.example"
        #expect(Scorer.fill("{intent} ({intent_reason})", facts) == "competitor (competitor domain rival.example)")
        #expect(Scorer.fill("plain", nil) == "plain")
    }

    @Test("scorer state keeps the enrichment facts (format 2) and still reads format 1")
    func stateFormats() throws {
        var facts = ProfileFacts(enriched("kim@acme.example", title: "CTO"), time: 5, eventID: "e9")
        facts.intent = "partner"; facts.intentReason = "title: alliances"; facts.accountID = "acc-1"; facts.match = "domain"
        var state = LeadScoreState()
        state.apply(profile: facts)
        let bytes = state.encoded()
        #expect(bytes.first == 2)
        let back = try LeadScoreState(decoding: bytes)
        #expect(back.profile == facts)
        #expect(back.profile?.value("intent") == "partner" && back.profile?.value("match") == "domain")

        // A format-1 record: the same profile without the four facts (written by the previous release).
        var old = LeadScoreState()
        var plain = facts
        plain.intent = nil; plain.intentReason = nil; plain.accountID = nil; plain.match = nil
        old.apply(profile: plain)
        var v1 = old.encoded()
        #expect(Array(v1.suffix(6)) == [0, 0, 0, 0, 0, 0]) // four absent facts, no activities, no seen ids
        v1 = [1] + v1[1..<(v1.count - 6)] + [0, 0]
        let read = try LeadScoreState(decoding: v1)
        #expect(read.profile == plain)
        #expect(throws: LeadScoreState.DecodingError.self) { try LeadScoreState(decoding: [3] + v1.dropFirst()) }
    }
}
