import Foundation
import FunnelRuntime
import FunnelDomain
import FunnelKafka
#if canImport(Glibc)
import Glibc
#endif

/// The whole pipeline on one machine: a private broker, the topic catalogue, a local SMTP sink
/// (funnel-followup's mail lands in its Maildir) and the five processes as separate OS
/// processes. Used by `funnel dev` and the end-to-end tests.
public final class LocalPipeline: Sendable {
    public static let services = ["funnel-ingest", "funnel-enrich", "funnel-score", "funnel-route", "funnel-followup"]

    public let broker: LocalBroker
    /// Where funnel-followup delivers (`FUNNEL_SMTP_URL`); mail lands in `<logDirectory>/maildir/new`.
    public let smtp: LocalSMTPSink
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
    /// Supervised instances by `service#instance` (instance 0 is the one `start` runs).
    private let instances = Locked<[String: Supervised]>([:])
    private let restartCounts = Locked<[String: Int]>([:])
    /// HTTP ports of extra instances (`startInstance`), by `service#instance`.
    private let instancePorts = Locked<[String: Int]>([:])

    public var ingestURL: String { "http://127.0.0.1:\(ports["funnel-ingest"]!)" }

    /// `Authorization: Bearer <dev key>`, for requests to the ingest API.
    public var authorization: [String: String] { ["Authorization": "Bearer \(apiKey)"] }

    private init(broker: LocalBroker, smtp: LocalSMTPSink, binDirectory: String, logDirectory: String, ports: [String: Int],
                 apiKey: (key: String, line: String)) {
        self.apiKey = apiKey.key
        self.apiKeyLine = apiKey.line
        self.broker = broker
        self.smtp = smtp
        self.binDirectory = binDirectory
        self.logDirectory = logDirectory
        self.ports = ports
    }

    /// Starts the broker, creates the topics and starts every service; waits until all are ready.
    /// - Parameter smtp: the SMTP sink's behaviour (its Maildir is always `<logDirectory>/maildir`).
    public static func start(binDirectory: String, logDirectory: String, ingestPort: Int? = nil,
                             partitions: Int = 6, extraEnvironment: [String: String] = [:],
                             smtp smtpOptions: LocalSMTPSink.Options = .init()) async throws -> LocalPipeline {
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let broker = try await LocalBroker.start(logPath: logDirectory + "/tansu.log")
        var sinkOptions = smtpOptions
        sinkOptions.maildir = logDirectory + "/maildir"
        try? FileManager.default.removeItem(atPath: logDirectory + "/maildir") // a previous run's mail
        let smtp: LocalSMTPSink
        do { smtp = try await LocalSMTPSink.start(options: sinkOptions, logPath: logDirectory + "/smtp-sink.log") } catch {
            await broker.stop()
            throw error
        }
        do {
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap))
            try await TopicSetup.create(admin: admin, partitions: partitions)
            var ports: [String: Int] = [:]
            for service in services { ports[service] = try (service == "funnel-ingest" ? ingestPort : nil) ?? Network.freePort() }
            let key = try await createAPIKey(binDirectory: binDirectory, source: "dev", scopes: ["admin"], scratchDirectory: logDirectory)
            let pipeline = LocalPipeline(broker: broker, smtp: smtp, binDirectory: binDirectory, logDirectory: logDirectory, ports: ports, apiKey: key)
            for service in services { try await pipeline.startService(service, extraEnvironment: extraEnvironment) }
            try await pipeline.waitUntilReady()
            return pipeline
        } catch {
            smtp.stop()
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
        if service == "funnel-followup" { // mail to the local sink; links point at this ingest
            env["FUNNEL_SMTP_URL"] = env["FUNNEL_SMTP_URL"] ?? smtp.url + "?connections=4"
            env["FUNNEL_MAIL_FROM"] = env["FUNNEL_MAIL_FROM"] ?? "Funnel Dev <hello@funnel-dev.example>"
            env["FUNNEL_PUBLIC_URL"] = env["FUNNEL_PUBLIC_URL"] ?? ingestURL
        }
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

    /// Starts (or restarts) one service (instance 0) under supervision; its output goes to
    /// `<logDirectory>/<service>.log`. A running instance 0 is stopped gracefully first.
    public func startService(_ service: String, extraEnvironment: [String: String] = [:]) async throws {
        try await startSupervised(service, instance: 0, port: ports[service]!, extraEnvironment: extraEnvironment)
    }

    /// Starts another replica of `service` (same consumer group) on its own HTTP port, under
    /// supervision; its output goes to `<logDirectory>/<service>-<instance>.log`. Returns the port.
    @discardableResult
    public func startInstance(_ service: String, instance: Int, extraEnvironment: [String: String] = [:]) async throws -> Int {
        guard instance != 0 else { try await startService(service, extraEnvironment: extraEnvironment); return ports[service]! }
        let port = try Network.freePort()
        instancePorts.withLock { $0[Self.key(service, instance)] = port }
        try await startSupervised(service, instance: instance, port: port, extraEnvironment: extraEnvironment)
        return port
    }

    /// Stops one instance gracefully (SIGTERM) and waits until it exited; it is not restarted.
    public func stopInstance(_ service: String, instance: Int) async {
        let supervised = instances.withLock { $0.removeValue(forKey: Self.key(service, instance)) }
        await supervised?.stop()
    }

    /// The HTTP port of an instance (instance 0: `ports[service]`).
    public func port(_ service: String, instance: Int = 0) -> Int? {
        instance == 0 ? ports[service] : instancePorts.value[Self.key(service, instance)]
    }

    /// SIGKILLs the command of `service` (instance 0 unless given); the supervisor restarts it.
    /// Returns once the process is dead (its exit observed): true if it was running and killed.
    @discardableResult
    public func kill(_ service: String, instance: Int = 0) async -> Bool {
        guard let supervised = instances.value[Self.key(service, instance)] else { return false }
        return await supervised.kill()
    }

    /// How often the supervisor restarted each service (all instances) after an unrequested exit.
    public var restarts: [String: Int] { restartCounts.value }

    /// The current process of a service instance (it changes when the supervisor restarts it).
    public func process(_ service: String, instance: Int = 0) -> ChildProcess? {
        instances.value[Self.key(service, instance)]?.current
    }

    private static func key(_ service: String, _ instance: Int) -> String { "\(service)#\(instance)" }

    private func startSupervised(_ service: String, instance: Int, port: Int, extraEnvironment: [String: String]) async throws {
        let key = Self.key(service, instance)
        // A running instance is stopped first (it holds the port).
        await instances.withLock { $0.removeValue(forKey: key) }?.stop()
        var environment = environment(for: service, extra: extraEnvironment)
        environment["FUNNEL_HTTP_PORT"] = String(port)
        let env = environment
        let log = logDirectory + (instance == 0 ? "/\(service).log" : "/\(service)-\(instance).log")
        let executable = binDirectory + "/" + service
        let name = instance == 0 ? service : "\(service)#\(instance)"
        let spawn: @Sendable () throws -> ChildProcess = {
            try ChildProcess(name: name, executable: executable, arguments: [], environment: env, outputPath: log)
        }
        let first = try spawn()
        let counts = restartCounts
        let supervised = Supervised(name: name, first: first, spawn: spawn) { counts.withLock { $0[service, default: 0] += 1 } }
        instances.withLock { $0[key] = supervised }
    }

    /// Waits until every service answers `/readyz` with 200.
    public func waitUntilReady(timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        for service in Self.services {
            while !(await HTTPProbe.isReady(port: ports[service]!)) {
                guard ContinuousClock.now < deadline, instances.value[Self.key(service, 0)] != nil else {
                    throw ConfigError("\(service) did not become ready; see \(logDirectory)/\(service).log")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Stops every service instance gracefully (SIGTERM; no restarts from here on), then the SMTP
    /// sink and the broker.
    public func stop() async {
        let all = instances.withLock { i -> [Supervised] in defer { i = [:] }; return Array(i.values) }
        await withTaskGroup(of: Void.self) { group in
            for supervised in all { group.addTask { await supervised.stop() } }
        }
        smtp.stop()
        await broker.stop()
    }
}

/// One supervised service instance: when its process exits without being asked to stop, it is
/// started again after a backoff (0.5 s doubling to 10 s; back to 0.5 s once a process ran 30 s).
final class Supervised: Sendable {
    static let initialBackoff: Duration = .milliseconds(500)
    static let maxBackoff: Duration = .seconds(10)
    static let healthyAfter: Duration = .seconds(30)

    let name: String
    private struct State {
        var current: ChildProcess
        var stopping = false
    }
    private let state: Locked<State>
    private let loop = Locked<Task<Void, Never>?>(nil)

    init(name: String, first: ChildProcess, spawn: @escaping @Sendable () throws -> ChildProcess, onRestart: @escaping @Sendable () -> Void) {
        self.name = name
        state = Locked(State(current: first))
        let state = self.state
        loop.withLock { $0 = Task {
            var backoff = Self.initialBackoff
            var startedAt = ContinuousClock.now
            while true {
                let child = state.value.current
                let command = await Self.commandPID(of: child)
                let status = await child.waitUntilExit()
                if state.value.stopping || Task.isCancelled { return }
                // If the watchdog itself died, its command may live on (holding the port): end it.
                if let command, await Self.killOrphan(command) {
                    FileHandle.standardError.write(Data("[supervisor] \(name): its watchdog died; killed the orphaned process \(command.pid)\n".utf8))
                }
                if ContinuousClock.now - startedAt >= Self.healthyAfter { backoff = Self.initialBackoff }
                FileHandle.standardError.write(Data("[supervisor] \(name) exited (status \(status)) without being asked to; restarting in \(backoff)\n".utf8))
                // The backoff is the supervisor's policy, not a synchronisation; stop() cancels it.
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, Self.maxBackoff)
                do {
                    // Decide and swap under the lock, so stop() either sees the new child or prevents it.
                    let started = try state.withLock { s -> Bool in
                        guard !s.stopping else { return false }
                        s.current = try spawn()
                        return true
                    }
                    guard started else { return }
                    startedAt = ContinuousClock.now
                    onRestart()
                } catch {
                    FileHandle.standardError.write(Data("[supervisor] cannot restart \(name): \(error)\n".utf8))
                }
            }
        } }
    }

    var current: ChildProcess { state.value.current }

    /// The command's pid, once the watchdog has started it (nil if it exits first).
    static func commandPID(of child: ChildProcess) async -> (pid: pid_t, cmdline: Data)? {
        let deadline = ContinuousClock.now + .seconds(5)
        while child.isRunning, ContinuousClock.now < deadline {
            if let pid = child.commandPID, let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") { return (pid, cmdline) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// SIGKILLs `pid` if it is still alive (not a zombie) and waits (bounded) until it is gone.
    static func killOrphan(_ command: (pid: pid_t, cmdline: Data)) async -> Bool {
        let pid = command.pid
        // The same process, not a new one that reused the pid.
        guard FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") == command.cmdline else { return false }
        func alive() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return !stat[stat.index(after: close)...].hasPrefix(" Z")
        }
        guard alive(), Glibc.kill(pid, SIGKILL) == 0 else { return false }
        let deadline = ContinuousClock.now + .seconds(5)
        while alive(), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return true
    }

    /// SIGTERM, then waits until the process exited (killed after ``ChildProcess/stopGrace``);
    /// no restart follows.
    func stop() async {
        let child = state.withLock { s -> ChildProcess in s.stopping = true; return s.current }
        await child.terminate()
        let task = loop.value
        task?.cancel()
        await task?.value
    }

    /// SIGKILLs the command (not the watchdog, which would orphan it) and waits for the exit.
    func kill() async -> Bool {
        let child = current
        // Right after a (re)start the watchdog may not have forked the command yet.
        let deadline = ContinuousClock.now + .seconds(5)
        var pid = child.commandPID
        while pid == nil, child.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
            pid = child.commandPID
        }
        guard let pid, Glibc.kill(pid, SIGKILL) == 0 else { return false }
        await child.waitUntilExit()
        return true
    }
}
