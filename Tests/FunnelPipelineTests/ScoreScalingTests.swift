import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages
import Testing
#if canImport(Glibc)
import Glibc
import FunnelDevKit
import FunnelTestSupport
#endif

/// funnel-score scales out without changing its answer: the same input stream, scored by
/// (a) one replica, (b) three replicas started one after the other, (c) three replicas of
/// which one is SIGKILLed mid-stream and replaced, must give every lead the same final score,
/// one scored event per input (more only where a replica re-processed inputs), and never one
/// id with two contents on `funnel.lead.scored.v1`, within a run or across runs.
///
/// Each run has its own private broker (4 partitions for every topic: the two inputs and the
/// changelog must match) and its own `funnel-score` processes. The input is produced in full
/// before any scorer starts.
///
/// "The final score" of a lead is the last scored event of that lead in offset order (a lead's
/// events all live in one partition: they are keyed by lead id). The event with the greatest
/// `scored_at` is not enough: `scored_at` is the lead's newest event time, and an older input
/// processed after the newest one (an activity produced out of event-time order, or a profile
/// read after the activities or the other way round: enriched and activity are separate topics,
/// so their interleaving is not fixed) yields a second event with the same `scored_at` and a
/// different total; the run prints how many leads have such ties. The last event is the one
/// computed from the complete state, and the test checks that independently: it is compared
/// with ``Scorer`` applied to every distinct input of the lead, and with the lead's last
/// changelog state. The `mql` flag is compared too: its hysteresis is walked in event-time order
/// (the scorer replays it when an input changes the lead's past), so arrival order cannot change it.
@Suite("funnel-score: the same scores however many replicas run and whichever is killed",
       .serialized, .timeLimit(.minutes(8)))
struct ScoreScalingTests {
    static let partitions = 4
    static let leadCount = 500
    static let seed: UInt64 = 0x5C0E_5CA1_1260

    @Test("one replica, three staggered replicas, three replicas with one SIGKILLed: one output per input, one content per id, the same final scores")
    func sameAnswerHoweverManyReplicas() async throws {
        let root = NSTemporaryDirectory() + "funnel-score-scaling-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let configDirectory = try Self.writeConfig(into: root + "/config")
        let model = try ScoringModel.parse(
            yaml: String(contentsOfFile: configDirectory + "/scoring-model.yaml", encoding: .utf8),
            file: configDirectory + "/scoring-model.yaml")
        let input = Input.make(leads: Self.leadCount, seed: Self.seed, scorer: Scorer(model: model))

        // The sweep must stay out of the way (see writeConfig): no two event times of the input
        // may straddle a sweep boundary.
        let interval = Int64(model.sweepIntervalHours * 3_600_000)
        try #require(input.times.lowerBound / interval == input.times.upperBound / interval,
                     "the input's event times cross a sweep boundary")
        print("ScoreScaling input: leads=\(input.leads.count) messages=\(input.messages.count) distinct-inputs=\(input.inputIDs.count) "
              + "duplicate-inputs=\(input.duplicates) activities-before-profile=\(input.activitiesBeforeProfile) logs=\(root)")

        var results: [RunResult] = []
        for plan in Plan.allCases {
            let result = try await Self.run(plan, input: input, configDirectory: configDirectory, logs: root + "/" + plan.rawValue)
            print("ScoreScaling \(plan.rawValue): leads=\(result.final.count) inputs=\(input.messages.count) "
                  + "outputs=\(result.outputs) distinct-output-ids=\(result.ids.count) output-duplicates=\(result.outputs - result.ids.count) "
                  + "input-duplicates=\(input.duplicates) leads-with-ties-at-newest-scored_at=\(result.ambiguousNewest) "
                  + "seconds=\(String(format: "%.1f", result.seconds))\(result.notes.isEmpty ? "" : " " + result.notes.joined(separator: " "))")
            Self.check(result, against: input)
            results.append(result)
        }

        // Across runs: an id seen in two runs has the same bytes in both; the same final score
        // for every lead. (Which ids a run emits depends on how it interleaved the two input
        // topics: a scored id derives from its input and its content.)
        let first = results[0]
        for other in results.dropFirst() {
            let shared = Set(other.bytes.keys).intersection(first.bytes.keys)
            let differ = shared.filter { other.bytes[$0] != first.bytes[$0] }
            print("ScoreScaling \(other.plan.rawValue) vs \(first.plan.rawValue): ids-in-both=\(shared.count) of \(other.ids.count)/\(first.ids.count) same-id-different-bytes=\(differ.count)")
            #expect(differ.isEmpty, "\(differ.count) ids carry other bytes in \(other.plan.rawValue) than in \(first.plan.rawValue), e.g. \(differ.prefix(3).sorted())")
            let differing = input.leads.filter { other.final[$0] != first.final[$0] }
            #expect(differing.isEmpty, """
                \(differing.count) leads score differently in \(other.plan.rawValue) than in \(first.plan.rawValue), e.g.
                \(differing.prefix(5).map { "\($0): \(first.final[$0].map(String.init(describing:)) ?? "none") vs \(other.final[$0].map(String.init(describing:)) ?? "none")" }.joined(separator: "\n"))
                """)
            let mqlDiffers = input.leads.filter { other.finalMQL[$0] != first.finalMQL[$0] }
            #expect(mqlDiffers.isEmpty, Comment(rawValue: "final mql flag differs in \(other.plan.rawValue) vs \(first.plan.rawValue) for \(mqlDiffers.count) leads:"
                  + mqlDiffers.prefix(3).map { " [\($0) mql \(first.finalMQL[$0].map(String.init) ?? "-") vs \(other.finalMQL[$0].map(String.init) ?? "-"), total \(first.final[$0]?.total ?? .nan)]" }.joined()))
        }
    }

    /// The per-run checks: every expected id and nothing else, final scores as the model says,
    /// the changelog holding every input.
    static func check(_ result: RunResult, against input: Input) {
        let name = result.plan.rawValue
        // One output per distinct input (ids derive from the input and the content, so two
        // inputs never share one). A replica that re-processes inputs after a kill or a
        // rebalance may see the lead's other topic in another order and emit more ids.
        if result.plan == .one {
            #expect(result.ids.count == input.inputIDs.count, "\(name): \(result.ids.count) distinct scored ids for \(input.inputIDs.count) distinct inputs")
        } else {
            #expect(result.ids.count >= input.inputIDs.count, "\(name): \(result.ids.count) distinct scored ids for \(input.inputIDs.count) distinct inputs")
        }
        #expect(result.idsWithOtherBytes == 0, "\(name): \(result.idsWithOtherBytes) ids delivered twice with different bytes")
        #expect(result.leadsInSeveralPartitions == 0, "\(name): leads whose scored events are in more than one partition")
        #expect(result.lastNotNewest.isEmpty, "\(name): the last event of these leads is not at their newest scored_at: \(result.lastNotNewest.prefix(5))")
        let wrong = input.leads.filter { result.final[$0] != input.expected[$0]!.score }
        #expect(wrong.isEmpty, """
            \(name): \(wrong.count) leads' final score differs from the model applied to all their inputs, e.g.
            \(wrong.prefix(5).map { "\($0): got \(result.final[$0].map(String.init(describing:)) ?? "none"), model says \(input.expected[$0]!.score)" }.joined(separator: "\n"))
            """)
        let stateWrong = input.leads.filter { lead in
            guard let state = result.changelog[lead] else { return true }
            let expected = input.expected[lead]!.state
            return state.activities != expected.activities || state.profile != expected.profile || state.lastEventTime != expected.lastEventTime
        }
        #expect(stateWrong.isEmpty, "\(name): \(stateWrong.count) leads' last changelog state does not hold exactly their inputs, e.g. \(stateWrong.prefix(5))")
        #expect(result.crashed.isEmpty, "\(name): replicas that the test did not kill exited early or not cleanly: \(result.crashed)")
    }
}

// MARK: - Runs

extension ScoreScalingTests {
    enum Plan: String, CaseIterable, Sendable {
        case one = "a-one-replica"
        case staggered = "b-three-replicas-staggered"
        case killed = "c-three-replicas-one-killed"
    }

    struct RunResult: Sendable {
        var plan: Plan
        /// Scored messages on the topic (duplicates included).
        var outputs = 0
        var ids: Set<String> = []
        /// The bytes of each id (the first delivery).
        var bytes: [String: [UInt8]] = [:]
        /// Ids delivered more than once with different bytes.
        var idsWithOtherBytes = 0
        /// The last scored event of each lead (offset order).
        var final: [String: FinalScore] = [:]
        var finalMQL: [String: Bool] = [:]
        /// The last changelog state of each lead.
        var changelog: [String: LeadScoreState] = [:]
        var leadsInSeveralPartitions = 0
        var lastNotNewest: [String] = []
        /// Leads with more than one different score at their newest scored_at (see the suite's comment).
        var ambiguousNewest = 0
        var crashed: [String] = []
        var notes: [String] = []
        var seconds = 0.0
    }

    static func run(_ plan: Plan, input: Input, configDirectory: String, logs: String) async throws -> RunResult {
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let started = ContinuousClock.now
        let cluster = try await Cluster.start(logs: logs, configDirectory: configDirectory)
        do {
            var result = try await scenario(plan, cluster, input)
            result.seconds = (ContinuousClock.now - started).seconds
            await cluster.shutdown()
            return result
        } catch {
            Issue.record("\(plan.rawValue) failed; broker and replica logs in \(logs)")
            await cluster.shutdown()
            throw error
        }
    }

    static func scenario(_ plan: Plan, _ cluster: Cluster, _ input: Input) async throws -> RunResult {
        var result = RunResult(plan: plan)
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: cluster.broker.bootstrap, properties: ["log_level": "3"]))
        try await TopicSetup.create(admin: admin, partitions: partitions)
        try await produce(input, to: cluster.broker)
        let collector = try Collector(broker: cluster.broker, input: input)
        cluster.collector.withLock { $0 = collector }
        let expected = input.inputIDs.count

        switch plan {
        case .one:
            try await cluster.startReplica()
        case .staggered:
            try await cluster.startReplica()
            try await collector.wait("the first scored event", seconds: 60) { collector.outputCount >= 1 }
            let atSecond = collector.outputCount
            try await cluster.startReplica()
            try await collector.wait("progress after replica 2 joined", seconds: 60) {
                collector.outputCount >= min(expected, atSecond + expected / 5)
            }
            let atThird = collector.outputCount
            try await cluster.startReplica()
            result.notes.append("replica2-at=\(atSecond)/\(expected) replica3-at=\(atThird)/\(expected)")
        case .killed:
            for _ in 0..<3 { try await cluster.startReplica() }
            // Mid-stream: the debug-build scorer takes a few seconds for the whole input, so kill
            // once 5 % of the outputs are there (the note printed for the run says where it was).
            try await collector.wait("scored events to flow", seconds: 60) { collector.outputCount >= max(1, expected / 20) }
            // Kill the replica holding the most leads (its state is what must not be lost).
            var victim = cluster.replicas.value[0]
            var most = -1.0
            for replica in cluster.replicas.value {
                let leads = await replica.gauge("funnel_score_leads") ?? 0
                if leads > most { most = leads; victim = replica }
            }
            let atKill = collector.outputCount
            // SIGKILL to the scorer itself: `ChildProcess.signal` would hit its watchdog shell,
            // which cannot pass SIGKILL on and would leave the scorer running.
            let pid = try #require(victim.process.commandPID, "no pid for \(victim.name)")
            kill(pid, SIGKILL)
            let status = await victim.process.exitStatus()
            cluster.killed.withLock { _ = $0.insert(victim.name) }
            try await cluster.startReplica()
            result.notes.append("killed=\(victim.name) holding-leads=\(Int(most)) at=\(atKill)/\(expected) exit=\(status) replaced-at=\(collector.outputCount)/\(expected)"
                                + (atKill >= expected ? " WARNING:kill-after-the-stream-ended" : ""))
        }

        // Done when every lead's newest changelog state holds all of its inputs: then no replica
        // has anything left to (re-)process (the state is written after the outputs are acknowledged).
        try await collector.wait("complete changelog states", seconds: 120) { collector.isComplete }

        // Stop the replicas (gracefully), then read what they wrote, from the beginning.
        for replica in cluster.replicas.value where !cluster.killed.value.contains(replica.name) && !replica.process.isRunning {
            result.crashed.append("\(replica.name) had exited before the end")
        }
        for (name, status) in await cluster.stopReplicas() where status != 0 {
            result.crashed.append("\(name) exited with \(status) after SIGTERM")
        }
        try await analyse(cluster.broker, into: &result)
        result.changelog = collector.changelog.value
        return result
    }

    /// Produces the input, in order, keyed by lead id (so both input topics are co-partitioned).
    static func produce(_ input: Input, to broker: LocalBroker) async throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(brokers: broker.bootstrap, properties: ["log_level": "3"]))
        let failures = Locked(0)
        do {
            for message in input.messages {
                try await producer.send(ProducerMessage(topic: message.topic, key: message.leadID, value: message.value)) { outcome in
                    if case .failure = outcome { failures.withLock { $0 += 1 } }
                }
            }
            try await producer.flush(timeout: .seconds(60))
        } catch {
            await producer.close()
            throw error
        }
        await producer.close()
        try #require(failures.value == 0, "\(failures.value) input messages were not acknowledged")
    }

    /// Reads the scored topic to its end and takes each lead's last event.
    static func analyse(_ broker: LocalBroker, into result: inout RunResult) async throws {
        struct Row: Sendable { let partition: Int32; let id: String; let data: LeadScored; let bytes: [UInt8] }
        let configuration = KafkaConfiguration(brokers: broker.bootstrap, properties: ["log_level": "3"])
        let rows: [Row] = try await blocking {
            var rows: [Row] = []
            var bad = 0
            try KafkaPartitionReader.readToEnd(
                configuration: configuration,
                partitions: (0..<Int32(partitions)).map { TopicPartition(topic: TopicCatalog.scored, partition: $0) }) { message in
                switch EventDecoder.decode(LeadScored.self, from: message.value ?? [], expectedType: TopicCatalog.scored) {
                case .success(let event): rows.append(Row(partition: message.partition, id: event.id, data: event.data, bytes: message.value ?? []))
                case .failure: bad += 1
                }
            }
            if bad > 0 { throw ConfigError("\(bad) scored events do not decode") }
            return rows
        }
        result.outputs = rows.count
        result.ids = Set(rows.map(\.id))
        for row in rows {
            if let known = result.bytes[row.id] { if known != row.bytes { result.idsWithOtherBytes += 1 } } else { result.bytes[row.id] = row.bytes }
        }
        var partitionOf: [String: Set<Int32>] = [:]
        var byLead: [String: [LeadScored]] = [:]
        for row in rows { // per partition in offset order; a lead lives in one partition
            partitionOf[row.data.leadID, default: []].insert(row.partition)
            byLead[row.data.leadID, default: []].append(row.data)
        }
        result.leadsInSeveralPartitions = partitionOf.values.filter { $0.count > 1 }.count
        for (lead, events) in byLead {
            let last = events.last!
            result.final[lead] = FinalScore(last)
            result.finalMQL[lead] = last.mql
            let newest = events.map { Timestamp.milliseconds($0.scoredAt) ?? 0 }.max()!
            if Timestamp.milliseconds(last.scoredAt) != newest { result.lastNotNewest.append(lead) }
            let atNewest = Set(events.filter { Timestamp.milliseconds($0.scoredAt) == newest }.map { FinalScore($0) })
            if atNewest.count > 1 { result.ambiguousNewest += 1 }
        }
    }

    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// A copy of deploy/ whose model sweeps every 100 000 hours instead of every hour.
    ///
    /// Why: the sweep re-emits leads whose bands changed only because event time passed, each
    /// time a partition's event-time watermark crosses a multiple of `sweep_interval_hours`.
    /// Which leads a sweep finds depends on which inputs of the partition arrived before the
    /// crossing one, and enriched and activity are separate topics whose interleaving differs
    /// from run to run (and with every rebalance). The number of sweep events is therefore not
    /// a function of the input alone; with the sweep pushed past the input's time span, every
    /// output answers one input and their number can be compared exactly.
    static func writeConfig(into directory: String) throws -> String {
        let source = ProjectPaths.configDirectory
        try FileManager.default.copyItem(atPath: source, toPath: directory)
        let path = directory + "/scoring-model.yaml"
        let yaml = try String(contentsOfFile: path, encoding: .utf8)
        let patched = yaml.replacingOccurrences(of: #"(?m)^sweep_interval_hours:\s*1\b"#, with: "sweep_interval_hours: 100000",
                                                options: .regularExpression)
        try #require(patched != yaml, "scoring-model.yaml in \(source) has no `sweep_interval_hours: 1` line to replace")
        try patched.write(toFile: path, atomically: true, encoding: .utf8)
        return directory
    }
}

// MARK: - Processes

extension ScoreScalingTests {
    /// One `funnel-score` process.
    final class Replica: Sendable {
        let name: String
        let port: Int
        let process: ChildProcess

        init(name: String, port: Int, process: ChildProcess) {
            self.name = name; self.port = port; self.process = process
        }

        /// A gauge from `/metrics`, or nil.
        func gauge(_ metric: String) async -> Double? {
            guard let body = try? await HTTPProbe.get(port: port, path: "/metrics").body else { return nil }
            return body.split(separator: "\n").first { $0.hasPrefix(metric + " ") }
                .flatMap { Double($0.split(separator: " ").last ?? "") }
        }
    }

    /// A run's broker, replicas and output collector; ``shutdown()`` stops all of it (idempotent).
    final class Cluster: Sendable {
        let broker: LocalBroker
        let logs: String
        let configDirectory: String
        let replicas = Locked<[Replica]>([])
        let killed = Locked<Set<String>>([])
        let collector = Locked<Collector?>(nil)

        private init(broker: LocalBroker, logs: String, configDirectory: String) {
            self.broker = broker; self.logs = logs; self.configDirectory = configDirectory
        }

        static func start(logs: String, configDirectory: String) async throws -> Cluster {
            Cluster(broker: try await LocalBroker.start(logPath: logs + "/tansu.log"), logs: logs, configDirectory: configDirectory)
        }

        /// Starts one more replica and waits until it answers `/readyz`.
        @discardableResult
        func startReplica() async throws -> Replica {
            let number = replicas.value.count + 1
            let name = "funnel-score-\(number)"
            let port = try Network.freePort()
            let environment = serviceEnvironment(broker, port: port, configDirectory: configDirectory, ["FUNNEL_SERVICE": "funnel-score"])
            let process = try ChildProcess(name: name, executable: PipelineEndToEndTests.binDirectory + "/funnel-score", arguments: [],
                                           environment: environment, outputPath: logs + "/\(name).log")
            let replica = Replica(name: name, port: port, process: process)
            replicas.withLock { $0.append(replica) }
            try await HTTPProbe.waitUntilReady(port: port, process: process, log: logs + "/\(name).log")
            return replica
        }

        /// SIGTERM to every replica still running; waits until all exited. Returns the exit
        /// status of those that were running.
        @discardableResult
        func stopReplicas() async -> [(String, Int32)] {
            let running = replicas.value.filter(\.process.isRunning)
            for replica in running { replica.process.signal(SIGTERM) }
            var statuses: [(String, Int32)] = []
            for replica in running { statuses.append((replica.name, await replica.process.exitStatus())) }
            for replica in replicas.value { await replica.process.exitStatus() }
            return statuses
        }

        func shutdown() async {
            await stopReplicas()
            if let collector = collector.withLock({ c -> Collector? in defer { c = nil }; return c }) { await collector.stop() }
            await broker.stop()
        }
    }

    /// Follows the scored topic and the changelog from the beginning (its own group): which
    /// output ids exist, and each lead's newest state.
    final class Collector: Sendable {
        let ids = Locked<Set<String>>([])
        let changelog = Locked<[String: LeadScoreState]>([:])
        /// Leads whose newest changelog state has seen every one of their inputs.
        private let completeLeads = Locked<Set<String>>([])
        private let inputHashes: [String: Set<UInt64>]
        private let signal = Locked<[CheckedContinuation<Void, Never>]>([])
        private let consumer: KafkaConsumer
        private let loop: Task<Void, Error>

        init(broker: LocalBroker, input: Input) throws {
            inputHashes = input.inputHashes
            consumer = try KafkaConsumer(
                configuration: KafkaConfiguration(brokers: broker.bootstrap, properties: [
                    "session.timeout.ms": "2000", "heartbeat.interval.ms": "200", "log_level": "3",
                    "topic.metadata.refresh.interval.ms": "1000"]),
                groupID: "scaling-watch-\(UUID().uuidString.prefix(6))",
                topics: [TopicCatalog.scored, ScoreProcessor.changelogTopic])
            let consumer = self.consumer, ids = self.ids, changelog = self.changelog, complete = self.completeLeads
            let hashes = self.inputHashes, signal = self.signal
            loop = Task {
                for try await message in consumer.messages {
                    if message.topic == TopicCatalog.scored {
                        if case .success(let event) = EventDecoder.decode(LeadScored.self, from: message.value ?? [], expectedType: message.topic) {
                            ids.withLock { _ = $0.insert(event.id) }
                        }
                    } else if let lead = message.keyString, let value = message.value,
                              let state = try? TableRecord(decoding: value).value.flatMap({ try? LeadScoreState(decoding: $0) }) {
                        changelog.withLock { $0[lead] = state }
                        let all = hashes[lead].map { $0.isSubset(of: state.seen) } ?? false
                        complete.withLock { if all { $0.insert(lead) } else { $0.remove(lead) } }
                    }
                    for waiter in signal.withLock({ w -> [CheckedContinuation<Void, Never>] in defer { w = [] }; return w }) { waiter.resume() }
                }
            }
        }

        /// Distinct scored ids read so far.
        var outputCount: Int { ids.withLock { $0.count } }

        var isComplete: Bool {
            completeLeads.withLock { $0.count } == inputHashes.count
        }

        /// Waits (woken by every message, re-checking at least every second) until `condition`
        /// holds; throws after `seconds` or when the task is cancelled (the suite's time limit).
        func wait(_ what: String, seconds: Double, until condition: @escaping @Sendable () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while !condition() {
                try Task.checkCancellation()
                guard ContinuousClock.now < deadline else {
                    throw TimedOut(what: "\(what) (\(outputCount) scored ids, \(completeLeads.value.count)/\(inputHashes.count) complete leads)")
                }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await withCheckedContinuation { c in self.signal.withLock { $0.append(c) } } }
                    group.addTask { try? await Task.sleep(for: .seconds(1)) }
                    await group.next()
                    group.cancelAll()
                    self.signal.withLock { for c in $0 { c.resume() }; $0 = [] }
                }
            }
        }

        func stop() async {
            loop.cancel()
            await consumer.close()
            signal.withLock { for c in $0 { c.resume() }; $0 = [] }
        }
    }
}

// MARK: - Input and what the model says about it

extension ScoreScalingTests {
    /// What is compared of a scored event (the `mql` flag separately, see `finalMQL`).
    struct FinalScore: Hashable, Sendable, CustomStringConvertible {
        var total: Double
        var fit: Double
        var interest: Double
        var grade: String
        var quadrant: String
        var interestBand: String?
        var scoredAt: String
        var profileKnown: Bool
        var rules: [String]
        var named: [String]

        init(_ s: LeadScored) {
            total = s.total; fit = s.fit; interest = s.interest; grade = s.grade; quadrant = s.quadrant
            interestBand = s.interestBand; scoredAt = s.scoredAt; profileKnown = s.profileKnown
            rules = s.rules.map { "\($0.rule):\($0.category):\($0.points):\($0.events.map(String.init) ?? "-")" }
            named = (s.scores ?? []).map { "\($0.name):\($0.total):\($0.grade):\($0.quadrant)" }
        }

        var description: String {
            "total \(total) (fit \(fit), interest \(interest)) grade \(grade) \(quadrant) at \(scoredAt)\(profileKnown ? "" : " no profile") rules \(rules)"
        }
    }

    struct InputMessage: Sendable {
        var topic: String
        var leadID: String
        var eventID: String
        var value: [UInt8]
    }

    struct Expected: Sendable {
        var score: FinalScore
        var state: LeadScoreState
    }

    struct Input: Sendable {
        /// In production order, duplicates included.
        var messages: [InputMessage] = []
        var leads: [String] = []
        /// The distinct input ids (each yields one scored event).
        var inputIDs: Set<String> = []
        /// Per lead: the hashes of its distinct input ids (as the scorer's state records them).
        var inputHashes: [String: Set<UInt64>] = [:]
        var expected: [String: Expected] = [:]
        var duplicates = 0
        var activitiesBeforeProfile = 0
        var times: ClosedRange<Int64> = 0...0

        /// `leads` leads, each with one enriched event and 0–12 activities over two days of
        /// event time, in a deterministic pseudo-random order (a lead's own events keep their
        /// order; its profile comes at a random place among its activities). About 8 % of the
        /// activities and 4 % of the profiles are produced twice: the copy right behind the
        /// original or further down the stream.
        static func make(leads count: Int, seed: UInt64, scorer: Scorer) -> Input {
            var random = SplitMix64(seed: seed)
            let base = Timestamp.milliseconds("2026-11-20T00:00:00Z")!
            let span: Int64 = 2 * 86_400_000
            let titles: [String?] = ["VP Engineering", "Chief Technology Officer", "Director of Sales", "Head of Marketing",
                                     "Marketing Manager", "Team Lead Operations", "Software Engineer", "Data Analyst",
                                     "Student", "Marketing Intern", "Analytics Engineer", "BI Developer", "Founder",
                                     "Sales Manager", "Vice President Sales", "Account Executive", nil]
            let industries: [String?] = ["software", "saas", "fintech", "e-commerce", "logistics", "retail", "healthcare", nil]
            let employees: [Int?] = [nil, 5, 30, 75, 150, 250, 1200, 4800, 9000]
            let countries = ["DE", "US", "GB", "FR", "BR", "JP", "IN", "CA", "NL", "AU"]
            let classes: [EmailClass] = [.corporate, .corporate, .corporate, .corporate, .free, .role, .disposable]
            let sources: [String?] = ["webinar", "ads", "organic", "referral", nil]
            var input = Input()
            var minTime = Int64.max, maxTime = Int64.min
            var queues: [[InputMessage]] = []

            func message<P: Codable & Sendable>(_ data: P, topic: String, lead: String, id: String, time: String, source: String) -> InputMessage {
                let event = CloudEvent(id: id, source: source, type: topic, time: time, subject: lead, data: data)
                return InputMessage(topic: topic, leadID: lead, eventID: id, value: EventCoding.encode(event))
            }

            for i in 0..<count {
                let emailClass = classes[random.below(classes.count)]
                let domain = switch emailClass {
                case .free: "gmail.com"
                case .disposable: "mailinator.com"
                default: i % 37 == 0 ? "rivalfunnel.example" : "company\(i % 60).example"
                }
                let email = (emailClass == .role ? "info\(i)" : "person\(i)") + "@" + domain
                let lead = EventID.lead(forContact: email)
                input.leads.append(lead)
                var state = LeadScoreState()
                var hashes: Set<UInt64> = []

                // The profile.
                let enrichedTime = base + Int64(random.below(Int(span)))
                let size = employees[random.below(employees.count)]
                let profile = LeadCaptured(
                    leadID: lead, email: email, firstName: "Lead\(i)", jobTitle: titles[random.below(titles.count)],
                    company: "Company \(i % 60)", companyDomain: domain, employees: random.below(3) == 0 ? nil : size,
                    industry: industries[random.below(industries.count)], country: countries[random.below(countries.count)],
                    source: sources[random.below(sources.count)], campaign: random.below(2) == 0 ? "q4-launch" : nil,
                    consent: .init(email: true), capturedAt: Timestamp.format(milliseconds: enrichedTime - 60_000))
                let company = random.below(2) == 0 ? nil : CompanyInfo(
                    domain: domain, name: "Company \(i % 60)", employees: size, industry: industries[random.below(industries.count)],
                    country: nil, owner: random.below(4) == 0 ? "rep-\(i % 7)" : nil)
                let enriched = LeadEnriched(leadID: lead, profile: profile, emailClass: emailClass, contactAvailable: emailClass != .disposable,
                                            company: company, enrichedAt: Timestamp.format(milliseconds: enrichedTime))
                let enrichedID = EventID.derive("scaling", "enriched", lead)
                let enrichedMessage = message(enriched, topic: TopicCatalog.enriched, lead: lead, id: enrichedID,
                                              time: enriched.enrichedAt, source: "funnel-enrich")
                _ = state.markSeen(enrichedID)
                state.apply(profile: ProfileFacts(enriched, time: enrichedTime, eventID: enrichedID))
                hashes.insert(LeadScoreState.hash(enrichedID))
                minTime = min(minTime, enrichedTime); maxTime = max(maxTime, enrichedTime)

                // The activities, oldest first (mostly: a few come late, out of event-time order).
                var activities: [InputMessage] = []
                var times = (0..<random.below(13)).map { _ in base + Int64(random.below(Int(span))) }.sorted()
                if times.count > 2, random.below(3) == 0 { times.swapAt(0, times.count - 1) }
                for (j, time) in times.enumerated() {
                    let type = ActivityType.allCases[random.below(ActivityType.allCases.count)]
                    let duration = type == .pageView && random.below(2) == 0 ? Int32(10 + random.below(600)) : nil
                    let activity = LeadActivity(leadID: lead, type: type, url: "https://example.com/\(type.rawValue)/\(j)",
                                                occurredAt: Timestamp.format(milliseconds: time), source: "web",
                                                attributes: duration.map { ["duration_seconds": String($0)] })
                    let id = EventID.derive("scaling", "activity", lead, String(j))
                    activities.append(message(activity, topic: TopicCatalog.activity, lead: lead, id: id,
                                              time: activity.occurredAt, source: "funnel-ingest"))
                    _ = state.markSeen(id)
                    state.apply(activity: ActivityRecord(type: type, time: time, durationSeconds: duration ?? 0, idHash: LeadScoreState.hash(id)))
                    hashes.insert(LeadScoreState.hash(id))
                    minTime = min(minTime, time); maxTime = max(maxTime, time)
                }

                // The lead's stream: the profile somewhere among the activities, some duplicates.
                var queue = activities
                let profileAt = random.below(activities.count + 1)
                input.activitiesBeforeProfile += profileAt
                queue.insert(enrichedMessage, at: profileAt)
                if random.below(25) == 0 {
                    queue.insert(enrichedMessage, at: profileAt + 1 + random.below(queue.count - profileAt))
                    input.duplicates += 1
                }
                for original in activities where random.below(12) == 0 {
                    let at = queue.firstIndex { $0.eventID == original.eventID }!
                    let copyAt = random.below(2) == 0 ? at + 1 : at + 1 + random.below(queue.count - at)
                    queue.insert(original, at: copyAt)
                    input.duplicates += 1
                }
                queues.append(queue)

                var scoredState = state
                let scored = scorer.score(&scoredState, leadID: lead)
                input.expected[lead] = Expected(score: FinalScore(scored), state: state)
                input.inputHashes[lead] = hashes
                input.inputIDs.insert(enrichedID)
                for a in activities { input.inputIDs.insert(a.eventID) }
            }

            // Interleave the leads' streams (each keeps its own order).
            var cursors = Array(repeating: 0, count: queues.count)
            var open = Array(queues.indices).filter { !queues[$0].isEmpty }
            while !open.isEmpty {
                let pick = random.below(open.count)
                let q = open[pick]
                input.messages.append(queues[q][cursors[q]])
                cursors[q] += 1
                if cursors[q] == queues[q].count { open.swapAt(pick, open.count - 1); open.removeLast() }
            }
            input.times = minTime...maxTime
            return input
        }
    }
}
