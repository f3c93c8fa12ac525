import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import HTTPTypes
import Hummingbird

/// The public links of follow-up e-mails (no API key: the signed token is the credential):
///
/// - `GET /t/o/{token}`: the open pixel; records `email_open` and answers a 1×1 GIF.
/// - `GET /t/c/{token}`: a tracked link; records `email_click` and redirects (302) to the
///   signed target, so it is not an open redirect.
/// - `GET /u/{token}`: a page with one button; records nothing (link scanners fetch GETs).
/// - `POST /u/{token}` with `List-Unsubscribe=One-Click` (RFC 8058, also sent by the page's
///   button): records `unsubscribe` and answers 200 only after Kafka acknowledged it.
///
/// A forged or malformed token gets 404, an expired one 410, and neither records anything.
/// The event id is derived from the token, so a pixel loaded twice or a repeated unsubscribe
/// is one event downstream (unique opens and clicks).
struct TrackingRoutes: Sendable {
    let context: ServiceContext
    /// nil when no secret is configured: every token is then unknown (404).
    let signer: TrackingSigner?
    /// The first hit's time per token (a second hit is the same event, byte for byte).
    let firstSeen: FirstSeenTimes

    /// See ``TrackingSecrets/signer(environment:)``.
    static func signer(environment: [String: String]) throws -> TrackingSigner? {
        try TrackingSecrets.signer(environment: environment)
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("t/o/:token") { _, context in
            await track(context.parameters.get("token") ?? "", kind: .open)
        }
        router.get("t/c/:token") { _, context in
            await track(context.parameters.get("token") ?? "", kind: .click)
        }
        router.get("u/:token") { _, context -> Response in
            let text = context.parameters.get("token") ?? ""
            switch verify(text, kind: .unsubscribe) {
            case .failure(let error): return error.response
            case .success: return Self.html(.ok, Self.unsubscribePage(token: text))
            }
        }
        router.post("u/:token") { request, context in
            await unsubscribe(request, token: context.parameters.get("token") ?? "")
        }
    }

    /// The smallest transparent GIF (43 bytes).
    static let pixel: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ]

    private func count(_ kind: TrackingToken.Kind, _ result: String) {
        context.metrics.increment("funnel_tracking_requests_total", help: "Tracking and unsubscribe requests by link kind and result.",
                                  labels: ["kind": "\(kind)", "result": result])
    }

    /// The token's content if it is ours, of this kind and not expired; else the 404/410 reply.
    private func verify(_ text: String, kind: TrackingToken.Kind) -> Result<TrackingToken, ResponseError> {
        let verification = signer?.verify(Substring(text), now: Int64(Date().timeIntervalSince1970)) ?? .forged
        switch verification {
        case .valid(let token) where token.kind == kind:
            return .success(token)
        case .expired(let token) where token.kind == kind:
            count(kind, "expired")
            return .failure(ResponseError(IngestRoutes.errorReply(.gone, [FieldError(field: "token", reason: "link expired")])))
        default:
            count(kind, "unknown")
            return .failure(ResponseError(IngestRoutes.errorReply(.notFound, [FieldError(field: "token", reason: "unknown link")])))
        }
    }

    /// The token's activity event, or nil (logged) if it does not validate.
    private func event(_ token: TrackingToken, text: String) -> ProducerMessage? {
        // The id derives from the token: a second hit is the same event, with the first hit's time.
        let now = firstSeen.time(for: "tracking\u{0}" + text) { [EventID.derive("tracking", text)] }
        let activity = token.activity(at: now)
        guard activity.validate().isEmpty else {
            context.logger.error("signed tracking token yields an invalid activity", metadata: ["kind": "\(token.kind)"])
            return nil
        }
        let event = CloudEvent(id: EventID.derive("tracking", text), source: "funnel-ingest/tracking", type: TopicCatalog.activity,
                               time: now, subject: token.leadID, data: activity)
        return ProducerMessage(topic: TopicCatalog.activity, key: token.leadID, value: EventCoding.encode(event))
    }

    /// Sends the token's activity; true once Kafka acknowledged it.
    private func record(_ token: TrackingToken, text: String) async -> Bool {
        guard let message = event(token, text: text) else { return false }
        do {
            try await IngestRoutes.deliver([message], context: context)
            context.metrics.increment("funnel_produced_total", help: "Messages produced and acknowledged.", labels: ["topic": TopicCatalog.activity])
            return true
        } catch {
            context.logger.error("tracking event not acknowledged", metadata: ["kind": "\(token.kind)", "error": "\(error)"])
            return false
        }
    }

    /// Opens and clicks answer at once, without waiting for Kafka: the person gets the pixel or
    /// reaches the target even when Kafka is slow or down. The event's fate is counted when its
    /// delivery report comes (`result="recorded"` or `"unrecorded"`, the latter also logged).
    private func track(_ text: String, kind: TrackingToken.Kind) async -> Response {
        let token: TrackingToken
        switch verify(text, kind: kind) {
        case .failure(let error): return error.response
        case .success(let valid): token = valid
        }
        if let message = event(token, text: text) {
            let context = self.context
            let counted = self
            do {
                try context.producer.enqueue(message) { result in
                    switch result {
                    case .success: counted.count(kind, "recorded")
                    case .failure(let error):
                        counted.count(kind, "unrecorded")
                        context.logger.error("tracking event not acknowledged", metadata: ["kind": "\(kind)", "error": "\(error)"])
                    }
                }
            } catch {
                count(kind, "unrecorded")
                context.logger.error("tracking event not enqueued", metadata: ["kind": "\(kind)", "error": "\(error)"])
            }
        } else {
            count(kind, "unrecorded")
        }
        if kind == .click, let url = token.url {
            return Response(status: .found, headers: [.location: url, .cacheControl: "no-store"])
        }
        return Response(status: .ok, headers: [.contentType: "image/gif", .cacheControl: "no-store, max-age=0"],
                        body: .init(byteBuffer: ByteBuffer(bytes: Self.pixel)))
    }

    /// RFC 8058 one-click unsubscribe: a consent revocation is never lost, so without Kafka's
    /// acknowledgement the answer is 503 + Retry-After and the sender retries.
    private func unsubscribe(_ request: Request, token text: String) async -> Response {
        let token: TrackingToken
        switch verify(text, kind: .unsubscribe) {
        case .failure(let error): return error.response
        case .success(let valid): token = valid
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 64 * 1024) } catch {
            return IngestRoutes.errorReply(.contentTooLarge, [FieldError(field: "", reason: "body larger than 65536 bytes")])
        }
        guard Self.isOneClick(body: String(buffer: body), mediaType: IngestRoutes.mediaType(request.headers)) else {
            count(.unsubscribe, "bad_request")
            return IngestRoutes.errorReply(.badRequest, [FieldError(field: "List-Unsubscribe",
                reason: "POST a form with List-Unsubscribe=One-Click (RFC 8058)")])
        }
        guard await record(token, text: text) else {
            count(.unsubscribe, "unrecorded")
            var response = IngestRoutes.errorReply(.serviceUnavailable, [FieldError(field: "", reason: "not recorded; retry")])
            response.headers[.retryAfter] = "5"
            return response
        }
        count(.unsubscribe, "recorded")
        return Self.html(.ok, Self.page(title: "Unsubscribed", body: "<p>You will not receive these e-mails any more.</p>"))
    }

    /// The form field `List-Unsubscribe=One-Click`, URL-encoded or multipart.
    static func isOneClick(body: String, mediaType: String?) -> Bool {
        switch mediaType {
        case "application/x-www-form-urlencoded":
            return IngestRoutes.formPairs(body).contains { $0.name == "List-Unsubscribe" && $0.value == "One-Click" }
        case "multipart/form-data":
            let normalised = body.replacingOccurrences(of: "\r\n", with: "\n")
            return normalised.contains("name=\"List-Unsubscribe\"\n\nOne-Click\n")
        default:
            return false
        }
    }

    static func unsubscribePage(token: String) -> String {
        // The token is base64url and a dot only (verified), so it is safe inside the attribute.
        page(title: "Unsubscribe", body: """
            <form method="post" action="/u/\(token)">
            <input type="hidden" name="List-Unsubscribe" value="One-Click">
            <p>Stop receiving these e-mails?</p><button type="submit">Unsubscribe</button>
            </form>
            """)
    }

    static func page(title: String, body: String) -> String {
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(title)</title></head><body><h1>\(title)</h1>\(body)</body></html>"
    }

    static func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// A ready reply carried through `Result`.
struct ResponseError: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}
