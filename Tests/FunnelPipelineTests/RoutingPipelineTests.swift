import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// Pool routing over the real broker with the five processes, and `funnel reps` at run time:
/// a paused rep gets no lead, `funnel reps list` shows the pool's counters, resuming gives the
/// rep its share again; bad arguments are clear errors.
@Suite("Routing: pools over the broker and funnel reps", .serialized, .timeLimit(.minutes(6)))
struct RoutingPipelineTests {
    static func funnel(_ arguments: [String], broker: LocalBroker, logs: String) async throws -> (status: Int32, output: String) {
        try await PipelineEndToEndTests.runFunnel(arguments, broker: broker, logs: logs)
    }

    /// `funnel reps list --json`, members by "pool/rep".
    static func members(broker: LocalBroker, logs: String) async throws -> [String: [String: Any]] {
        let r = try await funnel(["reps", "list", "--json"], broker: broker, logs: logs)
        try #require(r.status == 0, "funnel reps list failed: \(r.output)")
        let json = r.output.drop { $0 != "{" }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let rows = try #require(object["members"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: rows.map { ("\($0["pool"]!)/\($0["rep"]!)", $0) })
    }

    @Test("pause a rep: the pool skips it; funnel reps list shows the counts; resume: its share again")
    func pauseAndResume() async throws {
        let logs = NSTemporaryDirectory() + "funnel-routing-\(UUID().uuidString.prefix(6))"
        let pipeline = try await LocalPipeline.start(binDirectory: PipelineEndToEndTests.binDirectory, logDirectory: logs)
        let watcher: InvariantWatcher
        do { watcher = try InvariantWatcher(broker: pipeline.broker) } catch { await pipeline.stop(); throw error }
        do {
            let broker = pipeline.broker
            let bad = try await Self.funnel(["reps", "pause", "rep-nobody"], broker: broker, logs: logs)
            #expect(bad.status != 0 && bad.output.contains("'rep-nobody' is a member of no pool"), "\(bad.output)")

            let paused = try await Self.funnel(["reps", "pause", "rep-ada", "--pool", "inbound"], broker: broker, logs: logs)
            #expect(paused.status == 0 && paused.output.contains("inbound/rep-ada: paused"), "\(paused.output)")

            let client = RetryingClient(pipeline: pipeline)
            let tag = UUID().uuidString.prefix(6).lowercased()
            func batch(_ range: Range<Int>) -> [PlannedLead] { range.map { PlannedLead(email: "hot\($0)-\(tag)@initech.example", plan: .mqlOnly) } }
            let first = batch(0..<30), second = batch(30..<70)
            let workload = Workload(name: "routing", leads: first + second, client: client, watcher: watcher)
            // The pool side reads controls and requests from two topics: wait until the pause is
            // in the pool's state (`funnel reps list` reads its changelog) before sending leads.
            try await within(60, "the pause to reach the pool's state") {
                while (try? await Self.members(broker: broker, logs: logs))?["inbound/rep-ada"]?["paused"] as? Bool != true {
                    try await Task.sleep(for: .milliseconds(500)) // polling the changelog, not a synchronisation
                }
            }
            let warmup = 0

            try await workload.sendLeads(range: 0..<30, batch: 10, pause: .milliseconds(50))
            try await watcher.wait("30 MQLs", seconds: 90) { first.allSatisfy { watcher.last($0.id) == .mql } }
            let firstOwners = first.compactMap { lead in watcher.state.value.changes[lead.id]?.first { $0.to == .mql } }
            #expect(firstOwners.allSatisfy { $0.pool == "inbound" }, "every lead went to the inbound pool: \(firstOwners.map { $0.pool ?? "-" })")
            #expect(!firstOwners.contains { $0.owner == "rep-ada" }, "the paused rep got a lead")
            let counts = Dictionary(grouping: firstOwners) { $0.owner ?? "-" }.mapValues(\.count)
            print("[routing] while rep-ada paused: \(counts.sorted { $0.key < $1.key })")
            #expect(counts.values.allSatisfy { (9...11).contains($0) } && counts.count == 3, "\(counts)")

            try await within(60, "funnel reps list to show the 30 assignments") {
                while true {
                    let m = try await Self.members(broker: broker, logs: logs)
                    let assigned = ["rep-ada", "rep-grace", "rep-alan", "rep-barbara"].map { m["inbound/\($0)"]?["assigned"] as? Int ?? 0 }
                    if assigned.reduce(0, +) >= 30 + warmup {
                        #expect(assigned[0] == 0 && m["inbound/rep-ada"]?["open"] as? Int == 0)
                        #expect(m["inbound/rep-grace"]?["open"] as? Int == m["inbound/rep-grace"]?["assigned"] as? Int) // nothing closed
                        return
                    }
                    try await Task.sleep(for: .milliseconds(500)) // polling the changelog
                }
            }

            let resumed = try await Self.funnel(["reps", "resume", "rep-ada"], broker: broker, logs: logs)
            #expect(resumed.status == 0 && resumed.output.contains("inbound/rep-ada: resumed") && resumed.output.contains("enterprise/rep-ada: resumed"), "\(resumed.output)")
            try await within(60, "the resume to reach the pool's state") {
                while (try? await Self.members(broker: broker, logs: logs))?["inbound/rep-ada"]?["paused"] as? Bool != false {
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            try await workload.sendLeads(range: 30..<70, batch: 10, pause: .milliseconds(50))
            try await watcher.wait("40 more MQLs", seconds: 90) { second.allSatisfy { watcher.last($0.id) == .mql } }
            let secondOwners = second.compactMap { lead in watcher.state.value.changes[lead.id]?.first { $0.to == .mql }?.owner }
            let after = Dictionary(grouping: secondOwners) { $0 }.mapValues(\.count)
            print("[routing] after resume: \(after.sorted { $0.key < $1.key })")
            #expect(after.count == 4 && after.values.allSatisfy { (9...11).contains($0) }, "\(after)")
            // A paused rep's share is smaller by design: every invariant but fairness.
            #expect(watcher.checkInvariants(expected: Dictionary(uniqueKeysWithValues: (first + second).map { ($0.id, Stage.mql) }), fairPools: false) == 0)
        } catch {
            Issue.record("failed; service logs in \(logs)")
            await watcher.stop(); await pipeline.stop()
            throw error
        }
        await watcher.stop()
        await pipeline.stop()
    }
}
