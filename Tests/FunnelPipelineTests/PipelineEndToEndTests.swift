import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Synchronization
import Testing
import FunnelDevKit
import FunnelTestSupport

/// A stage change as seen by an outside subscriber.
struct Seen: Sendable {
    let id: String
    let lead: String
    let from: Stage?
    let to: Stage
    let owner: String?
    var pool: String? = nil
}

/// Reads every topic of the pipeline from the beginning: stage changes per lead, scored events,
/// dead letters, and every raw message (for the schema check in CI).
final class Watcher: Sendable {
    let changes = Locked<[Seen]>([])
    let scored = Locked<[String: [LeadScored]]>([:])
    let deadLetters = Locked<[DeadLetter]>([])
    let raw = Locked<[String]>([])
    private let signal = Locked<[CheckedContinuation<Void, Never>]>([])
    let consumer: KafkaConsumer
    let loop: Task<Void, Error>

    init(broker: LocalBroker) throws {
        let topics = TopicCatalog.all().map(\.name).filter { !$0.hasPrefix("funnel.") || $0.hasPrefix("funnel.lead.") || $0 == TopicCatalog.deadLetter }
        consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(brokers: broker.bootstrap, properties: [
                "session.timeout.ms": "2000", "heartbeat.interval.ms": "200", "log_level": "3",
                "topic.metadata.refresh.interval.ms": "1000"]),
            groupID: "watcher-\(UUID().uuidString.prefix(6))", topics: topics)
        let consumer = self.consumer, changes = self.changes, scored = self.scored, dead = self.deadLetters, raw = self.raw, signal = self.signal
        loop = Task {
            for try await message in consumer.messages {
                let text = String(decoding: message.value ?? [], as: UTF8.self)
                // The deliberately broken input (see the dead-letter step) is not a pipeline output.
                if message.keyString != "lead-broken" || message.topic == TopicCatalog.deadLetter {
                    raw.withLock { $0.append("{\"topic\":\"\(message.topic)\",\"key\":\"\(message.keyString ?? "")\",\"value\":\(text)}") }
                }
                switch message.topic {
                case TopicCatalog.stageChanged:
                    if case .success(let e) = EventDecoder.decode(StageChanged.self, from: message.value ?? [], expectedType: message.topic) {
                        changes.withLock { $0.append(Seen(id: e.id, lead: e.data.leadID, from: e.data.from, to: e.data.to, owner: e.data.owner)) }
                    }
                case TopicCatalog.scored:
                    if case .success(let e) = EventDecoder.decode(LeadScored.self, from: message.value ?? [], expectedType: message.topic) {
                        scored.withLock { $0[e.data.leadID, default: []].append(e.data) }
                    }
                case TopicCatalog.deadLetter:
                    if case .success(let e) = EventDecoder.decode(DeadLetter.self, from: message.value ?? [], expectedType: message.topic) {
                        dead.withLock { $0.append(e.data) }
                    }
                default: break
                }
                for waiter in signal.withLock({ w -> [CheckedContinuation<Void, Never>] in defer { w = [] }; return w }) { waiter.resume() }
            }
        }
    }

    /// Waits (event-driven: woken by every message) until `condition` holds, or fails after `seconds`.
    func wait(_ what: String, seconds: Double = 60, until condition: @escaping @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await withCheckedContinuation { c in self.signal.withLock { $0.append(c) } } }
                group.addTask { try? await Task.sleep(for: .seconds(1)) } // re-check the deadline at least every second
                await group.next()
                group.cancelAll()
                self.signal.withLock { for c in $0 { c.resume() }; $0 = [] }
            }
        }
    }

    func stages(_ lead: String) -> [Stage] { changes.value.filter { $0.lead == lead }.map(\.to) }

    func stop() async {
        loop.cancel()
        await consumer.close()
    }
}

func leadID(_ email: String) -> String { EventID.lead(forContact: EmailAddress.identity(email)) }

func post(_ pipeline: LocalPipeline, _ path: String, _ object: Any) async throws -> (status: Int, body: String) {
    try await HTTPProbe.post(port: pipeline.ports["funnel-ingest"]!, path: path,
                             json: JSONSerialization.data(withJSONObject: object), headers: pipeline.authorization)
}

@Suite("The pipeline end to end: five processes, a real broker", .serialized, .timeLimit(.minutes(6)))
struct PipelineEndToEndTests {
    static var binDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["FUNNEL_BIN_DIR"] { return dir }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }

    @Test("hand-labelled leads reach the expected stages; a killed stage loses nothing and duplicates nothing")
    func endToEnd() async throws {
        let logs = NSTemporaryDirectory() + "funnel-e2e-\(UUID().uuidString.prefix(6))"
        let pipeline = try await LocalPipeline.start(binDirectory: Self.binDirectory, logDirectory: logs)
        let watcher: Watcher
        do { watcher = try Watcher(broker: pipeline.broker) } catch { await pipeline.stop(); throw error }
        do {
            try await scenario(pipeline, watcher)
            try await checkMetrics(pipeline, watcher, scratch: logs)
        } catch {
            Issue.record("failed; service logs in \(logs)")
            await watcher.stop()
            await pipeline.stop()
            throw error
        }
        await watcher.stop()
        await pipeline.stop()
        // Every message of the run, for CI's independent schema check (scripts/validate_schemas.py --messages).
        if let root = ProjectPaths.root {
            let path = root + "/.build/e2e-messages.jsonl"
            try (watcher.raw.value.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    func scenario(_ pipeline: LocalPipeline, _ watcher: Watcher) async throws {
        // Bad input over HTTP: 400 naming the field, nothing produced.
        let bad = try await post(pipeline, "/v1/leads", ["first_name": "No", "country": "Atlantis"])
        #expect(bad.status == 400)
        #expect(bad.body.contains("\"field\":\"email\""))
        #expect(bad.body.contains("\"field\":\"country\""))

        // The hot lead's demo request arrives first; scoring keeps it until the profile comes.
        let vp = "vera.vp@acme-software.example"
        let demo = try await post(pipeline, "/v1/activities", ["email": vp, "type": "demo_request", "url": "https://example.com/demo"])
        #expect(demo.status == 202, "\(demo.body)")
        try await watcher.wait("the demo request to be scored") { watcher.scored.value[leadID(vp)]?.isEmpty == false }

        let leads: [[String: Any]] = [
            ["email": vp, "first_name": "Vera", "job_title": "VP Engineering", "company": "Acme Software", "employees": 500,
             "industry": "software", "country": "DE", "source": "webinar", "campaign": "q4-launch", "consent": ["email": true]],
            ["email": "sam.student@gmail.com", "first_name": "Sam", "job_title": "Student", "country": "US"],
            ["email": "kim@rivalfunnel.example", "first_name": "Kim", "job_title": "Head of Growth", "country": "US"],
            ["email": "pat@initech.example", "first_name": "Pat", "job_title": "Product Manager", "country": "GB"],
        ]
        let accepted = try await post(pipeline, "/v1/leads", leads)
        #expect(accepted.status == 202, "\(accepted.body)")
        #expect(accepted.body.contains(leadID(vp)))

        let student = leadID("sam.student@gmail.com"), rival = leadID("kim@rivalfunnel.example"), pat = leadID("pat@initech.example")
        try await watcher.wait("the four leads to come to rest") {
            watcher.stages(leadID(vp)).last == .mql && watcher.stages(student).last == .disqualified
                && watcher.stages(rival).last == .disqualified && watcher.stages(pat).last == .nurture
        }
        #expect(watcher.stages(leadID(vp)) == [.captured, .identified, .mql])
        #expect(watcher.changes.value.first { $0.lead == leadID(vp) && $0.to == .mql }?.owner != nil, "an MQL is assigned")
        #expect(watcher.stages(student) == [.captured, .disqualified])
        #expect(watcher.stages(rival) == [.captured, .disqualified])
        #expect(watcher.stages(pat) == [.captured, .identified, .nurture])

        // Sales feedback moves the hot lead to customer.
        for outcome in ["accepted", "meeting", "won"] {
            let r = try await post(pipeline, "/v1/outcomes", ["lead_id": leadID(vp), "outcome": outcome])
            #expect(r.status == 202, "\(r.body)")
        }
        try await watcher.wait("the hot lead to become a customer") { watcher.stages(leadID(vp)).last == .customer }
        #expect(watcher.stages(leadID(vp)) == [.captured, .identified, .mql, .sal, .sql, .customer])

        // A message that is not an event becomes a dead letter with the reason; the stage goes on.
        let producer = try KafkaProducer(configuration: KafkaConfiguration(brokers: pipeline.broker.bootstrap, properties: ["log_level": "3"]))
        try await producer.sendAndAwait(ProducerMessage(topic: TopicCatalog.captured, key: "lead-broken", value: Array("{not json".utf8)))
        await producer.close()
        try await watcher.wait("a dead letter") { watcher.deadLetters.value.contains { $0.key == "lead-broken" } }
        let letter = try #require(watcher.deadLetters.value.first { $0.key == "lead-broken" })
        #expect(letter.stage == "funnel-enrich" && letter.topic == TopicCatalog.captured)
        #expect(Data(base64Encoded: letter.original) == Data("{not json".utf8))
        #expect(!letter.reason.isEmpty)

        // Kill enrichment with SIGKILL in the middle of a stream of leads, restart it.
        let batch = (0..<60).map { i in
            ["email": "lead\(i)@hooli.example", "first_name": "Lead", "job_title": i % 3 == 0 ? "Director of Sales" : "Analyst",
             "country": "US"] as [String: Any]
        }
        let first = try await post(pipeline, "/v1/leads", Array(batch[..<30]))
        #expect(first.status == 202)
        // SIGKILL; LocalPipeline's supervisor starts it again after its backoff.
        await pipeline.kill("funnel-enrich")
        let second = try await post(pipeline, "/v1/leads", Array(batch[30...]))
        #expect(second.status == 202, "ingest keeps accepting while enrichment is down")
        let ids = batch.map { leadID($0["email"] as! String) }
        try await watcher.wait("every lead of the batch to come to rest", seconds: 90) {
            ids.allSatisfy { [.mql, .nurture].contains(watcher.stages($0).last) }
        }
        #expect(pipeline.restarts["funnel-enrich"] == 1, "the supervisor restarted the killed stage once: \(pipeline.restarts)")
        // Nothing lost, nothing emitted twice with different ids.
        let changes = watcher.changes.value
        for id in ids {
            let mine = changes.filter { $0.lead == id }
            #expect(mine.first?.to == .captured, "\(id) lost its captured stage")
            let byTransition = Dictionary(grouping: mine) { "\($0.from?.rawValue ?? "-")>\($0.to.rawValue)" }
            for (transition, events) in byTransition {
                #expect(Set(events.map(\.id)).count == 1, "\(id) \(transition) emitted with \(Set(events.map(\.id)).count) different ids")
            }
        }
        // An erase request (GDPR): its public event is on its topic, validated with the rest of the run.
        let erasure = try await post(pipeline, "/v1/erasures", ["lead_id": ids[0]])
        #expect(erasure.status == 202, "\(erasure.body)")
        try await watcher.wait("the erase request on its topic") {
            watcher.raw.value.contains { $0.hasPrefix("{\"topic\":\"\(TopicCatalog.erased)\"") }
        }
    }
}

extension PipelineEndToEndTests {
    /// Every service's `/metrics` after the run: `promtool check metrics` accepts it (a missing
    /// promtool fails the test), every process reports itself ready in `funnel_ready`, and the
    /// series the dashboard and the alert rules read carry what the scenario did. The
    /// expositions are kept in `.build/e2e-metrics/` for CI's label check
    /// (scripts/validate_observability.py --expositions).
    func checkMetrics(_ pipeline: LocalPipeline, _ watcher: Watcher, scratch: String) async throws {
        let kept = ProjectPaths.root.map { $0 + "/.build/e2e-metrics" }
        if let kept { try FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true) }
        var expositions: [String: Exposition] = [:]
        for service in LocalPipeline.services {
            let port = pipeline.ports[service]!
            // Ready again after the kill and the scenario's load (the supervisor restarted enrich).
            var reply = try await HTTPProbe.get(port: port, path: "/metrics")
            let deadline = ContinuousClock.now + .seconds(30)
            while Exposition(reply.body).sum("funnel_ready") != 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                reply = try await HTTPProbe.get(port: port, path: "/metrics")
            }
            #expect(reply.status == 200, "\(service) /metrics answered \(reply.status)")
            if let kept { try reply.body.write(toFile: "\(kept)/\(service).prom", atomically: true, encoding: .utf8) }
            let check = try Promtool.checkMetrics(reply.body, scratch: scratch)
            #expect(check.status == 0, "promtool check metrics rejects \(service)'s /metrics (exit \(check.status)):\n\(check.output)")
            let metrics = Exposition(reply.body)
            expositions[service] = metrics
            #expect(metrics.sum("funnel_ready") == 1, "\(service) not ready at the end: \(metrics.samples.filter { $0.name == "funnel_ready_condition" })")
            #expect(metrics.sum("funnel_ready_condition", ["condition=\"broker\""]) == 1, "\(service): the broker condition")
            #expect(metrics.sum("funnel_build_info") == 1 && metrics.sum("process_start_time_seconds") > 1_600_000_000, "\(service): build info, start time")
        }
        let ingest = try #require(expositions["funnel-ingest"])
        let requests = "funnel_http_request_duration_seconds_count"
        #expect(ingest.sum(requests, ["route=\"/v1/leads\"", "code=\"202\""]) >= 3, "accepted lead requests are counted")
        #expect(ingest.sum(requests, ["route=\"/v1/leads\"", "code=\"400\""]) >= 1, "the rejected lead request is counted")
        #expect(ingest.sum(requests, ["route=\"/v1/outcomes\"", "code=\"202\""]) >= 3, "outcome requests are counted")
        // A 503 from /readyz is a state (the broker was slow to answer a metadata request on a
        // loaded machine), not a failed request: every other route must have no 5xx.
        #expect(ingest.sum(requests, ["code=\"5"]) - ingest.sum(requests, ["code=\"5", "route=\"/readyz\""]) == 0, "no 5xx in the run")
        let route = try #require(expositions["funnel-route"])
        #expect(route.sum("funnel_stage_changes_total", ["from=\"sql\"", "to=\"customer\""]) == 1, "the customer transition is counted once")
        // Counted when decided, so never fewer than the subscriber saw.
        let seen = Set(watcher.changes.value.map(\.id)).count
        #expect(route.sum("funnel_stage_changes_total") >= Double(seen), "stage changes counted \(route.sum("funnel_stage_changes_total")), seen \(seen)")
        #expect(expositions["funnel-score"]?.has("funnel_score_model_info") == true)
        #expect(expositions["funnel-followup"]?.samples.contains { $0.name == "funnel_consumed_total" && $0.labels.contains(TopicCatalog.outbox) } == true,
                "the mail sender counts the outbox commands it reads")
    }

    /// Runs the `funnel` CLI against `broker` (`--brokers` appended) and returns its exit status
    /// and output (stdout and stderr, kept in `logs`).
    static func runFunnel(_ arguments: [String], broker: LocalBroker, logs: String) async throws -> (status: Int32, output: String) {
        let output = logs + "/funnel-\(UUID().uuidString.prefix(6)).txt"
        let child = try ChildProcess(name: "funnel " + arguments.joined(separator: " "), executable: binDirectory + "/funnel",
                                     arguments: arguments + ["--brokers", broker.bootstrap], environment: ProcessInfo.processInfo.environment,
                                     outputPath: output)
        let status = await child.exitStatus()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}
