import Foundation
import FunnelDomain
import FunnelKafka

/// Helpers for stage handlers: decode an input event, build an output event.
public enum StageIO {
    /// Decodes and validates `message` as a `P` event of its topic, or fails with the field and reason.
    public static func decode<P: Validatable>(_ type: P.Type, _ message: ConsumerMessage) throws(StageFailure) -> CloudEvent<P> {
        let result = message.valueBytes.map { value in
            value.withUnsafeBytes { EventDecoder.decode(P.self, from: $0, expectedType: message.topic) }
        } ?? EventDecoder.decode(P.self, from: [], expectedType: message.topic)
        switch result {
        case .success(let event): return event
        case .failure(let error): throw StageFailure(error)
        }
    }

    /// An output event keyed by lead id, with an id derived from the input's id and `purpose`.
    public static func output<P: Codable & Sendable>(_ data: P, topic: String, leadID: String, from inputID: String,
                                                      purpose: String, source: String, time: String) -> ProducerMessage {
        let event = CloudEvent(id: EventID.derive(inputID, purpose), source: source, type: topic, time: time,
                               subject: leadID, data: data)
        return ProducerMessage(topic: topic, key: leadID, value: EventCoding.encode(event))
    }

    public static func now() -> String { Timestamp.format(Date()) }
}
