import ArgumentParser
import CKafkaBaseline
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelDevKit

/// `funnel bench ingest`: the real `funnel-ingest` process on a private broker, driven over
/// HTTP by `wrk`: single-lead requests/s with p50/p99, leads/s in batches, p99 at a fixed
/// request rate, beside the bare C producer's rate on the same broker in the same run. After
/// every phase it checks that the captured topic grew by at least the leads acknowledged.
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "funnel-ingest over HTTP (wrk): single-lead req/s, p50/p99, leads/s in batches, p99 at a fixed rate, vs the C producer.",
        discussion: """
            Needs `wrk` (Debian: sudo apt-get install -y wrk; installed automatically when run as root) \
            and the release binaries (swift build -c release --product funnel --product funnel-ingest); \
            it runs the funnel-ingest next to this funnel binary (or in $FUNNEL_BIN_DIR).
            """)

    @Option(help: "Seconds per measured phase.") var duration = 10
    @Option(help: "wrk connections (concurrent requests in flight).") var connections = 128
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "Leads per request in the batch phase.") var batch = 100
    @Option(help: "wrk connections in the batch phase (each has a whole batch in flight).") var batchConnections = 32
    @Option(help: "Requests/s of the fixed-rate phase.") var rate = 5000
    @Option(help: "Partitions of the topics.") var partitions = 6
    @Option(help: "Messages for the C producer baseline.") var cMessages = 300_000
    @Flag(help: "Keep the work directory (wrk scripts and outputs, logs) after a successful run.") var keep = false
    @Option(help: "Run only these phases (comma-separated): healthz, single, batch, fixed, c.") var only = "healthz,single,batch,fixed,c"

    // Targets of the issue (2-core machine).
    static let targetSingle = 15_000.0
    static let targetBatchLeads = 100_000.0
    static let targetFixedP99 = 20.0

    func validate() throws {
        guard duration >= 1 else { throw ValidationError("--duration must be at least 1 second") }
        guard threads >= 1, connections >= threads, batchConnections >= threads else {
            throw ValidationError("--connections and --batch-connections must be at least --threads (and --threads at least 1)")
        }
        guard (1...1000).contains(batch) else { throw ValidationError("--batch must be 1…1000 (FUNNEL_MAX_BATCH is 1000)") }
        guard rate >= threads else { throw ValidationError("--rate must be at least --threads") }
        let known: Set = ["healthz", "single", "batch", "fixed", "c"]
        let unknown = phases.subtracting(known)
        guard unknown.isEmpty else { throw ValidationError("--only: unknown phase(s) \(unknown.sorted().joined(separator: ", ")); known: \(known.sorted().joined(separator: ", "))") }
    }

    var phases: Set<String> { Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }

    func run() async throws {
        let wrk = try Wrk.locate()
        let binDirectory = ProcessInfo.processInfo.environment["FUNNEL_BIN_DIR"]
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let ingestBinary = binDirectory + "/funnel-ingest"
        guard FileManager.default.isExecutableFile(atPath: ingestBinary) else {
            throw ValidationError("\(ingestBinary) not found; build it: swift build -c release --product funnel --product funnel-ingest")
        }
        if binDirectory.contains("/debug") {
            print("warning: \(ingestBinary) looks like a debug build; numbers are only meaningful for release builds")
        }
        let work = NSTemporaryDirectory() + "funnel-bench-ingest-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        let broker = try await LocalBroker.start(logPath: work + "/tansu.log")
        var ingest: ChildProcess?
        do {
            let report = try await measure(wrk: wrk, binDirectory: binDirectory, broker: broker, work: work) { ingest = $0 }
            if let ingest { _ = await ingest.terminate() }
            await broker.stop()
            report.print()
            if !report.delivered {
                Swift.print("\nleads acknowledged with 202 are missing from the topic; logs and wrk outputs in \(work)")
                throw ExitCode(1)
            }
            if !keep { try? FileManager.default.removeItem(atPath: work) } // its scripts hold the (now useless) API key
        } catch let exit as ExitCode {
            throw exit // delivery check failed; already stopped and reported
        } catch {
            if let ingest { _ = await ingest.terminate() }
            await broker.stop()
            Swift.print("\nlogs and wrk outputs: \(work)")
            throw error
        }
    }

    // MARK: - The run

    private func measure(wrk: Wrk, binDirectory: String, broker: LocalBroker, work: String,
                         started: (ChildProcess) -> Void) async throws -> Report {
        let config = KafkaConfiguration(brokers: broker.bootstrap, properties: ["log_level": "3"])
        let admin = try KafkaAdmin(configuration: config)
        try await TopicSetup.create(admin: admin, partitions: partitions)
        let cTopic = "bench-c-produce"
        _ = try await admin.createTopics([TopicSpecification(name: cTopic, partitions: partitions)])
        let capturedPartitions = try await admin.listTopics().first { $0.name == TopicCatalog.captured }?.partitions ?? partitions
        let capturedCounter = TopicCounter(bootstrap: broker.bootstrap, topic: TopicCatalog.captured, partitions: capturedPartitions)
        let cCounter = TopicCounter(bootstrap: broker.bootstrap, topic: cTopic, partitions: partitions)

        let key = try await LocalPipeline.createAPIKey(binDirectory: binDirectory, source: "bench", scopes: ["admin"], scratchDirectory: work)
        let port = try Network.freePort()
        var env = ProcessInfo.processInfo.environment
        env["KAFKA_BROKERS"] = broker.bootstrap
        env["FUNNEL_HTTP_PORT"] = String(port)
        env["FUNNEL_CONFIG_DIR"] = ProjectPaths.configDirectory
        env["FUNNEL_SERVICE"] = "funnel-ingest"
        env["FUNNEL_API_KEYS"] = key.line
        env["FUNNEL_PARENT_PID"] = String(getpid())
        env["FUNNEL_RATE_LIMIT"] = "1000000000" // the limiter must not be what is measured
        env["FUNNEL_RATE_BURST"] = "1000000000"
        let log = work + "/funnel-ingest.log"
        let ingest = try ChildProcess(name: "funnel-ingest", executable: binDirectory + "/funnel-ingest", arguments: [],
                                      environment: env, outputPath: log)
        started(ingest)
        try await HTTPProbe.waitUntilReady(port: port, process: ingest, log: log)
        let ingestPID = ingest.commandPID ?? ingest.pid
        let tansuPID = broker.process.commandPID ?? broker.process.pid

        let cores = ProcessInfo.processInfo.activeProcessorCount
        Swift.print("""
            funnel bench ingest: \(binDirectory)/funnel-ingest on a private Tansu broker (memory), \(wrk.version)
              broker \(broker.bootstrap), ingest :\(port), \(cores) CPUs, librdkafka \(LibrdkafkaVersion.string)
              wrk -t\(threads) -c\(connections) (batches: -c\(batchConnections)), \(duration) s per phase; topic \(TopicCatalog.captured): \(capturedPartitions) partitions
              load average before the run: \(CPU.loadAverage) (other processes on this machine compete for its CPUs)
              scripts, wrk outputs and logs: \(work)\(keep ? "" : " (removed after a successful run; --keep keeps it)")

            """)

        let scripts = try Scripts(directory: work, apiKey: key.key, threads: threads, batch: batch, rate: rate)
        let base = "http://127.0.0.1:\(port)"
        var report = Report(threads: threads, connections: connections, batch: batch, rate: rate, cores: cores)

        /// One wrk run with the CPU used meanwhile by ingest and Tansu, and the topic growth.
        func phase(_ name: String, script: String, path: String, seconds: Int, itemsPerRequest: Int, verify: Bool,
                   connections: Int? = nil) async throws -> PhaseResult {
            Swift.print("  \(name) …", terminator: ""); fflush(nil)
            let cpuBefore = (CPU.seconds(pid: ingestPID), CPU.seconds(pid: tansuPID), CPU.children(), CPU.machineBusy())
            let wallBefore = ContinuousClock.now
            var result = try await wrk.run(script: script, url: base + path, threads: threads, connections: connections ?? self.connections, seconds: seconds,
                                           arguments: [name], output: work + "/wrk-\(name).txt")
            result.name = name
            result.cpuIngest = CPU.seconds(pid: ingestPID) - cpuBefore.0
            result.cpuTansu = CPU.seconds(pid: tansuPID) - cpuBefore.1
            result.cpuWrk = CPU.children() - cpuBefore.2
            result.cpuOther = max(0, CPU.machineBusy() - cpuBefore.3 - result.cpuIngest - result.cpuTansu - result.cpuWrk)
            result.cpuWall = (ContinuousClock.now - wallBefore).seconds
            result.itemsPerRequest = itemsPerRequest
            if verify {
                // A 202 is sent only after Kafka acknowledged the request's events, so they are on the
                // topic already; requests cut off by wrk's end may still add some (growth ≥ accepted).
                try await Task.sleep(for: .milliseconds(500))
                result.topicGrowth = try capturedCounter.countNew()
            }
            guard ingest.isRunning else { throw ValidationError("funnel-ingest exited during \(name); see \(log)") }
            Swift.print(" done")
            return result
        }

        // Warm-up (not reported): connections to the broker, allocator, page cache.
        report.warmup = try await phase("warmup", script: scripts.single, path: "/v1/leads", seconds: 2, itemsPerRequest: 1, verify: true)
        let wanted = phases
        if wanted.contains("healthz") {
            report.healthz = try await phase("healthz", script: scripts.plain, path: "/healthz", seconds: max(1, duration / 2), itemsPerRequest: 0, verify: false)
        }
        if wanted.contains("single") {
            report.single = try await phase("single", script: scripts.single, path: "/v1/leads", seconds: duration, itemsPerRequest: 1, verify: true)
        }
        if wanted.contains("c") {
            Swift.print("  C producer …", terminator: ""); fflush(nil)
            let size = Self.capturedEventSize()
            let before = (CPU.seconds(pid: tansuPID), CPU.own(), ContinuousClock.now)
            var error = [CChar](repeating: 0, count: 512)
            let cRate = error.withUnsafeMutableBufferPointer {
                funnel_baseline_produce(broker.bootstrap, cTopic, Int64(cMessages), Int32(size), $0.baseAddress!, Int32($0.count))
            }
            let wall = (ContinuousClock.now - before.2).seconds
            let cpuTansu = CPU.seconds(pid: tansuPID) - before.0, cpuProducer = CPU.own() - before.1
            guard cRate > 0 else { throw ValidationError("C producer failed: \(error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })") }
            let produced = try cCounter.countNew() // the broker's count, as for ingest
            report.c = CResult(rate: cRate, size: size, messages: cMessages, onTopic: produced,
                               coresProducer: cpuProducer / wall, coresTansu: cpuTansu / wall)
            Swift.print(" done")
        }
        if wanted.contains("batch") {
            report.batchResult = try await phase("batch", script: scripts.batch, path: "/v1/leads", seconds: duration, itemsPerRequest: batch, verify: true,
                                                     connections: batchConnections)
        }
        if wanted.contains("fixed") {
            report.fixed = try await phase("fixed", script: scripts.fixed, path: "/v1/leads", seconds: duration, itemsPerRequest: 1, verify: true)
        }
        Swift.print("")
        return report
    }

    /// Bytes of a captured-lead event like the ones the benchmark's requests produce.
    static func capturedEventSize() -> Int {
        let email = "single-1-123456@company-4711.example"
        let lead = LeadCaptured(leadID: EventID.lead(forContact: email), email: email, firstName: "Ada", lastName: "Lovelace",
                                jobTitle: "VP Sales", company: "Acme Software", employees: 250, industry: "software",
                                country: "DE", source: "web", campaign: "bench", capturedAt: "2026-11-01T00:00:00.000Z")
        let event = CloudEvent(id: UUID().uuidString.lowercased(), source: "funnel-ingest/bench", type: TopicCatalog.captured,
                               time: "2026-11-01T00:00:00.000Z", subject: lead.leadID, data: lead)
        return EventCoding.encode(event).count
    }

    // MARK: - Results

    struct PhaseResult {
        var name = ""
        var requests = 0
        var seconds = 0.0
        var accepted = 0       // 202 responses
        var acceptedItems = 0  // leads accepted (per item, from the 202 bodies)
        var non2xx = 0
        var statuses: [String: Int] = [:]
        var sample = ""
        var socketErrors = 0
        var p50 = 0.0, p90 = 0.0, p99 = 0.0, max = 0.0 // ms
        var cpuIngest = 0.0, cpuTansu = 0.0, cpuWrk = 0.0, cpuOther = 0.0
        var cpuWall = 1.0 // seconds over which the CPU was measured (wrk's run plus its start and exit)
        var itemsPerRequest = 1
        var topicGrowth: Int?

        var requestRate: Double { Double(requests) / seconds }
        var itemRate: Double { Double(acceptedItems) / seconds }
        var verified: Bool { topicGrowth.map { $0 >= acceptedItems } ?? true }
        /// CPU cores used on average, per process.
        var cores: (ingest: Double, tansu: Double, wrk: Double, other: Double) {
            (cpuIngest / cpuWall, cpuTansu / cpuWall, cpuWrk / cpuWall, cpuOther / cpuWall)
        }
    }

    struct CResult { var rate: Double; var size: Int; var messages: Int; var onTopic: Int; var coresProducer: Double; var coresTansu: Double }

    struct Report {
        var threads: Int, connections: Int, batch: Int, rate: Int, cores: Int
        var warmup: PhaseResult?, healthz: PhaseResult?, single: PhaseResult?, batchResult: PhaseResult?, fixed: PhaseResult?
        var c: CResult?

        init(threads: Int, connections: Int, batch: Int, rate: Int, cores: Int) {
            self.threads = threads; self.connections = connections; self.batch = batch; self.rate = rate; self.cores = cores
        }

        var delivered: Bool { [warmup, single, batchResult, fixed].compactMap { $0 }.allSatisfy(\.verified) && (c.map { $0.onTopic >= $0.messages } ?? true) }

        func print() {
            func ms(_ v: Double) -> String { String(format: "%.2f ms", v) }
            func n(_ v: Double) -> String { Self.grouped(v) }
            Swift.print("phase                         requests/s      leads/s      p50        p99        max    failed  on topic (≥ leads 202'd)  CPU cores ingest/tansu/wrk/other")
            for r in [healthz, single, batchResult, fixed].compactMap({ $0 }) {
                let label: String
                switch r.name {
                case "healthz": label = "GET /healthz (HTTP ceiling)"
                case "single": label = "single lead, max"
                case "batch": label = "batch of \(batch), max"
                default: label = "single lead at \(n(Double(rate)))/s"
                }
                let growth = r.topicGrowth.map { "\($0) \($0 >= r.acceptedItems ? "ok" : "MISSING \(r.acceptedItems - $0)")" } ?? "-"
                Swift.print(label.padding(toLength: 28, withPad: " ", startingAt: 0)
                    + n(r.requestRate).leftPad(12) + (r.itemsPerRequest == 0 ? "-" : n(r.itemRate)).leftPad(13)
                    + ms(r.p50).leftPad(11) + ms(r.p99).leftPad(11) + ms(r.max).leftPad(11)
                    + String(r.non2xx + r.socketErrors).leftPad(10) + growth.leftPad(26)
                    + String(format: "   %.2f / %.2f / %.2f / %.2f", r.cores.ingest, r.cores.tansu, r.cores.wrk, r.cores.other))
                if r.non2xx > 0 || r.socketErrors > 0 {
                    let statuses = r.statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", ")
                    Swift.print("    failed: non-2xx \(statuses.isEmpty ? "-" : statuses); socket errors \(r.socketErrors)\(r.sample.isEmpty ? "" : "; e.g. \(r.sample)")")
                }
            }
            if let c {
                Swift.print("C producer, same broker".padding(toLength: 28, withPad: " ", startingAt: 0)
                    + "-".leftPad(12) + n(c.rate).leftPad(13) + "  (\(c.messages) msgs of \(c.size) B, the size of a captured event; \(c.onTopic) on topic\(c.onTopic >= c.messages ? "" : " MISSING")"
                    + String(format: "; CPU cores producer %.2f, tansu %.2f)", c.coresProducer, c.coresTansu))
            }
            Swift.print("")
            Swift.print("target (\(cores)-core machine)                  wanted          measured        met")
            func row(_ what: String, _ wanted: String, _ measured: String, _ met: Bool?) {
                Swift.print(what.padding(toLength: 40, withPad: " ", startingAt: 0) + wanted.leftPad(12) + measured.leftPad(18)
                            + "        " + (met.map { $0 ? "yes" : "NO" } ?? "not run"))
            }
            row("single-lead requests/s", "≥ " + n(IngestBench.targetSingle), single.map { n($0.requestRate) } ?? "-", single.map { $0.requestRate >= IngestBench.targetSingle && $0.non2xx == 0 })
            row("leads/s in batches of \(batch)", "≥ " + n(IngestBench.targetBatchLeads), batchResult.map { n($0.itemRate) } ?? "-",
                batchResult.map { $0.itemRate >= IngestBench.targetBatchLeads && $0.non2xx == 0 })
            row("p99 at \(n(Double(rate))) requests/s", String(format: "< %.0f ms", IngestBench.targetFixedP99),
                fixed.map { ms($0.p99) + " @ " + n($0.requestRate) + "/s" } ?? "-",
                fixed.map { $0.p99 < IngestBench.targetFixedP99 && $0.requestRate >= 0.95 * Double(rate) && $0.non2xx == 0 })
            row("no lead lost (topic grew ≥ 202'd leads)", "all", delivered ? "all" : "LOST", delivered)
            if let c, let b = batchResult {
                Swift.print(String(format: "\ningest batches vs C producer: %@ leads/s vs %@ msgs/s = %.0f %% of the bare producer on the same broker",
                                   n(b.itemRate), n(c.rate), 100 * b.itemRate / c.rate))
            }
            if let s = single, let h = healthz {
                Swift.print(String(format: "single lead vs GET /healthz: %@ vs %@ requests/s = %.0f %% of the HTTP ceiling with the same wrk settings",
                                   n(s.requestRate), n(h.requestRate), 100 * s.requestRate / h.requestRate))
            }
            // CPU per unit of work, which other load on the machine does not change much: what the
            // rates could be with every core free, and what the targets require.
            func budget(_ r: PhaseResult, per units: Int, unit: String, target: Double) {
                let u = Double(max(1, units))
                let ingest = 1e6 * r.cpuIngest / u, tansu = 1e6 * r.cpuTansu / u, wrk = 1e6 * r.cpuWrk / u
                let total = ingest + tansu + wrk
                Swift.print(String(format: "CPU per %@: ingest %.1f + tansu %.1f + wrk %.1f = %.1f µs → at most %@ %@s/s with all %d cores free; %@/s needs ≤ %.1f µs",
                                   unit, ingest, tansu, wrk, total, n(Double(cores) * 1e6 / total), unit, cores, n(target), unit, Double(cores) * 1e6 / target))
            }
            if let s = single { budget(s, per: s.requests, unit: "request", target: IngestBench.targetSingle) }
            if let b = batchResult { budget(b, per: b.acceptedItems, unit: "lead", target: IngestBench.targetBatchLeads) }
        }

        static func grouped(_ v: Double) -> String {
            let digits = String(Int(v.rounded()))
            var out = ""
            for (i, ch) in digits.reversed().enumerated() {
                if i > 0 && i % 3 == 0 && ch != "-" { out.append(" ") }
                out.append(ch)
            }
            return String(out.reversed())
        }
    }
}

private extension String {
    func leftPad(_ width: Int) -> String { count >= width ? " " + self : String(repeating: " ", count: width - count) + self }
}

// MARK: - wrk

/// The `wrk` executable (Debian package `wrk`, LuaJIT scripting).
struct Wrk {
    let path: String
    let version: String

    /// Finds `wrk` on PATH; installs it with apt-get when missing and running as root.
    static func locate() throws -> Wrk {
        if let path = find() { return Wrk(path: path, version: version(of: path)) }
        let hint = "wrk is not installed; install it with: sudo apt-get install -y wrk"
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get") else { throw ValidationError(hint) }
        print("wrk is not installed; running as root, so installing it: apt-get install -y wrk")
        var status = run("/usr/bin/apt-get", ["install", "-y", "wrk"])
        if status != 0 {
            print("apt-get install failed (status \(status)); refreshing the package lists: apt-get update")
            _ = run("/usr/bin/apt-get", ["update"])
            status = run("/usr/bin/apt-get", ["install", "-y", "wrk"])
        }
        guard status == 0, let path = find() else { throw ValidationError("installing wrk failed (apt-get status \(status)). " + hint) }
        print("installed \(path)\n")
        return Wrk(path: path, version: version(of: path))
    }

    private static func find() -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/wrk" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["DEBIAN_FRONTEND"] = "noninteractive"
        process.environment = env
        do { try process.run() } catch { print("cannot run \(executable): \(error)"); return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    private static func version(of path: String) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-v"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return "wrk" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let first = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "wrk"
        return first.components(separatedBy: " [").first ?? first
    }

    /// Runs wrk with a script whose `done()` prints a `FUNNEL key=value …` summary line.
    func run(script: String, url: String, threads: Int, connections: Int, seconds: Int, arguments: [String], output: String) async throws -> IngestBench.PhaseResult {
        try? FileManager.default.removeItem(atPath: output)
        let child = try ChildProcess(name: "wrk", executable: path,
                                     arguments: ["-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--timeout", "10s", "--latency",
                                                 "-s", script, url, "--"] + arguments,
                                     outputPath: output)
        let status = await child.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("FUNNEL ") }) else {
            throw ValidationError("wrk failed (status \(status)); its output (\(output)):\n\(text.suffix(2000))")
        }
        var fields: [String: Double] = [:]
        for pair in line.dropFirst("FUNNEL ".count).split(separator: " ") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Double(kv[1]) { fields[String(kv[0])] = v }
        }
        var r = IngestBench.PhaseResult()
        r.requests = Int(fields["requests"] ?? 0)
        r.seconds = (fields["duration_us"] ?? 1e6) / 1e6
        r.accepted = Int(fields["accepted"] ?? 0)
        r.acceptedItems = Int(fields["accepted_items"] ?? 0)
        r.non2xx = Int(fields["non2xx"] ?? 0)
        r.socketErrors = Int((fields["connect"] ?? 0) + (fields["read"] ?? 0) + (fields["write"] ?? 0) + (fields["timeout"] ?? 0))
        r.p50 = (fields["p50_us"] ?? 0) / 1000
        r.p90 = (fields["p90_us"] ?? 0) / 1000
        r.p99 = (fields["p99_us"] ?? 0) / 1000
        r.max = (fields["max_us"] ?? 0) / 1000
        for line in text.split(separator: "\n") where line.hasPrefix("FUNNEL_STATUS ") {
            let parts = line.split(separator: " ")
            if parts.count == 3 { r.statuses[String(parts[1])] = Int(parts[2]) ?? 0 }
        }
        if let sample = text.split(separator: "\n").first(where: { $0.hasPrefix("FUNNEL_SAMPLE ") }) {
            r.sample = String(sample.dropFirst("FUNNEL_SAMPLE ".count).prefix(200))
        }
        return r
    }
}

/// The Lua scripts, written to the work directory.
struct Scripts {
    let plain: String, single: String, batch: String, fixed: String

    init(directory: String, apiKey: String, threads: Int, batch: Int, rate: Int) throws {
        // Shared: per-thread counters read back in done(); the response hook counts 202s and,
        // in array responses, the accepted items.
        let common = """
            local threads = {}
            function setup(thread)
              thread:set("tid", #threads + 1)
              table.insert(threads, thread)
            end
            accepted, accepted_items, non2xx, statuses, sample = 0, 0, 0, {}, ""
            local function count(s, pattern)
              local n, i = 0, 1
              while true do
                local j = string.find(s, pattern, i, true)
                if not j then return n end
                n, i = n + 1, j + #pattern
              end
            end
            function response(status, headers, body)
              if status == 202 then
                accepted = accepted + 1
                if items_per_request > 1 then
                  accepted_items = accepted_items + count(body, '"event_id"')
                else
                  accepted_items = accepted_items + 1
                end
              elseif status >= 200 and status < 300 then
                accepted = accepted + 1
              else
                non2xx = non2xx + 1
                local k = tostring(status)
                statuses[k] = (statuses[k] or 0) + 1
                if sample == "" then sample = string.gsub(string.sub(body or "", 1, 200), "%s+", " ") end
              end
            end
            function done(summary, latency, requests)
              local acc, items, bad, all, first = 0, 0, 0, {}, ""
              for _, t in ipairs(threads) do
                acc = acc + t:get("accepted")
                items = items + t:get("accepted_items")
                bad = bad + t:get("non2xx")
                for k, v in pairs(t:get("statuses")) do all[k] = (all[k] or 0) + v end
                if first == "" then first = t:get("sample") end
              end
              local e = summary.errors
              io.write(string.format("FUNNEL requests=%d duration_us=%d accepted=%d accepted_items=%d non2xx=%d connect=%d read=%d write=%d timeout=%d status_errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\\n",
                summary.requests, summary.duration, acc, items, bad, e.connect, e.read, e.write, e.timeout, e.status,
                latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
              for k, v in pairs(all) do io.write(string.format("FUNNEL_STATUS %s %d\\n", k, v)) end
              if first ~= "" then io.write("FUNNEL_SAMPLE " .. first .. "\\n") end
            end

            """
        // A lead like a web-form fill; the e-mail is unique per phase, thread and request.
        let leads = """
            local headers = { ["Authorization"] = "Bearer \(apiKey)", ["Content-Type"] = "application/json" }
            local titles = { "VP Sales", "Marketing Manager", "CTO", "Head of Operations", "Data Analyst" }
            local counter, prefix = 0, "x"
            function init(args)
              prefix = (args[1] or "run") .. "-" .. tid
            end
            local function lead()
              counter = counter + 1
              return string.format('{"email":"%s-%d@company-%d.example","first_name":"Ada","last_name":"Lovelace","job_title":"%s","company":"Acme Software","employees":250,"industry":"software","country":"DE","source":"web","campaign":"bench"}',
                prefix, counter, counter % 5000, titles[counter % 5 + 1])
            end

            """
        let singleRequest = """
            items_per_request = 1
            function request()
              return wrk.format("POST", "/v1/leads", headers, lead())
            end

            """
        let batchRequest = """
            items_per_request = \(batch)
            function request()
              local items = {}
              for i = 1, items_per_request do items[i] = lead() end
              return wrk.format("POST", "/v1/leads", headers, "[" .. table.concat(items, ",") .. "]")
            end

            """
        // Fixed rate without wrk2: each thread hands out send slots `interval` ms apart to its
        // connections through the delay() hook (called before every request of a connection);
        // wrk's latency clock starts when the request is written, after the delay. A backlog is
        // capped at 50 ms so a stall does not turn into a burst.
        let throttle = """
            local ffi = require("ffi")
            ffi.cdef[[
              typedef struct { long tv_sec; long tv_nsec; } funnel_timespec;
              int clock_gettime(int clock, funnel_timespec *ts);
            ]]
            local ts = ffi.new("funnel_timespec")
            local function now_ms()
              ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
              return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
            end
            local interval = 1000 * \(threads) / \(rate)
            local next_slot = nil
            function delay()
              local now = now_ms()
              if next_slot == nil or next_slot < now - 50 then next_slot = now end
              local d = next_slot - now
              next_slot = next_slot + interval
              if d < 0 then return 0 end
              return math.floor(d + 0.5)
            end

            """
        func write(_ name: String, _ text: String) throws -> String {
            let path = directory + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        plain = try write("healthz.lua", "items_per_request = 0\n" + common)
        single = try write("single.lua", common + leads + singleRequest)
        self.batch = try write("batch.lua", common + leads + batchRequest)
        fixed = try write("fixed.lua", common + leads + singleRequest + throttle)
    }
}

// MARK: - Broker-side count and CPU

/// Counts the records appended to a topic since the previous count by reading the topic to its
/// end (`KafkaPartitionReader`: partition EOF in fetch responses): the broker's count, not the
/// service's. Not the watermarks: Tansu 0.6's ListOffsets(latest) answers wrong high watermarks
/// (it reported the same value for every partition of a topic, below the records that could be
/// read back).
final class TopicCounter {
    private let configuration: KafkaConfiguration
    private let partitions: [TopicPartition]
    private var counted = 0

    init(bootstrap: String, topic: String, partitions: Int) {
        configuration = KafkaConfiguration(brokers: bootstrap, properties: ["log_level": "3"])
        self.partitions = (0..<partitions).map { TopicPartition(topic: topic, partition: Int32($0)) }
    }

    /// Records appended since the last call (blocking; a benchmark may block its thread).
    func countNew(timeout: Duration = .seconds(120)) throws -> Int {
        let total = try KafkaPartitionReader.readToEnd(configuration: configuration, partitions: partitions, timeout: timeout) { _ in }
        defer { counted = total }
        return total - counted
    }
}

enum CPU {
    /// User + system CPU seconds of a running process.
    static func seconds(pid: pid_t) -> Double { ScoreBench.cpuSeconds(pid: pid) }

    /// CPU seconds the whole machine spent busy (all processes, /proc/stat).
    static func machineBusy() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return 0 }
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 5 else { return 0 }
        // user nice system idle iowait irq softirq steal (guest time is already in user)
        let busy = ticks.prefix(8).reduce(0, +) - ticks[3] - ticks[4]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// User + system CPU seconds of this process (the C producer runs in it).
    static func own() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static var loadAverage: String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// User + system CPU seconds of this process's terminated, reaped descendants (wrk runs
    /// under the ChildProcess watchdog, which waits for it; the watchdog is reaped here).
    static func children() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
