import Foundation
import FunnelDomain
import FunnelKafka
import Logging
import ServiceLifecycle

/// Why an input could not be processed: it goes to the dead-letter topic with this reason.
public struct StageFailure: Error, Sendable {
    public var field: String?
    public var reason: String
    public init(field: String? = nil, reason: String) {
        self.field = field
        self.reason = reason
    }
    public init(_ error: FieldError) {
        self.init(field: error.field.isEmpty ? nil : error.field, reason: error.description)
    }
}

/// One way to run a pipeline stage: consume → decode → process (pure) → produce outputs →
/// store the input offset only after every output is acknowledged (at-least-once; output
/// ids are derived from input ids, so re-processing is idempotent downstream).
///
/// A failing input becomes a dead letter (original bytes, topic/partition/offset, stage,
/// reason); the stage never stops on one bad message.
public final class StageRunner: Service, @unchecked Sendable {
    public typealias Handler = (ConsumerMessage) throws(StageFailure) -> [ProducerMessage]

    public let name: String
    public let topics: [String]
    public let groupID: String
    let environment: ServiceEnvironment
    let producer: KafkaProducer
    let metrics: MetricsRegistry
    let health: HealthState
    let logger: Logger
    private let makeHandler: @Sendable () -> Handler

    /// - Parameter makeHandler: builds the (stateful, single-threaded) handler used by the loop.
    public init(name: String, topics: [String], groupID: String, environment: ServiceEnvironment,
                producer: KafkaProducer, metrics: MetricsRegistry, health: HealthState, logger: Logger,
                makeHandler: @escaping @Sendable () -> Handler) {
        self.name = name
        self.topics = topics
        self.groupID = groupID
        self.environment = environment
        self.producer = producer
        self.metrics = metrics
        self.health = health
        self.logger = logger
        self.makeHandler = makeHandler
    }

    public func run() async throws {
        let producer = self.producer
        let trackerBox = Locked<OffsetTracker?>(nil)
        let consumer = try KafkaConsumer(configuration: environment.kafka, groupID: groupID, topics: topics, logger: logger) { event, _ in
            if case .revoked(let partitions) = event {
                // Deliver what is in flight so its inputs' offsets are stored before the commit.
                producer.flushBlocking(timeoutMilliseconds: 10_000)
                trackerBox.value?.forget(partitions)
            }
        }
        let tracker = OffsetTracker { offsets in try? consumer.storeOffsets(offsets) }
        trackerBox.withLock { $0 = tracker }
        let labels = ["stage": name]
        metrics.gauge("funnel_consumer_lag", help: "Messages behind the end of the assigned partitions.", labels: labels) {
            Double(consumer.lag())
        }
        let handle = makeHandler()
        health.setReady(true)
        logger.info("stage started", metadata: ["topics": "\(topics)", "group": "\(groupID)"])

        for try await message in consumer.messages.cancelOnGracefulShutdown() {
            let started = ContinuousClock.now
            metrics.increment("funnel_consumed_total", help: "Messages consumed.", labels: labels.merging(["topic": message.topic]) { $1 })
            var outputs: [ProducerMessage]
            do throws(StageFailure) {
                outputs = try handle(message)
            } catch {
                outputs = [deadLetter(message, error)]
                metrics.increment("funnel_dead_lettered_total", help: "Inputs sent to the dead-letter topic.", labels: labels)
                metrics.increment("funnel_failed_total", help: "Inputs that failed processing.", labels: labels)
                logger.warning("dead letter", metadata: ["topic": "\(message.topic)", "partition": "\(message.partition)",
                                                          "offset": "\(message.offset)", "reason": "\(error.reason)"])
            }
            let ticket = tracker.begin(message, outputs: outputs.count)
            for output in outputs {
                let metrics = self.metrics, logger = self.logger, health = self.health
                try await producer.send(output) { result in
                    switch result {
                    case .success:
                        metrics.increment("funnel_produced_total", help: "Messages produced and acknowledged.", labels: labels.merging(["topic": output.topic]) { $1 })
                        tracker.delivered(ticket)
                    case .failure(let error):
                        // Not acknowledged: the input's offset is never stored, so it is re-read after a
                        // restart; the process reports not ready so an orchestrator can restart it.
                        logger.error("output not delivered", metadata: ["topic": "\(output.topic)", "error": "\(error)"])
                        metrics.increment("funnel_delivery_failed_total", help: "Outputs the broker did not acknowledge.", labels: labels)
                        health.setReady(false)
                    }
                }
            }
            metrics.observe("funnel_processing_seconds", help: "Time to process one input.", labels: labels,
                            (ContinuousClock.now - started).seconds)
        }
        health.setReady(false)
        logger.info("stage stopping: flushing outputs and leaving the group")
        try? await producer.flush(timeout: .seconds(10))
        await consumer.close()
    }

    private func deadLetter(_ message: ConsumerMessage, _ failure: StageFailure) -> ProducerMessage {
        let letter = DeadLetter(
            original: Data(message.value ?? []).base64EncodedString(), key: message.keyString,
            topic: message.topic, partition: message.partition, offset: message.offset, stage: name,
            field: failure.field, reason: failure.reason, failedAt: Timestamp.format(Date()))
        let id = EventID.derive(message.topic, String(message.partition), String(message.offset), name, "deadletter")
        let event = CloudEvent(id: id, source: name, type: TopicCatalog.deadLetter, time: letter.failedAt,
                               subject: message.keyString ?? "unknown", data: letter)
        return ProducerMessage(topic: TopicCatalog.deadLetter, key: message.key, value: EventCoding.encode(event))
    }
}

extension Duration {
    /// Seconds as a `Double`.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Liveness and readiness, served at `/healthz` and `/readyz`.
public final class HealthState: Sendable {
    private let ready = Locked(false)
    public init() {}
    public func setReady(_ value: Bool) { ready.withLock { $0 = value } }
    public var isReady: Bool { ready.value }
}
