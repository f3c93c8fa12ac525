import FunnelKafka
import Logging
import ServiceLifecycle

/// Readiness that follows the broker: a metadata request every `interval` (answered within
/// `timeout`, or the `broker` condition of ``HealthState`` fails until one is). A paused or
/// unreachable broker makes `/readyz` answer 503 within a few seconds, and ready again once it
/// answers; nothing restarts.
struct BrokerWatch: Service {
    let configuration: KafkaConfiguration
    let health: HealthState
    let logger: Logger
    var interval: Duration = .seconds(2)
    var timeout: Duration = .seconds(2)

    func run() async throws {
        let admin = try KafkaAdmin(configuration: configuration, logger: logger)
        var reachable = true
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await admin.listTopics(timeout: timeout)
                if !reachable { logger.info("broker answers again") }
                reachable = true
                health.set("broker", ready: true)
            } catch {
                if reachable { logger.warning("broker does not answer", metadata: ["error": "\(error)"]) }
                reachable = false
                health.set("broker", ready: false, reason: "no metadata answer within \(timeout): \(error)")
            }
            // Returns at once on graceful shutdown (services stop one by one, in reverse order).
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
