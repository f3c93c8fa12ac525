import Foundation
import FunnelKafka
import Logging
import ServiceLifecycle
import Synchronization

/// A view (goka's `View`): every record of a compacted topic, read whole by each replica
/// outside any consumer group — from the beginning, then followed. Used for tables that every
/// replica needs in full (the providers' company cache, the CRM's accounts).
///
/// `/readyz` carries `condition` until the first read reached the end the topic had at the
/// start; ``isCaughtUp`` says so from then on. When the broker cannot be read (down, topic missing) the
/// view says why in the condition and tries again, with back-off, from the beginning: records
/// are applied again in order, so `apply` must be an upsert (a compacted topic's replay ends in
/// the same table).
public final class TopicView: Service, Sendable {
    public let topic: String
    public let condition: String
    let configuration: KafkaConfiguration
    let health: HealthState
    let logger: Logger
    let apply: @Sendable (ConsumerMessage) -> Void
    private let caughtUp = Atomic<Bool>(false)

    /// - Parameters:
    ///   - condition: the `/readyz` condition until caught up (e.g. `accounts`).
    ///   - apply: called for every record, in partition order, on the view's own thread.
    public init(topic: String, condition: String, configuration: KafkaConfiguration, health: HealthState, logger: Logger,
                apply: @escaping @Sendable (ConsumerMessage) -> Void) {
        self.topic = topic; self.condition = condition; self.configuration = configuration
        self.health = health; self.logger = logger; self.apply = apply
        health.set(condition, ready: false, reason: "reading \(topic)")
    }

    /// Whether the first read reached the end.
    public var isCaughtUp: Bool { caughtUp.load(ordering: .acquiring) }

    public func run() async throws {
        let stop = Atomic<Bool>(false)
        var attempt = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let started = ContinuousClock.now
            let outcome: Result<Int, KafkaError> = await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    await withCheckedContinuation { continuation in
                        Thread.detachNewThread { [self] in
                            continuation.resume(returning: Result<Int, KafkaError>(catching: { () throws(KafkaError) -> Int in
                                try KafkaPartitionReader.follow(
                                    configuration: configuration,
                                    partitions: [TopicPartition(topic: topic, partition: KafkaPartitionReader.allPartitions)],
                                    isCancelled: { stop.load(ordering: .relaxed) },
                                    caughtUp: { self.markCaughtUp(seconds: (ContinuousClock.now - started).seconds) },
                                    apply)
                            }))
                        }
                    }
                } onGracefulShutdown: { stop.store(true, ordering: .relaxed) }
            } onCancel: { stop.store(true, ordering: .relaxed) }
            if stop.load(ordering: .relaxed) { return }
            if case .failure(let error) = outcome {
                attempt += 1
                let delay = Duration.milliseconds(min(30_000, 500 << min(attempt, 6)))
                logger.warning("view read failed; reading again", metadata: ["topic": "\(topic)", "error": "\(error)", "retry_in": "\(delay)"])
                if !isCaughtUp { health.set(condition, ready: false, reason: "cannot read \(topic): \(error)") }
                try? await Task.sleep(for: delay)
            }
        }
    }

    private func markCaughtUp(seconds: Double) {
        guard !caughtUp.exchange(true, ordering: .acquiringAndReleasing) else { return }
        health.set(condition, ready: true)
        logger.info("view caught up", metadata: ["topic": "\(topic)", "seconds": "\(seconds)"])
    }
}
