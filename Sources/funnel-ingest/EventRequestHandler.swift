import Foundation
import FunnelDomain
import FunnelKafka
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `POST /v1/leads`, `/v1/activities` and `/v1/outcomes` on the connection's event
/// loop: the body is collected here, checked and converted by ``IngestRoutes/admit(_:headers:body:)``,
/// and the reply is written when Kafka's delivery report settles the last event. No Swift task
/// runs per request. Every other request passes on to the router.
///
/// One per connection (see `ConnectionHandlers`); requests arrive one at a time.
final class EventRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// A request for the router: its parts pass on.
        case passing
        /// Collecting an event request's body (in ``body``).
        case collecting(IngestRoutes.EventEndpoint, HTTPRequest)
        /// The request is read; its reply is pending.
        case answering
    }

    private let routes: IngestRoutes
    private var state = State.idle
    /// The body read so far; nil before the first chunk.
    private var body: ByteBuffer?
    /// Over ``IngestRoutes/maxBody``: the rest is read and dropped, and the reply is a 413.
    private var bodyTooLarge = false
    private var dates = HTTPDate()

    init(routes: IngestRoutes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.idle, .head(let head)):
            if head.method == .post, let path = head.path, let endpoint = IngestRoutes.EventEndpoint.forPost(path: path) {
                state = .collecting(endpoint, head)
                body = nil
                bodyTooLarge = false
            } else {
                state = .passing
                context.fireChannelRead(data)
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
        case (.collecting(let endpoint, let head), .end):
            state = .answering
            let bytes = bodyTooLarge ? nil : (body ?? context.channel.allocator.buffer(capacity: 0))
            body = nil
            answer(endpoint, head, bytes, context: context)
        default:
            // Parts out of order cannot come from the HTTP decoder and the pipelining handler.
            context.fireErrorCaught(ChannelError.inappropriateOperationForState)
        }
    }

    private func answer(_ endpoint: IngestRoutes.EventEndpoint, _ head: HTTPRequest, _ body: ByteBuffer?, context: ChannelHandlerContext) {
        let keepAlive = head.headerFields[.connection] != "close"
        switch routes.admit(endpoint, headers: head.headerFields, body: body) {
        case .reply(let reply):
            write(reply, keepAlive: keepAlive, context: context)
        case .deliver(let messages, let reply):
            // The delivery thread settles the batch; the reply is written on this event loop.
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            routes.context.producer.send(messages) { delivered in
                loop.execute {
                    let (handler, context) = bound.value
                    handler.write(reply(delivered), keepAlive: keepAlive, context: context)
                }
            }
        }
    }

    private func write(_ reply: Reply, keepAlive: Bool, context: ChannelHandlerContext) {
        var head = HTTPResponse(status: reply.status, headerFields: reply.headers)
        head.headerFields[.contentLength] = String(reply.body.readableBytes)
        head.headerFields[.date] = dates.now()
        // Idle before the end is written: writing it hands over the next pipelined request.
        state = .idle
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(reply.body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !keepAlive { context.close(promise: nil) }
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
