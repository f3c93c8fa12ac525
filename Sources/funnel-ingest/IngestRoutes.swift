import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import HTTPTypes
import Hummingbird

/// The three event endpoints and the CSV import. Each event endpoint accepts one object or an
/// array, validates every item, produces one event per item and answers 202 only when Kafka
/// acknowledged all of them.
///
/// The event endpoints are answered by ``EventRequestHandler`` on the connection's event loop
/// (the hot path, no Swift task per request); the import streams its body and is a router route.
struct IngestRoutes: Sendable {
    let context: ServiceContext
    let keys: APIKeyStore
    let limiter: RateLimiter
    /// Items per array request (`FUNNEL_MAX_BATCH`, default 1000); more is a 413.
    let maxBatch: Int
    /// The first request's time per Idempotency-Key: a retry's events are byte-identical.
    let firstSeen: FirstSeenTimes
    /// Country names and codes a lead's `country` may be given as (`data/country-names.tsv`,
    /// `data/country-aliases.tsv`).
    let countries: CountryNames
    static let maxBody = 5 * 1024 * 1024
    /// The longest request target (path and query) answered; longer is a 414, before anything else.
    static let maxTarget = 8192
    /// NIO's limit of a request head (`NIOHTTPDecoderLimitConfiguration`'s default, which
    /// Hummingbird keeps): longer heads never reach a handler, and are answered 431.
    static let maxHead = 80 * 1024
    static let duplicateKeyReason = "is given more than once (JSON object keys must be unique)"

    init(context: ServiceContext, keys: APIKeyStore, limiter: RateLimiter, firstSeen: FirstSeenTimes,
         countries: CountryNames) {
        self.context = context
        self.countries = countries
        self.keys = keys
        self.limiter = limiter
        self.firstSeen = firstSeen
        maxBatch = context.environment.raw["FUNNEL_MAX_BATCH"].flatMap(Int.init).map { max(1, $0) } ?? 1000
    }

    func register(on router: Router<BasicRequestContext>) {
        router.post("v1/imports") { request, _ in
            await importCSV(request)
        }
    }

    /// `POST /v1/leads`, `/v1/activities`, `/v1/outcomes`.
    enum EventEndpoint: CaseIterable, Sendable {
        case leads, activities, outcomes

        /// The path as documented.
        var path: String {
            switch self {
            case .leads: "/v1/leads"
            case .activities: "/v1/activities"
            case .outcomes: "/v1/outcomes"
            }
        }

        /// The topic its events go to (also the `endpoint` label of its metrics).
        var topic: String {
            switch self {
            case .leads: TopicCatalog.captured
            case .activities: TopicCatalog.activity
            case .outcomes: TopicCatalog.outcome
            }
        }

        /// The scope its key needs.
        var scope: Scope {
            switch self {
            case .leads: .leadsWrite
            case .activities: .activitiesWrite
            case .outcomes: .outcomesWrite
            }
        }

        /// The endpoint a `POST` to `path` (with its query, as in the request line) is for.
        /// As the router matches: the query and empty path components are ignored.
        static func forPost(path: String) -> EventEndpoint? {
            let plain = path.utf8.firstIndex(of: UInt8(ascii: "?")).map { path[..<$0] } ?? Substring(path)
            if let exact = allCases.first(where: { plain == $0.path }) { return exact }
            let components = plain.split(separator: "/")
            return allCases.first { $0.path.split(separator: "/") == components }
        }
    }

    /// What an event request's headers allow: the key (its source is recorded on the events)
    /// and the `Idempotency-Key`.
    struct Admitted: Sendable {
        let key: APIKeyEntry
        let idempotencyKey: String?
    }

    enum HeaderCheck {
        case admitted(Admitted)
        case rejected(Reply)
    }

    /// What an event request comes to before Kafka: a reply now, or events to deliver and the
    /// reply once Kafka settled every one of them.
    enum Admission {
        case reply(Reply)
        case deliver([ProducerMessage], reply: @Sendable ([Result<DeliveryReport, KafkaError>]) -> Reply)
    }

    /// The checks an event request's headers decide, before its body is read: counts the
    /// request, then the key, its scope, the source's rate limit, the content type and the
    /// `Idempotency-Key`.
    func admit(_ endpoint: EventEndpoint, headers: HTTPFields) -> HeaderCheck {
        let labels = ["endpoint": endpoint.topic]
        func rejected(_ status: HTTPResponse.Status, _ errors: [FieldError]) -> HeaderCheck {
            .rejected(rejection(status, errors, labels: labels))
        }
        let key: APIKeyEntry
        switch admit(headers, scope: endpoint.scope, labels: labels) {
        case .success(let entry): key = entry
        case .failure(let reply): return .rejected(reply)
        }
        guard Self.isJSON(headers) else {
            return rejected(.unsupportedMediaType, [FieldError(field: "Content-Type", reason: "must be application/json")])
        }
        switch Self.idempotencyKey(headers) {
        case .success(let value): return .admitted(Admitted(key: key, idempotencyKey: value))
        case .failure(let error): return rejected(.badRequest, [error])
        }
    }

    /// Checks and converts the body of an admitted event request. `body` is nil when it
    /// exceeded ``maxBody``.
    func admit(_ endpoint: EventEndpoint, _ admitted: Admitted, body: ByteBuffer?) -> Admission {
        switch endpoint {
        case .leads:
            events(admitted, body, as: LeadRequest.self, topic: endpoint.topic) { $0.captured(now: $1, countries: countries).map { ($0.leadID, $0) } }
        case .activities:
            events(admitted, body, as: ActivityRequest.self, topic: endpoint.topic) { $0.activity(now: $1).map { ($0.leadID, $0) } }
        case .outcomes:
            events(admitted, body, as: OutcomeRequest.self, topic: endpoint.topic) { $0.outcomeEvent(now: $1).map { ($0.leadID, $0) } }
        }
    }

    static let apiKeyHeader = HTTPField.Name("X-API-Key")!
    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    /// The `Idempotency-Key` header, validated: 1–255 visible ASCII characters.
    static func idempotencyKey(_ headers: HTTPFields) -> Result<String?, FieldError> {
        guard let value = headers[idempotencyHeader] else { return .success(nil) }
        guard (1...255).contains(value.utf8.count), value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(FieldError(field: "Idempotency-Key", reason: "must be 1 to 255 visible ASCII characters"))
        }
        return .success(value)
    }

    /// `application/json`, optionally with parameters (`; charset=utf-8`).
    static func isJSON(_ headers: HTTPFields) -> Bool {
        guard let value = headers[.contentType] else { return false }
        return value == "application/json" || mediaType(value) == "application/json"
    }

    /// The request's media type, lower-cased, without parameters.
    static func mediaType(_ headers: HTTPFields) -> String? {
        headers[.contentType].flatMap(mediaType)
    }

    /// The media type of a `Content-Type` value, lower-cased, without parameters.
    static func mediaType(_ contentType: String) -> String? {
        contentType.split(separator: ";", maxSplits: 1).first.map { trimSpaces($0).lowercased() }
    }
    static let realm = "Bearer realm=\"funnel-ingest\""

    enum Authentication { case success(APIKeyEntry), failure(Reply) }

    /// Without surrounding spaces and tabs (a key is ASCII; Foundation's trimming showed in profiles).
    static func trimSpaces(_ text: Substring) -> String {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        let bytes = text.utf8
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(text[first...last])
    }

    /// The key's entry, or the 401/403 reply. The key is never logged or echoed.
    private func authenticate(_ headers: HTTPFields, scope: Scope, labels: [String: String]) -> Authentication {
        func reject(_ status: HTTPResponse.Status, reason: String, metricReason: String, challenge: String) -> Authentication {
            context.metrics.increment("funnel_http_auth_rejected_total", help: "Requests rejected by authentication (401) or authorisation (403).",
                                      labels: labels.merging(["reason": metricReason, "status": String(status.code)]) { $1 })
            var reply = Self.errorBody(status, [FieldError(field: "authorization", reason: reason)])
            reply.headers[.wwwAuthenticate] = challenge
            return .failure(reply)
        }
        let presented: String
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                return reject(.unauthorized, reason: "Authorization must be `Bearer <API key>`", metricReason: "malformed_header",
                              challenge: Self.realm + ", error=\"invalid_request\"")
            }
            presented = Self.trimSpaces(parts[1])
        } else if let header = headers[Self.apiKeyHeader] {
            presented = Self.trimSpaces(Substring(header))
        } else {
            return reject(.unauthorized, reason: "missing API key (send `Authorization: Bearer <key>` or `X-API-Key: <key>`)",
                          metricReason: "missing_key", challenge: Self.realm)
        }
        guard !presented.isEmpty, let entry = keys.entry(forKey: presented) else {
            return reject(.unauthorized, reason: "unknown API key", metricReason: "unknown_key",
                          challenge: Self.realm + ", error=\"invalid_token\"")
        }
        guard entry.allows(scope) else {
            return reject(.forbidden, reason: "API key of source \"\(entry.source)\" lacks scope \(scope.rawValue)", metricReason: "missing_scope",
                          challenge: Self.realm + ", error=\"insufficient_scope\", scope=\"\(scope.rawValue)\"")
        }
        return .success(entry)
    }

    /// Counts the request, then checks its key, scope and the source's rate limit: the key's
    /// entry, or the 401/403/429 reply.
    func admit(_ headers: HTTPFields, scope: Scope, labels: [String: String]) -> Authentication {
        context.metrics.increment("funnel_http_requests_total", help: "Ingest requests.", labels: labels)
        let key: APIKeyEntry
        switch authenticate(headers, scope: scope, labels: labels) {
        case .success(let entry): key = entry
        case .failure(let reply): return .failure(reply)
        }
        if let wait = limiter.take(key.source) {
            context.metrics.increment("funnel_http_rate_limited_total", help: "Requests rejected by the per-source rate limit (429).", labels: labels)
            var reply = Self.errorBody(.tooManyRequests, [FieldError(field: "", reason: "rate limit of \(limiter.rate) requests/s for source \"\(key.source)\" exceeded")])
            reply.headers[.retryAfter] = String(Int(wait.rounded(.up)))
            return .failure(reply)
        }
        return .success(key)
    }

    private func events<Item: Decodable, Payload: Codable & Sendable>(
        _ admitted: Admitted, _ body: ByteBuffer?, as: Item.Type, topic: String,
        _ convert: (Item, String) -> Result<(String, Payload), FieldErrors>
    ) -> Admission {
        let labels = ["endpoint": topic]
        let context = context
        let key = admitted.key, idempotencyKey = admitted.idempotencyKey
        // The key's source is recorded on every event as the CloudEvent `source` (a URI-reference).
        let eventSource = "funnel-ingest/" + key.source
        guard let body else {
            return .reply(Self.errorBody(.contentTooLarge, [FieldError(field: "", reason: "body larger than \(Self.maxBody) bytes")]))
        }
        let isArray = body.readableBytesView.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) == UInt8(ascii: "[")
        // Array items are decoded one by one: a badly typed item is rejected, the others go on.
        var items: [Result<Item, FieldError>]
        if let fast = Self.fastItems(body, as: Item.self) {
            items = fast // FastJSON reads no object with a key twice
        } else {
            let data = Data(buffer: body)
            do {
                items = isArray ? try JSONDecoder().decode([Lenient<Item>].self, from: data).map(\.result)
                                : [.success(try JSONDecoder().decode(Item.self, from: data))]
            } catch let error as DecodingError {
                return .reply(Self.errorBody(.badRequest, [EventDecoder.fieldError(error)]))
            } catch {
                return .reply(Self.errorBody(.badRequest, [FieldError(field: "", reason: "not valid JSON")]))
            }
            // JSONDecoder kept one value of a key given twice: such an item is rejected, naming the key.
            for duplicate in body.withUnsafeReadableBytes({ JSONDuplicateKeys.find($0) }) {
                let index = duplicate.element ?? 0
                if items.indices.contains(index) { items[index] = .failure(FieldError(field: duplicate.path, reason: Self.duplicateKeyReason)) }
            }
        }
        if items.isEmpty { return .reply(Self.errorBody(.badRequest, [FieldError(field: "", reason: "empty array")])) }
        if items.count > maxBatch {
            return .reply(Self.errorBody(.contentTooLarge, [FieldError(field: "", reason: "at most \(maxBatch) items per request, got \(items.count)")]))
        }
        // A retry under the same key re-uses the first attempt's time: same ids, same bytes.
        // After a restart, the first attempt's events (if written) are found by their ids.
        let now = idempotencyKey.map { idem in
            firstSeen.time(for: "ingest\u{0}\(key.source)\u{0}\(idem)\u{0}\(topic)") {
                (0..<min(items.count, 4)).map { EventID.derive("ingest", key.source, idem, topic, String($0)) }
            }
        } ?? Timestamp.format(Date())
        var messages: [ProducerMessage] = []
        // Per item: accepted (lead and event id) or rejected (field and reason). In an array the
        // good items are accepted even when others are rejected.
        var results: [ItemResult] = []
        var errors: [FieldError] = []
        for (index, decoded) in items.enumerated() {
            let converted = decoded.mapError { FieldErrors([$0]) }.flatMap { convert($0, now) }
            switch converted {
            case .failure(let itemErrors):
                errors += itemErrors.errors.map { FieldError(field: (isArray ? "[\(index)]" + ($0.field.isEmpty ? "" : ".") : "") + $0.field, reason: $0.reason) }
                results.append(.rejected(index: index, errors: itemErrors.errors))
            case .success(let (leadID, payload)):
                // With an Idempotency-Key, a retry of the request yields the same event ids (per
                // API key source), so downstream de-duplication drops the second copy.
                let eventID = idempotencyKey.map { EventID.derive("ingest", key.source, $0, topic, String(index)) }
                    ?? EventID.random()
                let event = CloudEvent(id: eventID, source: eventSource, type: topic, time: now, subject: leadID, data: payload)
                messages.append(ProducerMessage(topic: topic, key: leadID, value: EventCoding.encode(event)))
                results.append(.accepted(index: index, leadID: leadID, eventID: eventID))
            }
        }
        guard !messages.isEmpty else {
            countRejected(labels)
            return .reply(Self.reply(.badRequest, errors: errors, results: isArray ? results : nil, indexed: true))
        }
        if !errors.isEmpty {
            context.metrics.increment("funnel_http_items_rejected_total", help: "Items of array requests rejected while others were accepted.",
                                      labels: labels, by: Double(errors.count))
        }
        let count = messages.count
        return .deliver(messages) { [results] delivered in
            if let error = Self.firstFailure(delivered) {
                if error.kind == .messageTooLarge {
                    // A client error, not an outage: retrying cannot help.
                    return Self.errorBody(.contentTooLarge, [FieldError(field: "", reason: "an event is larger than Kafka accepts; shorten the fields")])
                }
                // A full local queue (overload) is counted, not logged per request.
                let reason = error.kind == .queueFull ? "queue_full" : "not_acknowledged"
                context.metrics.increment("funnel_http_unavailable_total", help: "Requests answered 503: events not accepted or not acknowledged by Kafka.",
                                          labels: labels.merging(["reason": reason]) { $1 })
                if error.kind != .queueFull { context.logger.error("events not acknowledged", metadata: ["error": "\(error)"]) }
                var reply = Self.errorBody(.serviceUnavailable, [FieldError(field: "", reason: "events not acknowledged by Kafka; retry")])
                reply.headers[.retryAfter] = "5"
                return reply
            }
            context.metrics.increment("funnel_produced_total", help: "Messages produced and acknowledged.", labels: ["topic": topic], by: Double(count))
            return Self.reply(.accepted, errors: nil, results: results, indexed: isArray)
        }
    }

    /// The items through `FastJSON` when every one of them reads that way (leads and
    /// activities), else nil and `JSONDecoder` decodes the body (with its precise errors).
    static func fastItems<Item>(_ body: ByteBuffer, as: Item.Type) -> [Result<Item, FieldError>]? {
        guard let fastType = Item.self as? FastDecodable.Type,
              let root = body.withUnsafeReadableBytes({ FastJSON.parse($0) }) else { return nil }
        let values: [FastJSON.Value]
        if case .array(let all) = root { values = all } else { values = [root] }
        var items: [Result<Item, FieldError>] = []
        items.reserveCapacity(values.count)
        for value in values {
            guard let item = fastType.init(fast: value) as? Item else { return nil }
            items.append(.success(item))
        }
        return items
    }

    /// Sends `messages` and returns once Kafka acknowledged every one; throws the first failure.
    static func deliver(_ messages: [ProducerMessage], context: ServiceContext) async throws(KafkaError) {
        if let error = firstFailure(try await context.producer.sendAndAwait(messages)) { throw error }
    }

    /// Counts a request rejected with a 4xx (`funnel_http_rejected_total`).
    func countRejected(_ labels: [String: String]) {
        context.metrics.increment("funnel_http_rejected_total", help: "Requests rejected with 4xx.", labels: labels)
    }

    /// A counted 4xx rejection in the stable error shape.
    func rejection(_ status: HTTPResponse.Status, _ errors: [FieldError], labels: [String: String]) -> Reply {
        countRejected(labels)
        return Self.errorBody(status, errors)
    }

    /// The first delivery that failed, if any.
    static func firstFailure(_ delivered: [Result<DeliveryReport, KafkaError>]) -> KafkaError? {
        for result in delivered { if case .failure(let error) = result { return error } }
        return nil
    }

    /// The stable error shape of every rejection: `{"errors": [{"field", "reason"}]}`.
    static func errorBody(_ status: HTTPResponse.Status, _ errors: [FieldError]) -> Reply {
        reply(status, errors: errors, results: nil, indexed: false)
    }

    /// ``errorBody(_:_:)`` as a router response.
    static func errorReply(_ status: HTTPResponse.Status, _ errors: [FieldError]) -> Response {
        errorBody(status, errors).response
    }

    /// Any JSON object (the import report); the request path writes its replies with `reply`.
    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}

/// What became of one item of a request.
enum ItemResult: Sendable {
    case accepted(index: Int, leadID: String, eventID: String)
    case rejected(index: Int, errors: [FieldError])
}

extension IngestRoutes {
    /// `{"errors": […], "results": […]}` written directly as bytes (keys sorted, as the error
    /// replies are): on the hot path, `JSONSerialization` of `[String: Any]` cost more than the
    /// rest of a request. `indexed`: array requests answer `index` and `status` per item.
    static func reply(_ status: HTTPResponse.Status, errors: [FieldError]?, results: [ItemResult]?, indexed: Bool) -> Reply {
        var w = JSONWriter(capacity: 64 + (results?.count ?? 0) * 110)
        func write(_ errors: [FieldError], to w: inout JSONWriter) {
            w.beginArray()
            for error in errors {
                w.beginObject(); w.field("field", error.field); w.field("reason", error.reason); w.endObject()
            }
            w.endArray()
        }
        w.beginObject()
        if let errors { w.field("errors") { write(errors, to: &$0) } }
        if let results {
            w.field("results") { w in
                w.beginArray()
                for result in results {
                    w.beginObject()
                    switch result {
                    case .accepted(let index, let leadID, let eventID):
                        w.field("event_id", eventID)
                        if indexed { w.field("index") { $0.int(index) } }
                        w.field("lead_id", leadID)
                        if indexed { w.field("status", "accepted") }
                    case .rejected(let index, let errors):
                        w.field("errors") { write(errors, to: &$0) }
                        w.field("index") { $0.int(index) }
                        w.field("status", "rejected")
                    }
                    w.endObject()
                }
                w.endArray()
            }
        }
        w.endObject()
        return Reply(status: status, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: w.bytes))
    }
}

/// A whole reply in hand: ``EventRequestHandler`` writes it as is, router routes return its
/// ``response``.
struct Reply: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer

    var response: Response { Response(status: status, headers: headers, body: .init(byteBuffer: body)) }
}

/// An array element that records its decoding error instead of failing the whole array.
struct Lenient<Item: Decodable>: Decodable {
    let result: Result<Item, FieldError>
    init(from decoder: Decoder) throws {
        do { result = .success(try Item(from: decoder)) } catch let error as DecodingError {
            // The path without the element's own index: the results carry the index.
            let full = EventDecoder.fieldError(error)
            let index = decoder.codingPath.last.flatMap(\.intValue).map { "[\($0)]" } ?? ""
            var field = full.field.hasPrefix(index) ? String(full.field.dropFirst(index.count)) : full.field
            if field.hasPrefix(".") { field.removeFirst() }
            result = .failure(FieldError(field: field, reason: full.reason))
        }
    }
}
