import FunnelDomain
import FunnelKafka
@testable import FunnelRuntime
import Logging
import Testing

/// A small processor for the runtime's keyed state: counts inputs per key; an input whose
/// value is `timer:<ms>` schedules timer `remind` at that wall-clock time, `cancel` cancels it.
/// A firing emits one message whose value is the firing's derived id.
struct CountingProcessor: KeyedProcessor {
    typealias Value = Int
    let table = TableDefinition(service: "test", store: "counts", inputs: ["in"])

    func encode(_ value: Int) -> [UInt8] { [1] + Array(String(value).utf8) }
    func decode(_ bytes: ArraySlice<UInt8>) throws -> Int {
        guard bytes.first == 1, let value = Int(String(decoding: bytes.dropFirst(), as: UTF8.self)) else { throw TableRecord.DecodingError(description: "bad count") }
        return value
    }

    func process(_ message: ConsumerMessage, in partition: TablePartition<Int>) throws(StageFailure) -> [ProducerMessage] {
        let key = message.keyString ?? ""
        let text = String(decoding: message.value ?? [], as: UTF8.self)
        partition.update(key) { $0 = ($0 ?? 0) + 1 }
        if text.hasPrefix("timer:"), let due = Int64(text.dropFirst(6)) { partition.schedule("remind", for: key, at: due) }
        if text == "cancel" { partition.cancel("remind", for: key) }
        return []
    }

    func fire(_ timer: FiredTimer, in partition: TablePartition<Int>) -> [ProducerMessage] {
        [ProducerMessage(topic: "out", key: timer.key, value: Array(timer.eventID.utf8))]
    }
}

/// A changelog kept in memory: the records a stage's checkpoints wrote, replayed on restore.
final class MemoryChangelog: Sendable {
    let records = Locked<[ProducerMessage]>([])
    func append(_ checkpoint: [Int32: [ProducerMessage]]) { records.withLock { $0 += checkpoint.values.flatMap { $0 } } }
    func read(_ partitions: [TopicPartition], _ body: (ConsumerMessage) -> Void) -> Int {
        let wanted = Set(partitions.map(\.partition))
        var count = 0
        for (offset, record) in records.value.enumerated() where wanted.contains(record.partition ?? -1) {
            body(ConsumerMessage(topic: record.topic, partition: record.partition!, offset: Int64(offset), key: record.key, value: record.value))
            count += 1
        }
        return count
    }
}

@Suite("Keyed state and durable timers (pure, injectable clock)")
struct KeyedStateTests {
    func stage(_ changelog: MemoryChangelog, _ clock: ManualClock) -> StatefulStage<CountingProcessor> {
        StatefulStage(CountingProcessor(), readChangelog: { changelog.read($0, $1) }, clock: clock, logger: Logger(label: "test"))
    }

    func input(_ key: String, _ value: String, partition: Int32 = 0, offset: Int64 = 0) -> ConsumerMessage {
        ConsumerMessage(topic: "in", partition: partition, offset: offset, key: Array(key.utf8), value: Array(value.utf8))
    }

    let owned = [TopicPartition(topic: "in", partition: 0), TopicPartition(topic: "in", partition: 1)]

    @Test("table records: a plain value is its own bytes; timers and deletions use the envelope; all round-trip")
    func records() throws {
        let plain = TableRecord.encode(value: [1, 2, 3], timers: [])
        #expect(plain == [1, 2, 3])
        #expect(try TableRecord(decoding: plain) == TableRecord(value: [1, 2, 3], timers: []))
        let timers = [KeyTimer(id: "sla", due: 1_800_000_000_000), KeyTimer(id: "step-2", due: -5)]
        let both = TableRecord.encode(value: [1, 9], timers: timers)
        #expect(both.first == TableRecord.envelopeMarker)
        let decoded = try TableRecord(decoding: both)
        #expect(decoded.timers == timers && decoded.value.map(Array.init) == [1, 9])
        let deleted = try TableRecord(decoding: TableRecord.encode(value: nil, timers: []))
        #expect(deleted.value == nil && deleted.timers.isEmpty)
        #expect(throws: TableRecord.DecodingError.self) { try TableRecord(decoding: Array(both.prefix(4))) }
    }

    @Test("a timer fires once, on time by the injected clock, with an id derived from (key, timer id, due)")
    func firesOnce() throws {
        let clock = ManualClock(1_000)
        let s = stage(MemoryChangelog(), clock)
        s.assigned(owned)
        _ = try s.process(input("lead-a", "timer:5000"))
        #expect(s.fireDueTimers().isEmpty)
        clock.set(4_999)
        #expect(s.fireDueTimers().isEmpty)
        clock.set(5_000)
        let fired = s.fireDueTimers()
        #expect(fired[0]?.count == 1)
        #expect(fired[0]?.first?.value == Array(EventID.derive("lead-a", "timer", "remind", "5000").utf8))
        clock.advance(by: 60_000)
        #expect(s.fireDueTimers().isEmpty)
    }

    @Test("a cancelled timer does not fire; a rescheduled one fires at its new time only")
    func cancelAndMove() throws {
        let clock = ManualClock(0)
        let s = stage(MemoryChangelog(), clock)
        s.assigned(owned)
        _ = try s.process(input("a", "timer:100"))
        _ = try s.process(input("a", "cancel"))
        _ = try s.process(input("b", "timer:100"))
        _ = try s.process(input("b", "timer:300"))
        clock.set(200)
        #expect(s.fireDueTimers().isEmpty)
        clock.set(300)
        #expect(s.fireDueTimers()[0]?.count == 1)
    }

    @Test("timers are state: after a restart (or on the replica that gets the partition) they fire once with the same id")
    func survivesRestartAndRebalance() throws {
        let clock = ManualClock(0)
        let changelog = MemoryChangelog()
        let first = stage(changelog, clock)
        first.assigned(owned)
        _ = try first.process(input("lead-a", "timer:1000", partition: 0))
        _ = try first.process(input("lead-b", "timer:2000", partition: 1))
        changelog.append(first.checkpoint())
        // The replica dies before the timers are due; another takes both partitions.
        let second = stage(changelog, clock)
        second.assigned(owned)
        #expect(second.value(of: "lead-a") == 1 && second.value(of: "lead-b") == 1)
        clock.set(1_500)
        let fired = second.fireDueTimers()
        #expect(fired[0]?.first?.value == Array(EventID.derive("lead-a", "timer", "remind", "1000").utf8))
        #expect(fired[1] == nil)
        // The firing is written too: the next restart does not fire it again.
        changelog.append(second.checkpoint())
        let third = stage(changelog, clock)
        third.assigned(owned)
        clock.set(2_000)
        let later = third.fireDueTimers()
        #expect(later[0] == nil && later[1]?.count == 1)
        // A crash before the firing's checkpoint re-fires with the same id (downstream de-duplicates).
        let fourth = stage(changelog, clock)
        fourth.assigned(owned)
        #expect(fourth.fireDueTimers()[1]?.first?.value == later[1]?.first?.value)
    }

    @Test("a revoked partition's keys and timers leave the replica; the new owner fires them")
    func revoke() throws {
        let clock = ManualClock(0)
        let changelog = MemoryChangelog()
        let a = stage(changelog, clock)
        a.assigned(owned)
        _ = try a.process(input("k", "timer:10", partition: 1))
        changelog.append(a.checkpoint())
        a.revoked([TopicPartition(topic: "in", partition: 1)])
        #expect(a.ownedPartitions == [0] && a.value(of: "k") == nil)
        clock.set(10)
        #expect(a.fireDueTimers().isEmpty)
        #expect(try a.process(input("k", "x", partition: 1)).skipped)
        let b = stage(changelog, clock)
        b.assigned([TopicPartition(topic: "in", partition: 1)])
        #expect(b.fireDueTimers()[1]?.count == 1)
    }

    @Test("checkpoints hold one record per changed key, on the key's partition; nothing when nothing changed")
    func checkpoints() throws {
        let s = stage(MemoryChangelog(), ManualClock(0))
        s.assigned(owned)
        for i in 0..<5 { _ = try s.process(input("same", "x", offset: Int64(i))) }
        _ = try s.process(input("other", "x", partition: 1))
        let records = s.checkpoint()
        #expect(records[0]?.count == 1 && records[1]?.count == 1)
        #expect(records[0]?.first?.value == [1] + Array("5".utf8) && records[0]?.first?.topic == "funnel.test.counts.v1")
        #expect(s.checkpoint().isEmpty)
    }

    @Test("restore failures are retried and reported on readiness, not a crash")
    func restoreRetry() throws {
        let health = HealthState()
        let attempts = Locked(0)
        let s = StatefulStage(CountingProcessor(), readChangelog: { _, _ in
            let n = attempts.withLock { $0 += 1; return $0 }
            if n == 1 { throw ConfigError("broker unreachable") }
            return 0
        }, clock: ManualClock(0), health: health, logger: Logger(label: "test"))
        s.assigned(owned)
        #expect(attempts.value == 2 && s.ownedPartitions == [0, 1])
        #expect(!health.failures.contains { $0.hasPrefix("state-restore") })
    }

    @Test("co-partitioning: a missing topic or a different partition count is named")
    func copartitioning() {
        #expect(Copartitioning.problem(["a", "b"], partitions: ["a": 6, "b": 6]) == nil)
        let missing = Copartitioning.problem(["a", "b"], partitions: ["a": 6])
        #expect(missing?.contains("missing: b") == true)
        let different = Copartitioning.problem(["a", "b"], partitions: ["a": 6, "b": 3])
        #expect(different?.contains("a has 6, b has 3") == true)
    }
}
