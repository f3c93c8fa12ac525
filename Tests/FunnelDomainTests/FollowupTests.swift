import Foundation
import FunnelDomain
import Testing

/// The follow-up decisions, pure: `followup.yaml`, entry and exit, consent, quiet hours,
/// frequency cap, business days, repeats and rep alerts (times are event times; no clock).
@Suite("Follow-up planning")
struct FollowupTests {
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 86_400_000
    /// Monday 2026-11-02 09:00 UTC (10:00 in Berlin).
    static let monday9 = Timestamp.milliseconds("2026-11-02T09:00:00Z")!

    static let yaml = """
    version: "t1"
    sequences:
      - name: recycled
        when: { stage: nurture, from: [lost] }
        steps:
          - { name: check-in, template: recycled, delay: 0h }
      - name: main
        when: { stage: nurture }
        steps:
          - { name: intro, template: intro, delay: 0h }
          - { name: case-study, template: case-study, delay: 2 business days }
          - { name: digest, template: digest, delay: 7d }
        repeat_last_every: 30d
    frequency_cap: { emails: 2, days: 7 }
    quiet_hours: { start: "20:00", end: "08:00" }
    alerts:
      template: rep-alert
      reps:
        rep-ada: { email: ada@sales.example, name: Ada }
    """

    static var config: FollowupConfig { try! FollowupConfig.parse(yaml: yaml) }

    func lead(country: String = "DE", consent: Bool? = true, email: String? = "ada@acme.example") -> FollowupLeadState {
        var s = FollowupLeadState()
        s.contact.email = email
        s.contact.firstName = "Ada"
        s.contact.country = country
        s.contact.consent = consent
        return s
    }

    @Test("the shipped followup.yaml parses, with every template named")
    func shipped() throws {
        let text = try String(contentsOfFile: #filePath.components(separatedBy: "/Tests/")[0] + "/deploy/followup.yaml", encoding: .utf8)
        let config = try FollowupConfig.parse(yaml: text)
        #expect(config.sequences.map(\.name) == ["recycled", "nurture-default"])
        #expect(config.sequence(named: "nurture-default")?.steps.map(\.name) == ["intro", "case-study", "webinar-invite", "blog-digest"])
        #expect(config.templateNames.contains("rep-alert") && config.alerts.reps.count == 4)
        #expect(config.quietHours == .init(start: 1200, end: 480) && config.frequencyCap == .init(emails: 3, days: 7))
    }

    @Test("configuration mistakes name the file, line and field",
          arguments: [
            ("version: x\nsequences: []\n", "followup.yaml:2: sequences: at least one sequence is needed"),
            ("version: x\nsequences:\n  - { name: a, steps: [{ name: s, template: t, delay: 3 weeks }] }\n",
             "followup.yaml:3: sequences[0].steps[0].delay: '3 weeks' is not a delay (30s, 15m, 36h, 3d, 2 business days)"),
            ("version: x\nsequences:\n  - { name: a, steps: [{ name: s, template: t }] }\n", "followup.yaml:3: sequences[0].steps[0]: missing key 'delay' (e.g. 0h, 3d, 2 business days)"),
            ("version: x\nsequences:\n  - { name: a, when: { stage: mql }, steps: [{ name: s, template: t, delay: 0h }] }\n",
             "followup.yaml:3: sequences[0].when.stage: sequences start when a lead enters nurture (stage: nurture)"),
            ("version: x\nsequences:\n  - { name: a, when: { from: [won] }, steps: [{ name: s, template: t, delay: 0h }] }\n",
             "followup.yaml:3: sequences[0].when.from: unknown stage 'won' (captured, identified, mql, sal, sql, customer, lost, nurture, disqualified)"),
            ("version: x\nquiet_hours: { start: \"25:00\", end: \"08:00\" }\nsequences:\n  - { name: a, steps: [{ name: s, template: t, delay: 0h }] }\n",
             "followup.yaml:2: quiet_hours.start: expected a time of day HH:MM"),
            ("version: x\nfrequency_cap: { emails: 0 }\nsequences:\n  - { name: a, steps: [{ name: s, template: t, delay: 0h }] }\n",
             "followup.yaml:2: frequency_cap.emails: must be an integer >= 1"),
            ("version: x\nsequences:\n  - { name: a, steps: [{ name: s, template: t, delay: 0h }] }\nalerts: { reps: { rep-a: { email: nope } } }\n",
             "followup.yaml:4: alerts.reps.rep-a: needs an e-mail address (email: …)"),
            ("version: x\nsequence: []\n", "followup.yaml:2: sequence: unknown key (known: alerts, consent, frequency_cap, links, quiet_hours, sequences, version)"),
            ("version: x\nlinks: { unsubscribe_days: 7 }\nsequences:\n  - { name: a, steps: [{ name: s, template: t, delay: 0h }] }\n",
             "followup.yaml:2: links.unsubscribe_days: must be an integer >= 30"),
          ])
    func configErrors(yaml: String, expected: String) {
        #expect(throws: ConfigFileError.self) { try FollowupConfig.parse(yaml: yaml) }
        do { _ = try FollowupConfig.parse(yaml: yaml) } catch { #expect(error.description == expected) }
    }

    @Test("a nurture lead joins the first matching sequence; steps follow their delays, business days skip the weekend")
    func steps() throws {
        let planner = FollowupPlanner(config: Self.config)
        var state = lead()
        // Friday 2026-11-06 09:00 UTC.
        let friday = Self.monday9 + 4 * Self.day
        let due = try #require(planner.enter(FollowupEntry(stage: .nurture, from: .identified), entryID: "e1", at: friday, state: &state))
        #expect(due == friday && state.enrolment?.sequence == "main")
        guard case .send(let intro, let next) = planner.stepDue(leadID: "l1", due: due, state: &state) else { Issue.record("no send"); return }
        #expect(intro.step == "intro" && intro.to == "ada@acme.example" && intro.template == "intro" && intro.kind == .step)
        // Two business days after Friday: Tuesday (not Sunday).
        #expect(next == friday + 4 * Self.day)
        guard case .send(let second, let third) = planner.stepDue(leadID: "l1", due: next!, state: &state) else { Issue.record("no send"); return }
        #expect(second.step == "case-study" && third == next! + 7 * Self.day)
        guard case .send(let digest, let repeat1) = planner.stepDue(leadID: "l1", due: third!, state: &state) else { Issue.record("no send"); return }
        #expect(digest.step == "digest" && digest.round == nil && repeat1 == third! + 30 * Self.day)
        guard case .send(let again, let repeat2) = planner.stepDue(leadID: "l1", due: repeat1!, state: &state) else { Issue.record("no send"); return }
        #expect(again.step == "digest" && again.round == 1 && repeat2 == repeat1! + 30 * Self.day)
        // Every send has its own id; the same enrolment and step give the same id.
        let ids = [intro, second, digest, again].map { FollowupPlanner.commandID($0, entryID: "e1") }
        #expect(Set(ids).count == 4)
        #expect(FollowupPlanner.commandID(intro, entryID: "e1") == FollowupPlanner.commandID(intro, entryID: "e1"))
        #expect(FollowupPlanner.commandID(intro, entryID: "e2") != ids[0])
        // A recycled lead (from lost) joins the recycled sequence instead.
        var recycled = lead()
        _ = planner.enter(FollowupEntry(stage: .nurture, from: .lost), entryID: "e9", at: friday, state: &recycled)
        #expect(recycled.enrolment?.sequence == "recycled")
    }

    @Test("an exit stage or an exit activity ends the enrolment; unsubscribe and a hard bounce suppress for good, a soft bounce does not")
    func exits() {
        let planner = FollowupPlanner(config: Self.config)
        var state = lead()
        _ = planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &state)
        #expect(planner.stageChanged(to: .mql, state: &state))
        #expect(state.enrolment?.status == .exited && state.enrolment?.reason == "became mql")
        #expect(planner.stepDue(leadID: "l", due: Self.monday9, state: &state) == .stop(.exited, reason: "no active enrolment"))

        var soft = lead()
        _ = planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &soft)
        #expect(!planner.activity(.emailBounced, attributes: ["bounce": "soft"], state: &soft))
        #expect(soft.suppression == nil && soft.enrolment?.status == .active)
        #expect(planner.activity(.emailBounced, attributes: ["bounce": "hard"], state: &soft))
        #expect(soft.suppression == .bounced && soft.enrolment?.status == .suppressed)

        var unsubscribed = lead()
        _ = planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &unsubscribed)
        #expect(planner.activity(.unsubscribe, attributes: nil, state: &unsubscribed))
        #expect(unsubscribed.enrolment?.reason == "unsubscribed")
        // A later nurture entry is recorded as suppressed: no timer, no mail.
        _ = planner.stageChanged(to: .mql, state: &unsubscribed)
        #expect(planner.enter(FollowupEntry(stage: .nurture, from: .mql), entryID: "e2", at: Self.monday9 + Self.day, state: &unsubscribed) == nil)
        #expect(unsubscribed.enrolment?.status == .suppressed && unsubscribed.enrolment?.reason == "unsubscribed")

        var replied = lead()
        _ = planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &replied)
        #expect(planner.activity(.emailReply, attributes: nil, state: &replied))
        #expect(replied.enrolment?.status == .exited && replied.enrolment?.reason == "replied" && replied.suppression == nil)
    }

    @Test("consent false is never e-mailed; no consent recorded is e-mailed unless the configuration says otherwise")
    func consent() throws {
        let planner = FollowupPlanner(config: Self.config)
        var refused = lead(consent: false)
        #expect(planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &refused) == nil)
        #expect(refused.enrolment?.status == .suppressed && refused.enrolment?.reason == "no consent")
        // Consent withdrawn after enrolment (a new enriched profile): the due step is not sent.
        var later = lead(consent: true)
        let due = try #require(planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &later))
        later.contact.consent = false
        #expect(planner.stepDue(leadID: "l", due: due, state: &later) == .stop(.suppressed, reason: "no consent"))

        var unknown = lead(consent: nil)
        #expect(planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &unknown) != nil)
        var strict = Self.config
        strict.mailWithoutConsent = false
        var unknown2 = lead(consent: nil)
        #expect(FollowupPlanner(config: strict).enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &unknown2) == nil)
        #expect(unknown2.enrolment?.reason == "no consent recorded")
    }

    @Test("quiet hours are the lead's local time: a step due at 22:00 in New York goes at 08:00 there")
    func quietHours() throws {
        let planner = FollowupPlanner(config: Self.config)
        var state = lead(country: "US")
        // 2026-11-03 03:00 UTC = 22:00 EST on Monday.
        let late = Timestamp.milliseconds("2026-11-03T03:00:00Z")!
        let due = try #require(planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: late, state: &state))
        let decision = planner.stepDue(leadID: "l", due: due, state: &state)
        #expect(decision == .postpone(until: Timestamp.milliseconds("2026-11-03T13:00:00Z")!, reason: "quiet hours"))
        // The same instant is 04:00 in Berlin (quiet too), 11:00 in Tokyo (not quiet).
        #expect(planner.isQuiet(late, zone: CountryTimeZones.zone(country: "DE", given: nil)))
        #expect(!planner.isQuiet(late, zone: CountryTimeZones.zone(country: "JP", given: nil)))
        // A `timezone` attribute wins over the country.
        #expect(!planner.isQuiet(late, zone: CountryTimeZones.zone(country: "US", given: "Asia/Tokyo")))
        // At 08:00 local it goes.
        guard case .send = planner.stepDue(leadID: "l", due: Timestamp.milliseconds("2026-11-03T13:00:00Z")!, state: &state) else {
            Issue.record("not sent at 08:00 local"); return
        }
    }

    @Test("the frequency cap counts across sequences: a third e-mail within 7 days waits until the oldest leaves the window")
    func frequencyCap() throws {
        let planner = FollowupPlanner(config: Self.config)
        var state = lead()
        state.sent = [Self.monday9 - 3 * Self.day, Self.monday9 - 1 * Self.day] // two e-mails of an earlier sequence
        let due = try #require(planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &state))
        let decision = planner.stepDue(leadID: "l", due: due, state: &state)
        // The oldest left the 7-day window 4 days later (+1 ms), a Friday 09:00 UTC (10:00 Berlin, not quiet).
        #expect(decision == .postpone(until: Self.monday9 + 4 * Self.day + 1, reason: "frequency cap"))
        guard case .send = planner.stepDue(leadID: "l", due: Self.monday9 + 4 * Self.day + 1, state: &state) else { Issue.record("not sent"); return }
        #expect(state.sent.count == 2) // the one that left the window was pruned
    }

    @Test("a lead without an address waits a day for its profile, then is recorded as suppressed")
    func noAddress() throws {
        let planner = FollowupPlanner(config: Self.config)
        var state = lead(email: nil)
        let due = try #require(planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9, state: &state))
        #expect(planner.stepDue(leadID: "l", due: due, state: &state) == .postpone(until: due + 600_000, reason: "no address yet"))
        #expect(planner.stepDue(leadID: "l", due: due + Self.day, state: &state) == .stop(.suppressed, reason: "no e-mail address"))
    }

    @Test("hot-lead and SLA-reminder routings alert the owner at the address in followup.yaml; other routings do not")
    func alerts() throws {
        let planner = FollowupPlanner(config: Self.config)
        var routed = LeadRouted(leadID: "l1", stage: .mql, owner: "rep-ada", queue: "owner-alert", reason: "hot lead for rep-ada: score 90",
                                score: ScoreSnapshot(total: 90, grade: "A", quadrant: "hot", model: "m1"), routedAt: "2026-11-02T09:00:00Z")
        let alert = try #require(planner.alert(routed, state: lead()))
        #expect(alert.kind == .alert && alert.to == "ada@sales.example" && alert.toName == "Ada" && alert.rep == "rep-ada")
        #expect(alert.lead.email == "ada@acme.example" && alert.score?.total == 90 && alert.validate().isEmpty)
        routed.queue = "sales"
        #expect(planner.alert(routed, state: lead()) == nil)
        routed.queue = "sla-reminder"; routed.owner = "rep-unknown"
        #expect(planner.alert(routed, state: lead()) == nil) // no address, no fallback
    }

    @Test("the state's binary form round-trips")
    func codec() throws {
        let planner = FollowupPlanner(config: Self.config)
        var state = lead(country: "US")
        state.contact.timeZone = "America/Chicago"
        state.owner = "rep-ada"
        state.stage = .nurture
        _ = planner.enter(FollowupEntry(stage: .nurture), entryID: "e1", at: Self.monday9 + 14 * Self.hour, state: &state)
        _ = planner.stepDue(leadID: "l", due: Self.monday9 + 14 * Self.hour, state: &state)
        state.suppression = .bounced
        _ = state.markSeen("x")
        let decoded = try FollowupLeadState(decoding: state.encoded())
        #expect(decoded == state)
        #expect(state.encoded().first != 0xF7)
        #expect(throws: FollowupLeadState.DecodingError.self) { try FollowupLeadState(decoding: state.encoded().dropLast(3)) }
    }
}
