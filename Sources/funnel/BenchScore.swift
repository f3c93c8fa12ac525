import ArgumentParser
import CKafkaBaseline
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages
import FunnelDevKit

/// `funnel bench score`: the hot path's numbers in one run — in-process model evaluation,
/// the real `funnel-score` process on the local broker beside the bare C relay over the same
/// input, CPU-seconds per million events, and memory with a million leads of state.
struct ScoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Scorer: model evaluations/s, stage msgs/s vs the C relay, CPU-s per 10^6 events, RSS with 10^6 leads.")

    @Option(help: "Activity events for the stage measurement.") var events = 200_000
    @Option(help: "Distinct leads in the stage input.") var leads = 20_000
    @Option(help: "Leads held in memory for the RSS measurement.") var stateLeads = 1_000_000
    @Option(help: "Partitions of the input topics.") var partitions = 6
    @Option(help: "funnel-score replicas in the stage measurement (one consumer group; timed once every replica consumes).") var replicas = 1
    @Option(help: "Run only part of it, for profiling: all or processing (the in-process stage loop, repeated).") var only = "all"

    func run() async throws {
        let model = try ScoringModel.parse(yaml: String(contentsOfFile: ProjectPaths.configDirectory + "/scoring-model.yaml", encoding: .utf8))
        let scorer = Scorer(model: model)
        print("model \(model.version): \(model.ruleCount) rules in \(model.allScores.count) scores\n")

        // 1. Pure evaluation, one core.
        let evaluation = Self.evaluationRate(scorer)
        print(String(format: "model evaluation (1 core)       %12.0f events/s  (profile + %d activities per lead)", evaluation.rate, evaluation.activities))

        // 1b. The stage's processing in-process: decode → state → score → encode, no broker.
        guard ["all", "processing"].contains(only) else { throw ValidationError("--only takes all or processing") }
        if only == "processing" {
            for _ in 0..<3 { print(String(format: "stage processing (in-process) %12.0f events/s", Self.processingRate(scorer, leads: leads, events: events, partitions: partitions))) }
            return
        }
        let inProcess = Self.processingRate(scorer, leads: leads, events: events, partitions: partitions)
        print(String(format: "stage processing (in-process)   %12.0f events/s  (%.1f µs/event: decode, state, score, encode; no broker)",
                     inProcess, 1e6 / inProcess))

        // 2. Memory with a million leads of state.
        let memory = Self.stateMemory(leads: stateLeads, scorer: scorer)
        print(String(format: "state of %d leads            %12.0f MiB RSS  (%.0f B/lead in memory, %.0f B/lead encoded in the changelog)",
                     stateLeads, memory.mebibytes, memory.bytesPerLead, memory.encodedBytes))

        // 3. The stage on the local broker vs the C relay.
        let stage = try await stageRates(model: model)
        print(String(format: "funnel-score stage             %12.0f msgs/s%@", stage.scoreRate, replicas > 1 ? " (\(replicas) replicas)" : ""))
        print(String(format: "bare C relay, same input       %12.0f msgs/s", stage.relayRate))
        print(String(format: "stage / relay                  %12.0f %%", 100 * stage.scoreRate / stage.relayRate))
        print(String(format: "funnel-score CPU               %12.1f CPU-s per 10^6 events (%.1f CPU-s for %d events incl. start-up)",
                     stage.cpuSeconds / Double(stage.inputs) * 1e6, stage.cpuSeconds, stage.inputs))
    }

    // MARK: 1

    static func evaluationRate(_ scorer: Scorer) -> (rate: Double, activities: Int) {
        let activityTypes: [ActivityType] = [.pageView, .pricingPageView, .emailOpen, .emailClick, .contentDownload, .webinarAttended]
        let base = Timestamp.milliseconds("2026-11-01T00:00:00Z")!
        var states: [LeadScoreState] = []
        for i in 0..<1000 {
            var s = LeadScoreState()
            s.apply(profile: Self.facts(i, time: base))
            for j in 0..<8 {
                s.apply(activity: ActivityRecord(type: activityTypes[(i + j) % activityTypes.count], time: base + Int64(j) * 3_600_000,
                                                 durationSeconds: Int32(j * 40), idHash: UInt64(i * 100 + j)))
            }
            states.append(s)
        }
        let rounds = 300
        var checksum = 0.0
        let start = ContinuousClock.now
        for r in 0..<rounds {
            for i in states.indices {
                checksum += scorer.score(&states[i], leadID: "lead-\(i)", at: base + Int64(r) * 60_000).total
            }
        }
        let elapsed = (ContinuousClock.now - start).seconds
        if checksum.isNaN { print("") } // keep the work observable
        return (Double(rounds * states.count) / elapsed, 8)
    }

    static func facts(_ i: Int, time: Int64) -> ProfileFacts {
        let titles = ["VP Sales", "Marketing Manager", "Software Engineer", "Head of Operations", "CFO", "Data Analyst"]
        let industries = ["software", "retail", "fintech", "logistics", "education"]
        let captured = LeadCaptured(leadID: "lead-\(i)", email: "person\(i)@company\(i % 5000).example", jobTitle: titles[i % titles.count],
                                    employees: 20 + (i * 37) % 4000, industry: industries[i % industries.count],
                                    country: ["DE", "US", "FR", "BR", "JP"][i % 5], source: "web", campaign: "bench",
                                    capturedAt: "2026-11-01T00:00:00Z")
        let enriched = LeadEnriched(leadID: "lead-\(i)", profile: captured, emailClass: .corporate, contactAvailable: true,
                                    company: nil, enrichedAt: "2026-11-01T00:00:00Z")
        return ProfileFacts(enriched, time: time, eventID: "enriched-\(i)")
    }

    /// The bench input as consumed messages: one enriched event per lead, then activities
    /// spread over the leads (the same events the stage measurement produces to the broker).
    static func inputMessages(leads: Int, events: Int) -> [ProducerMessage] {
        let base = Timestamp.milliseconds("2026-11-01T00:00:00Z")!
        let types: [ActivityType] = [.pageView, .pricingPageView, .emailOpen, .emailClick, .contentDownload, .webinarAttended, .demoRequest]
        var messages: [ProducerMessage] = []
        messages.reserveCapacity(leads + events)
        for i in 0..<leads {
            let f = Self.facts(i, time: base)
            let captured = LeadCaptured(leadID: "lead-\(i)", email: "person\(i)@company\(i % 5000).example", jobTitle: f.jobTitle,
                                        employees: f.employees, industry: f.industry, country: f.country, capturedAt: "2026-11-01T00:00:00Z")
            let data = LeadEnriched(leadID: "lead-\(i)", profile: captured, emailClass: .corporate, contactAvailable: true, company: nil,
                                    enrichedAt: "2026-11-01T00:00:00Z")
            messages.append(StageIO.output(data, topic: TopicCatalog.enriched, leadID: "lead-\(i)", from: "bench-\(i)",
                                           purpose: "enriched", source: "bench", time: "2026-11-01T00:00:00Z"))
        }
        for e in 0..<events {
            let lead = "lead-\(e % leads)"
            let time = Timestamp.format(milliseconds: base + Int64(e / leads) * 60_000)
            let data = LeadActivity(leadID: lead, type: types[e % types.count], url: "https://example.com/p/\(e % 50)",
                                    occurredAt: time, source: "web")
            messages.append(StageIO.output(data, topic: TopicCatalog.activity, leadID: lead, from: "activity-\(e)",
                                           purpose: "activity", source: "bench", time: time))
        }
        return messages
    }

    static func processingRate(_ scorer: Scorer, leads: Int, events: Int, partitions: Int) -> Double {
        let stage = StatefulStage(ScoreProcessor(scorer: scorer, logger: .init(label: "bench")), readChangelog: { _, _ in 0 }, logger: .init(label: "bench"))
        return processingRate(stage, inputMessages(leads: leads, events: events), partitions: partitions)
    }

    /// Inputs/s of a stateful stage in-process (no broker): every partition assigned, each input
    /// on its key's partition, the changelog records taken as the runner takes them once a second.
    static func processingRate<P: KeyedProcessor>(_ stage: StatefulStage<P>, _ inputs: [ProducerMessage], partitions: Int) -> Double {
        stage.assigned((0..<Int32(partitions)).map { TopicPartition(topic: stage.processor.table.inputs[0], partition: $0) })
        let messages = inputs.enumerated().map { i, m in
            let partition = KafkaPartitioner.partition(forKey: String(decoding: m.key ?? [], as: UTF8.self), partitionCount: partitions)
            return ConsumerMessage(topic: m.topic, partition: partition, offset: Int64(i), key: m.key, value: m.value, timestampMilliseconds: 1)
        }
        var outputs = 0
        let start = ContinuousClock.now
        for (index, message) in messages.enumerated() {
            if let result = try? stage.process(message) {
                outputs += result.messages.reduce(0) { $0 + ($1.valueBytes?.count ?? 0) }
            }
            // At ~40k inputs/s, a checkpoint every 40k inputs.
            if index % 40_000 == 39_999 || index == messages.count - 1 { outputs += stage.checkpoint().values.reduce(0) { $0 + $1.count } }
        }
        let elapsed = (ContinuousClock.now - start).seconds
        if outputs == 0 { print("no outputs") }
        return Double(messages.count) / elapsed
    }

    // MARK: 2

    /// Each lead is scored once, as in the store: its state then holds the emitted bands and
    /// the profile-rule memo too.
    static func stateMemory(leads: Int, scorer: Scorer) -> (mebibytes: Double, bytesPerLead: Double, encodedBytes: Double) {
        let before = residentBytes()
        var store: [String: LeadScoreState] = [:]
        store.reserveCapacity(leads)
        let base = Timestamp.milliseconds("2026-11-01T00:00:00Z")!
        var encoded = 0
        for i in 0..<leads {
            var s = LeadScoreState()
            s.apply(profile: facts(i, time: base))
            for j in 0..<4 {
                s.apply(activity: ActivityRecord(type: .pageView, time: base + Int64(j) * 60_000, idHash: UInt64(i * 10 + j)))
                _ = s.markSeen("event-\(i)-\(j)")
            }
            let leadID = EventID.lead(forContact: "person\(i)@company.example")
            _ = scorer.score(&s, leadID: leadID)
            if i % 1000 == 0 { encoded += s.encoded().count }
            store[leadID] = s
            // Progress on a terminal only (rewritten in place, cleared after the loop).
            if i > 0 && i % 250_000 == 0 && isatty(1) != 0 { print("  … \(i) leads in memory", terminator: "\r"); fflush(nil) }
        }
        if isatty(1) != 0 { print("\u{1B}[2K", terminator: "") }
        let after = residentBytes()
        let used = Double(after - before)
        withExtendedLifetime(store) {}
        return (used / 1_048_576, used / Double(leads), Double(encoded) / Double(max(1, leads / 1000)))
    }

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    // MARK: 3

    struct StageResult { var scoreRate: Double; var relayRate: Double; var cpuSeconds: Double; var inputs: Int }

    func stageRates(model: ScoringModel) async throws -> StageResult {
        let broker = try await LocalBroker.start()
        do {
            let result = try await stageRates(model: model, broker: broker)
            await broker.stop()
            return result
        } catch {
            await broker.stop()
            throw error
        }
    }

    private func stageRates(model: ScoringModel, broker: LocalBroker) async throws -> StageResult {
        let config = KafkaConfiguration(brokers: broker.bootstrap, properties: ["log_level": "3"])
        try await TopicSetup.create(admin: KafkaAdmin(configuration: config), partitions: partitions)
        _ = try await KafkaAdmin(configuration: config).createTopics([TopicSpecification(name: "bench-relay-out", partitions: partitions)])

        // Input: one enriched event per lead, then activities spread over the leads.
        print("producing \(leads) enriched + \(events) activity events …")
        let producer = try KafkaProducer(configuration: config)
        for message in Self.inputMessages(leads: leads, events: events) {
            try await producer.send(message)
        }
        try await producer.flush(timeout: .seconds(120))
        await producer.close()
        let inputs = leads + events

        // The real process, on the release build next to this one.
        let binDirectory = ProcessInfo.processInfo.environment["FUNNEL_BIN_DIR"]
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let port = try Network.freePort()
        var env = ProcessInfo.processInfo.environment
        env["KAFKA_BROKERS"] = broker.bootstrap
        env["FUNNEL_HTTP_PORT"] = String(port)
        env["FUNNEL_PARENT_PID"] = String(getpid())
        env["KAFKA_SESSION_TIMEOUT_MS"] = "6000"
        let log = NSTemporaryDirectory() + "funnel-bench-score.log"
        var children: [(process: ChildProcess, port: Int)] = []
        defer { for child in children where child.process.isRunning { child.process.signal(SIGTERM) } }
        for replica in 1...max(1, replicas) {
            let port = replica == 1 ? port : try Network.freePort()
            env["FUNNEL_HTTP_PORT"] = String(port)
            let replicaLog = replica == 1 ? log : log.replacingOccurrences(of: ".log", with: "-\(replica).log")
            children.append((try ChildProcess(name: "funnel-score", executable: binDirectory + "/funnel-score", arguments: [], environment: env, outputPath: replicaLog), port))
        }
        print("scoring with \(binDirectory)/funnel-score (log: \(log)) …")
        func total(_ metric: String, label: String? = nil) async -> (sum: Double, each: [Double]) {
            var each: [Double] = []
            for child in children { each.append(await Self.metric(metric, port: child.port, label: label)) }
            return (each.reduce(0, +), each)
        }
        var first: (ContinuousClock.Instant, Double)?
        var last = (ContinuousClock.now, 0.0)
        let deadline = ContinuousClock.now + .seconds(600)
        while true {
            guard children.allSatisfy(\.process.isRunning) else { throw ValidationError("funnel-score exited; see \(log)") }
            guard ContinuousClock.now < deadline else { throw ValidationError("funnel-score did not finish in 600 s; see \(log)") }
            let consumed = await total("funnel_consumed_total")
            let now = ContinuousClock.now
            // Timed from when every replica consumes (the group has settled).
            if first == nil && consumed.each.allSatisfy({ $0 > 0 }) { first = (now, consumed.sum) }
            last = (now, consumed.sum)
            // Done when every input was read and its scored event acknowledged.
            if consumed.sum >= Double(inputs), await total("funnel_produced_total", label: TopicCatalog.scored).sum >= Double(inputs) { break }
            try await Task.sleep(for: .milliseconds(100)) // polling a counter: the process has no "done" event
        }
        // The last state writes follow within a checkpoint interval (FUNNEL_STATE_FLUSH_MS, 1 s).
        var changelogRecords = 0.0
        for _ in 0..<50 {
            let now = await total("funnel_produced_total", label: ScoreProcessor.changelogTopic).sum
            if now > 0 && now == changelogRecords { break }
            changelogRecords = now
            try await Task.sleep(for: .milliseconds(500))
        }
        let cpu = children.reduce(0) { $0 + Self.cpuSeconds(pid: $1.process.commandPID ?? $1.process.pid) }
        for child in children { _ = await child.process.terminate() }
        print(String(format: "changelog records written          %8.0f  (%.2f per input: one per changed lead per checkpoint)",
                     changelogRecords, changelogRecords / Double(inputs)))
        guard let (startAt, startCount) = first else {
            throw ValidationError("a replica consumed nothing: more replicas (\(replicas)) than partitions (\(partitions))?")
        }
        let scoreRate = (last.1 - startCount) / (last.0 - startAt).seconds

        // The bare C relay over the same activity input (its own group), for the ratio.
        print("relaying the same input with the bare C loop …")
        var error = [CChar](repeating: 0, count: 512)
        let relay = error.withUnsafeMutableBufferPointer {
            funnel_baseline_relay(broker.bootstrap, TopicCatalog.activity, "bench-relay-out", "bench-c-relay", Int64(events), $0.baseAddress!, Int32($0.count))
        }
        guard relay > 0 else { throw ValidationError("C relay failed: \(error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })") }
        return StageResult(scoreRate: scoreRate, relayRate: relay, cpuSeconds: cpu, inputs: inputs)
    }

    /// Sum of a counter over its label sets (those with a label value `label`, if given), from
    /// the process's /metrics.
    static func metric(_ name: String, port: Int, label: String? = nil) async -> Double {
        guard let (status, body) = try? await HTTPProbe.get(port: port, path: "/metrics"), status == 200 else { return 0 }
        var total = 0.0
        for line in body.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            if let label, !line.contains("\"\(label)\"") { continue }
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
        }
        return total
    }

    /// User + system CPU seconds of a process, from /proc/PID/stat.
    static func cpuSeconds(pid: pid_t) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
