import ArgumentParser
import Foundation
import FunnelDevKit
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages

/// `funnel bench route`: what durable state costs funnel-route. The same input (scored events
/// and sales outcomes) through the router with its table written to and restored from the
/// changelog, and with `FUNNEL_STATE_DURABILITY=none` (what the in-memory sketch did: a
/// restart forgets every lead); in-process and as the real process on a local broker.
struct RouteBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "funnel-route with durable state vs in memory: in-process and on a local broker.")

    @Option(help: "Leads; each gets two scored events, and every second one three outcomes.") var leads = 40_000
    @Option(help: "Partitions of the topics.") var partitions = 6
    @Option(help: "Run only part of it: all, processing (in-process) or broker.") var only = "all"

    func run() async throws {
        guard ["all", "processing", "broker"].contains(only) else { throw ValidationError("--only takes all, processing or broker") }
        let model = try ScoringModel.parse(yaml: String(contentsOfFile: ProjectPaths.configDirectory + "/scoring-model.yaml", encoding: .utf8))
        let router = LifecycleRouter(routing: .everyoneTo("ana"), mqlThreshold: model.mqlThreshold)
        let inputs = Self.inputs(leads: leads, threshold: model.mqlThreshold)
        print("\(inputs.count) inputs: \(leads) leads × 2 scored events, outcomes accepted → meeting → won for every second lead\n")
        let routingFile = ProjectPaths.configDirectory + "/" + RoutingConfig.fileName
        let routing = try RoutingConfig.parse(yaml: String(contentsOfFile: routingFile, encoding: .utf8), file: routingFile)
        if only != "broker" {
            var durable = 0.0, memory = 0.0, pooled = (rate: 0.0, decisions: 0)
            for _ in 0..<3 { // best of three: the first pass warms allocators and caches
                durable = max(durable, Self.processingRate(router, inputs, partitions: partitions, durable: true))
                memory = max(memory, Self.processingRate(router, inputs, partitions: partitions, durable: false))
                let p = Self.poolRoundTripRate(LifecycleRouter(routing: routing, mqlThreshold: model.mqlThreshold), inputs, partitions: partitions)
                if p.rate > pooled.rate { pooled = p }
            }
            print(String(format: "in-process, durable table        %10.0f inputs/s  (%.2f µs/input incl. changelog records)", durable, 1e6 / durable))
            print(String(format: "in-process, in memory            %10.0f inputs/s", memory))
            print(String(format: "durable / in memory              %10.0f %%", 100 * durable / memory))
            print(String(format: "in-process, pool round trip      %10.0f inputs/s  (%d routing decisions by deploy/routing.yaml's pools, %.0f decisions/s)\n",
                         pooled.rate, pooled.decisions, pooled.rate * Double(pooled.decisions) / Double(inputs.count)))
        }
        if only != "processing" {
            // The lifecycle alone (every MQL to one named owner: no pool round trip), comparable
            // with the router before pools; then deploy/routing.yaml's pools, durable and not.
            let direct = try await brokerRate(inputs, durable: true, configDirectory: try Self.singleOwnerConfig())
            print(String(format: "funnel-route, named owner        %10.0f msgs/s  %6.1f CPU-s per 10^6 inputs  (no pool round trip)\n",
                         direct.rate, direct.cpuPerMillion))
            let durable = try await brokerRate(inputs, durable: true)
            let memory = try await brokerRate(inputs, durable: false)
            print(String(format: "funnel-route, durable            %10.0f msgs/s  %6.1f CPU-s per 10^6 inputs  (%.0f changelog records, %.2f per input)",
                         durable.rate, durable.cpuPerMillion, durable.changelogRecords, durable.changelogRecords / Double(inputs.count)))
            print(String(format: "funnel-route, in memory          %10.0f msgs/s  %6.1f CPU-s per 10^6 inputs", memory.rate, memory.cpuPerMillion))
            print(String(format: "durable / in memory              %10.0f %% of the rate", 100 * durable.rate / memory.rate))
            print(String(format: "pool round trips (durable run)   %10.0f assignments answered, %.0f decisions/s", durable.decisions,
                         durable.decisions / durable.seconds))
        }
    }

    /// Scored events (below the bar, then above it) and outcomes, keyed by lead; event times
    /// one minute apart per lead, from now (SLA timers run from event time: with old times
    /// every assignment's SLA would be due at once, and the bench would time reassignments).
    static func inputs(leads: Int, threshold: Double) -> [ProducerMessage] {
        let base = Int64(Date().timeIntervalSince1970 * 1000)
        var messages: [ProducerMessage] = []
        messages.reserveCapacity(leads * 4)
        func scored(_ lead: String, _ total: Double, _ mql: Bool, _ t: Int64, _ n: Int) -> ProducerMessage {
            let time = Timestamp.format(milliseconds: t)
            var data = LeadScored(leadID: lead, model: "bench", total: total, fit: total / 2, interest: total / 2, grade: "B",
                                  quadrant: mql ? "hot" : "cold", rules: [], disqualification: nil, profileKnown: true,
                                  contactAvailable: true, emailClass: .corporate, accountOwner: nil, source: "web", campaign: "bench", scoredAt: time)
            data.mql = mql
            return StageIO.output(data, topic: TopicCatalog.scored, leadID: lead, from: "\(lead)-s\(n)", purpose: "scored", source: "bench", time: time)
        }
        for i in 0..<leads {
            let lead = "lead-\(i)"
            let t = base + Int64(i) * 10
            messages.append(scored(lead, threshold - 20, false, t, 0))
            messages.append(scored(lead, threshold + 15, true, t + 60_000, 1))
            guard i % 2 == 0 else { continue }
            for (k, outcome) in [OutcomeType.accepted, .meeting, .won].enumerated() {
                let time = Timestamp.format(milliseconds: t + Int64(k + 2) * 60_000)
                messages.append(StageIO.output(LeadOutcome(leadID: lead, outcome: outcome, occurredAt: time), topic: TopicCatalog.outcome,
                                               leadID: lead, from: "\(lead)-o\(k)", purpose: "outcome", source: "bench", time: time))
            }
        }
        return messages
    }

    static func processingRate(_ router: LifecycleRouter, _ inputs: [ProducerMessage], partitions: Int, durable: Bool) -> Double {
        let noRecords: StatefulStage<RouteProcessor>.ChangelogReader = { _, _ in 0 }
        let stage = StatefulStage(RouteProcessor(router: router), readChangelog: durable ? noRecords : nil, logger: .init(label: "bench"))
        return ScoreBench.processingRate(stage, inputs, partitions: partitions)
    }

    /// The lead side and the pool side (deploy/routing.yaml) in one loop: each assignment
    /// command goes to the pool side at once and its answer back to the lead side, as the
    /// topics would carry them; durable tables, checkpoints every 40,000 inputs.
    static func poolRoundTripRate(_ router: LifecycleRouter, _ inputs: [ProducerMessage], partitions: Int) -> (rate: Double, decisions: Int) {
        let none: StatefulStage<RouteProcessor>.ChangelogReader = { _, _ in 0 }
        let leads = StatefulStage(RouteProcessor(router: router), readChangelog: none, logger: .init(label: "bench"))
        let pools = StatefulStage(PoolProcessor(routing: router.routing), readChangelog: { _, _ in 0 }, logger: .init(label: "bench"))
        let all = (0..<Int32(partitions)).map { TopicPartition(topic: TopicCatalog.scored, partition: $0) }
        leads.assigned(all)
        pools.assigned(all.map { TopicPartition(topic: TopicCatalog.assignments, partition: $0.partition) })
        func consumed(_ m: ProducerMessage, _ offset: Int) -> ConsumerMessage {
            let partition = KafkaPartitioner.partition(forKey: String(decoding: m.key ?? [], as: UTF8.self), partitionCount: partitions)
            return ConsumerMessage(topic: m.topic, partition: partition, offset: Int64(offset), key: m.key, value: m.value, timestampMilliseconds: 1)
        }
        let messages = inputs.enumerated().map { consumed($1, $0) }
        var decisions = 0, offset = messages.count
        let start = ContinuousClock.now
        for (index, message) in messages.enumerated() {
            var queue = [(message, false)]
            while let (next, toPools) = queue.popLast() {
                guard let out = try? (toPools ? pools.process(next) : leads.process(next)).messages else { continue }
                for m in out where m.topic == TopicCatalog.assignments || m.topic == TopicCatalog.assigned {
                    if m.topic == TopicCatalog.assigned { decisions += 1 }
                    offset += 1
                    queue.append((consumed(m, offset), m.topic == TopicCatalog.assignments))
                }
            }
            if index % 40_000 == 39_999 || index == messages.count - 1 { _ = leads.checkpoint(); _ = pools.checkpoint() }
        }
        return (Double(messages.count) / (ContinuousClock.now - start).seconds, decisions)
    }

    struct BrokerResult { var rate: Double; var cpuPerMillion: Double; var changelogRecords: Double; var decisions: Double; var seconds: Double }

    /// The real funnel-route on a fresh local broker: the input is produced first, then the
    /// process is started and timed from its first consumed input to its last.
    /// A copy of deploy/ whose routing.yaml sends every MQL to one named owner.
    static func singleOwnerConfig() throws -> String {
        let directory = NSTemporaryDirectory() + "funnel-bench-route-config-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.copyItem(atPath: ProjectPaths.configDirectory, toPath: directory)
        try """
        version: "bench-single-owner"
        default_pool: p
        rules: [{ name: everyone, owner: rep-bench }]
        pools: { p: { members: [{ rep: rep-bench }] } }
        """.write(toFile: directory + "/" + RoutingConfig.fileName, atomically: true, encoding: .utf8)
        return directory
    }

    func brokerRate(_ inputs: [ProducerMessage], durable: Bool, configDirectory: String? = nil) async throws -> BrokerResult {
        let broker = try await LocalBroker.start()
        defer { Task { await broker.stop() } }
        let config = KafkaConfiguration(brokers: broker.bootstrap, properties: ["log_level": "3"])
        try await TopicSetup.create(admin: KafkaAdmin(configuration: config), partitions: partitions)
        let producer = try KafkaProducer(configuration: config)
        for message in inputs { try await producer.send(message) }
        try await producer.flush(timeout: .seconds(120))
        await producer.close()

        let binDirectory = ProcessInfo.processInfo.environment["FUNNEL_BIN_DIR"]
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let port = try Network.freePort()
        var env = ProcessInfo.processInfo.environment
        env["KAFKA_BROKERS"] = broker.bootstrap
        env["FUNNEL_HTTP_PORT"] = String(port)
        env["FUNNEL_PARENT_PID"] = String(getpid())
        if !durable { env["FUNNEL_STATE_DURABILITY"] = "none" }
        if let configDirectory { env["FUNNEL_CONFIG_DIR"] = configDirectory }
        let expectedAnswers = configDirectory == nil ? Double(leads) : 0
        let log = NSTemporaryDirectory() + "funnel-bench-route\(durable ? "" : "-memory").log"
        print("routing with \(binDirectory)/funnel-route, \(durable ? "durable" : "in memory") (log: \(log)) …")
        let child = try ChildProcess(name: "funnel-route", executable: binDirectory + "/funnel-route", arguments: [], environment: env, outputPath: log)
        defer { if child.isRunning { child.signal(SIGTERM) } }
        var first: (ContinuousClock.Instant, Double)?
        var last = (ContinuousClock.now, 0.0)
        let deadline = ContinuousClock.now + .seconds(600)
        while true {
            guard child.isRunning else { throw ValidationError("funnel-route exited; see \(log)") }
            guard ContinuousClock.now < deadline else { throw ValidationError("funnel-route did not finish in 600 s; see \(log)") }
            // The lead side's inputs only (the process also consumes its own assignment topics).
            let consumed = await ScoreBench.metric("funnel_consumed_total", port: port, label: TopicCatalog.scored)
                + ScoreBench.metric("funnel_consumed_total", port: port, label: TopicCatalog.outcome)
            let now = ContinuousClock.now
            if first == nil && consumed > 0 { first = (now, consumed) }
            last = (now, consumed)
            // Done when every input is consumed and every lead's pool answer came back.
            if consumed >= Double(inputs.count),
               await ScoreBench.metric("funnel_consumed_total", port: port, label: TopicCatalog.assigned) >= expectedAnswers { break }
            try await Task.sleep(for: .milliseconds(100)) // polling a counter: the process has no "done" event
        }
        var records = 0.0
        if durable {
            for _ in 0..<50 { // the last writes follow within a checkpoint interval
                let now = await ScoreBench.metric("funnel_produced_total", port: port, label: RouteProcessor.changelogTopic)
                if now > 0 && now == records { break }
                records = now
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        let decisions = await ScoreBench.metric("funnel_produced_total", port: port, label: TopicCatalog.assigned)
        let commands = await ScoreBench.metric("funnel_produced_total", port: port, label: TopicCatalog.assignments)
        let answersRead = await ScoreBench.metric("funnel_consumed_total", port: port, label: TopicCatalog.assigned)
        print(String(format: "  assignment commands %.0f, answers %.0f (read %.0f)", commands, decisions, answersRead))
        let cpu = ScoreBench.cpuSeconds(pid: child.commandPID ?? child.pid)
        _ = await child.terminate()
        guard let (startAt, startCount) = first, last.0 > startAt else { throw ValidationError("funnel-route consumed nothing; see \(log)") }
        let seconds = (last.0 - startAt).seconds
        return BrokerResult(rate: (last.1 - startCount) / seconds, cpuPerMillion: cpu / Double(inputs.count) * 1e6, changelogRecords: records,
                            decisions: decisions, seconds: seconds)
    }
}
