import CRdKafka

/// librdkafka properties for a client, plus typed accessors for the ones Funnel sets itself.
///
/// Build one from the environment with ``fromEnvironment(_:)``: `KAFKA_BROKERS` is the
/// bootstrap list and every other `KAFKA_<PROPERTY>` variable becomes the librdkafka
/// property with underscores read as dots (`KAFKA_SECURITY_PROTOCOL=SASL_SSL` →
/// `security.protocol=SASL_SSL`), so SASL and TLS need no code changes.
public struct KafkaConfiguration: Sendable, Equatable {
    /// Raw librdkafka properties. Later assignments win.
    public var properties: [String: String]

    public init(brokers: String = "127.0.0.1:9092", properties: [String: String] = [:]) {
        self.properties = ["bootstrap.servers": brokers]
        self.properties.merge(properties) { _, new in new }
    }

    /// The bootstrap broker list (`bootstrap.servers`).
    public var brokers: String {
        get { properties["bootstrap.servers"] ?? "" }
        set { properties["bootstrap.servers"] = newValue }
    }

    public subscript(property: String) -> String? {
        get { properties[property] }
        set { properties[property] = newValue }
    }

    /// Reads `KAFKA_BROKERS` and `KAFKA_*` variables. Unknown properties are reported by
    /// librdkafka when a client is created, naming the property.
    public static func fromEnvironment(_ environment: [String: String]) -> KafkaConfiguration {
        var config = KafkaConfiguration(brokers: environment["KAFKA_BROKERS"] ?? "127.0.0.1:9092")
        for (key, value) in environment where key.hasPrefix("KAFKA_") && key != "KAFKA_BROKERS" {
            let property = key.dropFirst("KAFKA_".count).lowercased().replacingOccurrences(of: "_", with: ".")
            guard !property.isEmpty else { continue }
            config.properties[property] = value
        }
        return config
    }

    /// Defaults for a producer: idempotent, acks from all in-sync replicas, small linger for batching.
    public static let producerDefaults: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        "linger.ms": "5",
        "queue.buffering.max.messages": "100000",
    ]

    /// Defaults for a consumer: offsets are stored by the application after processing
    /// (`storeOffset`) and committed by librdkafka periodically, on revoke and on close.
    ///
    /// `fetch.queue.backoff.ms` (librdkafka >= 2.2): once the prefetch queue reaches
    /// `queued.min.messages`, librdkafka stops fetching and only looks again after this
    /// backoff (default 1000 ms). A consumer a little slower than the fetcher then drains the
    /// queue and waits up to a second for data, again and again; a short backoff keeps the
    /// fetcher just ahead of the application. The queue bound itself is unchanged.
    public static let consumerDefaults: [String: String] = {
        var defaults = [
            "enable.auto.offset.store": "false",
            "enable.auto.commit": "true",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": "false",
        ]
        if LibrdkafkaVersion.current >= 0x0202_00FF { defaults["fetch.queue.backoff.ms"] = "10" }
        return defaults
    }()

    /// Merges `defaults` under the explicit properties (explicit settings win).
    public func withDefaults(_ defaults: [String: String]) -> KafkaConfiguration {
        var copy = self
        copy.properties = defaults.merging(properties) { _, explicit in explicit }
        return copy
    }

    /// Builds an `rd_kafka_conf_t`; the caller owns it until `rd_kafka_new` takes it.
    func makeNativeConfiguration() throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = String(cBuffer: errstr)
                throw KafkaError(
                    kind: .configuration,
                    message: "librdkafka property '\(key)' (env KAFKA_\(key.uppercased().replacingOccurrences(of: ".", with: "_"))): \(reason)",
                    isFatal: true)
            }
        }
        return conf
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
