/// A Kafka record header. Values are raw bytes; `nil` is a header without a value.
public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    public init(key: String, string: String) {
        self.init(key: key, value: Array(string.utf8))
    }
}

/// A topic and a partition.
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A message to produce. `partition == nil` lets the partitioner choose (by key hash).
public struct ProducerMessage: Sendable {
    public var topic: String
    public var keyBytes: KafkaBytes?
    public var valueBytes: KafkaBytes?
    public var headers: [KafkaHeader]
    public var partition: Int32?
    /// Milliseconds since the epoch; `nil` lets librdkafka stamp the current time.
    public var timestampMilliseconds: Int64?

    /// A message whose key and value may be those of a consumed message (no copy).
    public init(topic: String, keyBytes: KafkaBytes?, valueBytes: KafkaBytes?, headers: [KafkaHeader] = [],
                partition: Int32? = nil, timestampMilliseconds: Int64? = nil) {
        self.topic = topic
        self.keyBytes = keyBytes
        self.valueBytes = valueBytes
        self.headers = headers
        self.partition = partition
        self.timestampMilliseconds = timestampMilliseconds
    }

    public init(topic: String, key: [UInt8]? = nil, value: [UInt8]?, headers: [KafkaHeader] = [],
                partition: Int32? = nil, timestampMilliseconds: Int64? = nil) {
        self.init(topic: topic, keyBytes: key.map(KafkaBytes.init), valueBytes: value.map(KafkaBytes.init),
                  headers: headers, partition: partition, timestampMilliseconds: timestampMilliseconds)
    }

    public init(topic: String, key: String, value: [UInt8]?, headers: [KafkaHeader] = []) {
        self.init(topic: topic, key: Array(key.utf8), value: value, headers: headers)
    }

    public var key: [UInt8]? {
        get { keyBytes?.array }
        set { keyBytes = newValue.map(KafkaBytes.init) }
    }

    public var value: [UInt8]? {
        get { valueBytes?.array }
        set { valueBytes = newValue.map(KafkaBytes.init) }
    }
}

/// Where the broker stored a produced message.
public struct DeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// A consumed message: its batch and its place in it (see ``ConsumedBatch``). Its key and
/// value stay in the buffer the batch was copied into, so it outlives the poll; ``key`` and
/// ``value`` copy them out, ``keyBytes`` and ``valueBytes`` do not.
public struct ConsumerMessage: Sendable {
    @usableFromInline let batch: ConsumedBatch
    @usableFromInline let index: Int

    @inlinable
    init(batch: ConsumedBatch, index: Int) {
        self.batch = batch
        self.index = index
    }

    /// A message built by hand (tests, replays); consumed messages come from ``KafkaConsumer``.
    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
                headers: [KafkaHeader] = [], timestampMilliseconds: Int64 = -1) {
        self.init(batch: ConsumedBatch(topic: topic, partition: partition, offset: offset, key: key, value: value,
                                       headers: headers, timestamp: timestampMilliseconds), index: 0)
    }

    private var record: ConsumedBatch.Record { batch.records[index] }

    public var topic: String { batch.topics[Int(record.topic)] }
    public var partition: Int32 { record.partition }
    public var offset: Int64 { record.offset }
    /// Milliseconds since the epoch, or -1 if the broker sent none.
    public var timestampMilliseconds: Int64 { record.timestamp }
    public var headers: [KafkaHeader] { batch.headers.isEmpty ? [] : batch.headers[index] ?? [] }

    /// The key, without copying it.
    public var keyBytes: KafkaBytes? {
        let r = record
        return r.key < 0 ? nil : KafkaBytes(batch: batch, offset: r.key, count: r.keyCount)
    }

    /// The value, without copying it.
    public var valueBytes: KafkaBytes? {
        let r = record
        return r.value < 0 ? nil : KafkaBytes(batch: batch, offset: r.value, count: r.valueCount)
    }

    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// The key, copied into an array.
    public var key: [UInt8]? { keyBytes?.array }

    /// The value, copied into an array.
    public var value: [UInt8]? { valueBytes?.array }

    /// The key decoded as UTF-8, if any.
    public var keyString: String? { keyBytes.map { $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } } }

    /// The value of the first header named `key`.
    public func header(_ key: String) -> [UInt8]? {
        headers.first { $0.key == key }?.value
    }
}
