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

/// A consumed message. Its key and value live in the buffer its batch was copied into
/// (see ``KafkaBytes``), so it outlives the poll; ``key`` and ``value`` copy them out.
public struct ConsumerMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var keyBytes: KafkaBytes?
    public var valueBytes: KafkaBytes?
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch, or -1 if the broker sent none.
    public var timestampMilliseconds: Int64

    /// A message built by hand (tests, replays); consumed messages come from ``KafkaConsumer``.
    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
                headers: [KafkaHeader] = [], timestampMilliseconds: Int64 = -1) {
        self.init(topic: topic, partition: partition, offset: offset,
                  keyBytes: key.map(KafkaBytes.init), valueBytes: value.map(KafkaBytes.init),
                  headers: headers, timestampMilliseconds: timestampMilliseconds)
    }

    init(topic: String, partition: Int32, offset: Int64, keyBytes: KafkaBytes?, valueBytes: KafkaBytes?,
         headers: [KafkaHeader], timestampMilliseconds: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.keyBytes = keyBytes
        self.valueBytes = valueBytes
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
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
