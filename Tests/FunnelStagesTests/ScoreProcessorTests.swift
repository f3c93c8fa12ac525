import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages
import Logging
import Synchronization
import Testing

/// The scorer's processor with a fake changelog (pure logic: ownership, de-duplication,
/// changelog records, the event-time sweep). The broker-backed behaviour is in ScoreScalingTests.
@Suite("The scorer's keyed processor")
struct ScoreProcessorTests {
    static let model = try! ScoringModel.parse(yaml: """
    version: "stage-test"
    mql: { threshold: 60, release: 50 }
    sweep_interval_hours: 24
    grades: { a: 45, b: 30, c: 15 }
    interest_bands: { high: 30, medium: 15 }
    half_life_days: 10
    fit:
      - { name: exec, field: seniority, in: [c_level, vp], points: 25 }
    interest:
      - { name: demo, activity: demo_request, points: 40 }
    """)

    final class FakeChangelog: Sendable {
        let restored = Mutex<[[Int32]]>([])
        let content: [Int32: [String: LeadScoreState]]
        init(_ content: [Int32: [String: LeadScoreState]] = [:]) { self.content = content }
        /// Delivers the records of the requested changelog partitions, as the broker would.
        func read(_ partitions: [TopicPartition], _ body: (ConsumerMessage) -> Void) -> Int {
            restored.withLock { $0.append(partitions.map(\.partition).sorted()) }
            var count = 0
            for tp in partitions {
                for (lead, state) in content[tp.partition] ?? [:] {
                    body(ConsumerMessage(topic: tp.topic, partition: tp.partition, offset: Int64(count), key: Array(lead.utf8), value: state.encoded()))
                    count += 1
                }
            }
            return count
        }
    }

    func stage(_ changelog: FakeChangelog) -> StatefulStage<ScoreProcessor> {
        StatefulStage(ScoreProcessor(scorer: Scorer(model: Self.model), logger: Logger(label: "test")),
                      readChangelog: { changelog.read($0, $1) }, logger: Logger(label: "test"))
    }

    func message<P: Codable & Sendable>(_ data: P, topic: String, lead: String, id: String, partition: Int32, offset: Int64) -> ConsumerMessage {
        let event = CloudEvent(id: id, source: "test", type: topic, time: "2026-11-01T00:00:00Z", subject: lead, data: data)
        return ConsumerMessage(topic: topic, partition: partition, offset: offset, key: Array(lead.utf8), value: EventCoding.encode(event))
    }

    func activity(_ lead: String, _ type: ActivityType, at time: String, id: String, partition: Int32 = 0, offset: Int64 = 0) -> ConsumerMessage {
        message(LeadActivity(leadID: lead, type: type, occurredAt: time), topic: TopicCatalog.activity, lead: lead, id: id, partition: partition, offset: offset)
    }

    func profile(_ lead: String, title: String, at time: String, id: String, partition: Int32 = 0) -> ConsumerMessage {
        let captured = LeadCaptured(leadID: lead, email: "\(lead)@acme.example", jobTitle: title, capturedAt: time)
        return message(LeadEnriched(leadID: lead, profile: captured, emailClass: .corporate, contactAvailable: true, company: nil, enrichedAt: time),
                       topic: TopicCatalog.enriched, lead: lead, id: id, partition: partition, offset: 0)
    }

    func decodeScored(_ m: ProducerMessage) throws -> CloudEvent<LeadScored> {
        try EventDecoder.decode(LeadScored.self, from: m.value ?? [], expectedType: TopicCatalog.scored).get()
    }

    @Test("restores each assigned partition once, before use; inputs of partitions it does not own are skipped")
    func ownership() throws {
        var known = LeadScoreState()
        _ = known.markSeen("seen-before")
        let changelog = FakeChangelog([1: ["lead-a": known]])
        let s = stage(changelog)
        #expect(try s.process(activity("lead-a", .demoRequest, at: "2026-11-01T00:00:00Z", id: "x", partition: 1)).skipped)
        s.assigned([TopicPartition(topic: TopicCatalog.enriched, partition: 1), TopicPartition(topic: TopicCatalog.activity, partition: 1)])
        s.assigned([TopicPartition(topic: TopicCatalog.activity, partition: 1)])
        #expect(changelog.restored.withLock { $0 } == [[1]])
        // The restored state knows this event: re-delivery changes nothing and emits nothing.
        let again = try s.process(activity("lead-a", .demoRequest, at: "2026-11-01T00:00:00Z", id: "seen-before", partition: 1))
        #expect(!again.skipped && again.messages.isEmpty && s.checkpoint().isEmpty)
        s.revoked([TopicPartition(topic: TopicCatalog.activity, partition: 1)])
        #expect(s.keyCount == 0)
        #expect(try s.process(activity("lead-a", .demoRequest, at: "2026-11-01T00:00:00Z", id: "y", partition: 1)).skipped)
    }

    @Test("an input yields its scored event; a checkpoint holds one changelog record per changed lead, on its partition, with the newest state")
    func outputs() throws {
        let s = stage(FakeChangelog())
        s.assigned([TopicPartition(topic: TopicCatalog.activity, partition: 3)])
        let early = try s.process(activity("lead-b", .demoRequest, at: "2026-11-01T00:00:00Z", id: "a1", partition: 3))
        #expect(try decodeScored(early.messages[0]).data.profileKnown == false)
        let out = try s.process(profile("lead-b", title: "VP Sales", at: "2026-11-01T06:00:00Z", id: "p1", partition: 3))
        #expect(out.messages.count == 1)
        let scored = try decodeScored(out.messages[0])
        #expect(scored.id == Self.contentID(["p1", "scored"], scored) && scored.subject == "lead-b")
        #expect(scored.data.profileKnown && scored.data.fit == 25 && scored.data.mql == true) // the early activity was kept
        #expect(scored.data.scoredAt == "2026-11-01T06:00:00.000Z" && scored.time == scored.data.scoredAt)
        // Two inputs of one lead since the last checkpoint: one record, with the state after both.
        let records = s.checkpoint()
        #expect(records.count == 1 && records[3]?.count == 1)
        let record = try #require(records[3]?.first)
        #expect(record.topic == ScoreProcessor.changelogTopic && record.partition == 3 && record.key == Array("lead-b".utf8))
        let state = try LeadScoreState(decoding: record.value ?? [])
        #expect(state.activities.count == 1 && state.profile?.jobTitle == "VP Sales" && state.mql)
        #expect(s.value(of: "lead-b") == state)
        #expect(s.checkpoint().isEmpty) // nothing changed since
    }

    @Test("when the partition's event time crosses a sweep boundary, leads whose bands changed with time are re-emitted")
    func sweep() throws {
        let s = stage(FakeChangelog())
        s.assigned([TopicPartition(topic: TopicCatalog.activity, partition: 0)])
        _ = try s.process(profile("lead-c", title: "CEO", at: "2026-11-01T00:00:00Z", id: "pc"))
        _ = try s.process(activity("lead-c", .demoRequest, at: "2026-11-01T01:00:00Z", id: "dc")) // 65: MQL, engaged
        _ = try s.process(activity("lead-d", .pageView, at: "2026-11-01T02:00:00Z", id: "dd"))    // nothing changes with time
        #expect(s.checkpoint()[0]?.count == 2)
        // Ten days later another lead's event moves the partition's event time: lead-c's demo has decayed.
        let out = try s.process(activity("lead-e", .pageView, at: "2026-11-11T05:00:00Z", id: "de"))
        let events = try out.messages.map(decodeScored)
        let swept = try #require(events.first { $0.subject == "lead-c" })
        #expect(swept.id == Self.contentID(["lead-c", "sweep", String(Timestamp.milliseconds("2026-11-11T00:00:00Z")!)], swept))
        // Demo 40 × 0.5^(9.96 days / 10): interest 20.06, medium; the quadrant falls from engaged to cold.
        #expect(swept.data.scoredAt == "2026-11-11T00:00:00.000Z" && swept.data.interest == 20.06)
        #expect(swept.data.interestBand == "medium" && swept.data.quadrant == "cold")
        #expect(swept.data.mql == false) // 45.06 < release 50
        #expect(!events.contains { $0.subject == "lead-d" })
        #expect(events.last?.subject == "lead-e")
        // The swept lead's new state is written too; lead-d's is unchanged.
        #expect(Set((s.checkpoint()[0] ?? []).map { String(decoding: $0.key ?? [], as: UTF8.self) }) == ["lead-c", "lead-e"])
        // The same boundary does not sweep twice.
        let next = try s.process(activity("lead-e", .pageView, at: "2026-11-11T06:00:00Z", id: "de2"))
        #expect(next.messages.count == 1)
    }

    /// The id a scored event must have: derived from `parts` and the hash of its data's JSON.
    static func contentID(_ parts: [String], _ event: CloudEvent<LeadScored>) -> String {
        let h = EventCoding.contentHash(Array(try! EventCoding.encoder().encode(event.data)))
        return EventID.derive(parts + [String(h, radix: 16)])
    }

    @Test("a lead's score after an input depends on which of its other events were read first: each interleaving has its own ids, and one id always has the same bytes")
    func interleavings() throws {
        func run(_ order: [ConsumerMessage]) throws -> [String: [UInt8]] {
            let s = stage(FakeChangelog())
            s.assigned([TopicPartition(topic: TopicCatalog.activity, partition: 0)])
            var out: [String: [UInt8]] = [:]
            for m in order {
                for produced in try s.process(m).messages { out[try decodeScored(produced).id] = produced.value }
            }
            return out
        }
        let demo = activity("lead-f", .demoRequest, at: "2026-11-01T02:00:00Z", id: "df")
        let vp = profile("lead-f", title: "VP Sales", at: "2026-11-01T01:00:00Z", id: "pf")
        let profileFirst = try run([vp, demo]), demoFirst = try run([demo, vp]), again = try run([vp, demo])
        #expect(again == profileFirst) // a replay in the same order: the same ids, the same bytes
        // Both inputs score differently in the other order (the demo without the profile, the
        // profile with the demo), so the two runs share no id.
        #expect(profileFirst.count == 2 && demoFirst.count == 2)
        #expect(Set(profileFirst.keys).isDisjoint(with: demoFirst.keys))
        let withoutProfile = try demoFirst.values.map { try EventDecoder.decode(LeadScored.self, from: $0, expectedType: TopicCatalog.scored).get() }
            .filter { !$0.data.profileKnown }
        #expect(withoutProfile.count == 1 && withoutProfile[0].id == Self.contentID(["df", "scored"], withoutProfile[0]))
    }

    @Test("a bad input is a stage failure naming the field (it becomes a dead letter)")
    func badInput() throws {
        let s = stage(FakeChangelog())
        s.assigned([TopicPartition(topic: TopicCatalog.activity, partition: 0)])
        let broken = ConsumerMessage(topic: TopicCatalog.activity, partition: 0, offset: 9, key: nil, value: Array("{\"specversion\":\"1.0\"}".utf8))
        #expect(throws: StageFailure.self) { try s.process(broken) }
    }

    @Test("funnel explain's breakdown names the rules, points, bands and MQL")
    func explanation() throws {
        let s = stage(FakeChangelog())
        s.assigned([TopicPartition(topic: TopicCatalog.activity, partition: 0)])
        _ = try s.process(profile("lead-f", title: "VP Sales", at: "2026-11-01T00:00:00Z", id: "pf"))
        _ = try s.process(activity("lead-f", .demoRequest, at: "2026-11-01T00:00:00Z", id: "df"))
        let state = try #require(s.value(of: "lead-f"))
        let text = ScoreExplanation.render(leadID: "lead-f", state: state, scorer: Scorer(model: Self.model), at: state.lastEventTime)
        #expect(text.contains("lead lead-f — model stage-test"))
        #expect(text.contains("total 65 = fit 25 + interest 40"))
        #expect(text.contains("MQL (threshold 60, release 50)"))
        #expect(text.contains("exec") && text.contains("demo") && text.contains("(1 event)"))
        #expect(text.contains("seniority=vp"))
    }
}
