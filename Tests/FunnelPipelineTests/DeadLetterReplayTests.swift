import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// `funnel deadletters list|show|replay` against a real broker: filters, masked personal data,
/// replays with the original bytes and key, recorded once (refused twice unless --again).
@Suite("funnel deadletters: list, show, replay", .serialized, .timeLimit(.minutes(4)))
struct DeadLetterReplayTests {
    static func funnel(_ arguments: [String], broker: LocalBroker, logs: String) async throws -> (status: Int32, output: String) {
        try await PipelineEndToEndTests.runFunnel(arguments, broker: broker, logs: logs)
    }

    @Test("two dead letters: filtered lists, a masked and a revealed show, a replay with the original bytes, refused twice, --again")
    func replay() async throws {
        let logs = NSTemporaryDirectory() + "funnel-deadletters-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let broker = try await LocalBroker.start(logPath: logs + "/tansu.log")
        defer { Task { await broker.stop() } }
        let config = testConfiguration(broker)
        try await TopicSetup.create(admin: KafkaAdmin(configuration: config), partitions: 2)

        // The originals as the stages saw them, and their dead letters as the stages write them.
        let lead = "lead-dl-\(UUID().uuidString.prefix(6).lowercased())"
        let outcome = CloudEvent(id: "outcome-1", source: "crm", type: TopicCatalog.outcome, time: "2026-12-02T10:00:00Z", subject: lead,
                                 data: LeadOutcome(leadID: lead, outcome: .won, occurredAt: "2026-12-02T10:00:00Z"))
        let captured = CloudEvent(id: "captured-1", source: "web", type: TopicCatalog.captured, time: "2026-12-02T09:00:00Z", subject: lead,
                                  data: LeadCaptured(leadID: lead, email: "ada.lovelace@acme.example", firstName: "Ada", capturedAt: "2026-12-02T09:00:00Z"))
        let outcomeBytes = EventCoding.encode(outcome), capturedBytes = EventCoding.encode(captured)
        let letters = [
            StageIO.deadLetter(ConsumerMessage(topic: TopicCatalog.outcome, partition: 1, offset: 41, key: Array(lead.utf8), value: outcomeBytes,
                                               timestampMilliseconds: Timestamp.milliseconds("2026-12-02T10:00:01Z")!),
                               stage: "funnel-route", failure: StageFailure(field: "data.outcome", reason: "outcome won does not fit stage mql (it applies at sal, sql)")),
            StageIO.deadLetter(ConsumerMessage(topic: TopicCatalog.captured, partition: 0, offset: 7, key: Array(lead.utf8), value: capturedBytes,
                                               timestampMilliseconds: Timestamp.milliseconds("2026-12-02T09:00:01Z")!),
                               stage: "funnel-enrich", failure: StageFailure(field: "profile.email", reason: "ada.lovelace@acme.example bounced")),
        ]
        let producer = try KafkaProducer(configuration: config)
        for l in letters { try await producer.sendAndAwait(l) }
        await producer.close()
        let routeLetterID = try EventDecoder.decode(DeadLetter.self, from: letters[0].value ?? [], expectedType: TopicCatalog.deadLetter).get().id

        let all = try await Self.funnel(["deadletters", "list"], broker: broker, logs: logs)
        #expect(all.status == 0 && all.output.contains("2 dead letter(s)"), "\(all.output)")
        #expect(all.output.contains("<email> bounced") && !all.output.contains("ada.lovelace"), "the list masks personal data: \(all.output)")
        let route = try await Self.funnel(["deadletters", "list", "--stage", "funnel-route", "--json"], broker: broker, logs: logs)
        let rows = route.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(rows.count == 1 && rows.first?["id"] as? String == routeLetterID && rows.first?["offset"] as? Int == 41, "\(route.output)")
        let since = try await Self.funnel(["deadletters", "list", "--since", "2026-12-02T09:30:00Z", "--json"], broker: broker, logs: logs)
        #expect(since.output.split(separator: "\n").filter { $0.hasPrefix("{") }.count == 1)

        let enrichID = try EventDecoder.decode(DeadLetter.self, from: letters[1].value ?? [], expectedType: TopicCatalog.deadLetter).get().id
        let masked = try await Self.funnel(["deadletters", "show", enrichID], broker: broker, logs: logs)
        #expect(masked.status == 0 && masked.output.contains("\"email\" : \"<email>\"") && masked.output.contains("\"first_name\" : \"<first_name>\""), "\(masked.output)")
        #expect(!masked.output.contains("ada.lovelace") && masked.output.contains("origin:    funnel.lead.captured.v1 partition 0 offset 7"))
        let revealed = try await Self.funnel(["deadletters", "show", enrichID, "--reveal"], broker: broker, logs: logs)
        #expect(revealed.output.contains("ada.lovelace@acme.example"))

        let refusedWithout = try await Self.funnel(["deadletters", "replay"], broker: broker, logs: logs)
        #expect(refusedWithout.status != 0 && refusedWithout.output.contains("name dead letter ids or give a filter"))
        let first = try await Self.funnel(["deadletters", "replay", routeLetterID], broker: broker, logs: logs)
        #expect(first.status == 0 && first.output.contains("1 replayed, 0 skipped, 0 failed"), "\(first.output)")
        let second = try await Self.funnel(["deadletters", "replay", "--stage", "funnel-route"], broker: broker, logs: logs)
        #expect(second.status == 3 && second.output.contains("replayed already") && second.output.contains("nothing to replay"), "\(second.output)")
        let again = try await Self.funnel(["deadletters", "replay", routeLetterID, "--again"], broker: broker, logs: logs)
        #expect(again.status == 0 && again.output.contains("1 replayed"), "\(again.output)")

        // The outcome topic now holds the original bytes twice, under the original key.
        var replayed: [ConsumerMessage] = []
        try KafkaPartitionReader.readToEnd(configuration: config, partitions: (0..<2).map { TopicPartition(topic: TopicCatalog.outcome, partition: $0) }) {
            replayed.append($0)
        }
        #expect(replayed.count == 2 && replayed.allSatisfy { $0.value == outcomeBytes && $0.keyString == lead })
        let listed = try await Self.funnel(["deadletters", "list", "--stage", "funnel-route", "--json"], broker: broker, logs: logs)
        #expect(listed.output.contains("\"replays\":2"), "\(listed.output)")
    }

    @Test("replay after the cause is gone: a `won` that came before the lead reached sql is dead-lettered, replayed once it is, applied once (a second replay changes nothing)")
    func replayAfterFix() async throws {
        let logs = NSTemporaryDirectory() + "funnel-deadletters-fix-\(UUID().uuidString.prefix(6))"
        let pipeline = try await LocalPipeline.start(binDirectory: PipelineEndToEndTests.binDirectory, logDirectory: logs)
        let watcher: InvariantWatcher
        do { watcher = try InvariantWatcher(broker: pipeline.broker) } catch { await pipeline.stop(); throw error }
        do {
            let client = RetryingClient(pipeline: pipeline)
            let lead = PlannedLead(email: "fix-\(UUID().uuidString.prefix(6).lowercased())@initech.example", plan: .won)
            let workload = Workload(name: "fix", leads: [lead], client: client, watcher: watcher)
            try await workload.sendLeads(batch: 1, pause: .milliseconds(1))
            try await watcher.wait("the lead to reach mql", seconds: 60) { watcher.last(lead.id) == .mql }
            // Sales' CRM sends `won` too early: it does not fit mql and becomes a dead letter.
            try await client.post("/v1/outcomes", [["lead_id": lead.id, "outcome": "won", "amount": 9000, "currency": "EUR"]], key: "won-\(lead.id)")
            let broker = pipeline.broker
            let letterID: String? = try await within(60, "the dead letter") {
                while true {
                    let r = try await Self.funnel(["deadletters", "list", "--stage", "funnel-route", "--reason", "does not fit", "--json"],
                                                  broker: broker, logs: logs)
                    if let id = r.output.split(separator: "\n").compactMap({ try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
                        .first?["id"] as? String { return id }
                    try await Task.sleep(for: .milliseconds(500)) // polling the topic
                }
            }
            try await client.post("/v1/outcomes", [["lead_id": lead.id, "outcome": "accepted"], ["lead_id": lead.id, "outcome": "meeting"]], key: "fix-\(lead.id)")
            try await watcher.wait("the lead to reach sql", seconds: 60) { watcher.last(lead.id) == .sql }
            // The cause is gone: replay it. It is applied once, with its own time and id.
            let replayed = try await Self.funnel(["deadletters", "replay", letterID!], broker: pipeline.broker, logs: logs)
            #expect(replayed.status == 0 && replayed.output.contains("1 replayed"), "\(replayed.output)")
            try await watcher.wait("the replayed won to make the lead a customer", seconds: 60) { watcher.last(lead.id) == .customer }
            let again = try await Self.funnel(["deadletters", "replay", letterID!, "--again"], broker: pipeline.broker, logs: logs)
            #expect(again.status == 0)
            // A marker after the second replay (same lead, same partition): once it is through,
            // the second replay was too.
            try await client.post("/v1/activities", [["lead_id": lead.id, "type": "page_view", "url": "https://example.com/after"]], key: "marker-\(lead.id)")
            try await watcher.wait("the marker to be scored", seconds: 60) { watcher.state.value.readPerTopic[TopicCatalog.scored, default: 0] >= 3 }
            let stages = watcher.stages(lead.id)
            #expect(stages.filter { $0 == .customer }.count == 1, "customer once: \(stages)")
            #expect(watcher.checkInvariants(expected: [lead.id: .customer]) == 0)
        } catch {
            Issue.record("failed; service logs in \(logs)")
            await watcher.stop(); await pipeline.stop()
            throw error
        }
        await watcher.stop()
        await pipeline.stop()
    }
}
