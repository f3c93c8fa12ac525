import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// The company answers of every funnel-enrich replica: an in-memory view of the compacted
/// topic `funnel.enrich.companies.v1` (key: domain, value: ``CompanyCacheRecord``). Read to
/// the end at start (``restore(configuration:)``), then followed (``Follower``), so a replica
/// sees the answers another replica's provider calls wrote. Expired records count as misses.
public final class CompanyCache: Sendable {
    public static let topic = TopicCatalog.enrichCompanies
    private let records = Mutex<[String: CompanyCacheRecord]>([:])
    private let clock: any ProviderClock

    public init(clock: any ProviderClock = SystemProviderClock()) { self.clock = clock }

    /// A fresh record for `domain`, or nil (absent or expired).
    public func fresh(_ domain: String) -> CompanyCacheRecord? {
        guard let record = records.withLock({ $0[domain] }), record.isFresh(now: clock.now()) else { return nil }
        return record
    }

    /// Keeps the newer of `record` and what is there (replicas may answer the same domain).
    public func put(_ record: CompanyCacheRecord) {
        records.withLock { all in
            if let known = all[record.domain], known.fetchedAt > record.fetchedAt { return }
            all[record.domain] = record
        }
    }

    public var count: Int { records.withLock { $0.count } }

    /// Applies one record of the topic (a tombstone removes the domain).
    public func apply(_ message: ConsumerMessage) {
        guard let key = message.keyString else { return }
        guard let value = message.value else { records.withLock { _ = $0.removeValue(forKey: key) }; return }
        if let record = CompanyCacheRecord.decode(value) { put(record) }
    }

    /// The record as a message of the cache topic.
    public static func message(_ record: CompanyCacheRecord) -> ProducerMessage {
        ProducerMessage(topic: topic, key: record.domain, value: record.encoded())
    }

    /// Reads the whole topic (blocking; call before the stage starts). Returns the records read.
    @discardableResult
    public func restore(configuration: KafkaConfiguration) async throws -> Int {
        let admin = try KafkaAdmin(configuration: configuration)
        guard let description = try await admin.listTopics().first(where: { $0.name == Self.topic }) else {
            throw ConfigError("topic \(Self.topic) does not exist (funnel topics create)")
        }
        let partitions = (0..<description.partitions).map { TopicPartition(topic: Self.topic, partition: Int32($0)) }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try KafkaPartitionReader.readToEnd(configuration: configuration, partitions: partitions) { self.apply($0) }) }
                catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Restores the view, then follows the topic: a consumer of its own group (one per process,
    /// so every replica reads every partition), committing nothing. `/readyz` has the condition
    /// `enrich-cache` until the restore is done (the stage consumes meanwhile: a miss is a
    /// `partial` lead, answered by the re-enrichment loop).
    public struct Follower: Service {
        let cache: CompanyCache
        let configuration: KafkaConfiguration
        let health: HealthState
        let logger: Logger

        public init(cache: CompanyCache, configuration: KafkaConfiguration, health: HealthState, logger: Logger) {
            self.cache = cache; self.configuration = configuration; self.health = health; self.logger = logger
            health.set("enrich-cache", ready: false, reason: "restoring \(CompanyCache.topic)")
        }

        public func run() async throws {
            let started = ContinuousClock.now
            let count = try await cache.restore(configuration: configuration)
            health.set("enrich-cache", ready: true)
            logger.info("company cache restored", metadata: ["records": "\(count)", "domains": "\(cache.count)",
                                                             "seconds": "\((ContinuousClock.now - started).seconds)"])
            let group = "funnel-enrich-cache-\(EventID.random())"
            let consumer = try KafkaConsumer(configuration: configuration.withDefaults(["enable.auto.commit": "false", "auto.offset.reset": "earliest"]),
                                             groupID: group, topics: [CompanyCache.topic], logger: logger)
            let loop = Task {
                for try await message in consumer.messages { cache.apply(message) }
            }
            // Cancellation (a test, the group) or graceful shutdown ends the loop.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler { try await loop.value } onGracefulShutdown: { loop.cancel() }
        } onCancel: { loop.cancel() }
            await consumer.close()
        }
    }
}
