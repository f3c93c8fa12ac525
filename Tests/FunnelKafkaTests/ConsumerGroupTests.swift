import Foundation
import FunnelKafka
import FunnelRuntime
import Synchronization
import Testing
import FunnelDevKit
import FunnelTestSupport

/// One member of a consumer group, processing messages in its own task and recording
/// what it processed and which partitions it holds.
final class GroupMember: Sendable {
    let name: String
    let consumer: KafkaConsumer
    let loop: Task<Void, Error>
    private let held = Locked<Set<TopicPartition>>([])

    init(_ name: String, broker: LocalBroker, group: String, topic: String, config: [String: String] = [:],
         processed: Collector<(member: String, value: String)>,
         rebalances: Collector<String>,
         onRevoke: (@Sendable (KafkaConsumer) -> Void)? = nil) throws {
        self.name = name
        let held = self.held
        consumer = try KafkaConsumer(
            configuration: testConfiguration(broker, config), groupID: group, topics: [topic]
        ) { event, consumer in
            switch event {
            case .assigned(let partitions): held.withLock { $0.formUnion(partitions) }
            case .revoked(let partitions):
                onRevoke?(consumer)
                held.withLock { $0.subtract(partitions) }
            }
            rebalances.append(name)
        }
        let consumer = self.consumer
        loop = Task {
            for try await message in consumer.messages {
                // Processed = handled and its offset stored; only then does the test see it.
                try consumer.storeOffset(message)
                processed.append((name, String(decoding: message.value ?? [], as: UTF8.self)))
            }
        }
    }

    var partitions: Set<TopicPartition> { held.value }
}

@Suite("Consumer groups against a real broker", .timeLimit(.minutes(3)))
struct ConsumerGroupTests {
    func produce(_ broker: LocalBroker, _ topic: String, _ values: some Sequence<String>) async throws {
        let producer = try KafkaProducer(configuration: testConfiguration(broker))
        let results = try await producer.sendAndAwait(values.enumerated().map { i, v in
            ProducerMessage(topic: topic, key: "lead-\(i % 37)", value: Array(v.utf8))
        })
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        await producer.close()
    }

    @Test("two members split the partitions; when one leaves, the other takes over without loss or duplicates")
    func splitAndTakeOver() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("group"), group = uniqueName("g")
            try await createTopic(broker, topic, partitions: 4)
            let processed = Collector<(member: String, value: String)>()
            let rebalances = Collector<String>()

            let a = try GroupMember("a", broker: broker, group: group, topic: topic, processed: processed, rebalances: rebalances)
            try await within(30, "a to own all partitions") {
                await rebalances.wait { _ in a.partitions.count == 4 }
            }
            let b = try GroupMember("b", broker: broker, group: group, topic: topic, processed: processed, rebalances: rebalances)
            try await within(30, "a and b to split the partitions") {
                await rebalances.wait { _ in
                    !a.partitions.isEmpty && !b.partitions.isEmpty
                        && a.partitions.count + b.partitions.count == 4 && a.partitions.isDisjoint(with: b.partitions)
                }
            }

            let first = (0..<400).map { "m\($0)" }
            try await produce(broker, topic, first)
            try await within(30, "400 messages processed") { await processed.wait(count: 400) }
            let byMember = Dictionary(grouping: processed.values, by: \.member)
            #expect(byMember["a"]?.isEmpty == false, "a processed nothing")
            #expect(byMember["b"]?.isEmpty == false, "b processed nothing")

            // a leaves by cancelling its loop: the sequence ends and closes the consumer.
            a.loop.cancel()
            await a.consumer.close()
            try await within(30, "b to take over every partition") {
                await rebalances.wait { _ in b.partitions.count == 4 }
            }

            let second = (400..<800).map { "m\($0)" }
            try await produce(broker, topic, second)
            try await within(30, "800 messages processed") { await processed.wait(count: 800) }

            let values = processed.values.map(\.value)
            #expect(values.count == 800, "a message was processed twice")
            #expect(Set(values) == Set(first + second), "a message was lost")
            #expect(processed.values.dropFirst(400).allSatisfy { $0.member == "b" })

            b.loop.cancel()
            await b.consumer.close()
        }
    }

    @Test("offsets committed in the revoke handler are where the next member resumes")
    func commitOnRevoke() async throws {
        try await withLocalBroker { broker in
            let manual = ["enable.auto.commit": "false"]

            // Run one member that processes the 30 messages, then closes; return what the next member sees first.
            func firstValueAfterHandover(commitOnRevoke: Bool) async throws -> String {
                let topic = uniqueName("revoke"), group = uniqueName("g")
                try await createTopic(broker, topic, partitions: 1)
                try await produce(broker, topic, (0..<30).map { "before-\($0)" })
                let processed = Collector<(member: String, value: String)>()
                let rebalances = Collector<String>()
                var revokeHandler: (@Sendable (KafkaConsumer) -> Void)? = nil
                if commitOnRevoke {
                    revokeHandler = { consumer in
                        do { try consumer.commitSync() } catch { Issue.record("commit on revoke: \(error)") }
                    }
                }
                let first = try GroupMember("first", broker: broker, group: group, topic: topic, config: manual,
                                            processed: processed, rebalances: rebalances,
                                            onRevoke: revokeHandler)
                try await within(30, "30 messages") { await processed.wait(count: 30) }
                first.loop.cancel()
                await first.consumer.close()
                try await produce(broker, topic, ["after"])

                let next = Collector<(member: String, value: String)>()
                let second = try GroupMember("second", broker: broker, group: group, topic: topic, config: manual,
                                             processed: next, rebalances: rebalances)
                try await within(30, "the next member's first message") { await next.wait(count: 1) }
                second.loop.cancel()
                await second.consumer.close()
                return next.values[0].value
            }

            let withoutCommit = try await firstValueAfterHandover(commitOnRevoke: false)
            #expect(withoutCommit == "before-0", "without a commit the next member must start over (control)")
            let withCommit = try await firstValueAfterHandover(commitOnRevoke: true)
            #expect(withCommit == "after", "the revoke handler's commit must be where the next member resumes")
        }
    }

    @Test("a closing member leaves the group at once: the survivor takes over well before the session timeout")
    func closeLeavesGroupImmediately() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueName("leave"), group = uniqueName("g")
            try await createTopic(broker, topic, partitions: 2)
            // A long session timeout: if the member did not leave, the survivor would wait for it to expire.
            let slow = ["session.timeout.ms": "10000", "heartbeat.interval.ms": "1000"]
            let processed = Collector<(member: String, value: String)>()
            let rebalances = Collector<String>()
            let a = try GroupMember("a", broker: broker, group: group, topic: topic, config: slow, processed: processed, rebalances: rebalances)
            let b = try GroupMember("b", broker: broker, group: group, topic: topic, config: slow, processed: processed, rebalances: rebalances)
            try await within(60, "a and b to hold one partition each") {
                await rebalances.wait { _ in a.partitions.count == 1 && b.partitions.count == 1 }
            }
            await a.consumer.close()
            // Had a not left, the broker would first wait out a's 10 s session, then run a rebalance
            // round (about half the session timeout on Tansu): ~15 s. Leaving takes one round (~5 s).
            try await within(12, "b to take over before a's session could have expired") {
                await rebalances.wait { _ in b.partitions.count == 2 }
            }
            b.loop.cancel()
            await b.consumer.close()
            #expect(b.partitions.isEmpty, "closing revokes everything")
        }
    }
}
