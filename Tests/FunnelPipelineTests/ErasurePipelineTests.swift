import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// GDPR erasure for real: the five processes, Tansu and the SMTP sink. A nurture lead gets its
/// intro; `POST /v1/erasures` (scope admin) erases it: funnel-score and funnel-route write
/// deletion markers, funnel-followup a suppression with the salted hash; `funnel explain` finds
/// no state; after a SIGKILL and restart of every stateful stage nothing of the lead comes back
/// and its next steps are never sent, while a neighbour's sequence goes on.
@Suite("Erasure: a lead forgotten by every stage", .serialized, .timeLimit(.minutes(6)))
struct ErasurePipelineTests {
    static let changelogs = [TopicCatalog.changelog(service: "score", store: "leads"), TopicCatalog.changelog(service: "route", store: "leads"),
                             TopicCatalog.changelog(service: "followup", store: "enrolments")]

    /// The newest changelog record of `lead` in each stateful stage's table.
    static func latest(_ lead: String, _ pipeline: LocalPipeline) async throws -> [String: TableRecord?] {
        var result: [String: TableRecord?] = [:]
        for topic in changelogs {
            let partition = KafkaPartitioner.partition(forKey: lead, partitionCount: 6)
            let (value, _) = try await KafkaPartitionReader.latestValue(forKey: lead, in: TopicPartition(topic: topic, partition: partition),
                                                                        configuration: testConfiguration(pipeline.broker))
            result[topic] = try value.map { try TableRecord(decoding: $0.array) }
        }
        return result
    }

    @Test("POST /v1/erasures: state deleted in every stage, kept deleted across kill -9, no more mail; funnel export-lead shows it")
    func erase() async throws {
        let logs = NSTemporaryDirectory() + "funnel-erasure-\(UUID().uuidString.prefix(6))"
        // Step 2 comes 20 s after the intro: time to erase the lead before it is due.
        let config = try FollowupPipelineTests.configDirectory(delays: ["0s", "20s", "2s"])
        let pipeline = try await LocalPipeline.start(binDirectory: PipelineEndToEndTests.binDirectory, logDirectory: logs,
                                                     extraEnvironment: ["FUNNEL_CONFIG_DIR": config])
        do {
            let tag = UUID().uuidString.prefix(6).lowercased()
            let gone = "gone-\(tag)@initech.example", stays = "stays-\(tag)@initech.example"
            let lead = leadID(gone)
            let client = RetryingClient(pipeline: pipeline)
            try await client.post("/v1/leads", [FollowupPipelineTests.nurtureLead(gone), FollowupPipelineTests.nurtureLead(stays)], key: "erase-\(tag)")
            try await FollowupPipelineTests.waitForMail(pipeline, "both intros") { mails in
                Set(mails.filter { $0.campaign == "fast/step-1" }.compactMap(\.to)).count == 2
            }
            let before = try await Self.latest(lead, pipeline)
            #expect(before.values.allSatisfy { $0?.value != nil }, "every stage holds the lead before the erasure")

            // Watch the changelogs from here on for the lead's records.
            let watcher = try KafkaConsumer(configuration: testConfiguration(pipeline.broker, ["auto.offset.reset": "earliest"]),
                                            groupID: uniqueName("erasure"), topics: Self.changelogs)
            let port = pipeline.ports["funnel-ingest"]!
            // Wrong requests first: a key without admin scope is refused by the route itself (here: no key).
            let anonymous = try await HTTPProbe.request(port: port, method: "POST", path: "/v1/erasures", headers: ["Content-Type": "application/json"],
                                                        json: Data("{\"email\":\"\(gone)\"}".utf8))
            #expect(anonymous.status == 401)
            let both = try await HTTPProbe.request(port: port, method: "POST", path: "/v1/erasures",
                                                   headers: pipeline.authorization.merging(["Content-Type": "application/json"]) { $1 },
                                                   json: Data("{\"email\":\"\(gone)\",\"lead_id\":\"\(lead)\"}".utf8))
            #expect(both.status == 400 && both.body.contains("exactly one"))
            let r = try await HTTPProbe.request(port: port, method: "POST", path: "/v1/erasures",
                                                headers: pipeline.authorization.merging(["Content-Type": "application/json"]) { $1 },
                                                json: Data("{\"email\":\" \(gone.uppercased()) \"}".utf8))
            #expect(r.status == 202 && r.body.contains("\"lead_id\":\"\(lead)\""), "\(r.status) \(r.body)")

            // Each stage writes its erasure to its changelog: deletion markers, and follow-up's suppression.
            try await within(60, "the erasure in every changelog") {
                var done: Set<String> = []
                for try await message in watcher.messages where message.keyString == lead {
                    let record = try TableRecord(decoding: Array(message.value ?? []))
                    if message.topic == TopicCatalog.changelog(service: "followup", store: "enrolments") {
                        if let value = record.value, try FollowupLeadState(decoding: value).suppression == .erased { done.insert(message.topic) }
                    } else if record.value == nil && record.timers.isEmpty {
                        done.insert(message.topic)
                    }
                    if done.count == Self.changelogs.count { return }
                }
            }
            await watcher.close()
            let explain = try await PipelineEndToEndTests.runFunnel(["explain", lead], broker: pipeline.broker, logs: logs)
            #expect(explain.status != 0 && explain.output.contains("has no state"), "\(explain.output)")

            // kill -9 every stateful stage; they restore from the changelogs: nothing of the lead comes back.
            for service in ["funnel-score", "funnel-route", "funnel-followup"] { #expect(await pipeline.kill(service)) }
            try await pipeline.waitUntilReady()
            // The neighbour's sequence goes on to its third step; the erased lead never gets a second one.
            try await FollowupPipelineTests.waitForMail(pipeline, "the neighbour's three steps", seconds: 120) { mails in
                mails.filter { $0.to?.contains(stays) == true }.count == 3
            }
            let mails = FollowupPipelineTests.mails(pipeline)
            #expect(mails.filter { $0.to?.contains(gone) == true }.count == 1, "the erased lead was mailed again")
            let after = try await Self.latest(lead, pipeline)
            for topic in Self.changelogs.prefix(2) {
                #expect(after[topic]??.value == nil, "\(topic) holds the lead again after the restart")
            }
            let followup = try #require(after[Self.changelogs[2]]??.value)
            let state = try FollowupLeadState(decoding: followup)
            #expect(state.suppression == .erased && state.contact.email == nil && state.erasedAddressHash?.count == 64)

            // Access (Art. 15): what is still held — the raw events until retention — and the erased state.
            let export = try await PipelineEndToEndTests.runFunnel(["export-lead", gone], broker: pipeline.broker, logs: logs)
            #expect(export.status == 0, "\(export.output)")
            #expect(export.output.contains("\"topic\":\"funnel.lead.captured.v1\"") && export.output.contains("\"topic\":\"funnel.lead.erased.v1\""))
            #expect(export.output.contains("erased (deletion marker)"))
            #expect(!export.output.contains(stays), "another person's data in the export")
        } catch {
            Issue.record("failed; service logs in \(logs)")
            await pipeline.stop()
            throw error
        }
        await pipeline.stop()
    }
}
