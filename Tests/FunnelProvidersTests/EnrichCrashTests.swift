import Foundation
import FunnelDevKit
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelTestSupport
import Testing

/// The real funnel-enrich process with a slow provider, killed with SIGKILL mid-stream and
/// restarted: every lead is enriched, every lead ends `complete`, and no event id is ever
/// published with two different contents.
@Suite(.serialized, .timeLimit(.minutes(4))) struct EnrichCrashTests {
    static var binDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["FUNNEL_BIN_DIR"] { return dir }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }
    static let repository = #filePath.components(separatedBy: "/Tests/")[0]

    struct Seen: Sendable {
        let id: String
        let lead: String
        let status: EnrichmentStatus?
        let bytes: [UInt8]
    }

    @Test func killNineMidStreamWithASlowProviderLosesNothingAndNeverReusesAnId() async throws {
        try await withLocalBroker { broker in
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap))
            _ = try await TopicSetup.create(admin: admin, partitions: 3)
            let standIn = try await ProviderStandIn.start(.slow(seconds: 0.8, body: #"{"name":"Slow Corp","metrics":{"employees":42}}"#))
            let configDirectory = NSTemporaryDirectory() + "funnel-enrich-crash-\(UUID().uuidString.prefix(6))"
            try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: configDirectory + "/data", withDestinationPath: Self.repository + "/deploy/data")
            try """
                version: crash-test
                cache: { ttl: 1h }
                providers:
                  - name: slow
                    kind: company
                    enabled: true
                    url: "\(standIn.baseURL)/company?domain={domain}"
                    timeout: 5s
                    fields: { name: name, employees: metrics.employees }
                """.write(toFile: configDirectory + "/enrichment.yaml", atomically: true, encoding: .utf8)
            let port = try Network.freePort()
            let environment = serviceEnvironment(broker, port: port, configDirectory: configDirectory, ["FUNNEL_ENRICH_CONCURRENCY": "4"])
            let log = configDirectory + "/funnel-enrich.log"
            func start() async throws -> ChildProcess {
                let child = try ChildProcess(name: "funnel-enrich", executable: Self.binDirectory + "/funnel-enrich", arguments: [],
                                             environment: environment, outputPath: log)
                try await HTTPProbe.waitUntilReady(port: port, process: child, log: log)
                return child
            }

            // What funnel-enrich published, from the beginning, in a group of its own.
            let seen = Collector<Seen>()
            let watcher = try KafkaConsumer(configuration: testConfiguration(broker), groupID: uniqueName("watch"), topics: [TopicCatalog.enriched])
            let watching = Task {
                for try await message in watcher.messages {
                    let event = try JSONDecoder().decode(CloudEvent<LeadEnriched>.self, from: Data(message.value ?? []))
                    seen.append(Seen(id: event.id, lead: event.subject, status: event.data.enrichment, bytes: message.value ?? []))
                }
            }
            let producer = try KafkaProducer(configuration: testConfiguration(broker))
            func captured(_ i: Int) -> ProducerMessage {
                let lead = LeadCaptured(leadID: "lead-\(i)", email: "person\(i)@company\(i % 12).example", firstName: "Ada", lastName: "Lovelace",
                                        capturedAt: "2026-12-07T10:00:00Z")
                let event = CloudEvent(id: "captured-\(i)", source: "test", type: TopicCatalog.captured, time: lead.capturedAt, subject: lead.leadID, data: lead)
                return ProducerMessage(topic: TopicCatalog.captured, key: lead.leadID, value: EventCoding.encode(event))
            }
            let leads = 40
            var enrich = try await start()
            for result in try await producer.sendAndAwait((0..<leads / 2).map(captured)) { _ = try result.get() }
            // Mid-stream: the stage has answered some leads, the slow provider few or none.
            try await within(60, "first enriched events") { await seen.wait { $0.count >= 5 } }
            kill(try #require(enrich.commandPID), SIGKILL)
            _ = await enrich.exitStatus()
            for result in try await producer.sendAndAwait((leads / 2..<leads).map(captured)) { _ = try result.get() }
            enrich = try await start()

            try await within(150, "every lead complete") {
                await seen.wait { values in Set(values.filter { $0.status == .complete }.map(\.lead)).count == leads }
            }
            let values = seen.values
            var contents: [String: [UInt8]] = [:]
            for value in values {
                if let first = contents[value.id] { #expect(first == value.bytes, "id \(value.id) published with two contents") }
                contents[value.id] = value.bytes
            }
            #expect(Set(values.map(\.lead)).count == leads)
            #expect(values.contains { $0.status == .partial }) // the slow provider was not waited for
            #expect(values.filter { $0.status == .complete }.allSatisfy { $0.bytes.count > 0 })
            let completes = try values.filter { $0.status == .complete }
                .map { try JSONDecoder().decode(CloudEvent<LeadEnriched>.self, from: Data($0.bytes)) }
            #expect(completes.allSatisfy { $0.data.company?.name == "Slow Corp" && $0.data.companySource == "slow" })
            #expect(standIn.requests <= 12 * 3) // the shared cache: about one call per domain, not per lead

            await enrich.terminate()
            watching.cancel()
            await watcher.close()
            await producer.close()
            await standIn.stop()
            try? FileManager.default.removeItem(atPath: configDirectory)
        }
    }
}
