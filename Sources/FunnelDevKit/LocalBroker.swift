import Foundation
import FunnelRuntime
import FunnelKafka

/// A private Tansu broker (memory storage) on a free loopback port, for `funnel dev`,
/// tests and benchmarks. Data lives only as long as the process.
public final class LocalBroker: Sendable {
    public let port: Int
    public let process: ChildProcess
    /// `127.0.0.1:PORT`, for `KAFKA_BROKERS`.
    public var bootstrap: String { "127.0.0.1:\(port)" }

    public enum StartError: Error, CustomStringConvertible {
        case binaryNotFound(searched: [String])
        case notReady(port: Int, log: String)

        public var description: String {
            switch self {
            case .binaryNotFound(let searched):
                return "Tansu broker binary not found (looked in: \(searched.joined(separator: ", "))). "
                    + "Run scripts/bootstrap.sh, or set FUNNEL_TANSU to the binary."
            case .notReady(let port, let log):
                return "Tansu did not accept connections on 127.0.0.1:\(port); its output is in \(log)"
            }
        }
    }

    private init(port: Int, process: ChildProcess) {
        self.port = port
        self.process = process
    }

    /// Starts a broker and waits until it accepts connections.
    /// - Parameters:
    ///   - port: a fixed port, or `nil` for a free one.
    ///   - logPath: where the broker's output goes (default: a file in the temp directory).
    public static func start(port: Int? = nil, logPath: String? = nil) async throws -> LocalBroker {
        let binary = try findTansu()
        let port = try port ?? Network.freePort()
        let log = logPath ?? NSTemporaryDirectory() + "funnel-tansu-\(port).log"
        let url = "tcp://127.0.0.1:\(port)"
        let process = try ChildProcess(
            name: "tansu", executable: binary,
            arguments: ["broker", "--listener-url", url, "--advertised-listener-url", url,
                        "--storage-engine", "memory://tansu/", "--cluster-id", "funnel-local"],
            outputPath: log)
        let broker = LocalBroker(port: port, process: process)
        // Readiness: the port accepts TCP connections (there is no event to await from Tansu).
        // 60 s: a full test run starts brokers for many suites at once on two cores.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if Network.canConnect(port: port) { return broker }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        await process.terminate()
        throw StartError.notReady(port: port, log: log)
    }

    /// The broker's own process id (not its watchdog's), e.g. to pause it.
    public var pid: pid_t? { process.commandPID }

    /// Freezes the broker (SIGSTOP): connections stay open but nothing is answered, as with a
    /// hung or partitioned broker. Returns false if its process id is unknown.
    @discardableResult
    public func pause() -> Bool {
        guard let pid else { return false }
        return kill(pid, SIGSTOP) == 0
    }

    /// Lets a paused broker go on (SIGCONT).
    @discardableResult
    public func resume() -> Bool {
        guard let pid else { return false }
        return kill(pid, SIGCONT) == 0
    }

    /// Stops the broker and waits for it to exit.
    public func stop() async {
        resume() // a stopped process would not act on SIGTERM
        await process.terminate()
    }

    /// Locates the Tansu binary: `$FUNNEL_TANSU`, then `.funnel/bin/tansu` in the current
    /// directory or any parent, then next to this source tree.
    public static func findTansu() throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["FUNNEL_TANSU"] { candidates.append(explicit) }
        if let root = ProjectPaths.root { candidates.append(root + "/.funnel/bin/tansu") }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw StartError.binaryNotFound(searched: candidates)
    }
}

/// Runs `body` with a fresh broker and always stops the broker afterwards, also on error.
public func withLocalBroker<T>(_ body: (LocalBroker) async throws -> T) async throws -> T {
    let broker = try await LocalBroker.start()
    do {
        let result = try await body(broker)
        await broker.stop()
        return result
    } catch {
        await broker.stop()
        throw error
    }
}
