import CRdKafka

/// An error from librdkafka or from the wrapper, with enough information to decide what to do.
///
/// `isRetriable` means the same operation may succeed later (broker down, queue full,
/// timeout); `isFatal` means the client instance is unusable and must be recreated.
public struct KafkaError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, coarsely, for `switch`.
    public enum Kind: Sendable, Equatable {
        /// The local producer queue is full: back off and retry (back-pressure).
        case queueFull
        /// A message was not delivered (see `code`), reported by the delivery report.
        case delivery
        /// The topic or partition does not exist.
        case unknownTopic
        /// A configuration property was rejected (unknown name or invalid value).
        case configuration
        /// The librdkafka loaded at run time is too old.
        case runtimeTooOld
        /// The client was already closed.
        case closed
        /// A timeout elapsed.
        case timeout
        /// The message is larger than `message.max.bytes` (or the broker's limit): not retriable.
        case messageTooLarge
        /// Anything else reported by librdkafka.
        case other
    }

    public var kind: Kind
    /// librdkafka's `rd_kafka_resp_err_t` value (0 when the error is the wrapper's own).
    public var code: Int32
    /// librdkafka's symbolic name of `code`, e.g. `_QUEUE_FULL`, `UNKNOWN_TOPIC_OR_PART`.
    public var name: String
    public var message: String
    public var isRetriable: Bool
    public var isFatal: Bool

    public init(kind: Kind, code: Int32 = 0, name: String = "", message: String,
                isRetriable: Bool = false, isFatal: Bool = false) {
        self.kind = kind
        self.code = code
        self.name = name
        self.message = message
        self.isRetriable = isRetriable
        self.isFatal = isFatal
    }

    public var description: String {
        var s = "KafkaError.\(kind)"
        if !name.isEmpty { s += " [\(name)]" }
        s += ": \(message)"
        if isFatal { s += " (fatal)" } else if isRetriable { s += " (retriable)" }
        return s
    }

    /// Builds an error from a librdkafka response code.
    init(code err: rd_kafka_resp_err_t, context: String? = nil) {
        let name = String(cString: rd_kafka_err2name(err))
        let text = String(cString: rd_kafka_err2str(err))
        let kind: Kind
        var retriable = false
        switch err {
        case RD_KAFKA_RESP_ERR__QUEUE_FULL: kind = .queueFull; retriable = true
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
             RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            kind = .unknownTopic
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            kind = .timeout; retriable = true
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
             RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
             RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
            kind = .other; retriable = true
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: kind = .messageTooLarge
        case RD_KAFKA_RESP_ERR__DESTROY: kind = .closed
        default: kind = .other
        }
        self.init(kind: kind, code: Int32(err.rawValue), name: name,
                  message: context.map { "\($0): \(text)" } ?? text,
                  isRetriable: retriable, isFatal: err == RD_KAFKA_RESP_ERR__FATAL)
    }

    /// Builds an error from an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer, context: String? = nil) {
        self.init(code: rd_kafka_error_code(error), context: context)
        self.message = (context.map { "\($0): " } ?? "") + String(cString: rd_kafka_error_string(error))
        self.isRetriable = self.isRetriable || rd_kafka_error_is_retriable(error) != 0
        self.isFatal = rd_kafka_error_is_fatal(error) != 0
        rd_kafka_error_destroy(error)
    }

    static let closed = KafkaError(kind: .closed, message: "the client is closed")
}
