import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages
import Logging
import Testing

/// funnel-route's two sides wired in memory: the lead side (RouteProcessor) sends assignment
/// commands, the pool side (PoolProcessor) answers, the lead side publishes. Exact counts,
/// duplicates on either hop, releases, held outcomes, fallbacks and run-time pauses.
/// (The same round trip over the broker runs in the pipeline and chaos tests.)
@Suite("Routing through pools: lead side and pool side")
struct PoolRoutingTests {
    static let routing = try! RoutingConfig.parse(yaml: """
    version: "pools-test-1"
    default_pool: inbound
    rules:
      - { name: tiny, when: { employees: { max: 5 } }, pool: tiny }
      - { name: hot, when: { quadrant: hot, employees: { min: 5000 } }, pool: inbound, priority: hot }
    pools:
      inbound:
        sla_minutes: 60
        members: [{ rep: a }, { rep: b }, { rep: c }, { rep: d }]
      tiny:
        fallback: { queue: unassigned }
        members: [{ rep: solo, max_open: 1 }]
    """, file: "routing.yaml")

    /// Both stages on partition 0, and the messages between them.
    final class Loop {
        let leads: StatefulStage<RouteProcessor>
        var pools: StatefulStage<PoolProcessor>
        /// Stage-changed and routed events, in order.
        var published: [ProducerMessage] = []
        var commands: [ProducerMessage] = []
        var answers: [ProducerMessage] = []
        var offset: Int64 = 0

        let clock: ManualClock

        init(clock: ManualClock = ManualClock(0)) {
            self.clock = clock
            leads = StatefulStage(RouteProcessor(router: LifecycleRouter(routing: PoolRoutingTests.routing, mqlThreshold: 60)),
                                  readChangelog: { _, _ in 0 }, clock: clock, logger: Logger(label: "test"))
            leads.assigned([TopicPartition(topic: TopicCatalog.scored, partition: 0)])
            pools = Self.poolStage()
        }

        static func poolStage() -> StatefulStage<PoolProcessor> {
            let s = StatefulStage(PoolProcessor(routing: PoolRoutingTests.routing), readChangelog: { _, _ in 0 }, logger: Logger(label: "test"))
            s.assigned([TopicPartition(topic: TopicCatalog.assignments, partition: 0)])
            return s
        }

        func consumed(_ m: ProducerMessage) -> ConsumerMessage {
            offset += 1
            return ConsumerMessage(topic: m.topic, partition: 0, offset: offset, key: m.key, value: m.value)
        }

        /// Processes `message` on the lead side and carries every output to its destination
        /// until nothing is in flight.
        func feed(_ message: ConsumerMessage) throws {
            try deliver([(message, message.topic == TopicCatalog.assignments || message.topic == TopicCatalog.reps)], [])
        }

        /// Fires the lead side's due timers (the clock is the test's) and delivers what they emit.
        func fireTimers() throws {
            try deliver([], leads.fireDueTimers().values.flatMap { $0 })
        }

        private func deliver(_ initial: [(ConsumerMessage, toPools: Bool)], _ produced: [ProducerMessage]) throws {
            var queue = initial
            func route(_ out: [ProducerMessage]) {
                for m in out {
                    switch m.topic {
                    case TopicCatalog.assignments: commands.append(m); queue.append((consumed(m), true))
                    case TopicCatalog.assigned: answers.append(m); queue.append((consumed(m), false))
                    default: published.append(m)
                    }
                }
            }
            route(produced)
            while !queue.isEmpty {
                let (next, toPools) = queue.removeFirst()
                let out = try (toPools ? pools.process(next) : leads.process(next)).messages
                for m in out {
                    switch m.topic {
                    case TopicCatalog.assignments: commands.append(m); queue.append((consumed(m), true))
                    case TopicCatalog.assigned: answers.append(m); queue.append((consumed(m), false))
                    default: published.append(m)
                    }
                }
            }
        }

        func changes() throws -> [StageChanged] {
            try published.filter { $0.topic == TopicCatalog.stageChanged }.map {
                try EventDecoder.decode(StageChanged.self, from: $0.value ?? [], expectedType: TopicCatalog.stageChanged).get().data
            }
        }

        func routed() throws -> [LeadRouted] {
            try published.filter { $0.topic == TopicCatalog.routed }.map {
                try EventDecoder.decode(LeadRouted.self, from: $0.value ?? [], expectedType: TopicCatalog.routed).get().data
            }
        }

        func pool(_ name: String) -> PoolState? { pools.value(of: name) }
    }

    static func scored(_ lead: String, total: Double = 80, employees: Int? = 300, at time: String = "2026-12-02T10:00:00Z", id: String) -> ConsumerMessage {
        var data = LeadScored(leadID: lead, model: "m1", total: total, fit: total / 2, interest: total / 2, grade: "A", quadrant: "hot",
                              rules: [], disqualification: nil, profileKnown: true, contactAvailable: true, emailClass: .corporate,
                              accountOwner: nil, source: "web", campaign: nil, scoredAt: time)
        data.mql = total >= 60
        data.employees = employees
        let event = CloudEvent(id: id, source: "funnel-score", type: TopicCatalog.scored, time: time, subject: lead, data: data)
        return ConsumerMessage(topic: TopicCatalog.scored, partition: 0, offset: 0, key: Array(lead.utf8), value: EventCoding.encode(event))
    }

    static func outcome(_ lead: String, _ type: OutcomeType, id: String, at time: String = "2026-12-02T11:00:00Z") -> ConsumerMessage {
        let event = CloudEvent(id: id, source: "crm", type: TopicCatalog.outcome, time: time, subject: lead,
                               data: LeadOutcome(leadID: lead, outcome: type, occurredAt: time))
        return ConsumerMessage(topic: TopicCatalog.outcome, partition: 0, offset: 0, key: Array(lead.utf8), value: EventCoding.encode(event))
    }

    @Test("1,000 MQLs through the pool round trip: 250 per rep, one MQL event with its owner per lead, the routing on the event")
    func thousandLeads() throws {
        let loop = Loop()
        for i in 0..<1000 { try loop.feed(Self.scored("lead-\(i)", id: "s-\(i)")) }
        let mqls = try loop.changes().filter { $0.to == .mql }
        #expect(mqls.count == 1000 && Set(mqls.map(\.leadID)).count == 1000)
        #expect(Dictionary(grouping: mqls, by: { $0.owner ?? "-" }).mapValues(\.count) == ["a": 250, "b": 250, "c": 250, "d": 250])
        #expect(mqls.allSatisfy { $0.from == .identified && $0.pool == "inbound" && $0.routingVersion == "pools-test-1" })
        #expect(mqls[0].reason == "score 80 >= 60 (hot); pool inbound: a (round robin)")
        let routed = try loop.routed().filter { $0.stage == .mql }
        #expect(routed.count == 1000 && routed.allSatisfy { $0.queue == "sales" && $0.pool == "inbound" && $0.rule == "default" && $0.owner != nil })
        #expect(loop.pool("inbound")?.members.map(\.open) == [250, 250, 250, 250])
    }

    @Test("a command delivered twice is answered once; an answer the lead does not wait for is handed back")
    func duplicates() throws {
        let loop = Loop()
        try loop.feed(Self.scored("l1", id: "s1"))
        let command = try #require(loop.commands.first)
        // The same command again (a re-delivery): the pool remembers it.
        try loop.feed(loop.consumed(command))
        #expect(loop.answers.count == 1)
        // Once the pool no longer remembers it (PoolState.maxRecent later requests), a late
        // duplicate is assigned again: the lead side keeps its first owner and releases the second.
        for i in 0..<PoolState.maxRecent { try loop.feed(Self.scored("other-\(i)", id: "o-\(i)")) }
        let openBefore = try #require(loop.pool("inbound")).members.map(\.open)
        try loop.feed(loop.consumed(command))
        let second = try EventDecoder.decode(AssignmentAnswer.self, from: loop.answers.last?.value ?? [], expectedType: TopicCatalog.assigned).get().data
        #expect(loop.answers.count == PoolState.maxRecent + 2 && second.leadID == "l1")
        let release = try EventDecoder.decode(AssignmentCommand.self, from: loop.commands.last?.value ?? [], expectedType: TopicCatalog.assignments).get().data
        #expect(release.kind == .release && release.leadID == "l1" && release.rep == second.owner)
        #expect(try loop.changes().filter { $0.to == .mql && $0.leadID == "l1" }.count == 1)
        #expect(loop.pool("inbound")?.members.map(\.open) == openBefore) // assigned and released again
        #expect(loop.leads.value(of: "l1")?.lifecycle.owner == "a")
    }

    @Test("outcomes for an MQL waiting for its owner wait too; a lead that closes frees its rep's slot")
    func heldOutcomesAndRelease() throws {
        let loop = Loop()
        // Send the lead-side input without delivering the command yet: do it by hand.
        let first = try loop.leads.process(Self.scored("l2", id: "s2")).messages
        let command = try #require(first.first { $0.topic == TopicCatalog.assignments })
        #expect(try loop.leads.process(Self.outcome("l2", .accepted, id: "o1")).messages.isEmpty) // held
        #expect(try loop.leads.process(Self.outcome("l2", .lost, id: "o2")).messages.isEmpty)
        try loop.feed(loop.consumed(command)) // the pool answers; the lead side publishes, then applies the held outcomes
        #expect(try loop.changes().map { "\($0.from?.rawValue ?? "-")>\($0.to.rawValue)" } == ["identified>mql", "mql>sal", "sal>lost"])
        #expect(try loop.changes().first?.owner == "a")
        #expect(loop.pool("inbound")?.members.first?.open == 0) // lost: released
        #expect(loop.pool("inbound")?.members.first?.assigned == 1)
    }

    @Test("an event's bytes do not depend on how scores, outcomes and pool answers interleave: the score it carries is the one that moved the stage")
    func interleavingFree() throws {
        /// The published events by id, whichever way they were produced.
        func run(_ order: [String]) throws -> [String: [UInt8]] {
            let loop = Loop()
            var byHand: [ProducerMessage] = []
            var command: ProducerMessage?
            for step in order {
                switch step {
                case "S1": // 80: an MQL through the pool
                    let out = try loop.leads.process(Self.scored("l9", total: 80, at: "2026-12-02T10:00:00Z", id: "s1")).messages
                    command = out.first { $0.topic == TopicCatalog.assignments }
                    byHand += out.filter { $0.topic != TopicCatalog.assignments }
                case "S2": byHand += try loop.leads.process(Self.scored("l9", total: 95, at: "2026-12-02T10:05:00Z", id: "s2")).messages
                case "S3": byHand += try loop.leads.process(Self.scored("l9", total: 70, at: "2026-12-02T10:10:00Z", id: "s3")).messages
                case "answer": try loop.feed(loop.consumed(try #require(command)))
                case "O1": try loop.feed(Self.outcome("l9", .accepted, id: "o1"))
                default: Issue.record("unknown step \(step)")
                }
            }
            var events: [String: [UInt8]] = [:]
            for m in byHand + loop.published {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(m.value ?? [])) as? [String: Any])
                events[try #require(object["id"] as? String)] = m.value ?? []
            }
            return events
        }
        let first = try run(["S1", "S2", "answer", "O1", "S3"])
        let second = try run(["S1", "answer", "S3", "O1", "S2"])
        let third = try run(["S1", "S2", "S3", "answer", "O1"])
        #expect(first.count == 5) // new>captured, captured>identified, identified>mql and its routing, mql>sal
        #expect(first == second && second == third)
        let mql = try #require(try run(["S1", "S2", "answer"]).values.compactMap {
            try? EventDecoder.decode(StageChanged.self, from: $0, expectedType: TopicCatalog.stageChanged).get().data
        }.first { $0.to == .mql })
        #expect(mql.score?.total == 80) // the score that made it an MQL, not the newer 95
    }

    @Test("nobody available: the fallback queue, the MQL published without an owner and routed to that queue")
    func fallbackQueue() throws {
        let loop = Loop()
        try loop.feed(Self.scored("t1", employees: 3, id: "t1"))
        try loop.feed(Self.scored("t2", employees: 3, id: "t2")) // solo is full (max_open 1)
        let mqls = try loop.changes().filter { $0.to == .mql }
        #expect(mqls.map(\.owner) == ["solo", nil])
        let queued = try #require(try loop.routed().last)
        #expect(queued.queue == "unassigned" && queued.owner == nil && queued.pool == "tiny")
        #expect(queued.reason.hasSuffix("pool tiny: nobody available (solo at capacity); queue unassigned"))
    }

    @Test("SLA with an injected clock: a reminder at the deadline, then reassignment to another rep (mql → mql, reason says so); acceptance in time stops it; a decayed MQL goes back to nurture")
    func sla() throws {
        let start = Timestamp.milliseconds("2026-12-02T10:00:00Z")!
        let clock = ManualClock(start)
        let loop = Loop(clock: clock)
        try loop.feed(Self.scored("slow", id: "s-slow"))      // → a
        try loop.feed(Self.scored("quick", id: "s-quick"))    // → b
        try loop.feed(Self.scored("fading", id: "s-fading"))  // → c
        #expect(try loop.changes().filter { $0.to == .mql }.map(\.owner) == ["a", "b", "c"])
        try loop.feed(Self.outcome("quick", .accepted, id: "acc", at: "2026-12-02T10:20:00Z"))
        let sal = try #require(try loop.changes().last)
        #expect(sal.to == .sal && sal.secondsToAccept == 1200)
        try loop.feed(Self.scored("fading", total: 40, at: "2026-12-02T10:30:00Z", id: "s-fading-2")) // below the MQL bar now

        clock.set(start + 59 * 60_000)
        try loop.fireTimers()
        #expect(try loop.routed().filter { $0.queue == "sla-reminder" }.isEmpty) // not due yet
        clock.set(start + 60 * 60_000)
        try loop.fireTimers()
        let reminders = try loop.routed().filter { $0.queue == "sla-reminder" }
        #expect(reminders.map(\.owner) == ["a", "c"]) // quick was accepted
        #expect(reminders.first?.reason == "SLA breached: not accepted within 60 min of working time (pool inbound)")

        clock.set(start + 120 * 60_000)
        try loop.fireTimers()
        let changes = try loop.changes()
        let reassigned = try #require(changes.last { $0.leadID == "slow" })
        #expect(reassigned.from == .mql && reassigned.to == .mql && reassigned.owner != "a" && reassigned.owner != nil)
        #expect(reassigned.reason.hasPrefix("SLA breached: reassigned from a to \(reassigned.owner!)"), "\(reassigned.reason)")
        let faded = try #require(changes.last { $0.leadID == "fading" })
        #expect(faded.from == .mql && faded.to == .nurture && faded.reason.hasPrefix("score decayed"))
        // The pool's counts: a and c released, the new owner holds slow; b holds quick.
        let open = Dictionary(uniqueKeysWithValues: (loop.pool("inbound")?.members ?? []).map { ($0.rep, $0.open) })
        #expect(open["a"] == 0 && open["c"] == 0 && open["b"]! + open["d"]! == 2)
        // The new owner's own SLA runs from the reassignment: nothing more fires at once.
        let before = loop.published.count
        try loop.fireTimers()
        #expect(loop.published.count == before)
    }

    @Test("a lost lead returns to nurture after recycle.lost_after_days (a durable timer), releasing nothing twice")
    func lostRecycles() throws {
        let start = Timestamp.milliseconds("2026-12-02T10:00:00Z")!
        let clock = ManualClock(start)
        let loop = Loop(clock: clock)
        try loop.feed(Self.scored("gone", id: "s-gone"))
        try loop.feed(Self.outcome("gone", .accepted, id: "g1", at: "2026-12-02T10:10:00Z"))
        try loop.feed(Self.outcome("gone", .lost, id: "g2", at: "2026-12-02T11:00:00Z"))
        #expect(loop.pool("inbound")?.members.first?.open == 0)
        clock.set(Timestamp.milliseconds("2027-03-02T10:59:00Z")!) // 89 days and 23 h 59 min later
        try loop.fireTimers()
        #expect(try loop.changes().last?.to == .lost)
        clock.set(Timestamp.milliseconds("2027-03-02T11:00:00Z")!) // 90 days
        try loop.fireTimers()
        let back = try #require(try loop.changes().last)
        #expect(back.from == .lost && back.to == .nurture && back.reason == "recycled: lost 90 days ago, back to nurture")
        #expect(back.occurredAt == "2027-03-02T11:00:00.000Z")
        #expect(try loop.routed().last?.queue == "nurture") // follow-up enrols it again
        #expect(loop.commands.filter { $0.value.map { String(decoding: $0, as: UTF8.self).contains("\"release\"") } ?? false }.count == 1)
    }

    @Test("hot: the owner is alerted at once (an owner-alert routing next to the sales one)")
    func hotAlert() throws {
        let loop = Loop()
        try loop.feed(Self.scored("big", employees: 9000, id: "s-big"))
        let routed = try loop.routed()
        #expect(routed.map(\.queue) == ["sales", "owner-alert"])
        #expect(routed.allSatisfy { $0.owner == "a" && $0.priority == "hot" && $0.rule == "hot" })
    }

    @Test("funnel reps pause: the rep gets nothing until resumed, then its share")
    func pause() throws {
        let loop = Loop()
        func control(_ paused: Bool) -> ConsumerMessage {
            let c = RepControl(pool: "inbound", rep: "b", paused: paused, at: "2026-12-02T09:00:00Z")
            let event = CloudEvent(id: EventID.random(), source: "funnel-reps", type: TopicCatalog.reps, time: c.at, subject: c.key, data: c)
            return ConsumerMessage(topic: TopicCatalog.reps, partition: 0, offset: 0, key: Array(c.key.utf8), value: EventCoding.encode(event))
        }
        try loop.feed(control(true))
        for i in 0..<30 { try loop.feed(Self.scored("p\(i)", id: "p\(i)")) }
        try loop.feed(control(false))
        for i in 30..<70 { try loop.feed(Self.scored("p\(i)", id: "p\(i)")) }
        let owners = try loop.changes().filter { $0.to == .mql }.map { $0.owner ?? "-" }
        #expect(!owners.prefix(30).contains("b"))
        #expect(Dictionary(grouping: owners.prefix(30), by: { $0 }).mapValues(\.count) == ["a": 10, "c": 10, "d": 10])
        #expect(Dictionary(grouping: owners.dropFirst(30), by: { $0 }).mapValues(\.count) == ["a": 10, "b": 10, "c": 10, "d": 10])
    }
}
