import Foundation
import FunnelDomain
import FunnelKafka
import Hummingbird
import Logging
import ServiceLifecycle

/// The shared start-up of every Funnel process: JSON logs, the librdkafka check, a producer,
/// metrics and health, the HTTP server, and graceful shutdown on SIGTERM/SIGINT.
public struct ServiceContext: Sendable {
    public let environment: ServiceEnvironment
    public let logger: Logger
    public let producer: KafkaProducer
    public let metrics: MetricsRegistry
    public let health: HealthState
    /// Handlers answering requests on the connection's event loop, before the router.
    public let connectionHandlers: ConnectionHandlers

    /// A stage runner with this process's shared parts.
    public func stage(topics: [String], group: String? = nil,
                      makeHandler: @escaping @Sendable () -> StageRunner.Handler) -> StageRunner {
        StageRunner(name: environment.service, topics: topics, groupID: group ?? environment.service,
                    environment: environment, producer: producer, metrics: metrics, health: health,
                    logger: logger, makeHandler: makeHandler)
    }

    /// A stateful stage: a ``KeyedProcessor`` with its table, timers and changelog.
    /// `group` also names the stage (its metrics' `stage` label, its `/readyz` condition) when
    /// a process runs more than one.
    public func stage<P: KeyedProcessor>(_ processor: P, group: String? = nil, clock: any WallClock = SystemClock()) -> (StageRunner, StatefulStage<P>) {
        let stateful = StatefulStage(processor, environment: environment, clock: clock, health: health, logger: logger)
        let runner = StageRunner(name: group ?? environment.service, topics: processor.table.inputs, groupID: group ?? environment.service,
                                 environment: environment, producer: producer, metrics: metrics, health: health,
                                 logger: logger, consumerProperties: [:], makeProcessor: { stateful })
        return (runner, stateful)
    }

    /// A stage with its own processor (stateful stages, rebalance hooks).
    public func stage(topics: [String], group: String? = nil, consumerProperties: [String: String] = [:],
                      makeProcessor: @escaping @Sendable () -> any StageProcessor) -> StageRunner {
        StageRunner(name: environment.service, topics: topics, groupID: group ?? environment.service,
                    environment: environment, producer: producer, metrics: metrics, health: health,
                    logger: logger, consumerProperties: consumerProperties, makeProcessor: makeProcessor)
    }
}

public enum ServiceMain {
    /// Runs a process: `build` returns its services and router (health routes already added).
    /// - Parameter producerDefaults: librdkafka properties for this process's producer unless
    ///   set in the environment (e.g. the ingest's short delivery timeout).
    public static func run(
        service: String, defaultPort: Int, producerDefaults: [String: String] = [:],
        build: (ServiceContext, Router<BasicRequestContext>) throws -> [any Service]
    ) async {
        JSONLogHandler.bootstrap(service: service)
        var logger = Logger(label: service)
        logger[metadataKey: "pid"] = "\(getpid())"
        let environment = ServiceEnvironment(service: service, defaultPort: defaultPort)
        logger.info("starting", metadata: ["librdkafka": "\(LibrdkafkaVersion.string)", "brokers": "\(environment.kafka.brokers)",
                                           "http_port": "\(environment.httpPort)", "config_dir": "\(environment.configDirectory)"])
        do {
            try LibrdkafkaVersion.check()
            let producer = try KafkaProducer(configuration: environment.kafka.withDefaults(producerDefaults), logger: logger)
            let context = ServiceContext(environment: environment, logger: logger, producer: producer,
                                         metrics: MetricsRegistry(), health: HealthState(), connectionHandlers: ConnectionHandlers())
            context.metrics.counter("funnel_kafka_producer_renewals_total",
                                    help: "Times the producer's client was recreated after a fatal error (e.g. fenced by the broker after an outage).") {
                Double(producer.renewals)
            }
            ProcessMetrics.register(context.metrics, health: context.health)
            let router = HTTPService.router(health: context.health, metrics: context.metrics)
            let services = try build(context, router)
            let app = HTTPService.application(router: router, port: environment.httpPort, handlers: context.connectionHandlers, logger: logger)
            let watch = BrokerWatch(configuration: environment.kafka, health: context.health, logger: logger)
            let all: [any Service] = services + [app, watch, ParentWatch()]
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(
                services: all.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            await producer.close(timeout: .seconds(10))
            logger.info("stopped")
        } catch {
            logger.critical("cannot run: \(error)")
            exit(1)
        }
    }
}

/// Ends the process when the supervisor that started it with `FUNNEL_PARENT_PID` is gone
/// (`funnel dev`, tests), so no stage outlives it even if its watchdog was killed.
struct ParentWatch: Service {
    func run() async throws {
        if let parent = ProcessInfo.processInfo.environment["FUNNEL_PARENT_PID"].flatMap(Int32.init) {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if !Self.isAlive(parent) {
                    // To the process, not this thread: `raise` targets the calling thread, and the
                    // runtime's threads block signals, so it stayed pending and nothing stopped.
                    kill(getpid(), SIGTERM) // the service group shuts down gracefully
                    break
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        try await gracefulShutdown()
    }

    /// Alive and not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return true }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
