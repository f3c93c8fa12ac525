import Foundation
import FunnelRuntime
#if canImport(Glibc)
import Glibc
#endif

/// A local SMTP server for `funnel dev`, tests and benchmarks: `scripts/smtp_sink.py` (aiosmtpd
/// from the project's `.venv`) as a ``ChildProcess`` (its own process group, gone with its
/// parent). Stores accepted mail in a Maildir (`<maildir>/new/`), or only counts it (`discard`),
/// and can answer chosen recipients with 4xx/5xx codes or never (timeouts).
public final class LocalSMTPSink: Sendable {
    /// How the sink behaves; each field is a flag of the script.
    public struct Options: Sendable {
        /// Store accepted messages here (must not exist or be empty); nil: count only (`--discard`).
        public var maildir: String?
        /// PEM certificate and key to offer STARTTLS.
        public var tlsCertificate: String?
        public var tlsKey: String?
        /// Refuse mail commands before STARTTLS.
        public var requireStartTLS: Bool
        /// `USER:PASS`: require AUTH (PLAIN and LOGIN).
        public var auth: String?
        /// Allow AUTH without TLS.
        public var authInsecure: Bool
        /// AUTH mechanisms not to offer (e.g. `["PLAIN"]` to force LOGIN).
        public var authExclude: [String]
        /// `SUBSTRING=CODE[:TIMES]`: answer RCPT for matching recipients with CODE (the first TIMES times).
        public var fail: [String]
        /// Recipient substrings whose RCPT is never answered.
        public var stall: [String]
        /// Where the script writes its JSON counters.
        public var statsFile: String?
        /// Advertise PIPELINING.
        public var pipelining: Bool
        /// aiosmtpd processes accepting on the port (SO_REUSEPORT), for benchmarks: an asyncio
        /// server uses one core. More than 1 needs discard mode and no stats file.
        public var workers = 1
        /// Further flags (e.g. `--smtps`: TLS from the first byte).
        public var extraArguments: [String] = []

        public init(maildir: String? = nil, tlsCertificate: String? = nil, tlsKey: String? = nil, requireStartTLS: Bool = false,
                    auth: String? = nil, authInsecure: Bool = false, authExclude: [String] = [], fail: [String] = [],
                    stall: [String] = [], statsFile: String? = nil, pipelining: Bool = true) {
            self.maildir = maildir; self.tlsCertificate = tlsCertificate; self.tlsKey = tlsKey; self.requireStartTLS = requireStartTLS
            self.auth = auth; self.authInsecure = authInsecure; self.authExclude = authExclude; self.fail = fail; self.stall = stall
            self.statsFile = statsFile; self.pipelining = pipelining
        }

        var arguments: [String] {
            var args: [String] = []
            if let maildir { args += ["--maildir", maildir] } else { args.append("--discard") }
            if let tlsCertificate { args += ["--tls-cert", tlsCertificate] }
            if let tlsKey { args += ["--tls-key", tlsKey] }
            if requireStartTLS { args.append("--require-starttls") }
            if let auth { args += ["--auth", auth] }
            if authInsecure { args.append("--auth-insecure") }
            for mechanism in authExclude { args += ["--auth-exclude", mechanism] }
            for rule in fail { args += ["--fail", rule] }
            for rule in stall { args += ["--stall", rule] }
            if let statsFile { args += ["--stats", statsFile] }
            if !pipelining { args.append("--no-pipelining") }
            if workers > 1 { args += ["--workers", String(workers)] }
            return args + extraArguments
        }
    }

    /// The sink's counters (`--stats`).
    public struct Stats: Sendable, Decodable, Equatable {
        public var connections: Int
        public var max_active: Int
        public var messages: Int
        public var rcpt_attempts: Int
        public var by_code: [String: Int]
        public var auth_failures: Int
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    public let port: Int
    public let options: Options
    public let process: ChildProcess
    public let logPath: String

    private init(port: Int, options: Options, process: ChildProcess, logPath: String) {
        self.port = port; self.options = options; self.process = process; self.logPath = logPath
    }

    /// The script's process and its forked workers (``Options/workers``), e.g. to measure CPU.
    public var processIDs: [pid_t] {
        guard let main = process.commandPID else { return [] }
        let children = (try? String(contentsOfFile: "/proc/\(main)/task/\(main)/children", encoding: .utf8)) ?? ""
        return [main] + children.split(separator: " ").compactMap { pid_t($0) }
    }

    /// `smtp://127.0.0.1:PORT`, for `FUNNEL_SMTP_URL`.
    public var url: String { "smtp://127.0.0.1:\(port)" }

    /// `<maildir>/new`, where delivered messages appear (nil in discard mode).
    public var maildirNew: String? { options.maildir.map { $0 + "/new" } }

    /// The project's Python (`.venv/bin/python`) and script (`scripts/smtp_sink.py`).
    public static var defaultPaths: (python: String, script: String) {
        let root = ProjectPaths.root ?? "."
        return (root + "/.venv/bin/python", root + "/scripts/smtp_sink.py")
    }

    /// Starts the sink on `port` (0: it picks a free one and says which) and waits, bounded, for
    /// its `ready PORT` line.
    public static func start(port: Int = 0, options: Options = Options(), logPath: String? = nil,
                             python: String = defaultPaths.python, script: String = defaultPaths.script) async throws -> LocalSMTPSink {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw StartError(description: "no Python with aiosmtpd at \(python): run scripts/bootstrap.sh")
        }
        let log = logPath ?? NSTemporaryDirectory() + "funnel-smtp-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = try ChildProcess(name: "smtp-sink", executable: python,
                                       arguments: ["-u", script, "--host", "127.0.0.1", "--port", String(port)] + options.arguments,
                                       outputPath: log)
        // Readiness is the script's own `ready PORT` line (an event in its log, polled: no pipe to await).
        // The bound is generous: with a test run starting brokers, pipelines and sinks at once on
        // two cores, Python's start (aiosmtpd's imports) took over 20 s.
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }), let actual = Int(line.dropFirst(6)) {
                return LocalSMTPSink(port: actual, options: options, process: process, logPath: log)
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        await process.terminate()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw StartError(description: "the SMTP sink did not start: \(text.suffix(1000))")
    }

    /// Stops it (SIGTERM, then SIGKILL after `grace`) and waits (briefly blocking); the stats
    /// file is final afterwards. Idempotent.
    public func stop(grace: Duration = .seconds(5)) {
        process.signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) } // the reaper thread sets it
        if process.isRunning, let pid = process.commandPID {
            kill(pid, SIGKILL)
            while process.isRunning { usleep(10_000) }
        }
    }

    /// A port that was free a moment ago (for a "nothing listens here" test).
    public static func freePort() throws -> Int { try Network.freePort() }

    /// File names in `maildir/new`, sorted (the sink names them in delivery order).
    public func deliveredFileNames() -> [String] {
        guard let dir = maildirNew else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The raw bytes of each delivered message, in delivery order.
    public func deliveredMessages() -> [[UInt8]] {
        guard let dir = maildirNew else { return [] }
        return deliveredFileNames().compactMap { FileManager.default.contents(atPath: dir + "/" + $0).map { Array($0) } }
    }

    /// The script's counters (nil without `statsFile` or before it wrote them).
    public func stats() -> Stats? {
        guard let path = options.statsFile, let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(Stats.self, from: data)
    }
}
