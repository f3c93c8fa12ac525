import Foundation
import FunnelKafka
import Logging
@testable import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// The epochs of a stateful stage (`Checkpoints`) against a real broker: state writes only
/// after the outputs of their inputs, offsets only after the writes, partitions independent.
@Suite("Checkpoints: writes after outputs, offsets after writes", .timeLimit(.minutes(2)))
struct CheckpointsTests {
    func input(_ partition: Int32, _ offset: Int64) -> ConsumerMessage {
        ConsumerMessage(topic: "in", partition: partition, offset: offset, key: nil, value: nil, headers: [], timestampMilliseconds: 0)
    }

    @Test("an epoch's writes wait for all its outputs, its offsets for the writes; a failed output stops only its partition until revoked")
    func ordering() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("checkpoints-state")
            try await createTopic(broker, topic, partitions: 3)
            let producer = try KafkaProducer(configuration: testConfiguration(broker))
            let stored = Collector<String>()        // "partition:next offset"
            let written = Collector<String>()       // topics of acknowledged writes
            let tracker = OffsetTracker { tp, next in stored.append("\(tp.partition):\(next)") }
            let checkpoints = Checkpoints(producer: producer, tracker: tracker, logger: Logger(label: "test")) { outcome, topic in
                guard case .success = outcome else { return false }
                written.append(topic)
                return true
            }
            func process(_ partition: Int32, _ offsets: [Int64]) -> Checkpoints.Epoch {
                checkpoints.withOpenEpoch(partition: partition) { epoch in
                    for offset in offsets { checkpoints.add(tracker.begin(input(partition, offset), outputs: 1), outputs: 1, to: epoch) }
                    return epoch
                }
            }
            func write(_ partition: Int32, _ key: String) -> ProducerMessage {
                ProducerMessage(topic: topic, key: Array(key.utf8), value: Array("state".utf8), partition: partition)
            }

            // Partition 0: two inputs with an output each; partition 1: one input.
            let first = process(0, [10, 11])
            let other = process(1, [5])
            checkpoints.seal { [0: [write(0, "lead-a")], 1: [write(1, "lead-b")]] }
            try await producer.flush()
            #expect(written.values.isEmpty && stored.values.isEmpty, "nothing is written before the outputs are acknowledged")
            checkpoints.outputSettled(first, acknowledged: true)
            try await producer.flush()
            #expect(written.values.isEmpty && stored.values.isEmpty, "one output of the epoch is still unacknowledged")
            checkpoints.outputSettled(first, acknowledged: true)
            try await within(30, "partition 0's offsets") { await stored.wait { $0.contains("0:12") } }
            #expect(written.values == [topic] && stored.values == ["0:11", "0:12"])

            // Partition 1's output fails: no write, no offset; partition 0 goes on.
            checkpoints.outputSettled(other, acknowledged: false)
            let next = process(0, [12])
            checkpoints.seal { [:] }                // no state changed: complete once the output is
            checkpoints.outputSettled(next, acknowledged: true)
            try await within(30, "partition 0's next offset") { await stored.wait { $0.contains("0:13") } }
            try await producer.flush()
            #expect(stored.values == ["0:11", "0:12", "0:13"] && written.values.count == 1)

            // Revoked with a sealed epoch whose output is still unacknowledged: its write is
            // dropped (the new owner restores from what was written), even once the output is in.
            let pending = process(2, [40])
            checkpoints.seal { [2: [write(2, "lead-c")]] }
            checkpoints.revoke([1, 2])              // the runner's order: revoke, then forget
            tracker.forget([TopicPartition(topic: "in", partition: 1), TopicPartition(topic: "in", partition: 2)])
            checkpoints.outputSettled(pending, acknowledged: true)
            try await producer.flush()
            #expect(written.values.count == 1 && !stored.values.contains { $0.hasPrefix("2:") })

            // Assigned again, partition 1 starts a new chain (its earlier failure is gone).
            let again = process(1, [5])
            checkpoints.seal { [1: [write(1, "lead-b")]] }
            checkpoints.outputSettled(again, acknowledged: true)
            try await within(30, "partition 1's offset after the revoke") { await stored.wait { $0.contains("1:6") } }
            #expect(stored.values == ["0:11", "0:12", "0:13", "1:6"] && written.values.count == 2)
            await producer.close()
        }
    }
}
