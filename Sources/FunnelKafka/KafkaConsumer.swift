import CRdKafka
import Foundation
import Logging
import Synchronization

/// A change of partition ownership, delivered synchronously from librdkafka's rebalance
/// callback: on `.revoked` the handler may commit offsets or flush state before the
/// partitions go; on `.assigned` it may load state before the first message arrives.
public enum RebalanceEvent: Sendable, Equatable {
    case assigned([TopicPartition])
    case revoked([TopicPartition])
}

/// A consumer-group member.
///
/// Messages arrive through ``messages``, an `AsyncSequence` whose iterator polls librdkafka
/// directly, a bounded batch at a time, on this consumer's own dispatch queue (never the
/// cooperative pool). The application stores offsets of processed messages with
/// ``storeOffset(_:)``; librdkafka commits stored offsets periodically, on revoke and on close.
/// Leaving the `for await` loop, cancelling its task, or calling ``close()`` closes the
/// consumer and leaves the group at once.
public final class KafkaConsumer: Sendable {
    /// Called on librdkafka's thread, inside the rebalance callback; keep it short, no `await`.
    public typealias RebalanceHandler = @Sendable (RebalanceEvent, KafkaConsumer) -> Void

    public let configuration: KafkaConfiguration
    public let groupID: String
    let handle: NativeHandle
    let context: ConsumerContext
    /// Serial: polling and closing happen here, so they never overlap.
    let pollQueue: DispatchQueue
    let maxBatch: Int
    private let closeState = Mutex<CloseState>(.open)
    private let queue: ConsumerQueue
    public var logger: Logger { context.logger }

    enum CloseState {
        case open
        case closing([CheckedContinuation<Void, Never>])
        case closed
    }

    /// Creates the consumer and subscribes to `topics`.
    /// - Parameters:
    ///   - maxBatch: messages taken from librdkafka per poll (the only buffering).
    ///   - onRebalance: see ``RebalanceHandler``.
    public init(
        configuration: KafkaConfiguration,
        groupID: String,
        topics: [String],
        maxBatch: Int = 512,
        logger: Logger = Logger(label: "funnel.kafka.consumer"),
        onRebalance: RebalanceHandler? = nil
    ) throws(KafkaError) {
        var effective = configuration.withDefaults(KafkaConfiguration.consumerDefaults)
        effective["group.id"] = groupID
        self.configuration = effective
        self.groupID = groupID
        self.maxBatch = maxBatch
        let conf = try effective.makeNativeConfiguration()
        let context = ConsumerContext(logger: logger, handler: onRebalance,
                                      autoCommit: effective["enable.auto.commit"] != "false")
        context.install(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let rk, let context = ClientContext.unretained(opaque, as: ConsumerContext.self) else { return }
            context.rebalance(rk, err, partitions)
        }
        let rk = try NativeHandle.make(type: RD_KAFKA_CONSUMER, conf: conf)
        rd_kafka_poll_set_consumer(rk)
        self.context = context
        self.handle = NativeHandle(rk)
        self.queue = ConsumerQueue(pointer: rd_kafka_queue_get_consumer(rk))
        self.pollQueue = DispatchQueue(label: "funnel.kafka.consumer.\(handle.name)")
        context.consumer.withLock { $0.value = self }

        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(rk, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_queue_destroy(queue.pointer)
            handle.destroy { rd_kafka_destroy($0) }
            throw KafkaError(code: err, context: "subscribe to \(topics)")
        }
    }

    deinit {
        // Normally closed already; if not, close without blocking the releasing thread.
        if !handle.isClosed {
            let handle = self.handle, queue = self.queue, context = self.context
            pollQueue.async {
                _ = context // librdkafka calls back into it until destroyed
                rd_kafka_queue_destroy(queue.pointer)
                handle.destroy { rk in
                    _ = rd_kafka_consumer_close(rk)
                    rd_kafka_destroy(rk)
                }
            }
        }
    }

    /// The messages of the subscribed topics. Single use: ending the iteration closes the consumer.
    public var messages: KafkaMessages { KafkaMessages(consumer: self) }

    /// Stores the next offset to read of one partition.
    ///
    /// Cheap: offsets are collected here and handed to librdkafka in one call before the
    /// next poll, commit, revoke or close. Offsets for partitions no longer assigned are
    /// ignored (the new owner re-reads those messages: at-least-once).
    public func storeOffset(next offset: Int64, for partition: TopicPartition) throws(KafkaError) {
        try store(partition.topic, partition.partition, next: offset)
    }

    /// Marks `message` as processed (see ``storeOffset(next:for:)``).
    public func storeOffset(_ message: ConsumerMessage) throws(KafkaError) {
        try store(message.topic, message.partition, next: message.offset + 1)
    }

    private func store(_ topic: String, _ partition: Int32, next offset: Int64) throws(KafkaError) {
        if handle.isClosed { throw .closed }
        context.pendingOffsets.withLock { $0.raise(topic, partition, to: offset) }
    }

    /// Commits stored offsets now and waits for the broker (runs off the cooperative pool).
    public func commit() async throws(KafkaError) {
        try await Blocking.run { [self] () throws(KafkaError) in try commitSync() }
    }

    /// Commits stored offsets, blocking the calling thread. For use inside a
    /// ``RebalanceHandler`` (which runs on librdkafka's thread); elsewhere use ``commit()``.
    public func commitSync() throws(KafkaError) {
        try handle.withHandle { rk throws(KafkaError) in
            context.flushPendingOffsets(rk)
            let err = rd_kafka_commit(rk, nil, 0)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
                throw KafkaError(code: err, context: "commit")
            }
        }
    }

    /// The partitions currently assigned to this member.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        try handle.withHandle { rk throws(KafkaError) in
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
            let err = rd_kafka_assignment(rk, &list)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: err, context: "assignment") }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            return topicPartitions(list)
        }
    }

    /// Messages behind the end of each assigned partition, from cached watermarks (no I/O).
    public func lag() -> Int64 {
        (try? handle.withHandle { rk -> Int64 in
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
            guard rd_kafka_assignment(rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return 0 }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            _ = rd_kafka_position(rk, list)
            var total: Int64 = 0
            for i in 0..<Int(list.pointee.cnt) {
                let tp = list.pointee.elems[i]
                var low: Int64 = 0, high: Int64 = 0
                guard rd_kafka_get_watermark_offsets(rk, tp.topic, tp.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
                      high >= 0 else { continue }
                let position = tp.offset >= 0 ? tp.offset : low
                total += max(0, high - position)
            }
            return total
        }) ?? 0
    }

    /// Leaves the group (the rebalance handler sees `.revoked` and may commit), commits
    /// stored offsets, and releases the client. Waits until done; safe to call repeatedly.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let start: Bool = closeState.withLock { state in
                switch state {
                case .open: state = .closing([continuation]); return true
                case .closing(var waiters):
                    waiters.append(continuation); state = .closing(waiters); return false
                case .closed: continuation.resume(); return false
                }
            }
            if start { scheduleClose() }
        }
    }

    /// Starts closing without waiting (used when an iteration ends).
    func closeInBackground() {
        let start: Bool = closeState.withLock { state in
            guard case .open = state else { return false }
            state = .closing([])
            return true
        }
        if start { scheduleClose() }
    }

    var isClosing: Bool {
        closeState.withLock { if case .open = $0 { return false } else { return true } }
    }

    private func scheduleClose() {
        pollQueue.async { [self] in
            // Not under the handle's exclusive lock: the revoke handler may call commitSync().
            if let rk = handle.unguarded {
                context.flushPendingOffsets(rk)
                let err = rd_kafka_consumer_close(rk)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.warning("consumer close", metadata: ["error": "\(KafkaError(code: err))"])
                }
            }
            rd_kafka_queue_destroy(queue.pointer)
            handle.destroy { rd_kafka_destroy($0) }
            let waiters: [CheckedContinuation<Void, Never>] = closeState.withLock { state in
                defer { state = .closed }
                if case .closing(let waiters) = state { return waiters }
                return []
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Polls one batch (blocking, on `pollQueue`): returns at least one message, or `nil`
    /// once the consumer is closing or `cancelled` is set. Non-fatal errors are logged.
    func pollBatch(cancelled: Flag) throws(KafkaError) -> ConsumedBatch? {
        var buffer = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: maxBatch)
        while !isClosing && !cancelled.isSet {
            if let rk = handle.unguarded { context.flushPendingOffsets(rk) }
            let polled = try ConsumedBatch.poll(queue.pointer, timeoutMilliseconds: 100, buffer: &buffer) { raw throws(KafkaError) in
                let err = raw.pointee.err
                if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
                let error = KafkaError(code: err, context: "consume")
                if error.isFatal { throw error }
                logger.warning("consumer error", metadata: ["error": "\(error)"])
            }
            if let polled { return polled }
        }
        return nil
    }
}

/// The consumer queue handle (`rd_kafka_queue_t`), used only on the poll queue.
struct ConsumerQueue: @unchecked Sendable { let pointer: OpaquePointer }

/// Holds the rebalance handler and performs (incremental) assign / unassign.
final class ConsumerContext: ClientContext, @unchecked Sendable {
    struct WeakConsumer { weak var value: KafkaConsumer? }
    let handler: KafkaConsumer.RebalanceHandler?
    let autoCommit: Bool
    let consumer = Mutex(WeakConsumer())
    /// Offsets stored by the application, not yet handed to librdkafka.
    let pendingOffsets = Mutex(PendingOffsets())

    /// Hands stored offsets to librdkafka (`rd_kafka_offsets_store`) in one call.
    func flushPendingOffsets(_ rk: OpaquePointer) {
        let offsets = pendingOffsets.withLock { $0.take() }
        guard !offsets.isEmpty else { return }
        let list = makeList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_store(rk, list)
        // __STATE: a partition was revoked meanwhile; its new owner re-reads those messages.
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__STATE {
            logger.warning("storing offsets failed", metadata: ["error": "\(KafkaError(code: err))"])
        }
    }

    init(logger: Logger, handler: KafkaConsumer.RebalanceHandler?, autoCommit: Bool) {
        self.handler = handler
        self.autoCommit = autoCommit
        super.init(logger: logger)
    }


    func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                   _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let list = topicPartitions(partitions)
        let owner = consumer.withLock { $0.value }
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    logger.error("incremental assign failed", metadata: ["error": "\(KafkaError(consuming: error))"])
                }
            } else {
                let e = rd_kafka_assign(rk, partitions)
                if e != RD_KAFKA_RESP_ERR_NO_ERROR { logger.error("assign failed", metadata: ["error": "\(KafkaError(code: e))"]) }
            }
            logger.info("partitions assigned", metadata: ["partitions": "\(list.map(\.description))"])
            if let owner { handler?(.assigned(list), owner) }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            logger.info("partitions revoked", metadata: ["partitions": "\(list.map(\.description))"])
            flushPendingOffsets(rk)
            if let owner { handler?(.revoked(list), owner) }
            flushPendingOffsets(rk)
            if autoCommit, !list.isEmpty {
                let e = rd_kafka_commit(rk, nil, 0)
                if e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET {
                    logger.warning("commit on revoke failed", metadata: ["error": "\(KafkaError(code: e))"])
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    logger.error("incremental unassign failed", metadata: ["error": "\(KafkaError(consuming: error))"])
                }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
        default:
            logger.error("rebalance error", metadata: ["error": "\(KafkaError(code: err))"])
            _ = rd_kafka_assign(rk, nil)
        }
    }
}

func topicPartitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
    guard let list else { return [] }
    return (0..<Int(list.pointee.cnt)).map { i in
        let e = list.pointee.elems[i]
        return TopicPartition(topic: String(cString: e.topic), partition: e.partition)
    }
}

func makeList(_ offsets: [TopicPartition: Int64]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
    for (tp, offset) in offsets {
        rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = offset
    }
    return list
}


/// Offsets stored since the last hand-over to librdkafka: a short list, scanned linearly
/// (a consumer holds few partitions; comparing the partition number first is cheaper than hashing).
struct PendingOffsets {
    private var topics: [String] = []
    private var partitions: [Int32] = []
    private var offsets: [Int64] = []

    mutating func raise(_ topic: String, _ partition: Int32, to offset: Int64) {
        for i in partitions.indices where partitions[i] == partition && topics[i] == topic {
            if offset > offsets[i] { offsets[i] = offset }
            return
        }
        topics.append(topic)
        partitions.append(partition)
        offsets.append(offset)
    }

    mutating func take() -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for i in partitions.indices { result[TopicPartition(topic: topics[i], partition: partitions[i])] = offsets[i] }
        topics.removeAll(keepingCapacity: true)
        partitions.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        return result
    }
}
