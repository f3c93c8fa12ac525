import CRdKafka
import Logging

/// A topic to create.
public struct TopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    /// Topic configs, e.g. `cleanup.policy=compact`, `retention.ms`.
    public var configs: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// A topic as the cluster describes it.
public struct TopicDescription: Sendable, Hashable {
    public var name: String
    public var partitions: Int
}

/// Cluster administration: create topics idempotently, list them.
public final class KafkaAdmin: Sendable {
    /// What happened to each requested topic.
    public enum CreationOutcome: Sendable, Equatable {
        case created
        case alreadyExisted
    }

    private let handle: NativeHandle
    private let context: ClientContext

    public init(configuration: KafkaConfiguration, logger: Logger = Logger(label: "funnel.kafka.admin")) throws(KafkaError) {
        let conf = try configuration.makeNativeConfiguration()
        let context = ClientContext(logger: logger)
        context.install(on: conf)
        self.context = context
        self.handle = NativeHandle(try NativeHandle.make(type: RD_KAFKA_PRODUCER, conf: conf))
    }

    deinit { handle.destroy { rd_kafka_destroy($0) } }

    /// Creates topics; a topic that already exists is reported as `.alreadyExisted`, not an error.
    public func createTopics(_ topics: [TopicSpecification], timeout: Duration = .seconds(30)) async throws(KafkaError) -> [String: CreationOutcome] {
        let ms = Int32(timeout.components.seconds * 1000)
        return try await Blocking.run { [handle] () throws(KafkaError) in
            try handle.withHandle { rk throws(KafkaError) in
                var errstr = [CChar](repeating: 0, count: 512)
                var newTopics: [OpaquePointer?] = []
                defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
                for spec in topics {
                    guard let nt = rd_kafka_NewTopic_new(spec.name, Int32(spec.partitions), Int32(spec.replicationFactor), &errstr, errstr.count) else {
                        throw KafkaError(kind: .configuration, message: "topic \(spec.name): \(String(cBuffer: errstr))")
                    }
                    newTopics.append(nt)
                    for (key, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                        let e = rd_kafka_NewTopic_set_config(nt, key, value)
                        if e != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: e, context: "topic \(spec.name) config \(key)") }
                    }
                }
                let event = try adminRequest(rk, timeoutMs: ms) { options, queue in
                    newTopics.withUnsafeMutableBufferPointer {
                        rd_kafka_CreateTopics(rk, $0.baseAddress, $0.count, options, queue)
                    }
                }
                defer { rd_kafka_event_destroy(event) }
                var count = 0
                let results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count)
                var outcome: [String: CreationOutcome] = [:]
                for i in 0..<count {
                    let r = results![i]
                    let name = String(cString: rd_kafka_topic_result_name(r))
                    let err = rd_kafka_topic_result_error(r)
                    switch err {
                    case RD_KAFKA_RESP_ERR_NO_ERROR: outcome[name] = .created
                    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: outcome[name] = .alreadyExisted
                    default:
                        let detail = rd_kafka_topic_result_error_string(r).map { String(cString: $0) }
                        throw KafkaError(code: err, context: "create topic \(name)\(detail.map { " (\($0))" } ?? "")")
                    }
                }
                return outcome
            }
        }
    }

    /// Lists the cluster's topics with their partition counts.
    public func listTopics(timeout: Duration = .seconds(10)) async throws(KafkaError) -> [TopicDescription] {
        let ms = Int32(timeout.components.seconds * 1000)
        return try await Blocking.run { [handle] () throws(KafkaError) in
            try handle.withHandle { rk throws(KafkaError) in
                var metadata: UnsafePointer<rd_kafka_metadata>? = nil
                let err = rd_kafka_metadata(rk, 1, nil, &metadata, ms)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(code: err, context: "metadata") }
                defer { rd_kafka_metadata_destroy(metadata) }
                return (0..<Int(metadata.pointee.topic_cnt)).map { i in
                    let t = metadata.pointee.topics[i]
                    return TopicDescription(name: String(cString: t.topic), partitions: Int(t.partition_cnt))
                }.sorted { $0.name < $1.name }
            }
        }
    }

}

/// Sends an admin request and waits for its result event (blocking; the caller is off-pool).
private func adminRequest(_ rk: OpaquePointer, timeoutMs: Int32,
                         _ send: (OpaquePointer?, OpaquePointer?) -> Void) throws(KafkaError) -> OpaquePointer {
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errstr = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errstr, errstr.count)
        send(options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 1000) else {
            throw KafkaError(kind: .timeout, message: "admin request timed out after \(timeoutMs) ms", isRetriable: true)
        }
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) }
            rd_kafka_event_destroy(event)
            throw KafkaError(code: err, context: "admin request\(text.map { ": \($0)" } ?? "")")
        }
        return event
    }
