import Foundation
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
    private let children = Locked<[String: ChildProcess]>([:])

    public var ingestURL: String { "http://127.0.0.1:\(ports["funnel-ingest"]!)" }

    private init(broker: LocalBroker, binDirectory: String, logDirectory: String, ports: [String: Int]) {
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
            let pipeline = LocalPipeline(broker: broker, binDirectory: binDirectory, logDirectory: logDirectory, ports: ports)
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
        return env.merging(extra) { $1 }
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

/// A minimal HTTP/1.1 client over a plain socket, for local probes and the demo generator.
/// (FoundationNetworking's URLSession links libcurl and trapped under concurrent use here.)
/// Blocking socket calls run on a dispatch queue, never on the cooperative pool.
public enum HTTPProbe {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private static let queue = DispatchQueue(label: "funnel.http-probe", attributes: .concurrent)

    public static func isReady(port: Int) async -> Bool {
        (try? await get(port: port, path: "/readyz"))?.status == 200
    }

    /// GET `path` on 127.0.0.1:`port`; returns the status and the body.
    public static func get(port: Int, path: String) async throws -> (status: Int, body: String) {
        try await request(port: port, head: "GET \(path) HTTP/1.1", body: nil)
    }

    /// POST a JSON body; returns the status and the body.
    public static func post(port: Int, path: String, json: Data) async throws -> (status: Int, body: String) {
        try await request(port: port, head: "POST \(path) HTTP/1.1", body: json)
    }

    private static func request(port: Int, head: String, body: Data?) async throws -> (status: Int, body: String) {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try exchange(port: port, head: head, body: body)) }
                catch { continuation.resume(throwing: error) }
            }
        }
    }

    private static func exchange(port: Int, head: String, body: Data?) throws -> (status: Int, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect to 127.0.0.1:\(port): errno \(errno)") }
        var request = Data("\(head)\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n".utf8)
        if let body {
            request.append(Data("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n".utf8))
        }
        request.append(Data("\r\n".utf8))
        if let body { request.append(body) }
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw Failure(description: "send: errno \(errno)") }
                sent += n
            }
        }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n", maxSplits: 1).first,
              let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw Failure(description: "no HTTP response from 127.0.0.1:\(port)")
        }
        var payload = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        if text.lowercased().contains("transfer-encoding: chunked") { payload = dechunk(payload) }
        return (status, payload)
    }

    /// Decodes a chunked body (Hummingbird streams some responses).
    private static func dechunk(_ body: String) -> String {
        var out = ""
        var rest = Substring(body)
        while let lineEnd = rest.range(of: "\r\n") {
            guard let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            let bytes = rest[start...].utf8.prefix(size)
            out += String(decoding: bytes, as: UTF8.self)
            rest = rest[rest.utf8.index(start, offsetBy: min(size, rest[start...].utf8.count))...]
            if rest.hasPrefix("\r\n") { rest = rest.dropFirst(2) }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
