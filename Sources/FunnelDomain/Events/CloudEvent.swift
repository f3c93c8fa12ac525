import Foundation

/// A CloudEvents 1.0 event in structured JSON mode: the value of every Funnel message.
///
/// `type` is the topic name, `subject` the lead id, `id` unique (and derived
/// deterministically from the input event where a stage re-emits, see ``EventID``).
public struct CloudEvent<Payload: Codable & Sendable>: Codable, Sendable {
    public var specversion: String
    public var id: String
    public var source: String
    public var type: String
    public var time: String
    public var subject: String
    public var datacontenttype: String
    public var dataschema: String
    public var data: Payload

    public init(id: String, source: String, type: String, time: String, subject: String, data: Payload) {
        self.specversion = "1.0"
        self.id = id
        self.source = source
        self.type = type
        self.time = time
        self.subject = subject
        self.datacontenttype = "application/json"
        self.dataschema = Schemas.uri(for: type)
        self.data = data
    }
}

/// Where the JSON Schema of each event type lives (files in `schemas/`).
public enum Schemas {
    public static let base = "https://funnel.dev/schemas/"

    /// `https://funnel.dev/schemas/funnel.lead.captured.v1.json`
    public static func uri(for type: String) -> String { base + type + ".json" }
}

/// JSON coding shared by every process: snake_case keys, sorted output (stable bytes).
public enum EventCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder { JSONDecoder() }

    public static func encode<P>(_ event: CloudEvent<P>) -> [UInt8] {
        if let fast = event.data as? any FastJSONEncodable { return event.fastJSON(fast) } // hot-path events: same bytes, ~10× faster
        return foundationEncode(event)
    }

    /// Always through `JSONEncoder` (tests compare the fast path with it).
    public static func foundationEncode<P>(_ event: CloudEvent<P>) -> [UInt8] {
        // Encoding our own value types cannot fail (no floats that are NaN, no custom throwing encoders).
        (try? Array(shared.encode(event))) ?? []
    }

    /// `JSONEncoder` is thread-safe once configured; one instance avoids its set-up per event.
    private static let shared = encoder()
}
