import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Logging
import Synchronization

/// The company answers of every funnel-enrich replica: an in-memory view of the compacted
/// topic `funnel.enrich.companies.v1` (key: domain, value: ``CompanyCacheRecord``). Read to
/// the end at start, then followed (``view(configuration:health:logger:)``), so a replica sees
/// the answers another replica's provider calls wrote. Expired records count as misses.
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

    /// The view that fills the cache: the topic read whole, then followed (``TopicView``), by
    /// every replica. `/readyz` has the condition `enrich-cache` until the first read is done
    /// (the stage consumes meanwhile: a miss is a `partial` lead, answered by the re-enrichment loop).
    public func view(configuration: KafkaConfiguration, health: HealthState, logger: Logger) -> TopicView {
        TopicView(topic: Self.topic, condition: "enrich-cache", configuration: configuration, health: health, logger: logger) { [self] in
            apply($0)
        }
    }
}
