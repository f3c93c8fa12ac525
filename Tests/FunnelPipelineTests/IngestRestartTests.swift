import Foundation
import FunnelDevKit
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelTestSupport
import Testing

/// A client's retry after funnel-ingest was SIGKILLed: the events carry the same ids, so they
/// must carry the same bytes — the restarted ingest reads the newest events back at start and
/// re-uses the first attempt's time (FirstSeenTimes+Restore).
@Suite("Ingest restart: a retry under the same Idempotency-Key", .serialized, .timeLimit(.minutes(3)))
struct IngestRestartTests {
    @Test("after a SIGKILL and restart of funnel-ingest, a retry writes the same bytes under the same ids")
    func retryAfterRestart() async throws {
        let dir = NSTemporaryDirectory() + "funnel-restart-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let broker = try await LocalBroker.start(logPath: dir + "/tansu.log")
        var ingest: ChildProcess?
        do {
            _ = try await TopicSetup.create(admin: KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap)), partitions: 2)
            let admin = try await LocalPipeline.createAPIKey(binDirectory: PipelineEndToEndTests.binDirectory, source: "ops", scopes: ["admin"],
                                                             scratchDirectory: dir)
            let port = try Network.freePort()
            func start(_ log: String) async throws -> ChildProcess {
                let process = try IngestAuthFixture.startIngest(configDirectory: dir, port: port, brokers: broker.bootstrap,
                                                                extra: ["FUNNEL_API_KEYS": admin.line], logPath: dir + "/" + log)
                try await HTTPProbe.waitUntilReady(port: port, process: process, log: dir + "/" + log)
                return process
            }
            let email = "restart-\(UUID().uuidString.prefix(8).lowercased())@umbrella.example"
            let body = try JSONSerialization.data(withJSONObject: [["email": email, "country": "GB"]])
            let headers = ["Authorization": "Bearer \(admin.key)", "Content-Type": "application/json", "Idempotency-Key": "form-\(email)"]
            ingest = try await start("ingest-1.log")
            let first = try await HTTPProbe.request(port: port, method: "POST", path: "/v1/leads", headers: headers, json: body)
            #expect(first.status == 202, "\(first.body)")
            // kill -9: nothing of its memory survives.
            let pid = try #require(ingest?.commandPID)
            kill(pid, SIGKILL)
            await ingest?.exitStatus()
            ingest = try await start("ingest-2.log")
            #expect(logMessages(dir + "/ingest-2.log").contains("first-seen times restored"))
            let retry = try await HTTPProbe.request(port: port, method: "POST", path: "/v1/leads", headers: headers, json: body)
            #expect(retry.status == 202 && retry.body == first.body, "\(retry.body) vs \(first.body)")

            let consumer = try KafkaConsumer(configuration: testConfiguration(broker, ["auto.offset.reset": "earliest"]),
                                             groupID: uniqueName("restart"), topics: [TopicCatalog.captured])
            let copies = try await within(30, "both copies of the captured event") { () -> [[UInt8]] in
                var copies: [[UInt8]] = []
                for try await message in consumer.messages where message.keyString == EventID.lead(forContact: email) {
                    copies.append(Array(message.value ?? []))
                    if copies.count == 2 { break }
                }
                return copies
            }
            await consumer.close()
            #expect(copies.count == 2 && copies[0] == copies[1], "the retry's event differs: \(copies.map { String(decoding: $0, as: UTF8.self) })")
        } catch {
            Issue.record("failed; logs in \(dir)")
            if let ingest { await ingest.terminate() }
            await broker.stop()
            throw error
        }
        if let ingest { await ingest.terminate() }
        await broker.stop()
    }
}
