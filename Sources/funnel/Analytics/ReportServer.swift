import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Hummingbird
import Logging
import Synchronization

/// The live report of `funnel report --serve PORT` (and of `funnel dev`): a consumer of its own
/// (a fresh group, from the beginning, never committing) keeps the history current; `/` is the
/// HTML page (it reloads itself every 5 s), `/report.json` the JSON.
final class ReportServer: Sendable {
    let configuration: KafkaConfiguration
    let window: ReportWindow
    private let history = Mutex(FunnelHistory())
    private let logger: Logger

    init(configuration: KafkaConfiguration, window: ReportWindow = try! ReportWindow(since: nil, until: nil)) throws {
        self.configuration = configuration
        self.window = window
        var logger = Logger(label: "funnel.report")
        logger.logLevel = .critical
        self.logger = logger
    }

    func report() -> FunnelReport {
        let snapshot = history.withLock { $0 }
        return FunnelReport.make(snapshot, since: window.since, until: window.until, generatedAt: Timestamp.format(Date()))
    }

    /// Follows the topics until cancelled.
    func follow() async throws {
        var config = configuration
        config["log_level"] = "3"
        let consumer = try KafkaConsumer(configuration: config, groupID: "funnel-report-\(UUID().uuidString.prefix(8))",
                                         topics: FunnelHistory.topics, logger: logger)
        do {
            for try await message in consumer.messages {
                (message.value ?? []).withUnsafeBytes { bytes in
                    _ = history.withLock { $0.add(json: bytes, topic: message.topic) }
                }
            }
        } catch is CancellationError {}
        await consumer.close()
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: ReportHTML.render(self.report(), refresh: 5))))
        }
        router.get("report.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(bytes: try ReportJSON.encode(self.report()))))
        }
        return router
    }

    /// Serves on `port` (127.0.0.1) and follows the topics, until cancelled or Ctrl-C.
    func run(port: Int, host: String = "127.0.0.1") async throws {
        let app = Application(router: router(), configuration: .init(address: .hostname(host, port: port)), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.follow() }
            group.addTask { try await app.runService() }
            try await group.next()
            group.cancelAll()
        }
    }
}
