import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Logging
import FunnelDevKit

struct Dev: AsyncParsableCommand {
    /// Returns after `duration` seconds (if given) or at Ctrl-C / SIGTERM, whichever comes first.
    static func waitForStop(after duration: Double?) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = Locked(false)
            let finish: @Sendable () -> Void = {
                if done.withLock({ d in defer { d = true }; return !d }) { continuation.resume() }
            }
            if let duration { Task { try? await Task.sleep(for: .seconds(duration)); finish() } }
            Task { _ = await ShutdownSignal.wait(); finish() }
        }
    }

    static let configuration = CommandConfiguration(
        abstract: "Run the whole pipeline locally: broker, topics, the five processes and a demo generator.")

    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).") var duration: Double?
    @Flag(help: "Run the pipeline without the demo generator.") var noDemo = false
    @Option(help: "Demo leads per second.") var rate = 50.0
    @Option(help: "Port of the ingest API.") var ingestPort = 8080
    @Option(help: "Where the processes' logs go.") var logs = "/tmp/funnel-dev"
    @Option(help: "Port of the live funnel report (`funnel report --serve`).") var reportPort = 8090

    func run() async throws {
        print("librdkafka runtime \(LibrdkafkaVersion.string)")
        try LibrdkafkaVersion.check()
        let binDirectory = ProcessInfo.processInfo.environment["FUNNEL_BIN_DIR"]
            ?? URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0]).deletingLastPathComponent().path
        print("starting broker, topics and five processes (logs in \(logs)) …")
        let pipeline = try await LocalPipeline.start(binDirectory: binDirectory, logDirectory: logs,
                                                     ingestPort: Network.canConnect(port: ingestPort) ? nil : ingestPort)
        print("""

          broker:  \(pipeline.broker.bootstrap)      (KAFKA_BROKERS=\(pipeline.broker.bootstrap))
          ingest:  \(pipeline.ingestURL)/v1/leads   (also /v1/activities, /v1/outcomes)
          metrics: \(LocalPipeline.services.map { "\($0) :\(pipeline.ports[$0]!)" }.joined(separator: ", "))
          watch:   any Kafka client on topic \(TopicCatalog.stageChanged)
          mail:    funnel-followup sends to a local SMTP sink (\(pipeline.smtp.url)); messages land in \(pipeline.smtp.maildirNew ?? "-")
          API key: \(pipeline.apiKey)   (source "dev", scope admin; a new one every run)
          try it:  curl -i -H 'Authorization: Bearer \(pipeline.apiKey)' -H 'Content-Type: application/json' \\
                     -d '{"email":"ada@acme-software.example","job_title":"CTO","country":"GB"}' \(pipeline.ingestURL)/v1/leads

        """)
        let report = try ReportServer(configuration: KafkaConfiguration(brokers: pipeline.broker.bootstrap))
        let reportPort = Network.canConnect(port: reportPort) ? try Network.freePort() : reportPort
        let reportTask = Task { try? await report.run(port: reportPort) }
        print("  report:  http://127.0.0.1:\(reportPort)/   (the live funnel report; JSON at /report.json; `funnel report` prints it in a terminal)\n")
        let board = StageBoard()
        let watcher = try board.watch(brokers: pipeline.broker.bootstrap)
        let demo = noDemo ? nil : Task { await DemoGenerator(pipeline: pipeline, board: board, rate: rate).run() }
        let progress = Task { await Progress(pipeline: pipeline, board: board).run() }

        let started = ContinuousClock.now
        await Self.waitForStop(after: duration)
        print("\nstopping …")
        demo?.cancel()
        _ = await demo?.value
        progress.cancel()
        reportTask.cancel()
        watcher.cancel()
        await watcher.value
        await pipeline.stop()
        board.printFunnel(elapsed: (ContinuousClock.now - started).seconds)
        print("\n\(pipeline.smtp.deliveredFileNames().count) e-mails delivered to the local sink: \(pipeline.smtp.maildirNew ?? "-") "
              + "(quiet hours 20:00-08:00 in each lead's time zone postpone some; consent false is never mailed)")
    }
}

/// Counts stage changes as an outside subscriber sees them.
final class StageBoard: Sendable {
    static let quietLogger: Logger = {
        var logger = Logger(label: "funnel-dev.board")
        logger.logLevel = .critical
        return logger
    }()

    private let reached = Locked<[Stage: Set<String>]>([:])
    private let current = Locked<[String: Stage]>([:])
    let newMQLs = Locked<[String]>([])
    /// Requests of the demo generator the ingest refused, by status (0: no answer).
    let refusals = Locked<[Int: Int]>([:])

    func refused(_ status: Int) { refusals.withLock { $0[status, default: 0] += 1 } }
    /// MQL assignments per (pool, owner) (a reassignment counts for the new owner).
    private let assignments = Locked<[String: Int]>([:])

    func watch(brokers: String) throws -> Task<Void, Never> {
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(brokers: brokers, properties: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "log_level": "3"]),
            groupID: "funnel-dev-board-\(getpid())", topics: [TopicCatalog.stageChanged], logger: Self.quietLogger)
        return Task {
            do {
                for try await message in consumer.messages {
                    guard case .success(let event) = EventDecoder.decode(StageChanged.self, from: message.value ?? [], expectedType: message.topic) else { continue }
                    let lead = event.data.leadID, to = event.data.to
                    reached.withLock { _ = $0[to, default: []].insert(lead) }
                    current.withLock { $0[lead] = to }
                    if to == .mql {
                        newMQLs.withLock { $0.append(lead) }
                        let key = (event.data.pool ?? "named") + "\u{0}" + (event.data.owner ?? "(queue)")
                        assignments.withLock { $0[key, default: 0] += 1 }
                    }
                }
            } catch {}
            await consumer.close()
        }
    }

    func count(_ stage: Stage) -> Int { reached.value[stage]?.count ?? 0 }
    func stage(of lead: String) -> Stage? { current.value[lead] }

    func printFunnel(elapsed: Double) {
        print("\nThe funnel after \(Int(elapsed)) s (leads that reached each stage):")
        let path: [Stage] = [.captured, .identified, .mql, .sal, .sql, .customer]
        var previous: Int?
        func pad(_ s: String) -> String { s + String(repeating: " ", count: max(0, 14 - s.count)) }
        for stage in path {
            let n = count(stage)
            let conversion = previous.map { $0 > 0 ? String(format: "%5.1f %% of the stage before", 100 * Double(n) / Double($0)) : "" } ?? ""
            print("  " + pad(stage.rawValue) + String(format: "%7d   ", n) + conversion)
            previous = n
        }
        for stage in [Stage.nurture, .disqualified, .lost] {
            print("  " + pad(stage.rawValue) + String(format: "%7d", count(stage)))
        }
        let captured = count(.captured)
        if captured > 0 {
            print(String(format: "  sales-ready at first (mql / captured): %.1f %%;  end-to-end %.1f leads/s captured",
                         100 * Double(count(.mql)) / Double(captured), Double(captured) / max(elapsed, 1)))
        }
        let byPool = Dictionary(grouping: assignments.value, by: { String($0.key.split(separator: "\u{0}").first ?? "") })
        if !byPool.isEmpty {
            print("\nMQL assignments per rep (routing.yaml pools; `named`: a rule's named owner or account owner):")
            for (pool, entries) in byPool.sorted(by: { $0.key < $1.key }) {
                let reps = entries.map { (String($0.key.split(separator: "\u{0}").last ?? ""), $0.value) }.sorted { $0.0 < $1.0 }
                print("  " + pad(pool) + reps.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
            }
        }
    }
}

/// Live progress: per stage processed, rate, lag and dead letters, from each process's /metrics.
struct Progress {
    let pipeline: LocalPipeline
    let board: StageBoard

    func run() async {
        var last: [String: Double] = [:]
        var lastTime = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            if Task.isCancelled { break }
            let now = ContinuousClock.now
            let dt = (now - lastTime).seconds
            lastTime = now
            var parts: [String] = []
            for service in LocalPipeline.services {
                guard let text = try? await HTTPProbe.get(port: pipeline.ports[service]!, path: "/metrics").body else {
                    parts.append("\(service.dropFirst(7)): down"); continue
                }
                let metric = service == "funnel-ingest" ? "funnel_produced_total" : "funnel_consumed_total"
                let done = Self.sum(text, metric), lag = Self.sum(text, "funnel_consumer_lag"), dead = Self.sum(text, "funnel_dead_lettered_total")
                let rate = (done - (last[service] ?? 0)) / max(dt, 0.001)
                last[service] = done
                var part = String(format: "%@ %.0f (%.0f/s)", String(service.dropFirst(7)) as NSString, done, rate)
                if service != "funnel-ingest" { part += String(format: " lag %.0f", lag) }
                if service == "funnel-followup" {
                    let mailed = Self.sum(text, "funnel_emails_total", where: "result=\"sent\"")
                    let suppressed = Self.sum(text, "funnel_followup_decisions_total", where: "decision=\"suppressed\"")
                    let postponed = Self.sum(text, "funnel_followup_decisions_total", where: "decision=\"postponed\"")
                    let mailRate = (mailed - (last["mail"] ?? 0)) / max(dt, 0.001)
                    last["mail"] = mailed
                    part += String(format: " mail %.0f (%.0f/s) suppressed %.0f postponed %.0f", mailed, mailRate, suppressed, postponed)
                }
                if dead > 0 { part += String(format: " dead %.0f", dead) }
                parts.append(part)
            }
            let restarts = pipeline.restarts.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            let restartPart = restarts.isEmpty ? "" : "  ‖ restarts: " + restarts.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let refusals = board.refusals.value.sorted { $0.key < $1.key }
            let refusedPart = refusals.isEmpty ? "" : "  ‖ refused requests: " + refusals.map { "\($0.value)× \($0.key == 0 ? "no answer" : String($0.key))" }.joined(separator: ", ")
            print(parts.joined(separator: " | ") + "  ‖ mql \(board.count(.mql)) customer \(board.count(.customer))" + restartPart + refusedPart)
        }
    }

    /// The sum of a metric's samples (those whose labels contain `filter`, if given).
    static func sum(_ exposition: String, _ metric: String, where filter: String? = nil) -> Double {
        exposition.split(separator: "\n").reduce(0.0) { total, line in
            guard line.hasPrefix(metric + "{") || line.hasPrefix(metric + " "), filter.map({ line.contains($0) }) ?? true,
                  let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { return total }
            return total + value
        }
    }
}
