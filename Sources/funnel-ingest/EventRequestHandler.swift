import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers `POST /v1/leads`, `/v1/activities` and `/v1/outcomes` on the connection's event
/// loop: the headers are checked as soon as they arrive (key, scope, rate limit, content type:
/// a rejected request's body is read and dropped, never held), the body is collected and
/// converted by ``IngestRoutes``, and the reply is written when Kafka's delivery report settles
/// the last event. No Swift task runs per request. Every other request passes on to the router.
///
/// One per connection (see `ConnectionHandlers`). Requests arrive one at a time: the pipelining
/// handler in front holds the next one until this one's reply is written.
final class EventRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// A request for the router: its parts pass on.
        case passing
        /// Collecting an admitted event request's body (in ``body``).
        case collecting(IngestRoutes.EventEndpoint, IngestRoutes.Admitted, keepAlive: Bool)
        /// Rejected by its headers: the reply is written, the body is read and dropped.
        case discarding(keepAlive: Bool)
        /// The request is read; its reply is pending.
        case answering
        /// A reply ended the connection (`Connection: close`): nothing more is read.
        case closing
    }

    private let routes: IngestRoutes
    private var state = State.idle
    /// The body read so far; nil before the first chunk.
    private var body: ByteBuffer?
    /// Over ``IngestRoutes/maxBody``: the rest is read and dropped, and the reply is a 413.
    private var bodyTooLarge = false
    /// Set while a reply is written. Writing a reply's end hands over the next pipelined
    /// request, re-entering `channelRead`; a reply decided there is written on the next loop
    /// tick, so pipelined requests never nest calls without bound.
    private var writing = false
    /// The client closed its side while a reply was pending: passed on once the reply is out.
    private var inputClosedWhileAnswering = false
    private var dates = HTTPDate()
    /// The event request being answered: its route and when its head arrived (``HTTPMetrics``).
    private var timing: (route: String, started: ContinuousClock.Instant)?
    /// ``HTTPMetrics`` histograms by route and status, resolved once per connection.
    private var histograms: [String: MetricsRegistry.Histogram] = [:]

    init(routes: IngestRoutes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.idle, .head(let head)):
            // Any request, for the router too: a target over the limit is answered here, its body dropped.
            if let path = head.path, path.utf8.count > IngestRoutes.maxTarget {
                let keepAlive = head.headerFields[.connection] != "close"
                state = .discarding(keepAlive: keepAlive)
                respond(IngestRoutes.errorBody(.uriTooLong, [FieldError(field: "", reason: "request target (path and query) longer than \(IngestRoutes.maxTarget) bytes")]),
                        keepAlive: keepAlive, context: context)
                return
            }
            guard head.method == .post, let path = head.path, let endpoint = IngestRoutes.EventEndpoint.forPost(path: path) else {
                state = .passing
                context.fireChannelRead(data)
                return
            }
            timing = (endpoint.path, ContinuousClock.now)
            // As the router's loop does: only an exact `close` ends the connection.
            let keepAlive = head.headerFields[.connection] != "close"
            switch routes.admit(endpoint, headers: head.headerFields) {
            case .rejected(let reply):
                state = .discarding(keepAlive: keepAlive)
                respond(reply, keepAlive: keepAlive, context: context)
            case .admitted(let admitted):
                state = .collecting(endpoint, admitted, keepAlive: keepAlive)
                body = nil
                bodyTooLarge = false
                if head.headerFields[.expect]?.lowercased() == "100-continue" {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                }
            }
        case (.passing, _):
            if case .end = part { state = .idle }
            context.fireChannelRead(data)
        case (.collecting, .body(var chunk)):
            if bodyTooLarge { break }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > IngestRoutes.maxBody {
                bodyTooLarge = true
                body = nil
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case (.collecting(let endpoint, let admitted, let keepAlive), .end):
            state = .answering
            let bytes = bodyTooLarge ? nil : (body ?? context.channel.allocator.buffer(capacity: 0))
            body = nil
            answer(routes.admit(endpoint, admitted, body: bytes), keepAlive: keepAlive, context: context)
        case (.discarding, .body), (.closing, _):
            break
        case (.discarding(let keepAlive), .end):
            state = keepAlive ? .idle : .closing
        default:
            // Parts out of order cannot come from the HTTP decoder and the pipelining handler.
            context.fireErrorCaught(ChannelError.inappropriateOperationForState)
        }
    }

    /// NIO's decoder refuses a request head (request line and headers together) over 80 KiB
    /// before any part of it reaches a handler, so a target that long cannot be answered 414:
    /// it is answered 431 here, in the API's error shape, and the connection is closed (the
    /// decoder reads nothing more). Any other error passes on.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard case .idle = state, let parserError = error as? HTTPParserError, parserError == .headerOverflow else {
            return context.fireErrorCaught(error)
        }
        state = .closing
        var reply = IngestRoutes.errorBody(.requestHeaderFieldsTooLarge, [FieldError(
            field: "", reason: "request head (request line and headers) larger than \(IngestRoutes.maxHead) bytes")])
        reply.headers[.connection] = "close"
        respond(reply, keepAlive: false, context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Passed on now, the router's side would end the connection before the reply is written.
        if case .answering = state, let event = event as? ChannelEvent, event == .inputClosed {
            inputClosedWhileAnswering = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func answer(_ admission: IngestRoutes.Admission, keepAlive: Bool, context: ChannelHandlerContext) {
        switch admission {
        case .reply(let reply):
            respond(reply, keepAlive: keepAlive, context: context)
        case .deliver(let messages, let reply):
            // The delivery thread settles the batch; the reply is made and written on this event loop.
            let writeOnLoop = writer(keepAlive: keepAlive, context: context)
            routes.context.producer.send(messages) { delivered in writeOnLoop { reply(delivered) } }
        }
    }

    /// Writes `reply` now, or on the next loop tick when called from inside a reply's write.
    private func respond(_ reply: Reply, keepAlive: Bool, context: ChannelHandlerContext) {
        guard writing else { return write(reply, keepAlive: keepAlive, context: context) }
        writer(keepAlive: keepAlive, context: context)({ reply })
    }

    /// Writes the reply `make` returns, made on the connection's loop at its next tick; callable
    /// from any thread. (Created on the loop.)
    private func writer(keepAlive: Bool, context: ChannelHandlerContext) -> @Sendable (@escaping @Sendable () -> Reply) -> Void {
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        return { make in
            loop.execute {
                let (handler, context) = bound.value
                handler.write(make(), keepAlive: keepAlive, context: context)
            }
        }
    }

    private func write(_ reply: Reply, keepAlive: Bool, context: ChannelHandlerContext) {
        if let timing {
            self.timing = nil
            let code = Int(reply.status.code), key = "\(timing.route) \(code)"
            let histogram = histograms[key] ?? HTTPMetrics.histogram(routes.context.metrics, route: timing.route, code: code)
            histograms[key] = histogram
            histogram.observe((ContinuousClock.now - timing.started).seconds)
        }
        var head = HTTPResponse(status: reply.status, headerFields: reply.headers)
        head.headerFields[.contentLength] = String(reply.body.readableBytes)
        head.headerFields[.date] = dates.now()
        // Before the end is written: writing it hands over the next pipelined request.
        if !keepAlive {
            state = .closing
        } else if case .answering = state {
            state = .idle
        }
        let passInputClosed = inputClosedWhileAnswering
        inputClosedWhileAnswering = false
        writing = true
        defer { writing = false }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(reply.body)), promise: nil)
        guard !keepAlive || passInputClosed else {
            return context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        // Close, or let the router's side end the connection, only once the reply is out:
        // closing at once would drop what the socket has not taken yet.
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in
            if passInputClosed { bound.value.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
            if !keepAlive { bound.value.close(promise: nil) }
        }
    }
}

/// The `Date` header's IMF-fixdate, formatted once per second.
struct HTTPDate {
    private var second = -1
    private var text = ""

    mutating func now() -> String {
        var seconds = time(nil)
        if seconds != second {
            second = seconds
            var parts = tm()
            gmtime_r(&seconds, &parts)
            text = Self.format(parts)
        }
        return text
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
    static func format(_ t: tm) -> String {
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(t.tm_wday)]), \(two(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) \(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) GMT"
    }
}
