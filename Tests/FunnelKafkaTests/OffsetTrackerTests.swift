import FunnelKafka
import FunnelRuntime
import Testing

@Suite("Offset tracking (pure)")
struct OffsetTrackerTests {
    func message(_ partition: Int32, _ offset: Int64) -> ConsumerMessage {
        ConsumerMessage(topic: "t", partition: partition, offset: offset, key: nil, value: nil, headers: [], timestampMilliseconds: 0)
    }

    @Test("an offset is stored only when every earlier input of the partition is acknowledged")
    func ordering() {
        let stored = Locked<[Int64]>([])
        let tracker = OffsetTracker { offsets in stored.withLock { $0.append(offsets[TopicPartition(topic: "t", partition: 0)]!) } }
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
        let tracker = OffsetTracker { offsets in stored.withLock { $0.merge(offsets) { $1 } } }
        let p0 = tracker.begin(message(0, 5), outputs: 1)
        _ = tracker.begin(message(1, 7), outputs: 1)
        tracker.delivered(p0)
        #expect(stored.value == [TopicPartition(topic: "t", partition: 0): 6])
        tracker.forget([TopicPartition(topic: "t", partition: 1)])
        #expect(tracker.inFlight == 0)
    }
}
