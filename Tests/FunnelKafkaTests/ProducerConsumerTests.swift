import Foundation
import FunnelKafka
import Testing
import FunnelDevKit
import FunnelTestSupport

@Suite("Producer and consumer against a real broker", .timeLimit(.minutes(2)))
struct ProducerConsumerTests {
    @Test("round trip keeps keys, values and headers")
    func roundTrip() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("roundtrip")
            try await createTopic(broker, topic, partitions: 3)
            let producer = try KafkaProducer(configuration: testConfiguration(broker))
            let sent = (0..<50).map { i in
                ProducerMessage(topic: topic, key: "lead-\(i)", value: Array("value \(i) ✓".utf8),
                                headers: [KafkaHeader(key: "ce_id", string: "event-\(i)"),
                                          KafkaHeader(key: "empty", value: nil)])
            }
            let results = try await producer.sendAndAwait(sent)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            #expect(Set(results.compactMap { try? $0.get().topic }) == [topic])
            await producer.close()

            let consumer = try KafkaConsumer(configuration: testConfiguration(broker), groupID: uniqueName("g"), topics: [topic])
            var received: [String: ConsumerMessage] = [:]
            try await within(30, "50 messages") {
                var received: [String: ConsumerMessage] = [:]
                for try await message in consumer.messages {
                    received[message.keyString ?? ""] = message
                    if received.count == 50 { break }
                }
                return received
            }.forEach { received[$0.key] = $0.value }
            await consumer.close()

            #expect(received.count == 50)
            for i in 0..<50 {
                let m = try #require(received["lead-\(i)"])
                #expect(m.value == Array("value \(i) ✓".utf8))
                #expect(m.header("ce_id") == Array("event-\(i)".utf8))
                #expect(m.headers.contains(KafkaHeader(key: "empty", value: nil)))
                #expect(m.timestampMilliseconds > 0)
            }
        }
    }

    @Test("messages with one key stay in order on one partition")
    func orderingPerKey() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("order")
            try await createTopic(broker, topic, partitions: 4)
            let producer = try KafkaProducer(configuration: testConfiguration(broker))
            let keys = (0..<8).map { "lead-\($0)" }
            let total = 800
            for i in 0..<total {
                try await producer.send(ProducerMessage(topic: topic, key: keys[i % keys.count], value: Array("\(i)".utf8)))
            }
            try await producer.flush()
            await producer.close()

            let consumer = try KafkaConsumer(configuration: testConfiguration(broker), groupID: uniqueName("g"), topics: [topic])
            let messages = try await within(30, "\(total) messages") {
                var all: [ConsumerMessage] = []
                for try await m in consumer.messages {
                    all.append(m)
                    if all.count == total { break }
                }
                return all
            }
            await consumer.close()

            var lastSequence: [String: Int] = [:]
            var partitionOf: [String: Int32] = [:]
            for m in messages {
                let key = m.keyString!
                let sequence = Int(String(decoding: m.value!, as: UTF8.self))!
                if let previous = lastSequence[key] { #expect(sequence > previous, "key \(key) out of order") }
                lastSequence[key] = sequence
                if let p = partitionOf[key] { #expect(p == m.partition) }
                partitionOf[key] = m.partition
            }
            #expect(lastSequence.count == keys.count)
            #expect(Set(partitionOf.values).count > 1, "keys should spread over partitions")
        }
    }

    @Test("a full local queue is signalled, and send() waits for room")
    func backPressure() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("pressure")
            try await createTopic(broker, topic)
            // A long linger keeps messages in the local queue, so the limit is reached deterministically.
            let producer = try KafkaProducer(configuration: testConfiguration(broker, [
                "queue.buffering.max.messages": "10", "linger.ms": "60000",
            ]))
            for i in 0..<10 { try producer.enqueue(ProducerMessage(topic: topic, value: Array("\(i)".utf8))) }
            let error = #expect(throws: KafkaError.self) {
                try producer.enqueue(ProducerMessage(topic: topic, value: Array("overflow".utf8)))
            }
            #expect(error?.kind == .queueFull)
            #expect(error?.isRetriable == true)

            // send() suspends until the flush frees room, instead of failing.
            let waiting = Task { try await producer.send(ProducerMessage(topic: topic, value: Array("late".utf8))) }
            try await producer.flush(timeout: .seconds(20))
            try await waiting.value
            try await producer.flush(timeout: .seconds(20))
            #expect(producer.outstanding == 0)
            await producer.close()
        }
    }

    @Test("delivery errors surface in the delivery report")
    func deliveryErrorSurfaces() async throws {
        try await withLocalBroker { broker in
            let producer = try KafkaProducer(configuration: testConfiguration(broker, [
                "allow.auto.create.topics": "false",
                "topic.metadata.propagation.max.ms": "1000",
                "message.timeout.ms": "3000",
            ]))
            let error = await #expect(throws: KafkaError.self) {
                try await producer.sendAndAwait(ProducerMessage(topic: uniqueName("missing"), value: Array("x".utf8)))
            }
            #expect(error?.kind == .unknownTopic || error?.kind == .timeout, "got \(String(describing: error))")
            await producer.close()
        }
    }

    @Test("sending after close fails with a typed error instead of crashing")
    func sendAfterClose() async throws {
        try await withLocalBroker { broker in
            let producer = try KafkaProducer(configuration: testConfiguration(broker))
            await producer.close()
            let error = #expect(throws: KafkaError.self) {
                try producer.enqueue(ProducerMessage(topic: "t", value: []))
            }
            #expect(error?.kind == .closed)
        }
    }
}
