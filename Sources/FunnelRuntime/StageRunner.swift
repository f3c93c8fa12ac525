import Foundation
import FunnelDomain
import FunnelKafka
import Logging
import ServiceLifecycle
import Synchronization

/// Why an input could not be processed: it goes to the dead-letter topic with this reason.
public struct StageFailure: Error, Sendable {
    public var field: String?
    public var reason: String
    /// Outputs decided before the failure (e.g. a punctuation the input triggered): sent
    /// before the dead letter.
    public var outputs: [ProducerMessage] = []
    public init(field: String? = nil, reason: String) {
        self.field = field
        self.reason = reason
    }
    public init(_ error: FieldError) {
        self.init(field: error.field.isEmpty ? nil : error.field, reason: error.description)
    }
}

/// What processing one input produced.
public struct StageOutput: Sendable {
    /// Events to publish.
    public var messages: [ProducerMessage]
    /// The input belongs to a partition this process no longer owns: leave it to the new owner.
    public var skipped: Bool

    public init(messages: [ProducerMessage] = [], skipped: Bool = false) {
        self.messages = messages
        self.skipped = skipped
    }
}

/// A stage's processing with partition ownership hooks (stateful stages: see `ScoreStage`).
public protocol StageProcessor: AnyObject, Sendable {
    func process(_ message: ConsumerMessage) throws(StageFailure) -> StageOutput
    /// The state writes (changelog records) of every key changed since the previous call, one
    /// per key, by the partition number of the inputs that changed them. The runner calls it
    /// every `FUNNEL_STATE_FLUSH_MS`, on revoke and on shutdown, never during `process`, and
    /// sends the records once the outputs of those inputs are acknowledged (see `Checkpoints`).
    /// Stateless stages return none.
    func checkpoint() -> [Int32: [ProducerMessage]]
    /// Runs inside the consumer's rebalance callback, before any message of `partitions`
    /// is processed: restore state here (blocking is fine).
    func assigned(_ partitions: [TopicPartition])
    /// Runs inside the rebalance callback after in-flight outputs and state writes were flushed.
    func revoked(_ partitions: [TopicPartition])
    /// Topics that must have the same partition count (inputs and changelog of a table):
    /// checked at start; when not empty the consumer uses the `range` assignor.
    var copartitionedTopics: [String] { get }
    /// Partitions with a timer due now (the runner asks every `FUNNEL_TIMER_TICK_MS`).
    func partitionsWithDueTimers() -> [Int32]
    /// Fires the due timers of a partition; their outputs. Called in the partition's open epoch.
    func fireTimers(partition: Int32) -> [ProducerMessage]
}

extension StageProcessor {
    public func checkpoint() -> [Int32: [ProducerMessage]] { [:] }
    public var copartitionedTopics: [String] { [] }
    public func partitionsWithDueTimers() -> [Int32] { [] }
    public func fireTimers(partition: Int32) -> [ProducerMessage] { [] }
}

/// A stateless stage: a handler closure.
final class HandlerProcessor: StageProcessor, @unchecked Sendable {
    let handle: StageRunner.Handler
    init(_ handle: @escaping StageRunner.Handler) { self.handle = handle }
    func process(_ message: ConsumerMessage) throws(StageFailure) -> StageOutput {
        StageOutput(messages: try handle(message))
    }
    func assigned(_ partitions: [TopicPartition]) {}
    func revoked(_ partitions: [TopicPartition]) {}
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
    /// The `/readyz` condition this runner sets: `stage`, or `stage NAME` for a second stage
    /// of the same process.
    var readinessCondition: String { name == environment.service ? "stage" : "stage \(name)" }
    let environment: ServiceEnvironment
    let producer: KafkaProducer
    let metrics: MetricsRegistry
    let health: HealthState
    let logger: Logger
    private let makeProcessor: @Sendable () -> any StageProcessor
    /// `funnel_produced_total` per output topic, resolved once per topic.
    private let produced: ProducedCounters
    /// Extra consumer properties (e.g. the assignment strategy a co-partitioned stage needs).
    private let consumerProperties: [String: String]

    /// - Parameter makeHandler: builds the (stateful, single-threaded) handler used by the loop.
    public convenience init(name: String, topics: [String], groupID: String, environment: ServiceEnvironment,
                            producer: KafkaProducer, metrics: MetricsRegistry, health: HealthState, logger: Logger,
                            makeHandler: @escaping @Sendable () -> Handler) {
        self.init(name: name, topics: topics, groupID: groupID, environment: environment, producer: producer,
                  metrics: metrics, health: health, logger: logger, consumerProperties: [:]) { HandlerProcessor(makeHandler()) }
    }

    public init(name: String, topics: [String], groupID: String, environment: ServiceEnvironment,
                producer: KafkaProducer, metrics: MetricsRegistry, health: HealthState, logger: Logger,
                consumerProperties: [String: String], makeProcessor: @escaping @Sendable () -> any StageProcessor) {
        self.name = name
        self.topics = topics
        self.groupID = groupID
        self.environment = environment
        self.producer = producer
        self.metrics = metrics
        self.health = health
        self.logger = logger
        self.makeProcessor = makeProcessor
        self.consumerProperties = consumerProperties
        self.produced = ProducedCounters(metrics: metrics, labels: ["stage": name])
        self.checkpointInterval = .milliseconds(environment.raw["FUNNEL_STATE_FLUSH_MS"].flatMap(Int.init).map { max(10, $0) } ?? 1000)
        self.timerTick = .milliseconds(environment.raw["FUNNEL_TIMER_TICK_MS"].flatMap(Int.init).map { max(10, $0) } ?? 1000)
    }

    /// How often due timers are looked for (`FUNNEL_TIMER_TICK_MS`, default 1000): a timer
    /// fires at most this late.
    let timerTick: Duration

    /// How often a stateful stage writes what changed (`FUNNEL_STATE_FLUSH_MS`, default 1000):
    /// longer coalesces more writes per key, and re-processes more after a crash.
    let checkpointInterval: Duration

    public func run() async throws {
        let producer = self.producer
        let trackerBox = Locked<OffsetTracker?>(nil)
        let checkpointsBox = Locked<Checkpoints?>(nil)
        let processor = makeProcessor()
        var consumerProperties = self.consumerProperties
        if !processor.copartitionedTopics.isEmpty {
            try await Copartitioning.check(processor.copartitionedTopics, configuration: environment.kafka, service: name)
            consumerProperties["partition.assignment.strategy"] = "range" // partition p of every input together
        }
        let consumer = try KafkaConsumer(configuration: environment.kafka.withDefaults(consumerProperties), groupID: groupID, topics: topics, logger: logger) { event, _ in
            switch event {
            case .revoked(let partitions):
                // Write the state changed so far and deliver what is in flight (twice: outputs,
                // then the state writes their delivery released) so the inputs' offsets are
                // stored before the commit.
                checkpointsBox.value?.seal { processor.checkpoint() }
                producer.flushBlocking(timeoutMilliseconds: 10_000)
                producer.flushBlocking(timeoutMilliseconds: 10_000)
                // What is still not written now (a flush timed out) must never land after the
                // new owner restored: dropped, and its inputs re-read by the new owner.
                checkpointsBox.value?.revoke(Set(partitions.map(\.partition)))
                trackerBox.value?.forget(partitions)
                processor.revoked(partitions)
            case .assigned(let partitions):
                processor.assigned(partitions)
            }
        }
        let tracker = OffsetTracker { partition, next in try? consumer.storeOffset(next: next, for: partition) }
        trackerBox.withLock { $0 = tracker }
        let labels = ["stage": name]
        let checkpoints = Checkpoints(producer: producer, tracker: tracker, logger: logger) { [self] outcome, topic in report(outcome, topic: topic, labels: labels) }
        checkpointsBox.withLock { $0 = checkpoints }
        metrics.gauge("funnel_consumer_lag", help: "Messages behind the end of the assigned partitions.", labels: labels) {
            Double(consumer.lag())
        }
        health.set(readinessCondition, ready: true)
        logger.info("stage started", metadata: ["topics": "\(topics)", "group": "\(groupID)"])

        // The loop runs in its own task, cancelled on graceful shutdown. (Not
        // `cancelOnGracefulShutdown()` on the sequence: that merges it with the shutdown signal
        // and hands every message across tasks — a thread hop per message.)
        let loop = Task { try await consume(consumer, processor: processor, tracker: tracker, checkpoints: checkpoints, labels: labels) }
        let interval = checkpointInterval
        let sealer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                checkpoints.seal { processor.checkpoint() }
            }
        }
        let tick = timerTick
        let timers = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                await fireTimers(processor, checkpoints: checkpoints, labels: labels)
            }
        }
        defer { sealer.cancel(); timers.cancel() }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler { try await loop.value } onGracefulShutdown: { loop.cancel() }
        } onCancel: { loop.cancel() }
        health.set(readinessCondition, ready: false, reason: "not consuming")
        logger.info("stage stopping: writing state, flushing outputs and leaving the group")
        sealer.cancel()
        timers.cancel()
        _ = await timers.value
        checkpoints.seal { processor.checkpoint() }
        try? await producer.flush(timeout: .seconds(10))
        try? await producer.flush(timeout: .seconds(10))
        await consumer.close()
    }

    /// Consume → process → produce until the consumer closes or the task is cancelled.
    private func consume(_ consumer: KafkaConsumer, processor: any StageProcessor, tracker: OffsetTracker,
                         checkpoints: Checkpoints, labels: [String: String]) async throws {
        var consumed: [String: MetricsRegistry.Counter] = [:]
        var lastConsumed: (topic: String, counter: MetricsRegistry.Counter)?
        let processing = metrics.histogram("funnel_processing_seconds", help: "Time to process one input.", labels: labels)
        for try await message in consumer.messages {
            if Task.isCancelled { break } // stop within the batch already taken
            let started = ContinuousClock.now
            let topic = message.topic
            if let last = lastConsumed, last.topic == topic { last.counter.increment() } else {
                let counter = consumed[topic] ?? metrics.counter("funnel_consumed_total", help: "Messages consumed.", labels: labels.merging(["topic": topic]) { $1 })
                consumed[topic] = counter
                lastConsumed = (topic, counter)
                counter.increment()
            }
            // The input, its state changes and its place in an epoch, together (see Checkpoints).
            let (result, epoch) = checkpoints.withOpenEpoch(partition: message.partition) { epoch -> (StageOutput, Checkpoints.Epoch) in
                var result: StageOutput
                do throws(StageFailure) {
                    result = try processor.process(message)
                } catch {
                    result = StageOutput(messages: error.outputs + [StageIO.deadLetter(message, stage: name, failure: error)])
                    metrics.increment("funnel_dead_lettered_total", help: "Inputs sent to the dead-letter topic.", labels: labels)
                    metrics.increment("funnel_failed_total", help: "Inputs that failed processing.", labels: labels)
                    logger.warning("dead letter", metadata: ["topic": "\(message.topic)", "partition": "\(message.partition)",
                                                              "offset": "\(message.offset)", "reason": "\(error.reason)"])
                }
                if !result.skipped {
                    // One thing to wait for: the epoch, complete once its outputs and writes are acknowledged.
                    checkpoints.add(tracker.begin(message, outputs: 1), outputs: result.messages.count, to: epoch)
                }
                return (result, epoch)
            }
            if result.skipped { continue }
            for output in result.messages {
                let topic = output.topic
                try await producer.send(output) { [self] outcome in
                    checkpoints.outputSettled(epoch, acknowledged: report(outcome, topic: topic, labels: labels))
                }
            }
            processing.observe((ContinuousClock.now - started).seconds)
        }
    }

    /// Fires the processor's due timers, each partition in its open epoch, and sends the outputs
    /// (complete, with the state the firing changed, like an input's).
    private func fireTimers(_ processor: any StageProcessor, checkpoints: Checkpoints, labels: [String: String]) async {
        for partition in processor.partitionsWithDueTimers() {
            let (outputs, epoch) = checkpoints.withOpenEpoch(partition: partition) { epoch -> ([ProducerMessage], Checkpoints.Epoch) in
                let outputs = processor.fireTimers(partition: partition)
                checkpoints.add(outputs: outputs.count, to: epoch)
                return (outputs, epoch)
            }
            if !outputs.isEmpty {
                metrics.increment("funnel_timers_fired_total", help: "Timer firings that produced outputs.", labels: labels)
            }
            for output in outputs {
                let topic = output.topic
                do {
                    try await producer.send(output) { [self] outcome in
                        checkpoints.outputSettled(epoch, acknowledged: report(outcome, topic: topic, labels: labels))
                    }
                } catch {
                    checkpoints.outputSettled(epoch, acknowledged: report(.failure(error), topic: topic, labels: labels))
                }
            }
        }
    }

    /// Counts an acknowledged output (true) or reports a failed one (false).
    private func report(_ outcome: Result<DeliveryReport, KafkaError>, topic: String, labels: [String: String]) -> Bool {
        switch outcome {
        case .success:
            produced.counter(topic).increment()
            return true
        case .failure(let error):
            // Not acknowledged: the input's offset is never stored, so it is re-read after a
            // restart; the process reports not ready so an orchestrator can restart it.
            logger.error("output not delivered", metadata: ["topic": "\(topic)", "error": "\(error)"])
            metrics.increment("funnel_delivery_failed_total", help: "Outputs the broker did not acknowledge.", labels: labels)
            health.set(readinessCondition, ready: false, reason: "not consuming")
            return false
        }
    }
}

extension Duration {
    /// Seconds as a `Double`.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Liveness and readiness, served at `/healthz` and `/readyz`.
///
/// Ready means every condition holds: the stage consuming (`setReady`), the broker answering
/// (`broker`, see ``BrokerWatch``), state restored (`state-restore`), … A condition not set yet
/// counts as not ready only for `stage`; `/readyz` names the ones that fail.
public final class HealthState: Sendable {
    private struct Condition: Sendable { var ready: Bool; var reason: String? }
    private let conditions = Mutex<[String: Condition]>(["stage": Condition(ready: false, reason: "starting")])
    public init() {}
    public func setReady(_ value: Bool) { set("stage", ready: value, reason: value ? nil : "not consuming") }
    /// Sets one condition (e.g. `broker`) with the reason it fails.
    public func set(_ condition: String, ready: Bool, reason: String? = nil) {
        conditions.withLock { $0[condition] = Condition(ready: ready, reason: reason) }
    }
    public var isReady: Bool { conditions.withLock { $0.values.allSatisfy(\.ready) } }
    /// Every condition set so far and whether it holds (`funnel_ready_condition`).
    public var states: [String: Bool] { conditions.withLock { $0.mapValues(\.ready) } }
    /// `condition: reason` for each failing condition, sorted.
    public var failures: [String] {
        conditions.withLock { c in c.filter { !$0.value.ready }.map { "\($0.key): \($0.value.reason ?? "not ready")" }.sorted() }
    }
}

/// `funnel_produced_total{stage,topic}` handles by topic (delivery callbacks run on one thread,
/// but a lock keeps it simple).
final class ProducedCounters: Sendable {
    private let metrics: MetricsRegistry
    private let labels: [String: String]
    private let byTopic = Mutex<[String: MetricsRegistry.Counter]>([:])

    init(metrics: MetricsRegistry, labels: [String: String]) {
        self.metrics = metrics
        self.labels = labels
    }

    func counter(_ topic: String) -> MetricsRegistry.Counter {
        if let known = byTopic.withLock({ $0[topic] }) { return known }
        let counter = metrics.counter("funnel_produced_total", help: "Messages produced and acknowledged.", labels: labels.merging(["topic": topic]) { $1 })
        byTopic.withLock { $0[topic] = counter }
        return counter
    }
}
