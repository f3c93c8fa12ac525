import CRdKafka
import Foundation

/// Reads partitions from the beginning to their current end, outside any consumer group:
/// how a stateful stage restores a store from its changelog topic (the goka / Kafka Streams
/// pattern). "The end" is where the broker's fetch responses say the partition ends
/// (partition EOF), not a ListOffsets answer.
public enum KafkaPartitionReader {
    /// Blocks the calling thread (use it inside a rebalance handler or off the cooperative
    /// pool); calls `body` for every message in partition order (only the newest
    /// `lastMessages` of each partition when given). Returns the message count.
    @discardableResult
    public static func readToEnd(
        configuration: KafkaConfiguration,
        partitions requested: [TopicPartition],
        timeout: Duration = .seconds(120),
        lastMessages: Int? = nil,
        _ body: (ConsumerMessage) -> Void
    ) throws(KafkaError) -> Int {
        guard !requested.isEmpty else { return 0 }
        return try read(configuration: configuration, partitions: requested, endTimeout: timeout, lastMessages: lastMessages,
                        isCancelled: { false }, caughtUp: {}, body)
    }

    /// Reads partitions from the beginning and keeps following them: a view of a compacted
    /// topic (goka's `View`) that every replica reads whole, outside any consumer group.
    /// Blocks the calling thread until `isCancelled` answers true (asked every 200 ms) or an
    /// error; calls `caughtUp` once, when every partition reached the end it had at the start,
    /// and `body` for every message in partition order. Returns the message count.
    @discardableResult
    public static func follow(
        configuration: KafkaConfiguration,
        partitions requested: [TopicPartition],
        isCancelled: () -> Bool,
        caughtUp: () -> Void,
        _ body: (ConsumerMessage) -> Void
    ) throws(KafkaError) -> Int {
        try read(configuration: configuration, partitions: requested, endTimeout: nil, lastMessages: nil,
                 isCancelled: isCancelled, caughtUp: caughtUp, body)
    }

    /// Reads to the end within `endTimeout`, or follows (`endTimeout` nil) until `isCancelled`.
    private static func read(
        configuration: KafkaConfiguration, partitions requested: [TopicPartition], endTimeout: Duration?, lastMessages: Int?,
        isCancelled: () -> Bool, caughtUp: () -> Void, _ body: (ConsumerMessage) -> Void
    ) throws(KafkaError) -> Int {
        var config = configuration
        for key in ["group.id", "enable.auto.commit", "enable.auto.offset.store"] { config[key] = nil }
        config["enable.partition.eof"] = "true"
        config["enable.auto.commit"] = "false"
        config["group.id"] = "funnel-partition-reader" // required by librdkafka; never joins (assign only)
        let conf = try config.makeNativeConfiguration()
        let context = ClientContext(logger: .init(label: "funnel.kafka.reader"))
        context.install(on: conf)
        let rk = try NativeHandle.make(type: RD_KAFKA_CONSUMER, conf: conf)
        defer {
            _ = context
            rd_kafka_destroy_flags(rk, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        }
        rd_kafka_poll_set_consumer(rk)
        let counts = try partitionCounts(rk)
        let partitions = expandAll(requested, counts: counts)
        try checkPartitionsExist(partitions, counts: counts)
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        for tp in partitions {
            var start = Int64(RD_KAFKA_OFFSET_BEGINNING)
            // Only the newest `lastMessages` of each partition: start that far before its end.
            if let lastMessages {
                var low: Int64 = 0, high: Int64 = 0
                let err = rd_kafka_query_watermark_offsets(rk, tp.topic, tp.partition, &low, &high, 10_000)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: err, context: "watermarks of \(tp)") }
                start = max(low, high - Int64(lastMessages))
            }
            rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = start
        }
        let err = rd_kafka_assign(rk, list)
        rd_kafka_topic_partition_list_destroy(list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: err, context: "assign \(partitions)") }
        let queue = rd_kafka_queue_get_consumer(rk)!
        defer { rd_kafka_queue_destroy(queue) }

        var pending = Set(partitions)
        // Where each partition ended when its end was reached: later records were written
        // meanwhile and are not part of this read (whatever their place in a polled batch).
        var ends: [TopicPartition: Int64] = [:]
        var count = 0
        var saidCaughtUp = false
        let deadline = endTimeout.map { ContinuousClock.now + $0 }
        var buffer = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: 1024)
        while true {
            if let deadline, let endTimeout {
                if pending.isEmpty { return count }
                if ContinuousClock.now >= deadline {
                    throw KafkaError(kind: .timeout, message: "reading \(pending.map(\.description).sorted()) to the end took over \(endTimeout)")
                }
            } else {
                if isCancelled() { return count }
                if !saidCaughtUp && pending.isEmpty { caughtUp(); saidCaughtUp = true }
            }
            let polled = try ConsumedBatch.poll(queue, timeoutMilliseconds: 200, buffer: &buffer) { raw throws(KafkaError) in
                let m = raw.pointee
                if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    let tp = TopicPartition(topic: String(cString: rd_kafka_topic_name(m.rkt)), partition: m.partition)
                    if pending.remove(tp) != nil { ends[tp] = m.offset }
                    return
                }
                let error = KafkaError(code: m.err, context: "read to end")
                if error.isFatal || m.err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || m.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART { throw error }
                context.logger.warning("reader error", metadata: ["error": "\(error)"])
            }
            guard let batch = polled else { continue }
            for index in 0..<batch.count {
                let message = ConsumerMessage(batch: batch, index: index)
                let tp = message.topicPartition
                // Reading to the end: what was written after a partition's end is not part of the
                // read. Following: everything is.
                if deadline != nil {
                    if let end = ends[tp] { if message.offset >= end { continue } } else if !pending.contains(tp) { continue }
                }
                body(message)
                count += 1
            }
        }
    }
}

extension KafkaPartitionReader {
    /// A ``TopicPartition`` whose partition is ``allPartitions`` stands for every partition of its topic.
    public static let allPartitions: Int32 = -1

    /// The partition count of every topic of the cluster (one metadata request).
    static func partitionCounts(_ rk: OpaquePointer) throws(KafkaError) -> [String: Int32] {
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(rk, 1, nil, &metadata, 10_000)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(code: err, context: "metadata") }
        defer { rd_kafka_metadata_destroy(metadata) }
        var counts: [String: Int32] = [:]
        for i in 0..<Int(metadata.pointee.topic_cnt) {
            let t = metadata.pointee.topics[i]
            counts[String(cString: t.topic)] = t.partition_cnt
        }
        return counts
    }

    /// `partitions` with each ``allPartitions`` entry replaced by its topic's partitions.
    static func expandAll(_ partitions: [TopicPartition], counts: [String: Int32]) -> [TopicPartition] {
        partitions.flatMap { tp -> [TopicPartition] in
            guard tp.partition == allPartitions else { return [tp] }
            return (0..<(counts[tp.topic] ?? 0)).map { TopicPartition(topic: tp.topic, partition: $0) }
        }
    }

    /// Fails fast (instead of waiting for the timeout) when a topic or partition is missing.
    static func checkPartitionsExist(_ partitions: [TopicPartition], counts: [String: Int32]) throws(KafkaError) {
        for tp in partitions {
            guard let count = counts[tp.topic] else {
                throw KafkaError(kind: .unknownTopic, message: "topic \(tp.topic) does not exist")
            }
            guard tp.partition >= 0 && tp.partition < count else {
                throw KafkaError(kind: .unknownTopic, message: "\(tp) does not exist (\(tp.topic) has \(count) partitions)")
            }
        }
    }

    /// The newest value of `key` in `partition` (read to the end, off the cooperative pool),
    /// and how many records were read.
    public static func latestValue(
        forKey key: String, in partition: TopicPartition, configuration: KafkaConfiguration, timeout: Duration = .seconds(120)
    ) async throws(KafkaError) -> (value: KafkaBytes?, records: Int) {
        try await Blocking.run { () throws(KafkaError) in
            var latest: KafkaBytes?
            let count = try readToEnd(configuration: configuration, partitions: [partition], timeout: timeout) { message in
                // A copy: the message's bytes would keep its whole polled batch alive.
                if message.keyString == key { latest = message.value.map(KafkaBytes.init) }
            }
            return (latest, count)
        }
    }
}
