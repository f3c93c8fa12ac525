import Foundation
import FunnelDomain
import FunnelProviders
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A local data provider for the tests: a Hummingbird server on 127.0.0.1 that answers
/// `GET /company?domain=` and `GET /person?...` according to its mode, and counts requests.
final class ProviderStandIn: Sendable {
    enum Mode: Sendable {
        /// 200 with the body.
        case ok(String)
        case notFound
        /// `status` for the next `times` requests (Retry-After when given), then `then`.
        indirect case failing(status: Int, times: Int, retryAfter: Int? = nil, then: Mode)
        /// Answers after `seconds` (longer than the client's timeout).
        case slow(seconds: Double, body: String)
    }

    /// The mode and what was asked, shared with the server's handler.
    final class Behaviour: Sendable {
        let state = Mutex<(mode: Mode, requests: Int, lastAuthorization: String?)>((.notFound, 0, nil))
    }
    private let behaviour: Behaviour
    let port: Int
    private let task: Task<Void, Error>

    private init(behaviour: Behaviour, port: Int, task: Task<Void, Error>) {
        self.behaviour = behaviour; self.port = port; self.task = task
    }

    var requests: Int { behaviour.state.withLock { $0.requests } }
    var lastAuthorization: String? { behaviour.state.withLock { $0.lastAuthorization } }
    func set(_ mode: Mode) { behaviour.state.withLock { $0.mode = mode } }

    /// Starts the server and returns once it listens.
    static func start(_ mode: Mode) async throws -> ProviderStandIn {
        let behaviour = Behaviour()
        behaviour.state.withLock { $0.mode = mode }
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            try await answer(request, behaviour)
        }
        router.get("company", use: handler)
        router.get("person", use: handler)
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "provider-stand-in")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0); continuation.finish() },
                              logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var port = 0
        for await bound in stream { port = bound }
        return ProviderStandIn(behaviour: behaviour, port: port, task: task)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private static func answer(_ request: Request, _ behaviour: Behaviour) async throws -> Response {
        let mode = behaviour.state.withLock { s -> Mode in
            s.requests += 1
            s.lastAuthorization = request.headers[.authorization]
            let current = s.mode
            if case .failing(let status, let times, let retryAfter, let then) = current {
                s.mode = times <= 1 ? then : .failing(status: status, times: times - 1, retryAfter: retryAfter, then: then)
            }
            return current
        }
        switch mode {
        case .ok(let body): return Self.json(.ok, body)
        case .notFound: return Self.json(.notFound, "{}")
        case .failing(let status, _, let retryAfter, _):
            var response = Self.json(HTTPResponse.Status(code: status), #"{"error":"stand-in"}"#)
            if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            return response
        case .slow(let seconds, let body):
            try await Task.sleep(for: .seconds(seconds))
            return Self.json(.ok, body)
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// A clock for the provider client's waits: records each wait and advances at once.
final class TestClock: ProviderClock {
    /// Starts one second after the test leads' enrichment time (2026-12-07T10:00:00Z).
    private let state = Mutex<(now: Int64, sleeps: [Int64])>(((Timestamp.milliseconds("2026-12-07T10:00:01Z") ?? 0), []))
    func now() -> Int64 { state.withLock { $0.now } }
    func sleep(milliseconds: Int64) async throws {
        try Task.checkCancellation()
        state.withLock { $0.now += max(0, milliseconds); $0.sleeps.append(milliseconds) }
    }
    func advance(_ milliseconds: Int64) { state.withLock { $0.now += milliseconds } }
    var sleeps: [Int64] { state.withLock { $0.sleeps } }
}
