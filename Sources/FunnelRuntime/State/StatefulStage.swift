import Foundation
import FunnelDomain
import FunnelKafka
import Logging
import Synchronization

/// Runs a ``KeyedProcessor`` inside a ``StageRunner``: owns its table partitions, restores them
/// from the changelog on assign, drops them on revoke, hands the runner one changelog record per
/// changed key at each checkpoint, and fires due timers.
///
/// ```swift
/// let stage = StatefulStage(processor, environment: context.environment, health: context.health, logger: context.logger)
/// return [context.stage(stage)]
/// ```
public final class StatefulStage<Processor: KeyedProcessor>: StageProcessor, @unchecked Sendable {
    public typealias Partition = TablePartition<Processor.Value>
    /// Streams the records of changelog partitions, in order, to the callback; returns the count.
    public typealias ChangelogReader = @Sendable ([TopicPartition], (ConsumerMessage) -> Void) throws -> Int

    public let processor: Processor
    public let clock: any WallClock
    let readChangelog: ChangelogReader?
    let health: HealthState
    let logger: Logger
    @usableFromInline let partitions = Mutex<[Int32: Partition]>([:])

    /// - Parameters:
    ///   - readChangelog: where restores read from (nil: no durable state — nothing is
    ///     restored or written; benchmarks only).
    ///   - clock: the wall clock timers are due against.
    public init(_ processor: Processor, readChangelog: ChangelogReader?, clock: any WallClock = SystemClock(),
                health: HealthState = HealthState(), logger: Logger) {
        self.processor = processor
        self.readChangelog = readChangelog
        self.clock = clock
        self.health = health
        self.logger = logger
    }

    /// The usual stage: state restored from and written to the cluster's changelog, unless
    /// `FUNNEL_STATE_DURABILITY=none` (benchmarks only: a restart forgets everything).
    public convenience init(_ processor: Processor, environment: ServiceEnvironment, clock: any WallClock = SystemClock(),
                            health: HealthState, logger: Logger) {
        let durable = environment.raw["FUNNEL_STATE_DURABILITY"] != "none"
        if !durable {
            logger.warning("FUNNEL_STATE_DURABILITY=none: state is neither restored nor written (benchmarks only)")
        }
        let configuration = environment.kafka
        let reader: ChangelogReader = { partitions, body in
            try KafkaPartitionReader.readToEnd(configuration: configuration, partitions: partitions, body)
        }
        self.init(processor, readChangelog: durable ? reader : nil, clock: clock, health: health, logger: logger)
    }

    public var isDurable: Bool { readChangelog != nil }

    // MARK: StageProcessor

    public var copartitionedTopics: [String] { processor.table.inputs + (isDurable ? [processor.table.changelog] : []) }

    @inlinable
    public func process(_ message: ConsumerMessage) throws(StageFailure) -> StageOutput {
        let number = message.partition
        return try partitions.withLock { owned throws(StageFailure) -> StageOutput in
            guard let partition = owned[number] else { return StageOutput(skipped: true) }
            do throws(StageFailure) {
                let outputs = try processor.process(message, in: partition)
                guard !partition.punctuated.isEmpty else { return StageOutput(messages: outputs) }
                defer { partition.punctuated.removeAll() }
                return StageOutput(messages: partition.punctuated + outputs)
            } catch {
                var failure = error
                failure.outputs = partition.punctuated + failure.outputs
                partition.punctuated.removeAll()
                throw failure
            }
        }
    }

    public func checkpoint() -> [Int32: [ProducerMessage]] {
        let topic = processor.table.changelog
        let durable = isDurable
        return partitions.withLock { owned in
            var records: [Int32: [ProducerMessage]] = [:]
            for (number, partition) in owned where !partition.changed.isEmpty {
                guard durable else { partition.changed.removeAll(keepingCapacity: true); continue }
                records[number] = partition.takeChanges(topic: topic, encode: processor.encode)
            }
            return records
        }
    }

    public func assigned(_ assigned: [TopicPartition]) {
        let missing = partitions.withLock { owned in Set(assigned.map(\.partition)).filter { owned[$0] == nil } }.sorted()
        guard !missing.isEmpty else { return }
        let restored = restore(missing)
        partitions.withLock { owned in for (number, partition) in restored { owned[number] = partition } }
    }

    public func revoked(_ revoked: [TopicPartition]) {
        partitions.withLock { owned in for number in Set(revoked.map(\.partition)) { owned[number] = nil } }
    }

    public func partitionsWithDueTimers() -> [Int32] {
        let now = clock.nowMilliseconds()
        return partitions.withLock { owned in owned.compactMap { number, partition in (partition.nextDue ?? .max) <= now ? number : nil } }
    }

    public func fireTimers(partition number: Int32) -> [ProducerMessage] {
        let now = clock.nowMilliseconds()
        return partitions.withLock { owned in
            guard let partition = owned[number] else { return [] }
            var outputs: [ProducerMessage] = []
            for timer in partition.takeDue(now: now) {
                outputs += processor.fire(timer, in: partition)
            }
            return outputs
        }
    }

    // MARK: Inspection (metrics, tests)

    /// Keys held (with a value, or with timers only), over the owned partitions.
    public var keyCount: Int { partitions.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// The partition numbers owned now.
    public var ownedPartitions: [Int32] { partitions.withLock { $0.keys.sorted() } }

    /// Reads an owned partition (tests, metrics).
    public func withPartition<R>(_ number: Int32, _ body: (Partition?) -> R) -> R {
        partitions.withLock { body($0[number]) }
    }

    /// The value of `key` wherever it is owned.
    public func value(of key: String) -> Processor.Value? {
        partitions.withLock { owned in owned.values.lazy.compactMap { $0.value(of: key) }.first }
    }

    /// The timers of `key` wherever it is owned.
    public func timers(of key: String) -> [KeyTimer] {
        partitions.withLock { owned in owned.values.lazy.map { $0.timers(of: key) }.first { !$0.isEmpty } ?? [] }
    }

    /// Fires every due timer at once (tests drive timers with a ``ManualClock`` and this).
    public func fireDueTimers() -> [Int32: [ProducerMessage]] {
        var outputs: [Int32: [ProducerMessage]] = [:]
        for number in partitionsWithDueTimers() { outputs[number] = fireTimers(partition: number) }
        return outputs
    }

    // MARK: Restore

    private func makePartition(_ number: Int32) -> Partition {
        let partition = Partition(number: number, punctuationInterval: processor.table.punctuationInterval)
        let processor = self.processor
        partition.punctuate = { partition, boundary in processor.punctuate(partition, at: boundary) }
        return partition
    }

    /// Reads the changelog partitions to their end. Runs inside the rebalance callback, before
    /// any input of these partitions: a failure is retried with backoff (never a crash; the
    /// process reports not ready meanwhile) until it succeeds.
    private func restore(_ numbers: [Int32]) -> [Int32: Partition] {
        var backoff = 0.5
        while true {
            var restored: [Int32: Partition] = [:]
            for number in numbers { restored[number] = makePartition(number) }
            guard let readChangelog else { return restored }
            let topic = processor.table.changelog
            var undecodable = 0
            let started = ContinuousClock.now
            do {
                let count = try readChangelog(numbers.map { TopicPartition(topic: topic, partition: $0) }) { message in
                    guard let key = message.keyString, let value = message.value, let partition = restored[message.partition] else { return }
                    do {
                        try partition.restore(key: key, record: TableRecord(decoding: value), decode: processor.decode)
                    } catch { undecodable += 1 }
                }
                for partition in restored.values {
                    var newest: Int64 = 0
                    partition.forEach { _, value in newest = max(newest, processor.streamTime(of: value) ?? 0) }
                    partition.streamTime = newest
                }
                health.set("state-restore \(processor.table.changelog)", ready: true)
                logger.info("state restored", metadata: [
                    "changelog": "\(topic)", "partitions": "\(numbers)", "records": "\(count)", "undecodable": "\(undecodable)",
                    "keys": "\(restored.values.reduce(0) { $0 + $1.count })", "seconds": "\((ContinuousClock.now - started).seconds)"])
                if undecodable > 0 {
                    logger.error("changelog records that could not be decoded were skipped", metadata: ["changelog": "\(topic)", "count": "\(undecodable)"])
                }
                return restored
            } catch {
                health.set("state-restore \(processor.table.changelog)", ready: false, reason: "restoring \(topic) \(numbers) failed: \(error)")
                logger.error("state restore failed; retrying", metadata: ["changelog": "\(topic)", "error": "\(error)", "retry_in_s": "\(backoff)"])
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 30)
            }
        }
    }
}
