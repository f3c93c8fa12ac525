import Foundation
import Hummingbird
import HummingbirdCore
import Logging

/// The HTTP side of every process: `/healthz`, `/readyz`, `/metrics`, plus routes a process adds.
public enum HTTPService {
    /// A `text/plain` reply.
    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A router with the health and metrics endpoints; every route (also those a process adds
    /// later) is counted and timed in ``HTTPMetrics``.
    public static func router(health: HealthState, metrics: MetricsRegistry) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: HTTPMetricsMiddleware(metrics: metrics))
        router.get("healthz") { _, _ in text(.ok, "ok\n") }
        router.get("readyz") { _, _ in
            let failures = health.failures
            return failures.isEmpty ? text(.ok, "ready\n") : text(.serviceUnavailable, "not ready\n" + failures.map { $0 + "\n" }.joined())
        }
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        return router
    }

    /// The application listening on `port` (all interfaces); `handlers` answer their requests
    /// before the router.
    public static func application(router: Router<BasicRequestContext>, port: Int, handlers: ConnectionHandlers = ConnectionHandlers(),
                                   logger: Logger) -> some ApplicationProtocol {
        let server = HTTPServerBuilder { responder in
            HTTP1ChannelWithHandlers(http1: HTTP1Channel(responder: responder), handlers: handlers)
        }
        return Application(router: router, server: server, configuration: .init(address: .hostname("0.0.0.0", port: port)), logger: logger)
    }
}
