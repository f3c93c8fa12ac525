import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import HTTPTypes
import Hummingbird

/// `POST /v1/erasures` (scope `admin`): a person's right to erasure (GDPR Art. 17).
///
/// The body names the person by `email` or by `lead_id` (exactly one). The answer is 202 with
/// the lead id and the event id once Kafka acknowledged the `funnel.lead.erased.v1` event;
/// every stateful stage then deletes what it holds on the lead and follow-up suppresses the
/// address for good (see the README's "Erasure"). An `Idempotency-Key` makes a retry the same
/// event.
struct ErasureRoutes: Sendable {
    let routes: IngestRoutes

    static let path = "/v1/erasures"

    func register(on router: Router<BasicRequestContext>) {
        router.post("v1/erasures") { request, _ in
            await erase(request)
        }
    }

    private func erase(_ request: Request) async -> Response {
        let labels = ["endpoint": TopicCatalog.erased]
        let key: APIKeyEntry
        switch routes.admit(request.headers, scope: .admin, labels: labels) {
        case .success(let entry): key = entry
        case .failure(let reply): return reply.response
        }
        func rejected(_ status: HTTPResponse.Status, _ field: String, _ reason: String) -> Response {
            routes.rejection(status, [FieldError(field: field, reason: reason)], labels: labels).response
        }
        guard IngestRoutes.isJSON(request.headers) else { return rejected(.unsupportedMediaType, "Content-Type", "must be application/json") }
        let idempotencyKey: String?
        switch IngestRoutes.idempotencyKey(request.headers) {
        case .success(let value): idempotencyKey = value
        case .failure(let error): return routes.rejection(.badRequest, [error], labels: labels).response
        }
        guard let body = try? await request.body.collect(upTo: 16 * 1024) else { return rejected(.contentTooLarge, "", "body larger than 16384 bytes") }
        if let duplicate = body.withUnsafeReadableBytes({ JSONDuplicateKeys.find($0) }).first {
            return rejected(.badRequest, duplicate.path, IngestRoutes.duplicateKeyReason)
        }
        let subject: (field: String, value: String)
        switch Self.subject(Data(buffer: body)) {
        case .success(let named): subject = named
        case .failure(let error): return routes.rejection(.badRequest, [error], labels: labels).response
        }
        let leadID: String
        switch subject.field == "email" ? Erasure.leadID(email: subject.value) : InputHygiene.leadID(subject.value) {
        case .success(let id): leadID = id
        case .failure(let invalid): return rejected(.badRequest, subject.field, invalid.reason)
        }
        let now = idempotencyKey.map { routes.firstSeen.time(for: "erasure\u{0}\(key.source)\u{0}\($0)") } ?? Timestamp.format(Date())
        let source = "funnel-ingest/" + key.source
        let erased = LeadErased(leadID: leadID, requestedAt: now, requestedBy: source)
        let eventID = Erasure.eventID(leadID: leadID, requestedAt: now)
        let event = CloudEvent(id: eventID, source: source, type: TopicCatalog.erased, time: now, subject: leadID, data: erased)
        do {
            try await IngestRoutes.deliver([ProducerMessage(topic: TopicCatalog.erased, key: leadID, value: EventCoding.encode(event))],
                                           context: routes.context)
        } catch {
            routes.context.logger.error("erase request not acknowledged", metadata: ["error": "\(error)"])
            var response = IngestRoutes.errorReply(.serviceUnavailable, [FieldError(field: "", reason: "not recorded by Kafka; retry")])
            response.headers[.retryAfter] = "5"
            return response
        }
        routes.context.metrics.increment("funnel_produced_total", help: "Messages produced and acknowledged.", labels: ["topic": TopicCatalog.erased])
        // The lead id only: the request's e-mail address is never logged.
        routes.context.logger.info("erase requested", metadata: ["lead_id": "\(leadID)", "by": "\(source)"])
        return IngestRoutes.json(.accepted, ["lead_id": leadID, "event_id": eventID, "requested_at": now])
    }

    /// The one field the body names the person by: `email` or `lead_id`.
    static func subject(_ data: Data) -> Result<(field: String, value: String), FieldError> {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return .failure(FieldError(field: "", reason: "must be a JSON object like {\"email\": \"ada@example.com\"} or {\"lead_id\": \"lead-…\"}"))
        }
        if let unknown = object.keys.sorted().first(where: { $0 != "email" && $0 != "lead_id" }) {
            return .failure(FieldError(field: unknown, reason: "unknown field (give email or lead_id)"))
        }
        let given = ["email", "lead_id"].compactMap { name in object[name].map { (name, $0) } }
        guard given.count == 1, let (field, value) = given.first else {
            return .failure(FieldError(field: "", reason: "give exactly one of email and lead_id"))
        }
        guard let text = value as? String, !text.isEmpty else { return .failure(FieldError(field: field, reason: "must be a non-empty string")) }
        return .success((field, text))
    }
}
