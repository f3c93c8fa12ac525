import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

// MARK: - The outside observer

/// Reads the public and intermediate topics from the beginning in its own group and keeps what
/// the invariants need: per lead, the stage changes in the order of their first delivery (one per
/// event id), and per event id the bytes of its first delivery.
final class InvariantWatcher: Sendable {
    static let topics = [TopicCatalog.stageChanged, TopicCatalog.routed, TopicCatalog.scored, TopicCatalog.enriched]

    struct State {
        /// Per lead, distinct stage-changed events in order of first delivery.
        var changes: [String: [Seen]] = [:]
        /// Per event id (per topic), the first bytes seen.
        var bytes: [String: [UInt8]] = [:]
        var read = 0
        var readPerTopic: [String: Int] = [:]
        var sameBytesRedeliveries = 0
        /// (topic, event id) delivered again with other bytes.
        var differentBytes: [(topic: String, id: String, first: String, other: String)] = []
        var undecodable = 0
    }
    let state = Locked(State())
    private let signal = Locked<[CheckedContinuation<Void, Never>]>([])
    let consumer: KafkaConsumer
    let loop: Task<Void, Error>

    init(broker: LocalBroker) throws {
        consumer = try KafkaConsumer(configuration: testConfiguration(broker),
                                     groupID: uniqueName("invariants"), topics: Self.topics)
        let consumer = self.consumer, state = self.state, signal = self.signal
        loop = Task {
            for try await message in consumer.messages {
                let value = message.value ?? []
                let id = (try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])?["id"] as? String
                var decoded: Seen?
                if message.topic == TopicCatalog.stageChanged,
                   case .success(let e) = EventDecoder.decode(StageChanged.self, from: value, expectedType: message.topic) {
                    decoded = Seen(id: e.id, lead: e.data.leadID, from: e.data.from, to: e.data.to, owner: e.data.owner, pool: e.data.pool)
                }
                state.withLock { s in
                    s.read += 1
                    s.readPerTopic[message.topic, default: 0] += 1
                    guard let id else { s.undecodable += 1; return }
                    let key = message.topic + " " + id
                    if let first = s.bytes[key] {
                        if first == value { s.sameBytesRedeliveries += 1 }
                        else { s.differentBytes.append((message.topic, id, String(decoding: first, as: UTF8.self), String(decoding: value, as: UTF8.self))) }
                        return // a redelivery: not a new stage change
                    }
                    s.bytes[key] = value
                    if let seen = decoded { s.changes[seen.lead, default: []].append(seen) }
                    else if message.topic == TopicCatalog.stageChanged { s.undecodable += 1 }
                }
                for waiter in signal.withLock({ w -> [CheckedContinuation<Void, Never>] in defer { w = [] }; return w }) { waiter.resume() }
            }
        }
    }

    func last(_ lead: String) -> Stage? { state.withLock { $0.changes[lead]?.last?.to } }
    func stages(_ lead: String) -> [Stage] { state.withLock { $0.changes[lead]?.map(\.to) ?? [] } }

    /// Waits (woken by every message) until `condition` holds; fails after `seconds` (a guard).
    func wait(_ what: String, seconds: Double, until condition: @escaping @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            try Task.checkCancellation()
            guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await withCheckedContinuation { c in self.signal.withLock { $0.append(c) } } }
                group.addTask { try? await Task.sleep(for: .seconds(1)) } // re-check the deadline
                await group.next()
                group.cancelAll()
                self.signal.withLock { for c in $0 { c.resume() }; $0 = [] }
            }
        }
    }

    func stop() async {
        loop.cancel()
        await consumer.close()
    }

    static func subject(_ json: String) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any])?["subject"] as? String ?? "?"
    }

    /// The top-level and `data` fields whose values differ between two encodings of an event.
    static func differingFields(_ a: String, _ b: String) -> String {
        func object(_ text: String) -> [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:] }
        func fields(_ x: [String: Any], _ y: [String: Any], prefix: String) -> [String] {
            Set(x.keys).union(y.keys).sorted().flatMap { key -> [String] in
                if key == "data", let dx = x[key] as? [String: Any], let dy = y[key] as? [String: Any] { return fields(dx, dy, prefix: "data.") }
                let vx = x[key].map { "\($0)" }, vy = y[key].map { "\($0)" }
                return vx == vy ? [] : [prefix + key]
            }
        }
        return fields(object(a), object(b), prefix: "").joined(separator: ",")
    }

    /// Lets the lifecycle go back only along the recycle paths: nurture → mql (a lead that scores
    /// high enough again) and mql/sal → nurture (rejected by sales).
    static func isRecycle(from: Stage?, to: Stage) -> Bool {
        (from == .nurture && to == .mql) || (to == .nurture && (from == .mql || from == .sal || from == .lost))
            || (from == .mql && to == .mql) // an SLA reassignment
    }

    /// Checks every invariant for `expected` (lead id → final stage); records an issue for each
    /// violation (naming lead and event ids) and returns how many there were.
    @discardableResult
    func checkInvariants(expected: [String: Stage], fairPools: Bool = true) -> Int {
        let s = state.value
        var violations = 0
        func fail(_ text: String) {
            violations += 1
            if violations <= 40 { Issue.record(Comment(rawValue: text)) }
        }
        // Fair: the first MQLs of a pool spread over its members within one of each other
        // (smooth round robin; kills and replays must not skew it).
        let firsts = s.changes.values.compactMap { $0.first { $0.to == .mql && $0.pool != nil } }
        for (pool, events) in Dictionary(grouping: firsts, by: { $0.pool! }) where fairPools {
            let counts = Dictionary(grouping: events) { $0.owner ?? "queue" }.mapValues(\.count)
            if let low = counts.values.min(), let high = counts.values.max(), high - low > 2 {
                fail("pool \(pool) is not fair: \(counts.sorted { $0.key < $1.key })")
            }
        }
        for (lead, stage) in expected.sorted(by: { $0.key < $1.key }) {
            let mine = s.changes[lead] ?? []
            if mine.last?.to != stage {
                fail("lead \(lead): final stage \(mine.last?.to.rawValue ?? "none"), expected \(stage.rawValue); stages \(mine.map(\.to.rawValue))")
            }
            // No transition under two ids.
            let byTransition = Dictionary(grouping: mine) { "\($0.from?.rawValue ?? "-")>\($0.to.rawValue)" }
            for (transition, events) in byTransition where Set(events.map(\.id)).count > 1 {
                fail("lead \(lead): transition \(transition) emitted under \(Set(events.map(\.id)).count) ids \(events.map(\.id))")
            }
            // One owner per episode: from an MQL until the lead closes, every event names the MQL's owner.
            var episodeOwner: String??
            for event in mine {
                if event.to == .mql { episodeOwner = .some(event.owner) }
                else if [.sal, .sql, .customer].contains(event.to), let owner = episodeOwner, owner != event.owner {
                    fail("lead \(lead): \(event.to.rawValue) names owner \(event.owner ?? "nil") but its MQL was assigned to \(owner ?? "nil")")
                }
            }
            var visited: Set<Stage> = []
            var previous: Stage?
            for (index, event) in mine.enumerated() {
                if event.from != previous {
                    fail("lead \(lead): event \(event.id) (#\(index)) from \(event.from?.rawValue ?? "nil") but the previous to was \(previous?.rawValue ?? "nil")")
                }
                if visited.contains(event.to) && !Self.isRecycle(from: previous, to: event.to) {
                    fail("lead \(lead): event \(event.id) walks back to \(event.to.rawValue) after \(mine.prefix(index).map(\.to.rawValue))")
                }
                visited.insert(event.to)
                previous = event.to
            }
        }
        for d in s.differentBytes.prefix(10) {
            fail("event \(d.id) on \(d.topic) (\(Self.subject(d.first))) delivered with different bytes (fields \(Self.differingFields(d.first, d.other))):\n  \(d.first)\n  \(d.other)")
        }
        if !s.differentBytes.isEmpty {
            let kinds = Dictionary(grouping: s.differentBytes) { "\($0.topic): \(Self.differingFields($0.first, $0.other))" }
            let summary = kinds.sorted { $0.key < $1.key }.map { "\($0.value.count) × \($0.key)" }.joined(separator: "; ")
            fail("\(s.differentBytes.count) event ids delivered with different bytes: \(summary)")
        }
        return violations
    }
}

extension ChaosTests {
    /// The sum of metric `name` on the process listening on `port` (0 if unreachable).
    static func metric(_ port: Int, _ name: String) async -> Double {
        guard let text = try? await HTTPProbe.get(port: port, path: "/metrics").body else { return 0 }
        return Progress.sum(text, name)
    }
}

// MARK: - The client

/// Posts to funnel-ingest until accepted, retrying refused/failed requests and 5xx/429 replies
/// with the same `Idempotency-Key` (so a retry yields the same event ids).
struct RetryingClient: Sendable {
    let pipeline: LocalPipeline
    let retries = Locked(0)

    func post(_ path: String, _ object: Any, key: String, deadline seconds: Double = 150) async throws {
        let body = try JSONSerialization.data(withJSONObject: object)
        var headers = pipeline.authorization
        headers["Idempotency-Key"] = key
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            do {
                let r = try await HTTPProbe.post(port: pipeline.ports["funnel-ingest"]!, path: path, json: body, headers: headers)
                if r.status == 202 { return }
                if r.status < 500 && r.status != 429 {
                    Issue.record("POST \(path) (\(key)) answered \(r.status): \(r.body.prefix(300))")
                    return
                }
            } catch {} // refused or cut off: ingest is down or was killed mid-request
            guard ContinuousClock.now < deadline else { throw TimedOut(what: "POST \(path) \(key) to be accepted") }
            retries.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(150)) // retry backoff, not a synchronisation
        }
    }
}

// MARK: - The workload

/// A generated lead and the final stage the lifecycle must bring it to.
struct PlannedLead: Sendable {
    enum Plan: String, Sendable { case won, lost, mqlOnly, nurture }
    let email: String
    let plan: Plan
    var id: String { leadID(email) }
    var expected: Stage {
        switch plan { case .won: .customer; case .lost: .lost; case .mqlOnly: .mql; case .nurture: .nurture }
    }
    var payload: [String: Any] {
        switch plan {
        case .nurture:
            ["email": email, "first_name": "Pat", "job_title": "Product Manager", "country": "GB"]
        default:
            ["email": email, "first_name": "Vera", "job_title": "VP Engineering", "company": "Acme Software", "employees": 500,
             "industry": "software", "country": "DE", "source": "webinar", "campaign": "chaos", "consent": ["email": true]]
        }
    }
}

/// Drives a workload through the ingest API: leads (with a demo request for those meant to
/// become MQLs) in paced batches, then, for each lead seen at `mql`, its sales outcomes.
struct Workload: Sendable {
    let name: String
    let leads: [PlannedLead]
    let client: RetryingClient
    let watcher: InvariantWatcher
    let eventTime = Timestamp.format(Date())
    /// Leads accepted so far by `sendLeads`.
    let sentBatches = Collector<Int>()
    var sent: Int { sentBatches.values.reduce(0, +) }
    /// Waits until at least `n` leads were accepted (an event: each accepted batch).
    func waitSent(_ n: Int) async { await sentBatches.wait { $0.reduce(0, +) >= n } }

    init(name: String, leads: [PlannedLead], client: RetryingClient, watcher: InvariantWatcher) {
        self.name = name; self.leads = leads; self.client = client; self.watcher = watcher
    }

    init(name: String, count: Int, seed: UInt64, client: RetryingClient, watcher: InvariantWatcher) {
        var rng = SplitMix64(seed: seed)
        let plans: [PlannedLead.Plan] = [.won, .lost, .mqlOnly, .nurture]
        leads = (0..<count).map { i in
            let plan = plans[rng.below(plans.count)]
            let domain = plan == .nurture ? "initech.example" : "acme-software.example"
            return PlannedLead(email: "\(name)-\(i)@\(domain)", plan: plan)
        }
        self.name = name
        self.client = client
        self.watcher = watcher
    }

    var expected: [String: Stage] { Dictionary(uniqueKeysWithValues: leads.map { ($0.id, $0.expected) }) }

    /// Sends the leads in batches of `batch`, `pause` apart (load shaping, not synchronisation).
    func sendLeads(range: Range<Int>? = nil, batch: Int = 50, pause: Duration = .milliseconds(400), deadline: Double = 150) async throws {
        let slice = Array(leads[range ?? 0..<leads.count])
        var start = 0
        while start < slice.count {
            let part = Array(slice[start..<min(start + batch, slice.count)])
            let tag = "\(name)-\(range?.lowerBound ?? 0)-\(start)"
            try await client.post("/v1/leads", part.map(\.payload), key: "leads-\(tag)", deadline: deadline)
            let hot = part.filter { $0.plan != .nurture }
            if !hot.isEmpty {
                try await client.post("/v1/activities", hot.map {
                    ["email": $0.email, "type": "demo_request", "url": "https://example.com/demo", "occurred_at": eventTime] as [String: Any]
                }, key: "demo-\(tag)", deadline: deadline)
            }
            start += batch
            sentBatches.append(part.count)
            try await Task.sleep(for: pause)
        }
    }

    /// For every lead with outcomes, waits until it is seen at `mql`, then posts its outcomes in
    /// order (each accepted before the next is sent), in batches of the leads ready together.
    func sendOutcomes(range: Range<Int>? = nil, seconds: Double, deadline: Double = 150) async throws {
        var pending = leads[range ?? 0..<leads.count].filter { $0.plan == .won || $0.plan == .lost }
        var round = 0
        while !pending.isEmpty {
            let ids = Set(pending.map(\.id))
            try await watcher.wait("leads with outcomes to reach mql", seconds: seconds) {
                ids.contains { self.watcher.stages($0).contains(.mql) }
            }
            let ready = pending.filter { watcher.stages($0.id).contains(.mql) }
            pending.removeAll { lead in ready.contains { $0.id == lead.id } }
            round += 1
            let steps: [(String, [PlannedLead])] = [
                ("accepted", ready),
                ("meeting", ready.filter { $0.plan == .won }),
                ("won", ready.filter { $0.plan == .won }),
                ("lost", ready.filter { $0.plan == .lost }),
            ]
            for (step, (outcome, group)) in steps.enumerated() where !group.isEmpty {
                // Event times in order, and fixed per request, so a retry is byte-identical.
                let time = Timestamp.format(Date().addingTimeInterval(Double(step)))
                try await client.post("/v1/outcomes", group.map {
                    ["lead_id": $0.id, "outcome": outcome, "occurred_at": time] as [String: Any]
                }, key: "outcome-\(name)-\(round)-\(outcome)", deadline: deadline)
            }
        }
    }
}

/// Per-service counts, printed in a stable order.
func describe(_ counts: [String: Int]) -> String {
    LocalPipeline.services.map { "\($0.dropFirst(7)) \(counts[$0] ?? 0)" }.joined(separator: ", ")
}

// MARK: - The tests

@Suite("Chaos: kills, a paused broker and rebalances lose, repeat and reorder nothing", .serialized, .timeLimit(.minutes(8)))
struct ChaosTests {
    /// Runs `body` with a fresh pipeline and an invariant watcher; always stops both.
    func withPipeline(_ name: String, environment: [String: String] = [:],
                      _ body: (LocalPipeline, InvariantWatcher, String) async throws -> Void) async throws {
        let logs = NSTemporaryDirectory() + "funnel-\(name)-\(UUID().uuidString.prefix(6))"
        let pipeline = try await LocalPipeline.start(binDirectory: PipelineEndToEndTests.binDirectory, logDirectory: logs,
                                                     extraEnvironment: environment)
        let watcher: InvariantWatcher
        do { watcher = try InvariantWatcher(broker: pipeline.broker) } catch { await pipeline.stop(); throw error }
        do {
            try await body(pipeline, watcher, logs)
        } catch {
            Issue.record("failed; service logs in \(logs)")
            await watcher.stop()
            await pipeline.stop()
            throw error
        }
        await watcher.stop()
        await pipeline.stop()
    }

    func printSummary(_ title: String, _ workload: Workload, _ pipeline: LocalPipeline, _ watcher: InvariantWatcher,
                      client: RetryingClient, kills: [String: Int] = [:]) {
        let s = watcher.state.value
        let perStage = Dictionary(grouping: workload.leads, by: \.expected).mapValues(\.count)
        print("""
            [\(title)] leads \(workload.leads.count) (\(perStage.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")))
            [\(title)] kills: \(describe(kills)) (total \(kills.values.reduce(0, +)))
            [\(title)] restarts: \(describe(pipeline.restarts)) (total \(pipeline.restarts.values.reduce(0, +)))
            [\(title)] events read \(s.read) (\(s.readPerTopic.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))); \
            redeliveries with the same id and bytes \(s.sameBytesRedeliveries); same id, different bytes \(s.differentBytes.count); undecodable \(s.undecodable)
            [\(title)] client retries \(client.retries.value)
            [\(title)] MQL owners by pool: \(Self.ownerCounts(s))
            """)
    }

    /// First MQL of each lead, counted by pool and owner: `inbound: rep-a 120, rep-b 119 …; (no pool): …`.
    static func ownerCounts(_ s: InvariantWatcher.State) -> String {
        let firsts = s.changes.values.compactMap { $0.first { $0.to == .mql } }
        let byPool = Dictionary(grouping: firsts) { $0.pool ?? "(no pool)" }
        return byPool.sorted { $0.key < $1.key }.map { pool, events in
            let owners = Dictionary(grouping: events) { $0.owner ?? "queue" }.mapValues(\.count)
            return "\(pool): " + owners.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }.joined(separator: "; ")
    }

    @Test("≥1000 leads while random services are SIGKILLed: every lead reaches its final stage, nothing repeats or walks back")
    func randomKills() async throws {
        try await withPipeline("chaos") { pipeline, watcher, logs in
            let client = RetryingClient(pipeline: pipeline)
            let workload = Workload(name: "chaos", count: 1000, seed: 0xC4A05, client: client, watcher: watcher)
            let expected = workload.expected
            let sending = Locked(true)

            // The killer: a seeded sequence of (pause, service); at least 10 kills, and on until the leads are sent.
            let killer = Task { () -> [String: Int] in
                var rng = SplitMix64(seed: 0x5EED_0001)
                var kills: [String: Int] = [:]
                var round: [String] = []
                while kills.values.reduce(0, +) < 10 || sending.value {
                    if Task.isCancelled { break }
                    try? await Task.sleep(for: .milliseconds(800 + rng.below(2200))) // a random moment
                    // Rounds of a seeded random order of the five services: each is killed as often as the others.
                    if round.isEmpty { round = LocalPipeline.services.shuffled(using: &rng) }
                    let service = round.removeFirst()
                    if await pipeline.kill(service) {
                        kills[service, default: 0] += 1
                        print("[chaos] SIGKILL \(service) (kill \(kills.values.reduce(0, +)))")
                    }
                }
                return kills
            }
            async let outcomes: Void = workload.sendOutcomes(seconds: 240)
            do {
                try await workload.sendLeads(batch: 40, pause: .milliseconds(1200))
            } catch {
                sending.withLock { $0 = false }
                killer.cancel()
                _ = await killer.value
                throw error
            }
            sending.withLock { $0 = false }
            let kills = await killer.value
            try await outcomes
            do {
                try await watcher.wait("every lead to reach its final stage", seconds: 240) {
                    expected.allSatisfy { watcher.last($0.key) == $0.value }
                }
            } catch {
                printSummary("chaos", workload, pipeline, watcher, client: client, kills: kills)
                watcher.checkInvariants(expected: expected)
                throw error
            }
            // Every service is back (restarted by the supervisor), once per kill.
            try await pipeline.waitUntilReady(timeout: .seconds(60))
            printSummary("chaos", workload, pipeline, watcher, client: client, kills: kills)
            #expect(kills.values.reduce(0, +) >= 10)
            #expect(Set(kills.keys).count >= 3, "kills spread over services: \(kills)")
            for service in LocalPipeline.services {
                #expect(pipeline.restarts[service, default: 0] == kills[service, default: 0],
                        "\(service): \(pipeline.restarts[service, default: 0]) restarts for \(kills[service, default: 0]) kills; logs in \(logs)")
            }
            let violations = watcher.checkInvariants(expected: expected)
            print("[chaos] invariant violations: \(violations)")
        }
    }

    @Test("the broker frozen (SIGSTOP) for 30 s: services report not ready, recover by themselves, and finish every lead")
    func brokerPause() async throws {
        try await withPipeline("pause") { pipeline, watcher, logs in
            let client = RetryingClient(pipeline: pipeline)
            let workload = Workload(name: "pause", count: 300, seed: 0xB0CE, client: client, watcher: watcher)
            // Two thirds of the leads are accepted before the freeze, so the stages are
            // mid-stream when it comes; the rest are posted during it (the client retries each
            // 503 under its Idempotency-Key until the broker is back). Deliveries that time out
            // in the freeze leave funnel-ingest's idempotent producer fenced by the broker
            // afterwards (a fatal error): it must recreate its client by itself.
            try await workload.sendLeads(range: 0..<200, batch: 50, pause: .milliseconds(100))

            #expect(pipeline.broker.pause(), "the broker's process id is known")
            let pausedAt = ContinuousClock.now
            async let duringFreeze: Void = workload.sendLeads(range: 200..<300, batch: 25, pause: .milliseconds(100), deadline: 120)
            var notReady: Set<String> = []
            let watched = LocalPipeline.services
            while ContinuousClock.now < pausedAt + .seconds(25) && notReady.count < watched.count {
                for service in watched where !notReady.contains(service) {
                    if await !HTTPProbe.isReady(port: pipeline.ports[service]!) { notReady.insert(service) }
                }
                try await Task.sleep(for: .milliseconds(200)) // polling /readyz
            }
            print("[pause] not ready during the pause: \(notReady.sorted())")
            for service in ["funnel-enrich", "funnel-score", "funnel-route", "funnel-followup"] {
                #expect(notReady.contains(service), "\(service) stayed ready with the broker frozen")
            }
            // Keep the broker frozen 30 s in all (the length of the outage under test).
            try await Task.sleep(until: pausedAt + .seconds(30))
            #expect(pipeline.broker.resume())
            let resumedAt = ContinuousClock.now
            try await pipeline.waitUntilReady(timeout: .seconds(90))
            print("[pause] every service ready again \(ContinuousClock.now - resumedAt) after the broker resumed")
            try await duringFreeze
            print("[pause] the leads posted during the freeze were accepted \(ContinuousClock.now - resumedAt) after it; ingest producer renewals: \(Int(await Self.metric(pipeline.ports["funnel-ingest"]!, "funnel_kafka_producer_renewals_total")))")
            let expected = workload.expected
            try await workload.sendOutcomes(seconds: 120)
            do {
                try await watcher.wait("every accepted lead to reach its final stage", seconds: 120) {
                    expected.allSatisfy { watcher.last($0.key) == $0.value }
                }
            } catch {
                printSummary("pause", workload, pipeline, watcher, client: client)
                watcher.checkInvariants(expected: expected)
                throw error
            }
            printSummary("pause", workload, pipeline, watcher, client: client)
            print("[pause] leads finished: \(expected.count) of \(workload.leads.count)")
            #expect(pipeline.restarts.values.reduce(0, +) == 0, "no service died: \(pipeline.restarts); logs in \(logs)")
            let violations = watcher.checkInvariants(expected: expected)
            print("[pause] invariant violations: \(violations)")
        }
    }

    @Test("a funnel-score killed before its first checkpoint replays its inputs into byte-identical scored events")
    func scoreReplayIsByteIdentical() async throws {
        // Stateful stages with a checkpoint interval longer than the test: the kill loses all of
        // funnel-score's state and offsets, and the restarted one re-processes every input.
        try await withPipeline("replay", environment: ["FUNNEL_STATE_FLUSH_MS": "600000"]) { pipeline, watcher, logs in
            let client = RetryingClient(pipeline: pipeline)
            let workload = Workload(name: "replay", count: 40, seed: 0xF00D, client: client, watcher: watcher)
            let hot = workload.leads.filter { $0.plan != .nurture }
            @Sendable func scoredRead() -> Int { watcher.state.value.readPerTopic[TopicCatalog.scored] ?? 0 }
            // Each lead's demo request first (scored without a profile), then the profile.
            try await client.post("/v1/activities", hot.map {
                ["email": $0.email, "type": "demo_request", "url": "https://example.com/demo", "occurred_at": workload.eventTime] as [String: Any]
            }, key: "replay-demo")
            try await watcher.wait("the demo requests to be scored", seconds: 60) { scoredRead() >= hot.count }
            try await client.post("/v1/leads", workload.leads.map(\.payload), key: "replay-leads")
            let expected = Dictionary(uniqueKeysWithValues: workload.leads.map { ($0.id, $0.plan == .nurture ? Stage.nurture : Stage.mql) })
            try await watcher.wait("every lead to come to rest", seconds: 60) { expected.allSatisfy { watcher.last($0.key) == $0.value } }
            let before = scoredRead()

            #expect(await pipeline.kill("funnel-score"))
            try await watcher.wait("the restarted funnel-score to re-emit its scored events", seconds: 90) { scoredRead() >= 2 * before }
            let s = watcher.state.value
            print("[replay] scored events before the kill \(before), read in all \(s.readPerTopic[TopicCatalog.scored] ?? 0); redeliveries with the same bytes \(s.sameBytesRedeliveries), same id with different bytes \(s.differentBytes.count); restarts \(describe(pipeline.restarts))")
            #expect(pipeline.restarts["funnel-score"] == 1)
            let violations = watcher.checkInvariants(expected: expected)
            print("[replay] invariant violations: \(violations); logs in \(logs)")
        }
    }

    @Test("funnel-route scaled 1 → 2 → 1 replicas while leads flow: the invariants hold")
    func routeRebalance() async throws {
        try await withPipeline("rebalance") { pipeline, watcher, logs in
            let client = RetryingClient(pipeline: pipeline)
            let workload = Workload(name: "rebalance", count: 600, seed: 0x2EBA1, client: client, watcher: watcher)
            let expected = workload.expected
            async let outcomes: Void = workload.sendOutcomes(seconds: 180)
            // Leads flow the whole time (10 every 200 ms) while the replicas change.
            async let sending: Void = workload.sendLeads(batch: 10, pause: .milliseconds(200))
            func metric(_ port: Int, _ name: String) async -> Double { await Self.metric(port, name) }
            try await within(60, "a sixth of the leads to be sent") { await workload.waitSent(100) }

            let port = try await pipeline.startInstance("funnel-route", instance: 1)
            let second = try #require(pipeline.process("funnel-route", instance: 1))
            try await HTTPProbe.waitUntilReady(port: port, process: second, log: logs + "/funnel-route-1.log", timeout: .seconds(60))
            // Wait (polling its /metrics, with a deadline) until the new replica has partitions and consumes.
            let deadline = ContinuousClock.now + .seconds(60)
            var consumed = 0.0
            while consumed == 0 && ContinuousClock.now < deadline {
                consumed = await metric(port, "funnel_consumed_total")
                if consumed == 0 { try await Task.sleep(for: .milliseconds(200)) }
            }
            let sentAtScaleUp = workload.sent
            print("[rebalance] second funnel-route replica consuming (\(Int(consumed)) events) after \(sentAtScaleUp) leads sent")
            #expect(consumed > 0, "the second replica was assigned partitions and consumed")
            try await within(60, "more leads to be sent with two replicas") { await workload.waitSent(min(sentAtScaleUp + 150, 500)) }
            let consumedBySecond = await metric(port, "funnel_consumed_total")
            await pipeline.stopInstance("funnel-route", instance: 1)
            #expect(second.isRunning == false)
            print("[rebalance] second replica stopped after consuming \(Int(consumedBySecond)) events; \(workload.sent) leads sent")
            try await sending
            try await outcomes
            do {
                try await watcher.wait("every lead to reach its final stage", seconds: 150) {
                    expected.allSatisfy { watcher.last($0.key) == $0.value }
                }
            } catch {
                printSummary("rebalance", workload, pipeline, watcher, client: client)
                watcher.checkInvariants(expected: expected)
                throw error
            }
            printSummary("rebalance", workload, pipeline, watcher, client: client)
            #expect(pipeline.restarts.values.reduce(0, +) == 0, "no service died: \(pipeline.restarts)")
            let violations = watcher.checkInvariants(expected: expected)
            print("[rebalance] invariant violations: \(violations)")
        }
    }
}

/// Sums a metric over its label sets in a Prometheus exposition.
enum Progress {
    static func sum(_ exposition: String, _ metric: String) -> Double {
        exposition.split(separator: "\n").reduce(0.0) { total, line in
            guard line.hasPrefix(metric + "{") || line.hasPrefix(metric + " "), let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { return total }
            return total + value
        }
    }
}
