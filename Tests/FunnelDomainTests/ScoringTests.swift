import Foundation
@testable import FunnelDomain
import Testing

private let day: Int64 = 86_400_000
private let t0 = Timestamp.milliseconds("2026-11-01T00:00:00Z")!

private func facts(_ email: String, title: String? = nil, employees: Int? = nil, at time: Int64 = t0, id: String = "e-profile") -> ProfileFacts {
    ProfileFacts(enriched(email, title: title, employees: employees), time: time, eventID: id)
}

private func activity(_ type: ActivityType, at time: Int64, id: String, seconds: Int32 = 0) -> ActivityRecord {
    ActivityRecord(type: type, time: time, durationSeconds: seconds, idHash: LeadScoreState.hash(id))
}

@Suite("Scoring model and scorer")
struct ScoringTests {
    let scorer = Scorer(model: try! ScoringModel.parse(yaml: modelYAML))

    @Test("fit and interest add up, capped per rule, with the contributing rules and event counts listed")
    func scores() {
        var state = LeadScoreState()
        state.apply(profile: facts("v@acme.example", title: "VP Sales"))
        for i in 0..<2 { state.apply(activity: activity(.demoRequest, at: t0, id: "d\(i)")) }
        for i in 0..<3 { state.apply(activity: activity(.pricingPageView, at: t0, id: "p\(i)")) }
        let s = scorer.score(&state, leadID: "l1")
        #expect(s.fit == 45 && s.grade == "A")
        #expect(s.interest == 60) // demo capped at 40, pricing capped at 20
        #expect(s.total == 105 && s.quadrant == "hot" && s.model == "test-1" && s.interestBand == "high")
        #expect(s.rules.map(\.rule) == ["senior", "size", "demo", "pricing"])
        #expect(s.rules.first { $0.rule == "pricing" }?.events == 3)
        #expect(s.mql == true && s.scoredAt == "2026-11-01T00:00:00.000Z")
    }

    @Test("negative rules subtract or disqualify; a disqualified lead is never an MQL")
    func negative() {
        var state = LeadScoreState()
        state.apply(profile: facts("s@gmail.com", title: "Student"))
        state.apply(activity: activity(.careersPageView, at: t0, id: "c"))
        for i in 0..<3 { state.apply(activity: activity(.demoRequest, at: t0, id: "d\(i)")) }
        let s = scorer.score(&state, leadID: "l1")
        #expect(s.disqualification == "student")
        #expect(s.total == 25 && s.grade == "D" && s.quadrant == "engaged" && s.mql == false)
    }

    @Test("interest decays with the half-life and leaves the window, measured in event time")
    func decayAndWindow() throws {
        let model = try ScoringModel.parse(yaml: """
        version: "decay"
        mql: { threshold: 60, release: 50 }
        grades: { a: 45, b: 30, c: 15 }
        interest_bands: { high: 30, medium: 15 }
        half_life_days: 10
        interest:
          - { name: demo, activity: demo_request, points: 40 }
          - { name: pricing, activity: pricing_page_view, points: 10, window_days: 7, half_life_days: 0 }
          - { name: long-visit, activity: page_view, points: 5, min_duration_seconds: 120, half_life_days: 0 }
        """)
        let scorer = Scorer(model: model)
        var state = LeadScoreState()
        state.apply(activity: activity(.demoRequest, at: t0, id: "d"))
        state.apply(activity: activity(.pricingPageView, at: t0, id: "p"))
        state.apply(activity: activity(.pageView, at: t0, id: "short", seconds: 30))
        state.apply(activity: activity(.pageView, at: t0, id: "long", seconds: 300))
        let fresh = scorer.evaluate(state, at: t0)[0]
        #expect(fresh.interest == 55) // 40 + 10 + one long visit
        let later = scorer.evaluate(state, at: t0 + 10 * day)[0]
        #expect(later.interest == 25) // demo halved to 20; pricing out of its 7-day window; visit undecayed
        #expect(later.rules.map(\.rule) == ["demo", "long-visit"])
        // Activities newer than the reference time do not count (replays are stable).
        #expect(scorer.evaluate(state, at: t0 - day)[0].interest == 0)
    }

    @Test("MQL has hysteresis: it is gained at the threshold and lost only below the release level")
    func hysteresis() {
        #expect(scorer.mql(total: 60, disqualified: false, previous: false))
        #expect(!scorer.mql(total: 59, disqualified: false, previous: false))
        #expect(scorer.mql(total: 55, disqualified: false, previous: true))
        #expect(scorer.mql(total: 50, disqualified: false, previous: true))
        #expect(!scorer.mql(total: 49, disqualified: false, previous: true))
        #expect(!scorer.mql(total: 90, disqualified: true, previous: true))
    }

    @Test("profile rules are evaluated once per profile: a new profile or another model is never answered from the memo")
    func profileMemo() throws {
        var state = LeadScoreState()
        state.apply(profile: facts("v@acme.example", title: "Intern", at: t0, id: "old"))
        state.apply(activity: activity(.demoRequest, at: t0, id: "a"))
        let before = scorer.score(&state, leadID: "l")
        #expect(!before.rules.contains { $0.rule == "senior" })
        state.apply(profile: facts("v@acme.example", title: "VP Sales", at: t0 + day, id: "new"))
        let after = scorer.score(&state, leadID: "l")
        #expect(after.rules.contains { $0.rule == "senior" })
        // The same state under a model whose fit rule differs: evaluated afresh, not memoised.
        let other = Scorer(model: try ScoringModel.parse(yaml: modelYAML.replacingOccurrences(of: "name: senior", with: "name: senior-renamed")))
        var copy = state
        #expect(other.score(&copy, leadID: "l").rules.contains { $0.rule == "senior-renamed" })
        // And back: each model gets its own answers.
        #expect(scorer.score(&state, leadID: "l").rules.map(\.rule) == after.rules.map(\.rule))
    }

    @Test("the order events arrive in does not change the final score; the newest profile wins")
    func orderIndependent() {
        let events: [(inout LeadScoreState) -> Void] = [
            { $0.apply(profile: facts("v@acme.example", title: "Intern", at: t0, id: "old")) },
            { $0.apply(profile: facts("v@acme.example", title: "VP Sales", at: t0 + day, id: "new")) },
            { $0.apply(activity: activity(.demoRequest, at: t0 + 2 * day, id: "a")) },
            { $0.apply(activity: activity(.pricingPageView, at: t0 + 3 * day, id: "b")) },
            { $0.apply(activity: activity(.pricingPageView, at: t0 + 3 * day, id: "c")) },
        ]
        var forward = LeadScoreState(), backward = LeadScoreState()
        for apply in events { apply(&forward) }
        for apply in events.reversed() { apply(&backward) }
        #expect(forward.profile?.jobTitle == "VP Sales" && backward.profile?.jobTitle == "VP Sales")
        #expect(forward.activities == backward.activities)
        let a = scorer.score(&forward, leadID: "l"), b = scorer.score(&backward, leadID: "l")
        #expect(a == b && a.total == 105)
    }

    @Test("the MQL flag follows event time, not arrival order, hysteresis included")
    func mqlOrderIndependent() {
        // Totals in event-time order: 45 (profile), 55, 65 (MQL), 50 (stays MQL: release is 50).
        let events: [(inout LeadScoreState) -> Void] = [
            { $0.apply(profile: facts("v@acme.example", title: "VP Sales", employees: 500, at: t0, id: "p")) },
            { $0.apply(activity: activity(.pricingPageView, at: t0 + day, id: "a")) },
            { $0.apply(activity: activity(.pricingPageView, at: t0 + 2 * day, id: "b")) },
            { $0.apply(activity: activity(.careersPageView, at: t0 + 3 * day, id: "c")) },
        ]
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [0, 3, 1, 2]] {
            var state = LeadScoreState()
            var last: LeadScored?
            for i in order { events[i](&state); last = scorer.score(&state, leadID: "l") }
            #expect(last?.total == 50 && last?.mql == true, "arrival order \(order)")
        }
        // Without the pricing view that crossed 60, the same final total is not an MQL.
        var state = LeadScoreState()
        for i in [0, 1, 3] { events[i](&state) }
        #expect(scorer.score(&state, leadID: "l").total == 40)
    }

    @Test("a re-delivered event is recognised")
    func dedupe() {
        var state = LeadScoreState()
        let first = state.markSeen("e1"), again = state.markSeen("e1")
        #expect(first && !again)
        for i in 0..<LeadScoreState.maxSeen { _ = state.markSeen("other-\(i)") }
        #expect(state.seen.count == LeadScoreState.maxSeen)
    }

    @Test("named scores are computed beside the primary one")
    func namedScores() throws {
        let model = try ScoringModel.parse(yaml: modelYAML + """

        scores:
          - name: analytics
            fit:
              - { name: data-role, field: job_title, regex: "data", points: 25 }
            interest:
              - { name: demo, activity: demo_request, points: 10 }
          - name: platform
            fit:
              - { name: head-role, field: job_title, regex: "^head", points: 15 }
              - { name: ops-role, field: job_title, regex: "ops", points: 40 }
        """)
        var state = LeadScoreState()
        state.apply(profile: facts("v@acme.example", title: "Head of Data"))
        state.apply(activity: activity(.demoRequest, at: t0, id: "d"))
        let scorer = Scorer(model: model)
        let s = scorer.score(&state, leadID: "l")
        // The third score is past the per-profile memo (first two scores): its rules are matched directly.
        let expected = [NamedScore(name: "analytics", total: 35, fit: 25, interest: 10, grade: "C", quadrant: "cold", interestBand: "low"),
                        NamedScore(name: "platform", total: 15, fit: 15, interest: 0, grade: "C", quadrant: "cold", interestBand: "low")]
        #expect(s.scores == expected)
        #expect(scorer.score(&state, leadID: "l").scores == expected) // again, from the memo
    }

    @Test("derived profile fields: seniority, department, region")
    func derivedFields() {
        #expect(ProfileFacts.seniority("Chief Revenue Officer") == "c_level")
        #expect(ProfileFacts.seniority("Vice President, Sales") == "vp")
        #expect(ProfileFacts.seniority("Head of Growth") == "director")
        #expect(ProfileFacts.seniority("Marketing Manager") == "manager")
        #expect(ProfileFacts.seniority("Software Engineer") == "individual")
        #expect(ProfileFacts.department("VP Marketing") == "marketing")
        #expect(ProfileFacts.department("Chef") == nil)
        var f = facts("v@acme.example", title: "CFO")
        f.country = "DE"
        #expect(f.value("region") == "emea" && f.value("department") == "finance" && f.value("address_type") == "corporate")
        #expect(f.value("company_size") == "500")
    }

    @Test("state survives its binary changelog encoding unchanged")
    func codec() throws {
        var state = LeadScoreState()
        var f = facts("v@acme.example", title: "VP Sales", employees: 300)
        f.attributes = ["department": "sales", "ünïcode": "✓"]
        state.apply(profile: f)
        state.apply(activity: activity(.emailClick, at: t0 + 5, id: "x", seconds: 42))
        _ = state.markSeen("x")
        _ = scorer.score(&state, leadID: "l")
        let decoded = try LeadScoreState(decoding: state.encoded())
        #expect(decoded == state)
        #expect(throws: LeadScoreState.DecodingError.self) { try LeadScoreState(decoding: [9, 1, 2]) }
        #expect(throws: LeadScoreState.DecodingError.self) { try LeadScoreState(decoding: Array(state.encoded().dropLast(3))) }
    }

    @Test("event times parse with offsets and fractions, and format back in UTC")
    func eventTime() {
        #expect(Timestamp.milliseconds("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.milliseconds("2026-11-23T10:00:00.5+01:00") == Timestamp.milliseconds("2026-11-23T09:00:00.500Z"))
        #expect(Timestamp.milliseconds("2024-02-29T23:59:59.999Z").map { Timestamp.format(milliseconds: $0) } == "2024-02-29T23:59:59.999Z")
        #expect(Timestamp.milliseconds("2026-13-01T00:00:00Z") == nil)
        let ms = Int64(Date(timeIntervalSince1970: 1_795_000_000.25).timeIntervalSince1970 * 1000)
        #expect(Timestamp.milliseconds(Timestamp.format(milliseconds: ms)) == ms)
    }

    @Test("model errors name the file, the line and the field", arguments: [
        ("grades: { a: 45, b: 30, c: 15 }", "grades: { a: 45, b: 30, c: 50 }", "model.yaml:3: grades: needs a >= b >= c"),
        ("points: 20 }", "points: twenty }", "model.yaml:7: fit[1].points: expected a number"),
        ("field: employees", "field: shoe_size", "model.yaml:7: fit[1].field: unknown field 'shoe_size'"),
        ("release: 50", "release: 70", "model.yaml:2: mql.release: must not exceed mql.threshold (60.0)"),
        ("regex: \"student\", disqualify", "regex: \"student\", points: 1, disqualify", "model.yaml:12: negative[0]: rule 'student' needs exactly one of points, disqualify"),
        ("activity: demo_request", "activity: demo_requested", "model.yaml:9: interest[0].activity"),
        ("mql: { threshold: 60, release: 50 }\n", "", "model.yaml:1: missing key 'mql'"),
    ])
    func modelErrors(_ change: (String, String, String)) {
        let yaml = modelYAML.replacingOccurrences(of: change.0, with: change.1)
        #expect(yaml != modelYAML)
        do {
            _ = try ScoringModel.parse(yaml: yaml, file: "model.yaml")
            Issue.record("accepted: \(change.1)")
        } catch {
            #expect(error.description.hasPrefix(change.2), "\(error.description)")
        }
    }

    @Test("the shipped model in deploy/ parses")
    func shippedModel() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy/scoring-model.yaml")
        let model = try ScoringModel.parse(yaml: String(contentsOf: url, encoding: .utf8))
        #expect(model.scores.map(\.name) == ["analytics"])
        #expect(model.mql.release < model.mql.threshold)
    }
}

@Suite("The README's worked example")
struct WorkedExampleTests {
    @Test("a VP of Marketing at a 500-person software company in Germany, with a demo request and pricing views")
    func workedExample() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy/scoring-model.yaml")
        let scorer = Scorer(model: try ScoringModel.parse(yaml: String(contentsOf: url, encoding: .utf8)))
        let now = Timestamp.milliseconds("2026-11-23T12:00:00Z")!
        let captured = LeadCaptured(leadID: "lead-ada", email: "ada@acme.example", jobTitle: "VP Marketing", employees: 500,
                                    industry: "software", country: "DE", capturedAt: "2026-11-01T09:00:00Z")
        var state = LeadScoreState()
        state.apply(profile: ProfileFacts(LeadEnriched(leadID: "lead-ada", profile: captured, emailClass: .corporate, contactAvailable: true,
                                                       company: nil, enrichedAt: "2026-11-01T09:00:00Z"),
                                          time: now - 22 * day, eventID: "e0"))
        state.apply(activity: ActivityRecord(type: .demoRequest, time: now - 10 * day, idHash: 1))
        state.apply(activity: ActivityRecord(type: .pricingPageView, time: now - 3 * day, idHash: 2))
        state.apply(activity: ActivityRecord(type: .pricingPageView, time: now - 1 * day, idHash: 3))
        state.apply(activity: ActivityRecord(type: .emailClick, time: now, idHash: 4))
        let s = scorer.score(&state, leadID: "lead-ada")
        #expect(s.fit == 70 && s.grade == "A")
        #expect(s.rules.filter { $0.category == "interest" }.map(\.points) == [35.64, 19.1, 3])
        #expect(s.interest == 57.74 && s.interestBand == "high" && s.quadrant == "hot")
        #expect(s.total == 127.74 && s.mql == true)
        #expect(s.scores?.first == NamedScore(name: "analytics", total: 15, fit: 15, interest: 0, grade: "C", quadrant: "cold", interestBand: "low"))
        // 40 days later without new events the interest has decayed (a sweep would re-emit it).
        let later = scorer.evaluate(state, at: now + 40 * day)[0]
        #expect(later.interest == 22.45 && later.interestBand == "medium" && later.quadrant == "fit")
    }
}

@Suite("Fast JSON for scored events")
struct FastJSONTests {
    @Test("byte-identical to JSONEncoder, including escapes, unicode, absent optionals and named scores")
    func sameBytes() {
        var scored = LeadScored(leadID: "lead-\"q\"\\/\n\t\u{1}é✓", model: "m-1", total: 127.74, fit: 70, interest: 57.74, grade: "A",
                                quadrant: "hot", rules: [RuleContribution(rule: "a/b", category: "fit", points: 25),
                                                         RuleContribution(rule: "demo", category: "interest", points: 35.64, events: 2)],
                                disqualification: nil, profileKnown: true, contactAvailable: false, emailClass: .corporate,
                                accountOwner: "rep <x>", source: nil, campaign: "c\u{7f}", scoredAt: "2026-11-23T12:00:00.000Z")
        scored.mql = true
        scored.interestBand = "high"
        scored.scores = [NamedScore(name: "analytics", total: -0.5, fit: 1e-7, interest: 1e20, grade: "D", quadrant: "cold", interestBand: "low")]
        for s in [scored, LeadScored(leadID: "l", model: "m", total: 0, fit: 0, interest: 0, grade: "D", quadrant: "cold", rules: [],
                                     disqualification: "student", profileKnown: false, contactAvailable: false, emailClass: nil,
                                     accountOwner: nil, source: "web", campaign: nil, scoredAt: "2026-11-23T12:00:00.000Z")] {
            let event = CloudEvent(id: "id-1", source: "funnel-score", type: TopicCatalog.scored, time: s.scoredAt, subject: s.leadID, data: s)
            let fast = EventCoding.encode(event), slow = EventCoding.foundationEncode(event)
            #expect(String(decoding: fast, as: UTF8.self) == String(decoding: slow, as: UTF8.self))

            // Content-addressed: the same bytes as the event built with the returned id, and an
            // id that is the parts' plus the hash of the payload's JSON.
            let (id, bytes) = EventCoding.encodeContentAddressed(s, deriving: ["in-1", "scored"], source: "funnel-score",
                                                                 type: TopicCatalog.scored, time: s.scoredAt, subject: s.leadID)
            var withID = event
            withID.id = id
            #expect(String(decoding: bytes, as: UTF8.self) == String(decoding: EventCoding.foundationEncode(withID), as: UTF8.self))
            let h = EventCoding.contentHash(Array(try! EventCoding.encoder().encode(s)))
            #expect(id == EventID.derive("in-1", "scored", String(h, radix: 16)))
            var other = s
            other.total += 0.01
            #expect(EventCoding.encodeContentAddressed(other, deriving: ["in-1", "scored"], source: "funnel-score",
                                                       type: TopicCatalog.scored, time: s.scoredAt, subject: s.leadID).id != id)
        }
    }
}

@Suite("Content hash of payloads (part of content-addressed ids)")
struct ContentHashTests {
    @Test("pinned values (ids derived from it must never change for the same bytes); every byte counts, the tail too")
    func stableAndSensitive() {
        #expect(EventCoding.contentHash([]) == 0xcbf2_9ce4_4fd0_bfc1)
        #expect(EventCoding.contentHash(Array(#"{"lead_id":"lead-1","total":72.5}"#.utf8)) == 0x9482_d811_3b05_f535)
        let base = Array("0123456789abcdefghijklmnopqrstuvwxyz!".utf8) // 37 bytes: four words and a tail
        var seen: Set<UInt64> = [EventCoding.contentHash(base)]
        for i in base.indices {
            var changed = base
            changed[i] ^= 0x01
            seen.insert(EventCoding.contentHash(changed))
        }
        seen.insert(EventCoding.contentHash(Array(base.dropLast())))
        #expect(seen.count == base.count + 2)
    }
}

@Suite("Fast decoding of scored and assignment events")
struct FastDecodeRoutingTests {
    static func both<P: Validatable & Equatable>(_ type: P.Type, _ json: String, topic: String) -> (fast: CloudEvent<P>?, foundation: Result<CloudEvent<P>, FieldError>) {
        let bytes = Array(json.utf8)
        let fast: CloudEvent<P>? = bytes.withUnsafeBytes { buffer in
            if P.self == LeadScored.self { return FastJSON.scoredEvent(buffer) as? CloudEvent<P> }
            if P.self == AssignmentCommand.self { return FastJSON.assignmentCommandEvent(buffer) as? CloudEvent<P> }
            return FastJSON.assignmentAnswerEvent(buffer) as? CloudEvent<P>
        }
        let foundation = Result { try EventCoding.decoder().decode(CloudEvent<P>.self, from: Data(bytes)) }.mapError { _ in FieldError(field: "", reason: "") }
        return (fast, foundation)
    }

    @Test("the router's inputs read directly give exactly JSONDecoder's values; anything unusual is left to it")
    func sameValues() throws {
        var s = LeadScored(leadID: "lead-1", model: "m", total: 127.74, fit: 70.1, interest: 57.64, grade: "A", quadrant: "hot",
                           rules: [RuleContribution(rule: "demo", category: "interest", points: 35.64, events: 2), RuleContribution(rule: "vp", category: "fit", points: 25)],
                           disqualification: nil, profileKnown: true, contactAvailable: true, emailClass: .corporate, accountOwner: "rep-é",
                           source: "web", campaign: nil, scoredAt: "2026-11-23T12:00:00.000Z")
        s.mql = true; s.interestBand = "high"; s.country = "DE"; s.employees = 1200; s.industry = "saas"; s.accountTier = "gold"
        s.scores = [NamedScore(name: "analytics", total: -0.5, fit: 1e-7, interest: 0.1 + 0.2, grade: "D", quadrant: "cold", interestBand: "low")]
        var bare = s
        bare.mql = nil; bare.interestBand = nil; bare.scores = nil; bare.country = nil; bare.employees = nil; bare.industry = nil
        bare.accountTier = nil; bare.emailClass = nil; bare.accountOwner = nil; bare.disqualification = "competitor"; bare.rules = []
        for data in [s, bare] {
            let json = String(decoding: EventCoding.encode(CloudEvent(id: "i", source: "funnel-score", type: TopicCatalog.scored, time: data.scoredAt,
                                                                        subject: data.leadID, data: data)), as: UTF8.self)
            let (fast, foundation) = Self.both(LeadScored.self, json, topic: TopicCatalog.scored)
            let reference = try foundation.get()
            #expect(fast != nil && fast?.data == reference.data && fast?.id == "i")
        }
        let command = AssignmentCommand(kind: .assign, pool: "inbound", leadID: "l", requestID: "r", at: "2026-12-02T10:00:00Z",
                                        priority: .hot, rule: "hot", hops: 1, exclude: "rep-a")
        let commandJSON = String(decoding: EventCoding.encode(CloudEvent(id: "c", source: "funnel-route", type: TopicCatalog.assignments, time: command.at, subject: "l", data: command)), as: UTF8.self)
        let c = Self.both(AssignmentCommand.self, commandJSON, topic: TopicCatalog.assignments)
        let cReference = try c.foundation.get()
        #expect(c.fast?.data == command && cReference.data == command)
        let answer = AssignmentAnswer(leadID: "l", requestID: "r", pool: "inbound", owner: nil, queue: "unassigned", reason: "x", at: command.at, sequence: 7)
        let answerJSON = String(decoding: EventCoding.encode(CloudEvent(id: "a", source: "funnel-route", type: TopicCatalog.assigned, time: answer.at, subject: "l", data: answer)), as: UTF8.self)
        let a = Self.both(AssignmentAnswer.self, answerJSON, topic: TopicCatalog.assigned)
        let aReference = try a.foundation.get()
        #expect(a.fast?.data == answer && aReference.data == answer)
        // Unusual input is left to JSONDecoder (which then decides): a number where a string
        // belongs, an unknown e-mail class, a fractional event count, an overflowing total.
        for (from, to) in [("\"grade\":\"A\"", "\"grade\":1"), ("\"email_class\":\"corporate\"", "\"email_class\":\"weird\""),
                           ("\"events\":2", "\"events\":2.5"), ("\"total\":127.74", "\"total\":1e400")] {
            let json = String(decoding: EventCoding.encode(CloudEvent(id: "i", source: "s", type: TopicCatalog.scored, time: s.scoredAt, subject: s.leadID, data: s)), as: UTF8.self)
                .replacingOccurrences(of: from, with: to)
            #expect(Self.both(LeadScored.self, json, topic: TopicCatalog.scored).fast == nil, "\(to)")
        }
    }
}

@Suite("Fast decoding of activity events")
struct FastDecodeTests {
    /// What JSONDecoder alone says (the reference).
    func reference(_ bytes: [UInt8]) -> Result<CloudEvent<LeadActivity>, FieldError> {
        do {
            let event = try JSONDecoder().decode(CloudEvent<LeadActivity>.self, from: Data(bytes))
            return EventDecoder.validate(event, expectedType: TopicCatalog.activity)
        } catch let error as DecodingError { return .failure(EventDecoder.fieldError(error)) } catch {
            return .failure(FieldError(field: "", reason: "not JSON: \(error)"))
        }
    }

    func describe(_ r: Result<CloudEvent<LeadActivity>, FieldError>) -> String {
        switch r {
        case .success(let e):
            "ok \(e.id) \(e.source) \(e.time) \(e.subject) \(e.dataschema) \(e.data.leadID) \(e.data.type) \(e.data.url ?? "-") "
                + "\(e.data.occurredAt) \(e.data.source ?? "-") \((e.data.attributes ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })"
        case .failure(let f): "error \(f.field): \(f.reason)"
        }
    }

    @Test("accepts and rejects exactly what JSONDecoder does, with the same values and field errors")
    func sameAsFoundation() throws {
        let valid = #"{"specversion":"1.0","id":"e-1","source":"web","type":"funnel.lead.activity.v1","time":"2026-11-23T10:00:00Z","subject":"lead-1","datacontenttype":"application/json","dataschema":"https://funnel.dev/schemas/funnel.lead.activity.v1.json","data":{"lead_id":"lead-1","type":"page_view","url":"https:\/\/x.example\/a?b=\"c\"","occurred_at":"2026-11-23T10:00:00Z","source":null,"attributes":{"duration_seconds":"130","ü":"✓"},"extra":[1,{"a":true}]}}"#
        var cases = [valid,
                     valid.replacingOccurrences(of: #""source":null,"#, with: ""),
                     valid.replacingOccurrences(of: #""page_view""#, with: #""page_visit""#),
                     valid.replacingOccurrences(of: #""130""#, with: "130"),
                     valid.replacingOccurrences(of: #""lead_id":"lead-1""#, with: #""lead_id":"lead-2""#),
                     valid.replacingOccurrences(of: #""id":"e-1","#, with: #""id":"e-1","id":"e-2","#),
                     valid.replacingOccurrences(of: #""url":"#, with: #""url":\u0041"#),
                     valid.replacingOccurrences(of: "lead-1", with: "lead-\\u00e9"),
                     String(valid.dropLast()), valid + " ", "[]", "{}", "", "nul"]
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../schemas/examples")
        for dir in [examples, examples.appendingPathComponent("invalid")] {
            for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.contains("activity") {
                cases.append(try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8))
            }
        }
        #expect(cases.count > 16)
        var fast = 0
        for text in cases {
            let bytes = Array(text.utf8)
            #expect(describe(EventDecoder.decode(LeadActivity.self, from: bytes, expectedType: TopicCatalog.activity)) == describe(reference(bytes)), "\(text)")
            if bytes.withUnsafeBytes({ FastJSON.activityEvent($0) }) != nil { fast += 1 }
        }
        #expect(fast >= 4) // the direct parser really handled the well-formed ones
    }
}

@Suite("Fast decoding of enriched events")
struct FastDecodeEnrichedTests {
    func reference(_ bytes: [UInt8]) -> Result<CloudEvent<LeadEnriched>, FieldError> {
        do {
            let event = try JSONDecoder().decode(CloudEvent<LeadEnriched>.self, from: Data(bytes))
            return EventDecoder.validate(event, expectedType: TopicCatalog.enriched)
        } catch let error as DecodingError { return .failure(EventDecoder.fieldError(error)) } catch {
            return .failure(FieldError(field: "", reason: "not JSON: \(error)"))
        }
    }

    func same(_ a: Result<CloudEvent<LeadEnriched>, FieldError>, _ b: Result<CloudEvent<LeadEnriched>, FieldError>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)):
            x.data == y.data && x.id == y.id && x.source == y.source && x.time == y.time && x.subject == y.subject
                && x.specversion == y.specversion && x.dataschema == y.dataschema && x.datacontenttype == y.datacontenttype
        case (.failure(let x), .failure(let y)): x.field == y.field && x.reason == y.reason
        default: false
        }
    }

    @Test("accepts and rejects exactly what JSONDecoder does, with the same values and field errors")
    func sameAsFoundation() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../schemas/examples")
        let valid = try String(contentsOf: examples.appendingPathComponent("funnel.lead.enriched.v1.json"), encoding: .utf8)
        let variants: [(String, String)] = [
            (#""employees": 250"#, #""employees": 250.0"#), (#""employees": 250"#, #""employees": 2.5e2"#),
            (#""employees": 250"#, #""employees": 250.5"#), (#""employees": 250"#, #""employees": "250""#),
            (#""employees": 250"#, #""employees": null"#), (#""employees": 250"#, #""employees": 9007199254740993"#),
            (#""employees": 250"#, #""employees": -0"#), (#""email": true"#, #""email": "yes""#),
            (#""email": true"#, #""sms": true"#), (#""form": "demo""#, #""form": 1"#),
            (#""contact_available": true"#, #""contact_available": "true""#), (#""contact_available": true,"#, ""),
            (#""email_class": "corporate""#, #""email_class": "work""#), (#""domain": "example.com","#, ""),
            (#""owner": "rep-anna.schmidt""#, #""owner": null"#), (#""lead_id": "lead-5be9aab0eea8d4be1488","#, ""),
            (#""job_title": "VP Marketing""#, #""job_title": "VP \"Marketing\"\n""#), (#""job_title": "VP Marketing""#, #""job_title": "\u0056P""#),
            (#""source": "web-form""#, #""source": "web-form", "extra": [1, {"a": null}]"#),
            (#""first_name": "Maria""#, #""first_name": "Maria", "first_name": "Mia""#),
            (#""first_name": "Maria""#, #""first_name": "María""#), (#""country": "DE","#, #""country": "Germany","#),
            // The enrichment facts: known values, unknown ones and wrong types are judged alike.
            (#""country_source": "given""#, #""country_source": "given", "enrichment": "complete", "contact_source": "person-provider""#),
            (#""country_source": "given""#, #""country_source": "given", "enrichment": "pending""#),
            (#""country_source": "given""#, #""country_source": "given", "enrichment": 1"#),
            (#""country_source": "given""#, #""country_source": "given", "enrichment": null, "company_source": null"#),
            (#""country_source": "given""#, #""country_source": "given", "contact_source": 5"#),
            (#""country_source": "given""#, #""country_source": "given", "company_source": ["x"]"#),
            (#""country_source": "given""#, #""country_source": "moon""#), (#""country_source": "given""#, #""country_source": 2"#),
        ]
        var cases = [valid]
        for (from, to) in variants {
            #expect(valid.contains(from), "variant \(from)")
            cases.append(valid.replacingOccurrences(of: from, with: to))
        }
        // The company object, then the whole profile, as null or absent.
        if let start = valid.range(of: #""company": {"#), let end = valid.range(of: "},", range: start.upperBound..<valid.endIndex) {
            cases.append(valid.replacingCharacters(in: start.lowerBound..<end.upperBound, with: #""company": null,"#))
            cases.append(valid.replacingCharacters(in: start.lowerBound..<end.upperBound, with: ""))
        }
        cases.append(valid.replacingOccurrences(of: #""profile": {"#, with: #""profile": null, "x": {"#))
        for file in try FileManager.default.contentsOfDirectory(atPath: examples.appendingPathComponent("invalid").path) where file.contains("enriched") {
            cases.append(try String(contentsOf: examples.appendingPathComponent("invalid").appendingPathComponent(file), encoding: .utf8))
        }
        cases += [String(valid.dropLast(2)), "[]", "{}", ""]
        var fast = 0
        for text in cases {
            let bytes = Array(text.utf8)
            #expect(same(EventDecoder.decode(LeadEnriched.self, from: bytes, expectedType: TopicCatalog.enriched), reference(bytes)), "\(text)")
            if bytes.withUnsafeBytes({ FastJSON.enrichedEvent($0) }) != nil { fast += 1 }
        }
        #expect(fast >= 8) // the direct parser really handled the well-formed ones
    }
}

@Suite("Fast JSON of the ingest's events")
struct FastJSONIngestTests {
    static func same<P: Codable & Sendable & FastJSONEncodable>(_ payload: P, type: String) -> (String, String) {
        let event = CloudEvent(id: "id-1", source: "funnel-ingest/web", type: type, time: "2026-11-23T12:00:00.000Z", subject: "lead-1", data: payload)
        return (String(decoding: EventCoding.encode(event), as: UTF8.self), String(decoding: EventCoding.foundationEncode(event), as: UTF8.self))
    }

    @Test("captured, activity and outcome events: byte-identical to JSONEncoder (escapes, unicode, attribute order, absent fields)")
    func sameBytes() {
        let attributes = ["b": "2", "a": "\"1\"/\n", "é": "x", "Z": "", "aa": "✓", "a b": "\u{1}"]
        let leads = [
            LeadCaptured(leadID: "lead-1", email: "ada@acme.example", firstName: "Ada \"The\" <b>", lastName: "Lovelace\\", jobTitle: "CTO/Founder",
                         company: "Acme ✓", companyDomain: "acme.example", employees: 120, industry: "software", country: "GB",
                         phone: "+441234", source: "web", campaign: "c\u{7f}", consent: .init(email: false), attributes: attributes,
                         capturedAt: "2026-11-23T12:00:00.000Z"),
            LeadCaptured(leadID: "lead-2", phone: "+4930123", capturedAt: "2026-11-23T12:00:00Z"),
        ]
        for lead in leads {
            let (fast, slow) = Self.same(lead, type: TopicCatalog.captured)
            #expect(fast == slow)
        }
        for activity in [LeadActivity(leadID: "l", type: .pricingPageView, url: "https://a.example/p?x=1&y=/", occurredAt: "2026-11-23T12:00:00Z",
                                      source: "funnel-ingest", attributes: attributes),
                         LeadActivity(leadID: "l", type: .unsubscribe, occurredAt: "2026-11-23T12:00:00Z")] {
            let (fast, slow) = Self.same(activity, type: TopicCatalog.activity)
            #expect(fast == slow)
        }
        for outcome in [LeadOutcome(leadID: "l", outcome: .won, reason: "budget\tok", amount: 24000, currency: "EUR", occurredAt: "2026-11-23T12:00:00Z"),
                        LeadOutcome(leadID: "l", outcome: .lost, amount: 0.1, occurredAt: "2026-11-23T12:00:00Z"),
                        LeadOutcome(leadID: "l", outcome: .meeting, occurredAt: "2026-11-23T12:00:00Z"),
                        LeadOutcome(leadID: "l", outcome: .accepted, occurredAt: "2026-11-23T12:00:00Z",
                                    bant: BANT(budget: .init(met: true, note: "Q1 \"approved\""), timeline: .init(met: false)))] {
            let (fast, slow) = Self.same(outcome, type: TopicCatalog.outcome)
            #expect(fast == slow)
        }
    }

    @Test("the router's stage-changed and routed events: byte-identical to JSONEncoder (explicit nulls, omitted optionals, scores)")
    func routerEvents() {
        let score = ScoreSnapshot(total: 61.25, grade: "B", quadrant: "hot", model: "2026-11-23.2")
        for change in [StageChanged(leadID: "l", from: nil, to: .captured, reason: "lead captured", owner: nil, score: nil,
                                    source: nil, campaign: nil, occurredAt: "2026-11-23T12:00:00Z"),
                       StageChanged(leadID: "l", from: .identified, to: .mql, reason: "score 61 >= 60 (hot) \"x\"/é", owner: "ana",
                                    score: score, source: "web", campaign: "spring/β", occurredAt: "2026-11-23T12:00:00.123Z"),
                       StageChanged(leadID: "l", from: .sql, to: .customer, reason: "closed won", owner: nil,
                                    score: ScoreSnapshot(total: 100, grade: "A", quadrant: "fit", model: "m"), source: nil, campaign: "c",
                                    occurredAt: "2026-11-23T12:00:00Z")] + [{
                           var sal = StageChanged(leadID: "l", from: .mql, to: .sal, reason: "accepted by sales", owner: "ana", score: score,
                                                  source: nil, campaign: nil, occurredAt: "2026-11-23T12:00:00Z")
                           sal.routingVersion = "r-1"; sal.pool = "inbound"; sal.secondsToAccept = 3120
                           sal.bant = BANT(budget: .init(met: true, note: "Q1"), authority: .init(met: false), need: nil, timeline: .init(met: true))
                           return sal
                       }()] {
            let (fast, slow) = Self.same(change, type: TopicCatalog.stageChanged)
            #expect(fast == slow)
        }
        var pooled = LeadRouted(leadID: "l", stage: .mql, owner: "bo", queue: "owner-alert", reason: "hot", score: score, routedAt: "2026-11-23T12:00:00Z")
        pooled.routingVersion = "r-1"; pooled.pool = "inbound"; pooled.rule = "hot"; pooled.priority = "hot"
        for routed in [LeadRouted(leadID: "l", stage: .mql, owner: "bo", queue: "sales", reason: "score 70 >= 60", score: score, routedAt: "2026-11-23T12:00:00Z"),
                       LeadRouted(leadID: "l", stage: .nurture, owner: nil, queue: "nurture", reason: "below", score: nil, routedAt: "2026-11-23T12:00:00Z"),
                       pooled] {
            let (fast, slow) = Self.same(routed, type: TopicCatalog.routed)
            #expect(fast == slow)
        }
    }
}

@Suite("FastJSON parser: strict where JSONDecoder is strict")
struct FastJSONParserTests {
    static func parse(_ text: String) -> FastJSON.Value? {
        Array(text.utf8).withUnsafeBytes { FastJSON.parse($0) }
    }

    @Test("numbers follow JSON's grammar; what it leaves to JSONDecoder gives nil")
    func strict() {
        for good in ["0", "-0", "12", "-0.5e+3", "1E9", "[1,2.5]", "{\"a\":-1}", " 7 "] {
            #expect(Self.parse(good) != nil, "\(good)")
        }
        for bad in ["01", "+1", "1.", ".5", "1e", "-", "--1", "1e+", "0x1", "{\"a\":1,\"a\":2}", "\"\\u0041\"", "[1,]", "{\"a\"}", "nul", "1 2"] {
            #expect(Self.parse(bad) == nil, "\(bad)")
        }
        if case .object(let fields)? = Self.parse(#"{"s":"a\"b\\/","n":null,"t":true}"#) {
            #expect(fields.map(\.0) == ["s", "n", "t"])
            #expect(fields[0].1.string == "a\"b\\/")
        } else { Issue.record("object expected") }
    }
}

@Suite("JSON string scanning eight bytes at a time")
struct JSONScanTests {
    /// The byte-by-byte rule the scan must agree with.
    func reference(_ bytes: [UInt8], from start: Int, stopAtNonASCII: Bool) -> Int {
        bytes[start...].firstIndex { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 || (stopAtNonASCII && $0 >= 0x80) } ?? bytes.count
    }

    @Test("the first byte to escape is found at every position and from every start, whatever surrounds it")
    func everyPosition() {
        let specials: [UInt8] = [0x22, 0x5C, 0x00, 0x0A, 0x1F, 0x80, 0xC3, 0xFF]
        let fillers: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x41]
        var checked = 0
        for length in 0...24 {
            for filler in fillers {
                for position in 0...length {
                    for special in specials {
                        var bytes = [UInt8](repeating: filler, count: length)
                        if position < length { bytes[position] = special }
                        for start in 0...length {
                            for stop in [false, true] {
                                let found = bytes.withUnsafeBufferPointer { b in
                                    b.baseAddress.map { JSONScan.plainRun($0, from: start, to: length, stopAtNonASCII: stop) } ?? 0
                                }
                                #expect(found == reference(bytes, from: start, stopAtNonASCII: stop),
                                        "length \(length) filler \(filler) special \(special) at \(position) from \(start) stop \(stop)")
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(checked > 40_000)
    }

    @Test("strings with quotes, backslashes, controls and non-ASCII round-trip through the writer and the parser")
    func roundTrip() throws {
        let samples = ["", "plain ascii text long enough", "quote \" in the middle of a long string", "back\\slash",
                       "tab\tnew\nline", "control \u{1} char", "Zoë Müller – Größe 😀", String(repeating: "ü", count: 17),
                       String(repeating: "a", count: 15) + "\"", "\u{7F}\u{80}"]
        for sample in samples {
            var w = JSONWriter()
            w.beginObject(); w.field("s", sample); w.endObject()
            let written = w.bytes
            let decoded = try JSONDecoder().decode([String: String].self, from: Data(written))
            #expect(decoded["s"] == sample, "writer: \(sample)")
            let parsed = written.withUnsafeBytes { FastJSON.parse($0) }
            if case .object(let fields)? = parsed, case .string(let text)? = fields.first(where: { $0.0 == "s" })?.1 {
                #expect(text == sample, "parser: \(sample)")
            } else if !sample.unicodeScalars.contains(where: { $0.value < 0x20 && !["\t", "\n", "\r"].contains(Character($0)) }) {
                Issue.record("parser gave up on \(sample)")
            }
        }
    }
}
