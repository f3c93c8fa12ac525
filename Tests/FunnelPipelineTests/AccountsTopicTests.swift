import Foundation
import FunnelDevKit
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelTestSupport
import Testing

/// Known accounts from a CRM sync (`funnel.enrich.accounts.v1`), end to end with the real
/// `funnel accounts` CLI, the real funnel-enrich process and the local broker: records written
/// before the start are read before the first lead; later ones apply without a restart; a
/// deletion brings the file's row back; bad records are skipped and listed; after SIGKILL the
/// restored view enriches a replayed lead to the same id and bytes.
@Suite(.serialized, .timeLimit(.minutes(4))) struct AccountsTopicTests {
    static let repository = #filePath.components(separatedBy: "/Tests/")[0]

    struct Seen: Sendable {
        let id: String
        let lead: String
        let account: String?
        let owner: String?
        let match: AccountMatchKind?
        let bytes: [UInt8]
    }

    @Test func crmAccountsReachEnrichmentWithoutARestartAndSurviveAKill() async throws {
        let logs = NSTemporaryDirectory() + "funnel-accounts-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let broker = try await LocalBroker.start(logPath: logs + "/tansu.log")
        defer { Task { await broker.stop() } }
        let kafka = testConfiguration(broker)
        _ = try await TopicSetup.create(admin: KafkaAdmin(configuration: kafka), partitions: 2)
        func funnel(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await PipelineEndToEndTests.runFunnel(arguments, broker: broker, logs: logs)
        }

        // 1. A CRM sync's first load, before funnel-enrich starts: a new account, and one that
        //    replaces accounts.csv's acc-0001 (Globex, rep-grace in the file).
        let first = logs + "/crm.jsonl"
        try """
            {"id":"crm-1","name":"Initech Corporation","domains":["initech.example"],"owner":"rep-dana","tier":"strategic","employees":4200}
            {"id":"acc-0001","name":"Globex Logistics","domains":["globex.example"],"owner":"rep-crm"}
            """.write(toFile: first, atomically: true, encoding: .utf8)
        let imported = try await funnel(["accounts", "import", first])
        #expect(imported.status == 0, "\(imported.output)")
        // A file with a bad row writes nothing and names the line.
        let bad = logs + "/bad.jsonl"
        try #"{"id":"crm-2","name":"Hooli","domains":["HOOLI.example"]}"#.write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await funnel(["accounts", "import", bad])
        #expect(refused.status != 0 && refused.output.contains("bad.jsonl:1: domains[0]"), "\(refused.output)")
        // Two records a careless connector wrote directly: an invalid domain, and an id that is not the key.
        let producer = try KafkaProducer(configuration: kafka)
        func direct(key: String, _ record: AccountRecord) -> ProducerMessage {
            let event = CloudEvent(id: EventID.random(), source: "crm-sync", type: TopicCatalog.enrichAccounts, time: "2026-12-07T09:00:00Z",
                                   subject: key, data: record)
            return ProducerMessage(topic: TopicCatalog.enrichAccounts, key: key, value: EventCoding.encode(event))
        }
        for result in try await producer.sendAndAwait([
            direct(key: "crm-3", AccountRecord(id: "crm-3", name: "Hooli", domains: ["https://hooli.example"])),
            direct(key: "crm-4", AccountRecord(id: "crm-5", name: "Pied Piper", domains: ["piedpiper.example"])),
        ]) { _ = try result.get() }
        let check = try await funnel(["accounts", "check"])
        #expect(check.status == 1)
        #expect(check.output.contains("data.domains[0]") && check.output.contains("is not the key 'crm-4'"), "\(check.output)")
        #expect(check.output.contains("4 records, 2 accounts, 2 invalid"), "\(check.output)")

        // 2. funnel-enrich: ready only once the topic was read; the bad records skipped and counted.
        let port = try Network.freePort()
        let environment = serviceEnvironment(broker, port: port, configDirectory: Self.repository + "/deploy", ["FUNNEL_ACCOUNTS_REFRESH_MS": "100"])
        let log = logs + "/funnel-enrich.log"
        func start() async throws -> ChildProcess {
            let child = try ChildProcess(name: "funnel-enrich", executable: PipelineEndToEndTests.binDirectory + "/funnel-enrich", arguments: [],
                                         environment: environment, outputPath: log)
            try await HTTPProbe.waitUntilReady(port: port, process: child, log: log)
            return child
        }
        @Sendable func metric(_ line: String) async throws -> Double? {
            let body = try await HTTPProbe.get(port: port, path: "/metrics").body
            return body.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        var enrich = try await start()
        // The stage started only after the view read the topic to its end.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let caughtUp = lines.firstIndex { $0.contains("view caught up") && $0.contains(TopicCatalog.enrichAccounts) }
        let stageStarted = lines.firstIndex { $0.contains("stage started") }
        #expect(caughtUp != nil && stageStarted != nil && caughtUp! < stageStarted!, "\(lines.joined(separator: "\n"))")
        #expect(try await metric("funnel_enrich_account_records_rejected_total") == 2)
        #expect(try await metric(#"funnel_enrich_accounts{source="crm"}"#) == 2)
        #expect(try await metric(#"funnel_enrich_accounts{source="file"}"#) == 6)
        #expect(try await metric("funnel_enrich_account_records_applied") == 2)

        let seen = Collector<Seen>()
        let watcher = try KafkaConsumer(configuration: kafka, groupID: uniqueName("watch"), topics: [TopicCatalog.enriched])
        let watching = Task {
            for try await message in watcher.messages {
                let event = try JSONDecoder().decode(CloudEvent<LeadEnriched>.self, from: Data(message.value ?? []))
                seen.append(Seen(id: event.id, lead: event.subject, account: event.data.accountID, owner: event.data.accountOwner,
                                 match: event.data.match, bytes: message.value ?? []))
            }
        }
        defer { watching.cancel() }
        func captured(_ lead: String, _ email: String) -> ProducerMessage {
            let data = LeadCaptured(leadID: lead, email: email, firstName: "Ada", lastName: "Lovelace", capturedAt: "2026-12-07T10:00:00Z")
            let event = CloudEvent(id: "captured-" + lead, source: "test", type: TopicCatalog.captured, time: data.capturedAt, subject: lead, data: data)
            return ProducerMessage(topic: TopicCatalog.captured, key: lead, value: EventCoding.encode(event))
        }
        func enriched(_ lead: String) async throws -> Seen {
            try await within(60, "the enriched event of \(lead)") {
                await seen.wait { $0.contains { $0.lead == lead } }
                return seen.values.first { $0.lead == lead }!
            }
        }
        for result in try await producer.sendAndAwait([captured("lead-a1", "ada@initech.example"), captured("lead-a2", "bob@globex.example"),
                                                        captured("lead-a3", "carol@vandelay.example")]) { _ = try result.get() }
        let a1 = try await enriched("lead-a1"), a2 = try await enriched("lead-a2"), a3 = try await enriched("lead-a3")
        #expect(a1.account == "crm-1" && a1.owner == "rep-dana" && a1.match == .domain)
        #expect(a2.account == "acc-0001" && a2.owner == "rep-crm")          // the CRM's record replaced the file's row
        #expect(a3.account == "acc-0004" && a3.owner == "rep-barbara")      // a file account the CRM does not name

        // 3. Changes while running: crm-1 changes owner, acc-0001 is deleted (the file's row applies again).
        let second = logs + "/crm-2.jsonl"
        try #"{"id":"crm-1","name":"Initech Corporation","domains":["initech.example"],"owner":"rep-eve"}"#
            .write(toFile: second, atomically: true, encoding: .utf8)
        #expect(try await funnel(["accounts", "import", second]).status == 0)
        let deleted = try await funnel(["accounts", "delete", "acc-0001"])
        #expect(deleted.status == 0, "\(deleted.output)")
        #expect(try await funnel(["accounts", "delete", "crm-404"]).status != 0)
        try await within(30, "funnel-enrich applied the update and the deletion") {
            while try await metric("funnel_enrich_account_records_applied") != 4 { try await Task.sleep(for: .milliseconds(50)) }
        }
        for result in try await producer.sendAndAwait([captured("lead-a4", "eve@initech.example"), captured("lead-a5", "dan@globex.example")]) {
            _ = try result.get()
        }
        let a4 = try await enriched("lead-a4"), a5 = try await enriched("lead-a5")
        #expect(a4.account == "crm-1" && a4.owner == "rep-eve")
        #expect(a5.account == "acc-0001" && a5.owner == "rep-grace")

        // 4. SIGKILL and restart: the view is read again before the stage starts, so a replayed
        //    input gives the same event — same id, same bytes.
        // The command itself, not its watchdog (which passes on only TERM and INT).
        kill(try #require(enrich.commandPID), SIGKILL)
        _ = await enrich.exitStatus()
        enrich = try await start()
        #expect(try await metric("funnel_enrich_account_records_applied") == 4)
        for result in try await producer.sendAndAwait([captured("lead-a4", "eve@initech.example")]) { _ = try result.get() }
        try await within(60, "the replayed lead-a4") { await seen.wait { $0.filter { $0.lead == "lead-a4" }.count >= 2 } }
        let replays = seen.values.filter { $0.lead == "lead-a4" }
        #expect(Set(replays.map(\.id)).count == 1 && Set(replays.map(\.bytes)).count == 1)

        let listed = try await funnel(["accounts", "list", "--json"])
        #expect(listed.status == 0)
        #expect(listed.output.contains(#""id":"crm-1""#) && listed.output.contains(#""owner":"rep-eve""#) && !listed.output.contains(#""id":"acc-0001""#),
                "\(listed.output)")
        _ = await enrich.terminate()
        await producer.close()
    }
}
