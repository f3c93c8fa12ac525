import Foundation
@testable import FunnelDomain
import Testing

let now = "2026-11-23T10:00:00Z"

let emails = EmailDirectory(freeDomains: ["gmail.com", "mailinator.com"], disposableDomains: ["mailinator.com"], rolePrefixes: ["info"])
let companies = CompanyDirectory([CompanyInfo(domain: "acme.example", name: "Acme", employees: 500, industry: "software", country: "DE", owner: "rep-owner")])

let modelYAML = """
version: "test-1"
mql: { threshold: 60, release: 50 }
grades: { a: 45, b: 30, c: 15 }
interest_bands: { high: 30, medium: 15 }
fit:
  - { name: senior, field: job_title, regex: "\\\\b(vp|director)\\\\b", points: 25 }
  - { name: size, field: employees, range: [200, 5000], points: 20 }
interest:
  - { name: demo, activity: demo_request, points: 40, cap: 40 }
  - { name: pricing, activity: pricing_page_view, points: 10, cap: 20 }
negative:
  - { name: student, field: job_title, regex: "student", disqualify: "student" }
  - { name: careers, activity: careers_page_view, points: -15 }
"""

func enriched(_ email: String, title: String? = nil, employees: Int? = nil) -> LeadEnriched {
    Enricher.enrich(LeadCaptured(leadID: "l1", email: email, jobTitle: title, employees: employees, capturedAt: now),
                    emails: emails, companies: companies, at: now)
}

@Suite("Enrichment")
struct EnrichmentTests {
    @Test("addresses are classified; disposable wins over free-mail")
    func classify() {
        #expect(emails.classify("a@acme.example") == .corporate)
        #expect(emails.classify("a@gmail.com") == .free)
        #expect(emails.classify("a@mailinator.com") == .disposable)
        #expect(emails.classify("info@acme.example") == .role)
        #expect(emails.classify(nil) == .missing)
    }

    @Test("normalises the profile and fills company data by domain")
    func normalise() {
        let e = Enricher.enrich(LeadCaptured(leadID: "l1", email: "  Vera@ACME.example ", firstName: "vera", lastName: "VAN DYKE",
                                             country: "de", capturedAt: now), emails: emails, companies: companies, at: now)
        #expect(e.profile.email == "vera@acme.example")
        #expect(e.profile.firstName == "Vera" && e.profile.lastName == "Van Dyke")
        #expect(e.profile.country == "DE")
        #expect(e.company?.owner == "rep-owner" && e.profile.employees == 500)
        #expect(e.contactAvailable)
        #expect(!enriched("x@mailinator.com").contactAvailable)
    }
}

@Suite("Lifecycle")
struct LifecycleTests {
    /// Known accounts to their owner, everyone else to pool `p`.
    let router = LifecycleRouter(routing: RoutingConfig(
        version: "t1", defaultPool: "p",
        rules: [RoutingRule(name: "account", conditions: [.hasAccountOwner(true)], target: .accountOwner)],
        pools: ["p": .init(name: "p", members: [.init(rep: "r1"), .init(rep: "r2")])]), mqlThreshold: 60)

    func scored(total: Double, contact: Bool = true, dq: String? = nil, owner: String? = nil, at: String = now) -> LeadScored {
        LeadScored(leadID: "l1", model: "m", total: total, fit: total, interest: 0, grade: "A", quadrant: "hot", rules: [],
                   disqualification: dq, profileKnown: true, contactAvailable: contact, emailClass: .corporate,
                   accountOwner: owner, source: nil, campaign: nil, scoredAt: at)
    }

    @Test("hot lead: captured → identified → mql, waiting for its pool's owner; sales outcomes to customer")
    func hot() {
        var lead = LeadLifecycle()
        let transitions = router.apply(scored(total: 80), to: &lead)
        #expect(transitions.map(\.to) == [.captured, .identified, .mql])
        #expect(transitions.map(\.awaitsPool) == [nil, nil, "p"] && lead.owner == nil && lead.stage == .mql && lead.rule == "default")
        for o in [OutcomeType.accepted, .meeting, .won] {
            _ = router.apply(LeadOutcome(leadID: "l1", outcome: o, occurredAt: now), to: &lead)
        }
        #expect(lead.stage == .customer)
    }

    @Test("low score nurtures; disqualification wins; no contact info waits")
    func others() {
        var a = LeadLifecycle(), b = LeadLifecycle(), c = LeadLifecycle()
        #expect(router.apply(scored(total: 20), to: &a).map(\.to) == [.captured, .identified, .nurture])
        #expect(router.apply(scored(total: 90, dq: "competitor"), to: &b).map(\.to) == [.captured, .disqualified])
        #expect(router.apply(scored(total: 90, contact: false), to: &c).map(\.to) == [.captured])
        #expect(c.stage == .captured)
        // The reason says why it waits; contact info found later (a re-enriched lead) moves it on.
        var d = LeadLifecycle()
        #expect(router.apply(scored(total: 90, contact: false), to: &d).map(\.reason) == ["no contact info"])
        #expect(router.apply(scored(total: 90, contact: false), to: &d).isEmpty)
        #expect(router.apply(scored(total: 90), to: &d).map(\.to) == [.identified, .mql])
    }

    @Test("a lead sales rejected cools off for 30 days, then must score higher to return to mql")
    func recycling() {
        var lead = LeadLifecycle()
        _ = router.apply(scored(total: 70, owner: "acct"), to: &lead)
        let rejected = LeadOutcome(leadID: "l1", outcome: .rejected, reason: "bad_timing", occurredAt: now)
        #expect(router.apply(rejected, to: &lead).map(\.reason) == ["rejected by sales: bad_timing"])
        #expect(router.apply(scored(total: 95, owner: "acct"), to: &lead).isEmpty) // cooling off
        let later = Timestamp.format(milliseconds: Timestamp.milliseconds(now)! + 31 * 86_400_000)
        #expect(router.apply(scored(total: 70, owner: "acct", at: later), to: &lead).isEmpty)
        #expect(router.apply(scored(total: 85, owner: "acct", at: later), to: &lead).map(\.to) == [.mql])
    }

    @Test("a before_mql rule fast-tracks a known account's lead to its owner below the MQL bar; without the flag it waits")
    func fastTrack() {
        var routing = router.routing
        routing.rules[0].beforeMQL = true
        let fast = LifecycleRouter(routing: routing, mqlThreshold: 60)
        var lead = LeadLifecycle()
        let t = fast.apply(scored(total: 30, owner: "acct"), to: &lead)
        #expect(t.map(\.to) == [.captured, .identified, .mql] && lead.owner == "acct" && lead.rule == "account")
        #expect(t.last?.reason == "fast track (rule account): score 30 below 60 does not hold it back; account owner acct (rule account)")
        var slow = LeadLifecycle()
        #expect(router.apply(scored(total: 30, owner: "acct"), to: &slow).map(\.to) == [.captured, .identified, .nurture])
    }

    @Test("an outcome that does not fit the stage is named, not applied; a rejection needs a listed reason; BANT only on accepted")
    func unfitOutcomes() {
        var lead = LeadLifecycle()
        _ = router.apply(scored(total: 80, owner: "acct"), to: &lead) // mql
        let won = LeadOutcome(leadID: "l1", outcome: .won, occurredAt: now)
        #expect(router.unfit(won, lead) == "outcome won does not fit stage mql (it applies at sal, sql)")
        #expect(router.apply(won, to: &lead).isEmpty && lead.stage == .mql)
        #expect(LeadOutcome(leadID: "l1", outcome: .rejected, reason: "student", occurredAt: now).validate().map(\.field) == ["reason"])
        #expect(LeadOutcome(leadID: "l1", outcome: .rejected, reason: "spam", occurredAt: now).validate().isEmpty)
        let bant = BANT(budget: .init(met: true, note: "approved for Q1"), need: .init(met: false))
        #expect(LeadOutcome(leadID: "l1", outcome: .won, occurredAt: now, bant: bant).validate().map(\.field) == ["bant"])
        let accepted = LeadOutcome(leadID: "l1", outcome: .accepted, occurredAt: now, bant: bant)
        #expect(accepted.validate().isEmpty)
        let t = router.apply(accepted, to: &lead)
        let event = router.decisions(t, lead: lead, leadID: "l1", at: now)[0].changed
        #expect(event.to == .sal && event.bant == bant)
        // A second meeting or a proposal at sql fits and moves nothing.
        #expect(router.apply(LeadOutcome(leadID: "l1", outcome: .meeting, occurredAt: now), to: &lead).map(\.to) == [.sql])
        let proposal = LeadOutcome(leadID: "l1", outcome: .proposal, occurredAt: now)
        #expect(router.unfit(proposal, lead) == nil && router.apply(proposal, to: &lead).isEmpty && lead.stage == .sql)
    }

    @Test("a known account's lead goes to the account owner at once (no pool); a waiting MQL moves on no score")
    func owners() {
        var known = LeadLifecycle()
        let t = router.apply(scored(total: 80, owner: "acct"), to: &known)
        #expect(t.last?.to == .mql && t.last?.awaitsPool == nil && known.owner == "acct" && known.rule == "account")
        var waiting = LeadLifecycle()
        _ = router.apply(scored(total: 80), to: &waiting)
        waiting.assignment = PendingAssignment(requestID: "r", pool: "p", from: .identified, reason: "x")
        #expect(router.apply(scored(total: 90, dq: "competitor"), to: &waiting).isEmpty)
        #expect(waiting.score?.total == 90)
    }
}

@Suite("Events")
struct EventTests {
    @Test("derived ids are deterministic and distinct")
    func ids() {
        #expect(EventID.derive("a", "b") == EventID.derive("a", "b"))
        #expect(EventID.derive("ab", "c") != EventID.derive("a", "bc"))
        #expect(EventID.lead(forContact: "x@y.example").hasPrefix("lead-"))
    }

    @Test("decoding names the failing field")
    func decoding() {
        let ok = CloudEvent(id: "1", source: "t", type: TopicCatalog.captured, time: now, subject: "l1",
                            data: LeadCaptured(leadID: "l1", email: "a@b.example", capturedAt: now))
        let bytes = EventCoding.encode(ok)
        #expect((try? EventDecoder.decode(LeadCaptured.self, from: bytes, expectedType: TopicCatalog.captured).get()) != nil)
        guard case .failure(let wrongTopic) = EventDecoder.decode(LeadCaptured.self, from: bytes, expectedType: TopicCatalog.activity) else {
            Issue.record("accepted the wrong type"); return
        }
        #expect(wrongTopic.field == "type")
        var text = String(decoding: bytes, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"a@b.example\"", with: "42")
        guard case .failure(let typeError) = EventDecoder.decode(LeadCaptured.self, from: Array(text.utf8), expectedType: TopicCatalog.captured) else {
            Issue.record("accepted a number as e-mail"); return
        }
        #expect(typeError.field == "data.email" && typeError.reason.contains("string"))
        guard case .failure(let bad) = EventDecoder.decode(LeadCaptured.self, from: Array("{no".utf8), expectedType: TopicCatalog.captured) else {
            Issue.record("accepted broken JSON"); return
        }
        #expect(bad.reason.contains("JSON"))
    }
}
