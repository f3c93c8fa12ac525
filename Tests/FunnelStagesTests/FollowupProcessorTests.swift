import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages
import Logging
import Synchronization
import Testing

/// funnel-followup's enrolment processor with an in-memory changelog and an injected clock:
/// steps at their delays through durable timers, a restart that skips and repeats nothing, exits,
/// consent, and rep alerts.
@Suite("The follow-up keyed processor")
struct FollowupProcessorTests {
    final class Changelog: Sendable {
        let records = Mutex<[ProducerMessage]>([])
        func append(_ checkpoint: [Int32: [ProducerMessage]]) { records.withLock { $0 += checkpoint.values.flatMap { $0 } } }
        func read(_ partitions: [TopicPartition], _ body: (ConsumerMessage) -> Void) -> Int {
            let all = records.withLock { $0 }
            for (offset, r) in all.enumerated() { body(ConsumerMessage(topic: r.topic, partition: r.partition ?? 0, offset: Int64(offset), key: r.key, value: r.value)) }
            return all.count
        }
    }

    static let minute: Int64 = 60_000
    /// Monday 2026-11-02 09:00 UTC.
    static let start = Timestamp.milliseconds("2026-11-02T09:00:00Z")!

    static let config = try! FollowupConfig.parse(yaml: """
    version: "t1"
    sequences:
      - name: main
        when: { stage: nurture }
        steps:
          - { name: intro, template: intro, delay: 0h }
          - { name: case-study, template: case-study, delay: 30m }
          - { name: webinar, template: webinar, delay: 30m }
    frequency_cap: { emails: 10, days: 7 }
    quiet_hours: off
    alerts:
      template: rep-alert
      reps:
        rep-ada: { email: ada@sales.example }
    """)

    func stage(_ changelog: Changelog, _ clock: ManualClock) -> StatefulStage<FollowupProcessor> {
        let s = StatefulStage(FollowupProcessor(planner: FollowupPlanner(config: Self.config)), readChangelog: { changelog.read($0, $1) },
                              clock: clock, logger: Logger(label: "test"))
        s.assigned([TopicPartition(topic: TopicCatalog.stageChanged, partition: 0)])
        return s
    }

    func message<P: Codable & Sendable>(_ topic: String, _ lead: String, _ data: P, id: String, time: String) -> ConsumerMessage {
        let event = CloudEvent(id: id, source: "test", type: topic, time: time, subject: lead, data: data)
        return ConsumerMessage(topic: topic, partition: 0, offset: 0, key: Array(lead.utf8), value: EventCoding.encode(event))
    }

    func enriched(_ lead: String, email: String = "ada@acme.example", consent: Bool? = true) -> ConsumerMessage {
        var profile = LeadCaptured(leadID: lead, email: email, capturedAt: "2026-11-02T08:59:00Z")
        profile.firstName = "Ada"
        profile.country = "DE"
        profile.consent = consent.map { LeadCaptured.Consent(email: $0) }
        let data = LeadEnriched(leadID: lead, profile: profile, emailClass: .corporate, contactAvailable: true, company: nil, enrichedAt: "2026-11-02T08:59:30Z")
        return message(TopicCatalog.enriched, lead, data, id: "enriched-\(lead)", time: "2026-11-02T08:59:30Z")
    }

    func changed(_ lead: String, to: Stage, from: Stage? = .identified, at: Int64, id: String) -> ConsumerMessage {
        let time = Timestamp.format(milliseconds: at)
        return message(TopicCatalog.stageChanged, lead, StageChanged(leadID: lead, from: from, to: to, reason: "test", owner: nil, score: nil,
                                                                     source: "web", campaign: nil, occurredAt: time), id: id, time: time)
    }

    func activity(_ lead: String, _ type: ActivityType, id: String, attributes: [String: String]? = nil) -> ConsumerMessage {
        message(TopicCatalog.activity, lead, LeadActivity(leadID: lead, type: type, occurredAt: "2026-11-02T09:05:00Z", attributes: attributes),
                id: id, time: "2026-11-02T09:05:00Z")
    }

    func commands(_ outputs: [Int32: [ProducerMessage]]) throws -> [CloudEvent<MailCommand>] {
        try outputs.values.flatMap { $0 }.filter { $0.topic == TopicCatalog.outbox }.map {
            try EventDecoder.decode(MailCommand.self, from: $0.value ?? [], expectedType: TopicCatalog.outbox).get()
        }
    }

    @Test("steps go out at their delays; a crash before the checkpoint re-fires a step under the same id, a restart after it skips none")
    func stepsAcrossRestarts() throws {
        let changelog = Changelog(), clock = ManualClock(Self.start)
        var s = stage(changelog, clock)
        _ = try s.process(enriched("l1"))
        #expect(try s.process(changed("l1", to: .nurture, at: Self.start, id: "c1")).messages.isEmpty)
        let intro = try commands(s.fireDueTimers())
        #expect(intro.map(\.data.step) == ["intro"] && intro[0].data.to == "ada@acme.example" && intro[0].data.due == "2026-11-02T09:00:00.000Z")
        changelog.append(s.checkpoint())

        clock.advance(by: 29 * Self.minute)
        #expect(try commands(s.fireDueTimers()).isEmpty) // not due yet
        clock.advance(by: Self.minute)
        let caseStudy = try commands(s.fireDueTimers())
        #expect(caseStudy.map(\.data.step) == ["case-study"])
        // kill -9 before the checkpoint: the restored state still holds the timer; it fires again
        // with the same id (the mail sender's duplicate guard recognises it).
        s = stage(changelog, clock)
        let again = try commands(s.fireDueTimers())
        #expect(again.map(\.id) == caseStudy.map(\.id))
        changelog.append(s.checkpoint())
        // A restart after the checkpoint: nothing fires twice, the next step comes on time.
        s = stage(changelog, clock)
        #expect(try commands(s.fireDueTimers()).isEmpty)
        clock.advance(by: 30 * Self.minute)
        let webinar = try commands(s.fireDueTimers())
        #expect(webinar.map(\.data.step) == ["webinar"])
        #expect(s.value(of: "l1")?.enrolment?.status == .completed)
        #expect(Set((intro + caseStudy + webinar).map(\.id)).count == 3)
    }

    @Test("becoming an MQL ends the sequence: the next step is never sent")
    func exitOnMQL() throws {
        let clock = ManualClock(Self.start), s = stage(Changelog(), clock)
        _ = try s.process(enriched("l2"))
        _ = try s.process(changed("l2", to: .nurture, at: Self.start, id: "c1"))
        #expect(try commands(s.fireDueTimers()).count == 1)
        _ = try s.process(changed("l2", to: .mql, from: .nurture, at: Self.start + 10 * Self.minute, id: "c2"))
        clock.advance(by: 60 * Self.minute)
        #expect(try commands(s.fireDueTimers()).isEmpty)
        #expect(s.value(of: "l2")?.enrolment?.status == .exited && s.value(of: "l2")?.enrolment?.reason == "became mql")
    }

    @Test("an unsubscribe stops the next step at once; consent false is never mailed")
    func unsubscribeAndConsent() throws {
        let clock = ManualClock(Self.start), s = stage(Changelog(), clock)
        _ = try s.process(enriched("l3"))
        _ = try s.process(changed("l3", to: .nurture, at: Self.start, id: "c1"))
        #expect(try commands(s.fireDueTimers()).count == 1)
        _ = try s.process(activity("l3", .pageView, id: "a0"))
        #expect(s.value(of: "l3")?.suppression == nil)
        _ = try s.process(activity("l3", .unsubscribe, id: "a1"))
        clock.advance(by: 120 * Self.minute)
        #expect(try commands(s.fireDueTimers()).isEmpty)
        #expect(s.value(of: "l3")?.suppression == .unsubscribed)

        _ = try s.process(enriched("l4", consent: false))
        _ = try s.process(changed("l4", to: .nurture, at: Self.start, id: "c4"))
        clock.advance(by: 120 * Self.minute)
        #expect(try commands(s.fireDueTimers()).isEmpty)
        #expect(s.value(of: "l4")?.enrolment?.status == .suppressed && s.value(of: "l4")?.enrolment?.reason == "no consent")
    }

    @Test("a hard bounce from the mail sender suppresses the address; a re-delivered stage change enrols nobody twice")
    func bounceAndRedelivery() throws {
        let clock = ManualClock(Self.start), s = stage(Changelog(), clock)
        _ = try s.process(enriched("l5"))
        _ = try s.process(changed("l5", to: .nurture, at: Self.start, id: "c1"))
        _ = try s.process(changed("l5", to: .nurture, at: Self.start, id: "c1"))
        #expect(try commands(s.fireDueTimers()).count == 1)
        _ = try s.process(activity("l5", .emailBounced, id: "b1", attributes: ["bounce": "hard", "code": "550"]))
        clock.advance(by: 120 * Self.minute)
        #expect(try commands(s.fireDueTimers()).isEmpty)
        #expect(s.value(of: "l5")?.suppression == .bounced)
    }

    @Test("a hot lead's owner alert becomes an e-mail to the rep, with the lead's facts")
    func ownerAlert() throws {
        let s = stage(Changelog(), ManualClock(Self.start))
        _ = try s.process(enriched("l6"))
        let routed = LeadRouted(leadID: "l6", stage: .mql, owner: "rep-ada", queue: "owner-alert", reason: "hot lead for rep-ada: score 95 >= 60",
                                score: ScoreSnapshot(total: 95, grade: "A", quadrant: "hot", model: "m1"), routedAt: "2026-11-02T09:00:00Z")
        let outputs = try s.process(message(TopicCatalog.routed, "l6", routed, id: "r1", time: "2026-11-02T09:00:00Z")).messages
        let alert = try commands([0: outputs])
        #expect(alert.count == 1 && alert[0].data.kind == .alert && alert[0].data.to == "ada@sales.example")
        #expect(alert[0].data.lead.firstName == "Ada" && alert[0].data.reason?.hasPrefix("hot lead") == true)
        // A plain routing is not an alert.
        var plain = routed
        plain.queue = "sales"
        #expect(try s.process(message(TopicCatalog.routed, "l6", plain, id: "r2", time: "2026-11-02T09:00:00Z")).messages.isEmpty)
    }

    @Test("an undecodable input is a dead letter with the field; other activities are skipped without decoding")
    func badInput() throws {
        let s = stage(Changelog(), ManualClock(Self.start))
        let bad = ConsumerMessage(topic: TopicCatalog.stageChanged, partition: 0, offset: 0, key: Array("l7".utf8), value: Array("{\"nope\":1}".utf8))
        #expect(throws: StageFailure.self) { try s.process(bad) }
        // A page view with broken JSON is not even decoded (it cannot matter here).
        let noise = ConsumerMessage(topic: TopicCatalog.activity, partition: 0, offset: 1, key: Array("l7".utf8), value: Array("{\"type\":\"page_view\"".utf8))
        #expect(try s.process(noise).messages.isEmpty)
    }
}
