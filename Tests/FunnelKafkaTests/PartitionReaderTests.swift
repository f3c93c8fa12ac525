import Foundation
import FunnelKafka
import Synchronization
import Testing
import FunnelDevKit
import FunnelTestSupport

@Suite("Reading partitions to the end (state restore) against a real broker", .timeLimit(.minutes(3)))
struct PartitionReaderTests {
    @Test("reads exactly the chosen partitions to their end, in order; an empty partition ends at once; the partitioner agrees with the producer")
    func readToEnd() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("changelog")
            try await createTopic(broker, topic, partitions: 3)
            let producer = try KafkaProducer(configuration: testConfiguration(broker))
            // Keys chosen so that partition 2 stays empty.
            let keys = (0..<200).map { "lead-\($0)" }.filter { KafkaPartitioner.partition(forKey: $0, partitionCount: 3) != 2 }.prefix(20)
            var messages: [ProducerMessage] = []
            for round in 0..<2 { for key in keys { messages.append(ProducerMessage(topic: topic, key: key, value: Array("\(key)#\(round)".utf8))) } }
            let reports = try await producer.sendAndAwait(messages).map { try $0.get() }
            for (message, report) in zip(messages, reports) {
                #expect(report.partition == KafkaPartitioner.partition(forKey: String(decoding: message.key!, as: UTF8.self), partitionCount: 3))
            }
            await producer.close()

            var seen: [Int32: [String]] = [:]
            let count = try KafkaPartitionReader.readToEnd(
                configuration: testConfiguration(broker),
                partitions: [0, 1, 2].map { TopicPartition(topic: topic, partition: $0) }) { message in
                seen[message.partition, default: []].append(String(decoding: message.value ?? [], as: UTF8.self))
            }
            #expect(count == 40)
            #expect(seen[2] == nil)
            for p in [Int32(0), 1] {
                let expected = messages.enumerated().filter { reports[$0.offset].partition == p }.map { String(decoding: $0.element.value!, as: UTF8.self) }
                #expect(seen[p] == expected)
            }
            let only = try KafkaPartitionReader.readToEnd(configuration: testConfiguration(broker),
                                                          partitions: [TopicPartition(topic: topic, partition: 2)]) { _ in }
            #expect(only == 0)

            let key = keys.first!
            let latest = try await KafkaPartitionReader.latestValue(
                forKey: key, in: TopicPartition(topic: topic, partition: KafkaPartitioner.partition(forKey: key, partitionCount: 3)),
                configuration: testConfiguration(broker))
            #expect(latest.value?.array == Array("\(key)#1".utf8))
        }
    }

    @Test("a partition that does not exist is an error, not a hang")
    func missingPartition() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("small")
            try await createTopic(broker, topic, partitions: 1)
            #expect(throws: KafkaError.self) {
                try KafkaPartitionReader.readToEnd(configuration: testConfiguration(broker),
                                                   partitions: [TopicPartition(topic: topic, partition: 7)], timeout: .seconds(15)) { _ in }
            }
        }
    }

    @Test("follow: reads what is there, says so once, then delivers what is written later, until cancelled")
    func follow() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("view")
            try await createTopic(broker, topic, partitions: 2)
            let producer = try KafkaProducer(configuration: testConfiguration(broker))
            for result in try await producer.sendAndAwait((0..<10).map { ProducerMessage(topic: topic, key: "k\($0)", value: Array("old\($0)".utf8)) }) {
                _ = try result.get()
            }
            let seen = Collector<String>()
            let caughtUpAt = Collector<Int>()
            let stop = Atomic<Bool>(false)
            defer { stop.store(true, ordering: .relaxed) } // also when the test fails or is cancelled
            let reader = Task.detached {
                try KafkaPartitionReader.follow(configuration: testConfiguration(broker),
                                                partitions: [TopicPartition(topic: topic, partition: KafkaPartitionReader.allPartitions)],
                                                isCancelled: { stop.load(ordering: .relaxed) },
                                                caughtUp: { caughtUpAt.append(seen.values.count) }) { seen.append(String(decoding: $0.value ?? [], as: UTF8.self)) }
            }
            await caughtUpAt.wait(count: 1)
            #expect(caughtUpAt.values == [10])
            for result in try await producer.sendAndAwait((0..<5).map { ProducerMessage(topic: topic, key: "k\($0)", value: Array("new\($0)".utf8)) }) {
                _ = try result.get()
            }
            await seen.wait(count: 15)
            stop.store(true, ordering: .relaxed)
            #expect(try await reader.value == 15)
            #expect(Set(seen.values.suffix(5)) == Set((0..<5).map { "new\($0)" }))
            #expect(caughtUpAt.values == [10])
            await producer.close()
        }
    }
}
