import Foundation
import FunnelRuntime
import FunnelDomain
import FunnelKafka

/// The whole pipeline on one machine: a private broker, the topic catalogue, and the five
/// processes as separate OS processes. Used by `funnel dev` and the end-to-end tests.
public final class LocalPipeline: Sendable {
    public static let services = ["funnel-ingest", "funnel-enrich", "funnel-score", "funnel-route", "funnel-followup"]

    public let broker: LocalBroker
    public let binDirectory: String
    public let logDirectory: String
    /// HTTP port per service (ingest's is the public API).
    public let ports: [String: Int]
    /// The dev API key (source `dev`, scope `admin`) created at start and given to funnel-ingest
    /// through `FUNNEL_API_KEYS` (as its hash); clients send it as `Authorization: Bearer <key>`.
    public let apiKey: String
    private let apiKeyLine: String
    /// Signs the tracking links of this run (`FUNNEL_TRACKING_SECRET` of ingest and follow-up).
    public let trackingSecret = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: .min ... .max)) }.joined()
    private let children = Locked<[String: ChildProcess]>([:])

    public var ingestURL: String { "http://127.0.0.1:\(ports["funnel-ingest"]!)" }

    /// `Authorization: Bearer <dev key>`, for requests to the ingest API.
    public var authorization: [String: String] { ["Authorization": "Bearer \(apiKey)"] }

    private init(broker: LocalBroker, binDirectory: String, logDirectory: String, ports: [String: Int],
                 apiKey: (key: String, line: String)) {
        self.apiKey = apiKey.key
        self.apiKeyLine = apiKey.line
        self.broker = broker
        self.binDirectory = binDirectory
        self.logDirectory = logDirectory
        self.ports = ports
    }

    /// Starts the broker, creates the topics and starts every service; waits until all are ready.
    public static func start(binDirectory: String, logDirectory: String, ingestPort: Int? = nil,
                             partitions: Int = 6, extraEnvironment: [String: String] = [:]) async throws -> LocalPipeline {
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let broker = try await LocalBroker.start(logPath: logDirectory + "/tansu.log")
        do {
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap))
            try await TopicSetup.create(admin: admin, partitions: partitions)
            var ports: [String: Int] = [:]
            for service in services { ports[service] = try (service == "funnel-ingest" ? ingestPort : nil) ?? Network.freePort() }
            let key = try await createAPIKey(binDirectory: binDirectory, source: "dev", scopes: ["admin"], scratchDirectory: logDirectory)
            let pipeline = LocalPipeline(broker: broker, binDirectory: binDirectory, logDirectory: logDirectory, ports: ports, apiKey: key)
            for service in services { try pipeline.startService(service, extraEnvironment: extraEnvironment) }
            try await pipeline.waitUntilReady()
            return pipeline
        } catch {
            await broker.stop()
            throw error
        }
    }

    /// The environment `funnel dev` gives each process (the same variables as docker-compose.yml).
    public func environment(for service: String, extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["KAFKA_BROKERS"] = broker.bootstrap
        env["KAFKA_SESSION_TIMEOUT_MS"] = env["KAFKA_SESSION_TIMEOUT_MS"] ?? "6000"
        env["KAFKA_HEARTBEAT_INTERVAL_MS"] = env["KAFKA_HEARTBEAT_INTERVAL_MS"] ?? "500"
        env["FUNNEL_HTTP_PORT"] = String(ports[service]!)
        env["FUNNEL_CONFIG_DIR"] = ProjectPaths.configDirectory
        env["FUNNEL_SERVICE"] = service
        env["FUNNEL_PARENT_PID"] = String(getpid())
        env = env.merging(extra) { $1 }
        if service == "funnel-ingest" { // the dev key beside any keys given by the caller
            env["FUNNEL_API_KEYS"] = ([apiKeyLine] + (env["FUNNEL_API_KEYS"].map { [$0] } ?? [])).joined(separator: ";")
        }
        // Tracking links work in dev: a secret for this run unless one is given.
        env["FUNNEL_TRACKING_SECRET"] = env["FUNNEL_TRACKING_SECRET"] ?? trackingSecret
        return env
    }

    /// A new API key from `funnel keys create --json` (the `funnel` executable in `binDirectory`):
    /// the key and its `api-keys.txt` / `FUNNEL_API_KEYS` line (which holds only the key's hash).
    public static func createAPIKey(binDirectory: String, source: String, scopes: [String],
                                    scratchDirectory: String) async throws -> (key: String, line: String) {
        let output = scratchDirectory + "/.key-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: output) } // it holds the key
        let child = try ChildProcess(name: "funnel keys create", executable: binDirectory + "/funnel",
                                     arguments: ["keys", "create", "--source", source, "--json"] + scopes.flatMap { ["--scope", $0] },
                                     outputPath: output)
        let status = await child.waitUntilExit()
        let data = FileManager.default.contents(atPath: output) ?? Data()
        guard status == 0, let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let key = object["key"] as? String, let line = object["line"] as? String else {
            throw ConfigError("`\(binDirectory)/funnel keys create` failed (status \(status)): \(String(decoding: data.prefix(500), as: UTF8.self))")
        }
        return (key, line)
    }

    /// Starts (or restarts) one service; its output goes to `<logDirectory>/<service>.log`.
    public func startService(_ service: String, extraEnvironment: [String: String] = [:]) throws {
        let child = try ChildProcess(name: service, executable: binDirectory + "/" + service, arguments: [],
                                     environment: environment(for: service, extra: extraEnvironment),
                                     outputPath: logDirectory + "/\(service).log")
        children.withLock { $0[service] = child }
    }

    public func process(_ service: String) -> ChildProcess? { children.value[service] }

    /// Waits until every service answers `/readyz` with 200.
    public func waitUntilReady(timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        for service in Self.services {
            while !(await HTTPProbe.isReady(port: ports[service]!)) {
                guard ContinuousClock.now < deadline, children.value[service]?.isRunning == true else {
                    throw ConfigError("\(service) did not become ready; see \(logDirectory)/\(service).log")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Stops every service gracefully (SIGTERM), then the broker.
    public func stop() async {
        for child in children.value.values { child.signal(SIGTERM) }
        for child in children.value.values { await child.waitUntilExit() }
        await broker.stop()
    }
}
