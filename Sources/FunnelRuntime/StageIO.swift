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

    /// An output event keyed by lead id whose id derives from `parts` and its content (see
    /// ``EventCoding/encodeContentAddressed(_:deriving:source:type:time:subject:)``): for outputs
    /// that depend on more than their input, so an id never carries two contents.
    public static func contentAddressedOutput<P: Codable & Sendable & FastJSONEncodable>(
        _ data: P, topic: String, leadID: String, deriving parts: [String], source: String, time: String
    ) -> ProducerMessage {
        let (_, bytes) = EventCoding.encodeContentAddressed(data, deriving: parts, source: source, type: topic, time: time, subject: leadID)
        return ProducerMessage(topic: topic, key: leadID, value: bytes)
    }

    /// The dead letter of `message`: the original bytes, where it came from and why `stage`
    /// gave up. Its id derives from the message's coordinates and its time is the message's
    /// broker timestamp, so whenever it is made (on arrival, or by a timer later) it is the same.
    public static func deadLetter(_ message: ConsumerMessage, stage: String, failure: StageFailure) -> ProducerMessage {
        let letter = DeadLetter(
            original: Data(message.value ?? []).base64EncodedString(), key: message.keyString,
            topic: message.topic, partition: message.partition, offset: message.offset, stage: stage,
            field: failure.field, reason: failure.reason,
            failedAt: Timestamp.format(milliseconds: message.timestampMilliseconds))
        let id = EventID.derive(message.topic, String(message.partition), String(message.offset), stage, "deadletter")
        let event = CloudEvent(id: id, source: stage, type: TopicCatalog.deadLetter, time: letter.failedAt,
                               subject: message.keyString ?? "unknown", data: letter)
        return ProducerMessage(topic: TopicCatalog.deadLetter, key: message.key, value: EventCoding.encode(event))
    }
}
