import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

@Suite("Offset tracking (pure)")
struct OffsetTrackerTests {
    func message(_ partition: Int32, _ offset: Int64) -> ConsumerMessage {
        ConsumerMessage(topic: "t", partition: partition, offset: offset, key: nil, value: nil, headers: [], timestampMilliseconds: 0)
    }

    @Test("an offset is stored only when every earlier input of the partition is acknowledged")
    func ordering() {
        let stored = Locked<[Int64]>([])
        let tracker = OffsetTracker { tp, next in stored.withLock { if tp == TopicPartition(topic: "t", partition: 0) { $0.append(next) } } }
        let a = tracker.begin(message(0, 10), outputs: 2)
        let b = tracker.begin(message(0, 11), outputs: 1)
        tracker.delivered(b)                     // later input done first: nothing may be stored yet
        #expect(stored.value.isEmpty)
        tracker.delivered(a)
        #expect(stored.value.isEmpty)            // a still has one output outstanding
        tracker.delivered(a)
        #expect(stored.value == [12])            // both complete: next offset after 11
        _ = tracker.begin(message(0, 12), outputs: 0)
        #expect(stored.value == [12, 13])        // an input without outputs completes at once
        #expect(tracker.inFlight == 0)
    }

    @Test("partitions are independent, and revoked ones are forgotten")
    func partitions() {
        let stored = Locked<[TopicPartition: Int64]>([:])
        let tracker = OffsetTracker { tp, next in stored.withLock { $0[tp] = next } }
        let p0 = tracker.begin(message(0, 5), outputs: 1)
        _ = tracker.begin(message(1, 7), outputs: 1)
        tracker.delivered(p0)
        #expect(stored.value == [TopicPartition(topic: "t", partition: 0): 6])
        tracker.forget([TopicPartition(topic: "t", partition: 1)])
        #expect(tracker.inFlight == 0)
    }

    @Test("many inputs in flight, acknowledged in random order: the stored offset always follows the newest input whose predecessors are all complete")
    func manyOutOfOrder() {
        let stored = Locked<[Int64]>([])
        let tracker = OffsetTracker { _, next in stored.withLock { $0.append(next) } }
        var generator = SplitMix64(seed: 42)
        // Offsets with gaps (as after compaction), 1–3 outputs each: past the ledger's compaction point.
        var offsets: [Int64] = []
        var next: Int64 = 100
        for _ in 0..<12_000 { offsets.append(next); next += Int64(1 + generator.next() % 3) }
        var outstanding: [(ticket: OffsetTracker.Ticket, offset: Int64)] = []
        var remaining: [Int64: Int] = [:]
        for offset in offsets {
            let outputs = 1 + Int(generator.next() % 3)
            let ticket = tracker.begin(message(0, offset), outputs: outputs)
            remaining[offset] = outputs
            for _ in 0..<outputs { outstanding.append((ticket, offset)) }
        }
        // Deliveries mostly near the front (as the broker acknowledges), sometimes anywhere.
        var checked = 0
        while !outstanding.isEmpty {
            let window = generator.next() % 10 == 0 ? outstanding.count : min(outstanding.count, 64)
            let pick = Int(generator.next() % UInt64(window))
            let (ticket, offset) = outstanding.remove(at: pick)
            tracker.delivered(ticket)
            remaining[offset]! -= 1
            if checked % 97 == 0 || outstanding.isEmpty {
                // The next offset after the newest input whose predecessors are all complete.
                let firstIncomplete = offsets.firstIndex { remaining[$0]! > 0 } ?? offsets.count
                if firstIncomplete > 0 {
                    #expect(stored.value.last == offsets[firstIncomplete - 1] + 1, "after \(checked) deliveries")
                } else {
                    #expect(stored.value.isEmpty)
                }
            }
            checked += 1
        }
        #expect(stored.value == stored.value.sorted())
        #expect(stored.value.last == offsets.last! + 1)
        #expect(tracker.inFlight == 0)
    }

    @Test("a delivery report for a revoked partition changes nothing")
    func lateReportAfterRevoke() {
        let stored = Locked<[Int64]>([])
        let tracker = OffsetTracker { _, next in stored.withLock { $0.append(next) } }
        let old = tracker.begin(message(0, 1), outputs: 1)
        tracker.forget([TopicPartition(topic: "t", partition: 0)])
        let fresh = tracker.begin(message(0, 1), outputs: 1)   // re-assigned: read again
        tracker.delivered(old)
        #expect(stored.value.isEmpty)
        tracker.delivered(fresh)
        #expect(stored.value == [2])
    }

    @Test("lower offsets handed out again without a revoke (offset reset) still complete and move the stored offset")
    func offsetReset() {
        let stored = Locked<[Int64]>([])
        let tracker = OffsetTracker { _, next in stored.withLock { $0.append(next) } }
        let late = (1000...1003).map { tracker.begin(message(0, $0), outputs: 1) }
        let reread = (900...901).map { tracker.begin(message(0, $0), outputs: 1) }
        for ticket in late { tracker.delivered(ticket) }
        #expect(stored.value.last == 1004)
        for ticket in reread { tracker.delivered(ticket) }
        #expect(stored.value.last == 902)        // the re-read inputs completed (at-least-once: read again later)
        #expect(tracker.inFlight == 0)
        // The ledger is ascending again once empty: later inputs are found as usual.
        let next = tracker.begin(message(0, 902), outputs: 1)
        tracker.delivered(next)
        #expect(stored.value.last == 903)
    }
}
