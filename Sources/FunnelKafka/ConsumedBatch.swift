import CRdKafka

/// The messages of one poll, copied out of librdkafka at once: every key and value into one
/// buffer, the metadata into one array. A ``ConsumerMessage`` is this batch and an index, so
/// handing a message around costs one reference count, and its key and value can be passed
/// to ``KafkaProducer`` without a copy (see ``KafkaBytes``). Released with its last message.
@usableFromInline
final class ConsumedBatch: @unchecked Sendable {
    @usableFromInline
    struct Record {
        var topic: Int32
        var partition: Int32
        var offset: Int64
        var timestamp: Int64
        /// Byte offsets into `base`; -1 when the message has no key / no value.
        var key: Int
        var keyCount: Int
        var value: Int
        var valueCount: Int
    }

    let base: UnsafeMutableRawPointer
    @usableFromInline let records: [Record]
    let topics: [String]
    /// Headers by record index; only messages that have some are present.
    let headers: [Int: [KafkaHeader]]

    private init(base: UnsafeMutableRawPointer, records: [Record], topics: [String], headers: [Int: [KafkaHeader]]) {
        self.base = base
        self.records = records
        self.topics = topics
        self.headers = headers
    }

    deinit { base.deallocate() }

    @inlinable var count: Int { records.count }

    /// A one-message batch built by hand (tests, replays).
    convenience init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
                     headers: [KafkaHeader], timestamp: Int64) {
        let base = UnsafeMutableRawPointer.allocate(byteCount: max(1, (key?.count ?? 0) + (value?.count ?? 0)), alignment: 16)
        var used = 0
        func place(_ bytes: [UInt8]?) -> (Int, Int) {
            guard let bytes else { return (-1, 0) }
            bytes.withUnsafeBytes { if let source = $0.baseAddress { (base + used).copyMemory(from: source, byteCount: $0.count) } }
            defer { used += bytes.count }
            return (used, bytes.count)
        }
        let (k, kc) = place(key), (v, vc) = place(value)
        self.init(base: base,
                  records: [Record(topic: 0, partition: partition, offset: offset, timestamp: timestamp,
                                   key: k, keyCount: kc, value: v, valueCount: vc)],
                  topics: [topic], headers: headers.isEmpty ? [:] : [0: headers])
    }

    /// Polls `queue` for up to `buffer.count` messages (waiting up to `timeoutMilliseconds`),
    /// copies those without an error, and destroys them all; each one with an error (end of
    /// partition included) is passed to `onError` instead. `nil` when nothing was copied.
    static func poll(_ queue: OpaquePointer, timeoutMilliseconds: Int32,
                     buffer: inout [UnsafeMutablePointer<rd_kafka_message_t>?],
                     onError: (UnsafeMutablePointer<rd_kafka_message_t>) throws(KafkaError) -> Void) throws(KafkaError) -> ConsumedBatch? {
        let count = rd_kafka_consume_batch_queue(queue, Int32(timeoutMilliseconds), &buffer, buffer.count)
        guard count > 0 else { return nil }
        return try buffer.withUnsafeMutableBufferPointer { all throws(KafkaError) in
            let messages = UnsafeMutableBufferPointer(rebasing: all[0..<count])
            defer { for m in messages { rd_kafka_message_destroy(m) } }
            return try copy(messages, onError: onError)
        }
    }

    /// Copies the messages of `raw` that carry no error (the caller destroys all of them);
    /// see ``poll(_:timeoutMilliseconds:buffer:onError:)``.
    private static func copy(_ raw: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>?>,
                     onError: (UnsafeMutablePointer<rd_kafka_message_t>) throws(KafkaError) -> Void) throws(KafkaError) -> ConsumedBatch? {
        var bytes = 0, valid = 0
        for message in raw {
            let m = message!.pointee
            if m.err == RD_KAFKA_RESP_ERR_NO_ERROR { bytes += m.key_len + m.len; valid += 1 }
        }
        for message in raw where message!.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR { try onError(message!) }
        guard valid > 0 else { return nil }

        let base = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
        var used = 0
        var records: [Record] = []
        records.reserveCapacity(valid)
        var topics: [String] = []
        var lastTopic: (handle: OpaquePointer, index: Int32)?
        var headers: [Int: [KafkaHeader]] = [:]
        for message in raw {
            let raw = message!
            let m = raw.pointee
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            // Consecutive messages mostly share a topic: compare the handle before searching.
            let topic: Int32
            if let last = lastTopic, last.handle == m.rkt { topic = last.index } else {
                let name = String(cString: rd_kafka_topic_name(m.rkt))
                if let known = topics.firstIndex(of: name) { topic = Int32(known) } else {
                    topic = Int32(topics.count)
                    topics.append(name)
                }
                lastTopic = (m.rkt, topic)
            }
            func place(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
                guard let pointer else { return -1 }
                (base + used).copyMemory(from: pointer, byteCount: count)
                defer { used += count }
                return used
            }
            var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            records.append(Record(
                topic: topic, partition: m.partition, offset: m.offset,
                timestamp: rd_kafka_message_timestamp(raw, &timestampType),
                key: place(m.key, m.key_len), keyCount: m.key_len,
                value: place(m.payload, m.len), valueCount: m.len))
            if let found = Self.headers(of: raw) { headers[records.count - 1] = found }
        }
        return ConsumedBatch(base: base, records: records, topics: topics, headers: headers)
    }

    private static func headers(of raw: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader]? {
        var hdrs: OpaquePointer? = nil
        guard rd_kafka_message_headers(raw, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs else { return nil }
        var headers: [KafkaHeader] = []
        var index = 0
        var name: UnsafePointer<CChar>? = nil
        var value: UnsafeRawPointer? = nil
        var size = 0
        while rd_kafka_header_get_all(hdrs, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            headers.append(KafkaHeader(key: String(cString: name!),
                                       value: value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
            index += 1
        }
        return headers.isEmpty ? nil : headers
    }
}
