import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Synchronization
import Testing
import FunnelDevKit
import FunnelTestSupport

/// The ingest's promise: 202 only after Kafka acknowledged; otherwise 503 with Retry-After.
@Suite("Ingest when the broker stops mid-load", .serialized, .timeLimit(.minutes(4)))
struct IngestBrokerStopTests {
    @Test("under load, every 202 before the stop is on the topic; once the broker is gone every reply is 503 with Retry-After, never 202")
    func brokerStops() async throws {
        let dir = NSTemporaryDirectory() + "funnel-stop-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let broker = try await LocalBroker.start(logPath: dir + "/tansu.log")
        var ingest: ChildProcess?
        do {
            _ = try await TopicSetup.create(admin: KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap)), partitions: 2)
            let key = try await LocalPipeline.createAPIKey(binDirectory: PipelineEndToEndTests.binDirectory, source: "load", scopes: ["admin"], scratchDirectory: dir)
            let port = try Network.freePort()
            // A short delivery timeout, so that a request without an acknowledgement fails in seconds.
            ingest = try IngestAuthFixture.startIngest(configDirectory: ProjectPaths.configDirectory, port: port, brokers: broker.bootstrap,
                                                       extra: ["FUNNEL_API_KEYS": key.line, "KAFKA_MESSAGE_TIMEOUT_MS": "3000"],
                                                       logPath: dir + "/funnel-ingest.log")
            try await HTTPProbe.waitUntilReady(port: port, process: ingest!, log: dir + "/funnel-ingest.log")
            let headers = ["Authorization": "Bearer \(key.key)"]
            func send(_ n: Int, tag: String) async throws -> [(status: Int, retryAfter: String?, eventID: String?)] {
                try await withThrowingTaskGroup(of: (Int, String?, String?).self) { group in
                    for i in 0..<n {
                        group.addTask {
                            let body = try JSONSerialization.data(withJSONObject: ["email": "\(tag)-\(i)@load.example", "type": "page_view"])
                            let r = try await HTTPProbe.request(port: port, method: "POST", path: "/v1/activities", headers: headers, json: body)
                            let object = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any]
                            let id = (object?["results"] as? [[String: Any]])?.first?["event_id"] as? String
                            return (r.status, r.headers.first { $0.key.lowercased() == "retry-after" }?.value, id)
                        }
                    }
                    var out: [(Int, String?, String?)] = []
                    for try await r in group { out.append(r) }
                    return out.map { (status: $0.0, retryAfter: $0.1, eventID: $0.2) }
                }
            }
            // Load with the broker up: all accepted, and all of them readable from the topic.
            var accepted: Set<String> = []
            for round in 0..<5 {
                let replies = try await send(40, tag: "up\(round)")
                #expect(replies.allSatisfy { $0.status == 202 }, "\(replies.map(\.status))")
                accepted.formUnion(replies.compactMap(\.eventID))
            }
            #expect(accepted.count == 200)
            var onTopic: Set<String> = []
            _ = try KafkaPartitionReader.readToEnd(configuration: KafkaConfiguration(brokers: broker.bootstrap),
                                                   partitions: [0, 1].map { TopicPartition(topic: TopicCatalog.activity, partition: $0) }) { message in
                if let object = try? JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any], let id = object["id"] as? String {
                    onTopic.insert(id)
                }
            }
            #expect(accepted.isSubset(of: onTopic), "\(accepted.subtracting(onTopic).count) acknowledged events missing")

            // The broker goes away while requests are in flight: each reply is 202 (acknowledged
            // before it died) or 503; afterwards only 503 with Retry-After.
            async let during = send(40, tag: "during")
            await broker.stop()
            let transition = try await during
            #expect(transition.allSatisfy { $0.status == 202 || $0.status == 503 }, "\(transition.map(\.status))")
            let after = try await send(10, tag: "down")
            #expect(after.allSatisfy { $0.status == 503 && $0.retryAfter != nil }, "\(after.map { "\($0.status) \($0.retryAfter ?? "-")" })")
            #expect(ingest!.isRunning) // it keeps serving
            _ = await ingest?.terminate()
        } catch {
            _ = await ingest?.terminate()
            await broker.stop()
            throw error
        }
    }
}
