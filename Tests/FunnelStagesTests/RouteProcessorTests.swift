import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages
import Logging
import Synchronization
import Testing

/// funnel-route's processor with an in-memory changelog: lifecycle kept across restarts,
/// outcomes that arrive before their lead, and outputs that are the same bytes on replay.
@Suite("The router's keyed processor")
struct RouteProcessorTests {
    final class Changelog: Sendable {
        let records = Mutex<[ProducerMessage]>([])
        func append(_ checkpoint: [Int32: [ProducerMessage]]) { records.withLock { $0 += checkpoint.values.flatMap { $0 } } }
        func read(_ partitions: [TopicPartition], _ body: (ConsumerMessage) -> Void) -> Int {
            let all = records.withLock { $0 }
            for (offset, r) in all.enumerated() { body(ConsumerMessage(topic: r.topic, partition: r.partition ?? 0, offset: Int64(offset), key: r.key, value: r.value)) }
            return all.count
        }
    }

    let router = LifecycleRouter(routing: .everyoneTo("ana"), mqlThreshold: 60)
    static let day: Int64 = 86_400_000

    func stage(_ changelog: Changelog, _ clock: ManualClock = ManualClock(0)) -> StatefulStage<RouteProcessor> {
        let s = StatefulStage(RouteProcessor(router: router, pendingOutcomeWait: 7 * Self.day), readChangelog: { changelog.read($0, $1) },
                              clock: clock, logger: Logger(label: "test"))
        s.assigned([TopicPartition(topic: TopicCatalog.scored, partition: 0)])
        return s
    }

    func scored(_ lead: String, total: Double, mql: Bool, at time: String, id: String, offset: Int64 = 0) -> ConsumerMessage {
        var data = LeadScored(leadID: lead, model: "m1", total: total, fit: total / 2, interest: total / 2, grade: "A", quadrant: mql ? "hot" : "cold",
                              rules: [], disqualification: nil, profileKnown: true, contactAvailable: true, emailClass: .corporate,
                              accountOwner: nil, source: "web", campaign: "spring", scoredAt: time)
        data.mql = mql
        let event = CloudEvent(id: id, source: "funnel-score", type: TopicCatalog.scored, time: time, subject: lead, data: data)
        return ConsumerMessage(topic: TopicCatalog.scored, partition: 0, offset: offset, key: Array(lead.utf8), value: EventCoding.encode(event))
    }

    func outcome(_ lead: String, _ type: OutcomeType, at time: String, id: String, offset: Int64 = 0, brokerTime: Int64 = 0) -> ConsumerMessage {
        let event = CloudEvent(id: id, source: "crm", type: TopicCatalog.outcome, time: time, subject: lead,
                               data: LeadOutcome(leadID: lead, outcome: type, occurredAt: time))
        return ConsumerMessage(topic: TopicCatalog.outcome, partition: 0, offset: offset, key: Array(lead.utf8),
                               value: EventCoding.encode(event), timestampMilliseconds: brokerTime)
    }

    func changes(_ messages: [ProducerMessage]) throws -> [CloudEvent<StageChanged>] {
        try messages.filter { $0.topic == TopicCatalog.stageChanged }.map {
            try EventDecoder.decode(StageChanged.self, from: $0.value ?? [], expectedType: TopicCatalog.stageChanged).get()
        }
    }

    @Test("a restart restores the lifecycle: an outcome after it moves the lead on, never back to captured")
    func restart() throws {
        let changelog = Changelog()
        let first = stage(changelog)
        let mql = try changes(first.process(scored("l1", total: 70, mql: true, at: "2026-11-01T10:00:00Z", id: "s1")).messages)
        #expect(mql.map(\.data.to) == [.captured, .identified, .mql])
        #expect(mql.allSatisfy { $0.data.occurredAt == "2026-11-01T10:00:00Z" && $0.time == "2026-11-01T10:00:00Z" })
        changelog.append(first.checkpoint())
        let second = stage(changelog)  // kill -9 and restart
        #expect(second.value(of: "l1")?.lifecycle.stage == .mql)
        let accepted = try changes(second.process(outcome("l1", .accepted, at: "2026-11-02T09:00:00Z", id: "o1")).messages)
        #expect(accepted.map { "\($0.data.from!.rawValue)>\($0.data.to.rawValue)" } == ["mql>sal"])
        #expect(accepted[0].data.occurredAt == "2026-11-02T09:00:00Z" && accepted[0].data.owner != nil)
        // A new score after the restart changes nothing: the lead is not captured again.
        #expect(try changes(second.process(scored("l1", total: 75, mql: true, at: "2026-11-02T10:00:00Z", id: "s2")).messages).isEmpty)
    }

    @Test("the same inputs give the same bytes: processed twice, re-delivered after a crash, or replayed by a fresh router")
    func deterministic() throws {
        let inputs = [
            scored("l2", total: 30, mql: false, at: "2026-11-01T08:00:00Z", id: "a", offset: 0),
            scored("l2", total: 80, mql: true, at: "2026-11-03T08:00:00Z", id: "b", offset: 1),
            outcome("l2", .accepted, at: "2026-11-04T08:00:00Z", id: "c", offset: 2),
            outcome("l2", .meeting, at: "2026-11-05T08:00:00Z", id: "d", offset: 3),
            outcome("l2", .won, at: "2026-11-06T08:00:00Z", id: "e", offset: 4),
        ]
        func run(_ s: StatefulStage<RouteProcessor>, _ messages: ArraySlice<ConsumerMessage>) throws -> [String: [UInt8]] {
            var out: [String: [UInt8]] = [:]
            for m in messages {
                for p in try s.process(m).messages {
                    let id = p.topic == TopicCatalog.stageChanged
                        ? try EventDecoder.decode(StageChanged.self, from: p.value ?? [], expectedType: p.topic).get().id
                        : try EventDecoder.decode(LeadRouted.self, from: p.value ?? [], expectedType: p.topic).get().id
                    out[id] = p.value
                }
            }
            return out
        }
        let reference = try run(stage(Changelog()), inputs[...])
        // captured, identified, nurture (+ routed), mql (+ routed), sal, sql, customer
        #expect(reference.count == 9)
        // Replayed by a router with no state: identical ids and bytes.
        #expect(try run(stage(Changelog()), inputs[...]) == reference)
        // A crash after the third input's state was written but before its offset was: inputs
        // 3-5 are re-delivered to the restored router; the re-delivered one emits nothing, the
        // rest emit exactly what the reference did.
        let changelog = Changelog()
        let before = stage(changelog)
        let early = try run(before, inputs[0..<3])
        changelog.append(before.checkpoint())
        let after = try run(stage(changelog), inputs[2...])
        #expect(early.merging(after) { a, _ in a } == reference)
        #expect(Set(early.keys).isDisjoint(with: after.keys))
    }

    @Test("an outcome for a lead not seen yet waits in its state and applies when the lead arrives, with its own time")
    func pendingApplied() throws {
        let changelog = Changelog()
        let s = stage(changelog)
        #expect(try s.process(outcome("l3", .accepted, at: "2026-11-01T12:00:00Z", id: "o3", brokerTime: 1_000)).messages.isEmpty)
        #expect(s.value(of: "l3")?.pending.count == 1)
        changelog.append(s.checkpoint())
        let restarted = stage(changelog)  // the pending outcome and its timer survive a restart
        let out = try changes(restarted.process(scored("l3", total: 90, mql: true, at: "2026-11-01T11:00:00Z", id: "s3")).messages)
        #expect(out.map(\.data.to) == [.captured, .identified, .mql, .sal])
        #expect(out.last?.data.occurredAt == "2026-11-01T12:00:00Z")
        #expect(restarted.value(of: "l3")?.pending.isEmpty == true)
        // Its timer was cancelled: nothing is dead-lettered later.
        #expect(restarted.withPartition(0) { $0?.timers(of: "l3") } == [])
    }

    @Test("an outcome whose lead never comes is dead-lettered when its wait ends, with the reason and the original message")
    func pendingExpires() throws {
        let clock = ManualClock(0)
        let changelog = Changelog()
        let s = stage(changelog, clock)
        let message = outcome("ghost", .won, at: "2026-11-01T00:00:00Z", id: "o4", offset: 17, brokerTime: 1_000)
        _ = try s.process(message)
        changelog.append(s.checkpoint())
        let restarted = stage(changelog, clock)
        clock.set(1_000 + 7 * Self.day - 1)
        #expect(restarted.fireDueTimers().isEmpty)
        clock.set(1_000 + 7 * Self.day)
        let fired = try #require(restarted.fireDueTimers()[0])
        #expect(fired.count == 1 && fired[0].topic == TopicCatalog.deadLetter)
        let letter = try EventDecoder.decode(DeadLetter.self, from: fired[0].value ?? [], expectedType: TopicCatalog.deadLetter).get()
        #expect(letter.data.reason.contains("has not seen within 7 days"))
        #expect(letter.data.offset == 17 && letter.data.original == Data(message.value ?? []).base64EncodedString())
        #expect(letter.id == EventID.derive(TopicCatalog.outcome, "0", "17", "funnel-route", "deadletter"))
        #expect(restarted.value(of: "ghost")?.pending.isEmpty ?? true)
    }

    @Test("route state round-trips through its binary form")
    func encoding() throws {
        var state = RouteLeadState()
        state.lifecycle.stage = .nurture
        state.lifecycle.owner = "ana"
        state.lifecycle.score = ScoreSnapshot(total: 41.5, grade: "B", quadrant: "warm", model: "m1")
        state.lifecycle.recycledAtScore = 41.5
        state.lifecycle.stageScore = ScoreSnapshot(total: 77, grade: "A", quadrant: "hot", model: "m1")
        _ = state.markSeen("x")
        state.pending = [PendingOutcome(eventID: "p", topic: "t", partition: 3, offset: 9, timestamp: 5, key: [1], value: [2, 3])]
        #expect(try RouteLeadState(decoding: state.encoded()) == state)
        #expect(state.encoded().first != TableRecord.envelopeMarker)
        #expect(throws: RouteLeadState.DecodingError.self) { try RouteLeadState(decoding: [9]) }
        // Version 2 (before the stage score): the newest score stands in for it.
        var v2 = state.encoded()
        v2[0] = 2
        v2.removeLast(1 + 8 + 2 + 4 + 3) // the stage score: presence, total, "A", "hot", "m1"
        var expected = state
        expected.lifecycle.stageScore = state.lifecycle.score
        #expect(try RouteLeadState(decoding: v2) == expected)
        #expect(throws: RouteLeadState.DecodingError.self) { try RouteLeadState(decoding: state.encoded().dropLast()) }
    }
}
