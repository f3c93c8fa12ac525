import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import Synchronization

/// Channel handlers that answer some requests on the connection's event loop, before the
/// router: for a hot path where Hummingbird's per-request Swift task, async streams and
/// executor hops cost more than the work (`funnel-ingest`'s event endpoints).
///
/// A handler sees every request's parts (`HTTPRequestPart`); it answers the ones it owns by
/// writing `HTTPResponsePart`s and passes the others on to the router unchanged. Requests on a
/// connection reach the handlers one at a time: the pipeline holds a pipelined request back
/// until the previous response is written, so responses keep their order whoever answers.
public final class ConnectionHandlers: Sendable {
    public typealias Make = @Sendable () -> any ChannelHandler
    private let makers = Mutex<[Make]>([])

    public init() {}

    /// Adds a handler; `make` is called once per connection.
    public func add(_ make: @escaping Make) {
        makers.withLock { $0.append(make) }
    }

    /// New handlers for one connection (none when no process added any).
    func makeAll() -> [any ChannelHandler] {
        makers.withLock { $0 }.map { $0() }
    }
}

/// Hummingbird's HTTP/1 channel with the process's ``ConnectionHandlers`` between the
/// connection-state handler (keep-alive, idle and graceful-shutdown bookkeeping, which then
/// counts their requests too) and the router's async channel.
struct HTTP1ChannelWithHandlers: ServerChildChannel {
    let http1: HTTP1Channel
    let handlers: ConnectionHandlers

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let handlers = self.handlers.makeAll()
            guard !handlers.isEmpty else { return value }
            let pipeline = channel.pipeline.syncOperations
            // Ordering of pipelined requests: only one request in flight per connection.
            try pipeline.addHandler(HTTPServerPipelineHandler(), position: .before(try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)))
            var previous: any ChannelHandler = try pipeline.handler(type: HTTPConnectionStateHandler.self)
            for handler in handlers {
                try pipeline.addHandler(handler, position: .after(previous))
                previous = handler
            }
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
