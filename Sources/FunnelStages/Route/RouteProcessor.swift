import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-route's lead side: scored + outcome + pool answers → stage-changed + routed (and
/// assignment commands to the pools), per-lead lifecycle in the table `funnel.route.leads.v1`
/// (see ``KeyedProcessor`` for what the runtime does around it).
///
/// - An MQL whose routing rule names a pool asks that pool (``AssignmentCommand``, keyed by
///   pool, handled by ``PoolProcessor`` on whichever replica owns the pool) and publishes its
///   MQL transition when the answer (keyed by lead) comes back, with the owner. Meanwhile the
///   lead's outcomes wait in its state. A lead that closes (customer, lost, nurture,
///   disqualified) releases its owner's open-lead slot in the pool.
/// - An answer that is not the one the lead waits for (a duplicate: the pool saw a request twice)
///   is handed back at once with a release, so no lead is owned twice and the counts stay true.
/// - An erase request (`funnel.lead.erased.v1`) deletes the lead's state and frees its slot.
/// - The decisions are the pure ``LifecycleRouter``'s; this type only keeps state and builds events.
/// - Output ids derive from the cause's id and times are the cause's event time, so a
///   re-processed input yields the same bytes; re-delivered inputs (recent ids are in the
///   state) change nothing.
/// - An outcome for a lead the router has not seen yet (sales can be faster than scoring after
///   a restart) is held in the lead's state with a durable timer; it is applied when the lead
///   arrives, or dead-lettered when the timer fires (`pendingOutcomeWait` after its broker time).
public struct RouteProcessor: KeyedProcessor {
    public typealias Value = RouteLeadState
    public static let service = "funnel-route"
    public static let changelogTopic = TopicCatalog.changelog(service: "route", store: "leads")

    public let router: LifecycleRouter
    public let table = TableDefinition(service: "route", store: "leads",
                                       inputs: [TopicCatalog.scored, TopicCatalog.outcome, TopicCatalog.assigned, TopicCatalog.erased])
    /// How long an outcome waits for its lead (ms) before it is dead-lettered.
    public let pendingOutcomeWait: Int64
    /// Told every stage change this processor publishes (`from` nil for a new lead): for
    /// metrics only, never for decisions.
    let observe: @Sendable (_ from: Stage?, _ to: Stage) -> Void

    public init(router: LifecycleRouter, pendingOutcomeWait: Int64 = 7 * 86_400_000,
                observe: @escaping @Sendable (_ from: Stage?, _ to: Stage) -> Void = { _, _ in }) {
        self.router = router
        self.pendingOutcomeWait = pendingOutcomeWait
        self.observe = observe
    }

    public func encode(_ value: RouteLeadState) -> [UInt8] { value.encoded() }
    public func decode(_ bytes: ArraySlice<UInt8>) throws -> RouteLeadState { try RouteLeadState(decoding: bytes) }

    public func process(_ message: ConsumerMessage, in partition: TablePartition<RouteLeadState>) throws(StageFailure) -> [ProducerMessage] {
        if message.topic == TopicCatalog.scored {
            let event = try StageIO.decode(LeadScored.self, message)
            var lead = partition.value(of: event.subject) ?? RouteLeadState()
            guard lead.markSeen(event.id) else { return [] } // re-delivered: nothing changes
            let transitions = router.apply(event.data, to: &lead.lifecycle)
            var outputs = events(transitions, lead: &lead, leadID: event.subject, cause: event.id, time: event.data.scoredAt)
            let applied = lead.acceptsOutcomes ? applyPending(&lead, leadID: event.subject) : (held: [], outputs: [], recycleTimers: [])
            partition.update(event.subject) { $0 = lead }
            for held in applied.held { partition.cancel(held.timerID, for: event.subject) }
            for t in applied.recycleTimers { partition.schedule(t.id, for: event.subject, at: t.due) }
            outputs += applied.outputs
            return outputs
        }
        if message.topic == TopicCatalog.assigned {
            return try answer(StageIO.decode(AssignmentAnswer.self, message), in: partition)
        }
        if message.topic == TopicCatalog.erased {
            return erase(try StageIO.decode(LeadErased.self, message), in: partition)
        }
        let event = try StageIO.decode(LeadOutcome.self, message)
        var lead = partition.value(of: event.subject) ?? RouteLeadState()
        if lead.acceptsOutcomes {
            guard lead.markSeen(event.id) else { return [] }
            // Never dropped silently: an outcome that does not fit is a dead letter with the reason.
            if let unfit = router.unfit(event.data, lead.lifecycle) { throw StageFailure(field: "data.outcome", reason: unfit) }
            let transitions = router.apply(event.data, to: &lead.lifecycle)
            let outputs = events(transitions, lead: &lead, leadID: event.subject, cause: event.id, time: event.data.occurredAt)
            partition.update(event.subject) { $0 = lead }
            scheduleRecycle(transitions, lead: lead, leadID: event.subject, cause: event.id, time: event.data.occurredAt, in: partition)
            return outputs
        }
        // Not seen yet (or its MQL waits for the pool): hold it (once) until the lead can take it.
        guard !lead.pending.contains(where: { $0.eventID == event.id }) else { return [] }
        guard lead.pending.count < RouteLeadState.maxPending else {
            throw StageFailure(field: "data.lead_id", reason: "more than \(RouteLeadState.maxPending) outcomes wait for lead \(event.subject), which this router has not seen")
        }
        let held = PendingOutcome(eventID: event.id, topic: message.topic, partition: message.partition, offset: message.offset,
                                  timestamp: message.timestampMilliseconds, key: message.key ?? [], value: message.value ?? [])
        lead.pending.append(held)
        partition.update(event.subject) { $0 = lead }
        partition.schedule(held.timerID, for: event.subject, at: max(0, held.timestamp) + pendingOutcomeWait)
        return []
    }

    /// A pool's answer: publishes the waiting MQL transition with the owner (or the fallback
    /// queue), then the outcomes that waited for it. Any other answer is handed back.
    private func answer(_ event: CloudEvent<AssignmentAnswer>, in partition: TablePartition<RouteLeadState>) -> [ProducerMessage] {
        let answer = event.data, leadID = event.subject
        var lead = partition.value(of: leadID) ?? RouteLeadState()
        guard lead.markSeen(event.id) else { return [] }
        guard let waiting = lead.lifecycle.assignment, waiting.requestID == answer.requestID else {
            partition.update(leadID) { $0 = lead }
            guard let rep = answer.owner else { return [] }
            // Not the answer this lead waits for (the pool assigned it twice): give the slot back.
            return [command(AssignmentCommand(kind: .release, pool: answer.pool, leadID: leadID, requestID: answer.requestID,
                                              rep: rep, at: answer.at), cause: event.id, purpose: "release-duplicate")]
        }
        lead.lifecycle.assignment = nil
        lead.lifecycle.owner = answer.owner
        lead.lifecycle.pool = answer.owner != nil ? answer.pool : nil
        lead.lifecycle.requestID = answer.requestID
        lead.lifecycle.slaStep = 0
        let reason = waiting.exclude == nil ? waiting.reason + "; " + answer.reason // "score 72 >= 60 (hot); pool inbound: rep-b (round robin)"
            : waiting.reason + " to " + (answer.owner ?? "queue \(answer.queue ?? "-")") + "; " + answer.reason // SLA reassignment
        let transition = Transition(from: waiting.from, to: .mql, reason: reason)
        // The SLA clock starts with the assignment (event time), in the owner's working hours.
        if let owner = answer.owner, let at = Timestamp.milliseconds(answer.at) {
            lead.lifecycle.assignedAt = at
            if let due = slaDue(pool: answer.pool, owner: owner, from: at, step: 0) {
                partition.schedule(Self.slaTimer(answer.requestID), for: leadID, at: due)
            }
        }
        var outputs = events([transition], lead: &lead, leadID: leadID, cause: event.id, time: answer.at, queue: answer.queue, pool: answer.pool)
        let applied = applyPending(&lead, leadID: leadID)
        partition.update(leadID) { $0 = lead }
        for held in applied.held { partition.cancel(held.timerID, for: leadID) }
        for t in applied.recycleTimers { partition.schedule(t.id, for: leadID, at: t.due) }
        outputs += applied.outputs
        return outputs
    }

    /// GDPR erasure: the lead's lifecycle, held outcomes and timers are deleted (a deletion
    /// marker in the changelog); an owner's open-lead slot goes back to the pool. A pool answer
    /// still on its way is handed back when it comes (the lead waits for none any more).
    private func erase(_ event: CloudEvent<LeadErased>, in partition: TablePartition<RouteLeadState>) -> [ProducerMessage] {
        let leadID = event.subject
        guard let lead = partition.value(of: leadID) else {
            partition.erase(leadID) // timers only, or nothing: the marker is written either way
            return []
        }
        var outputs: [ProducerMessage] = []
        if let pool = lead.lifecycle.pool, let rep = lead.lifecycle.owner {
            outputs.append(command(AssignmentCommand(kind: .release, pool: pool, leadID: leadID, requestID: EventID.derive(event.id, "release"),
                                                     rep: rep, at: event.data.requestedAt), cause: event.id, purpose: "erase-release"))
        }
        partition.erase(leadID)
        return outputs
    }

    static func slaTimer(_ requestID: String) -> String { "sla:" + requestID }

    /// When the SLA step `step` of an assignment at `from` is due: the pool's `sla_minutes` of
    /// the owner's working time after it (step 0: the reminder), and as many again (step 1: the
    /// reassignment). Nil for a pool without an SLA.
    func slaDue(pool: String, owner: String, from: Int64, step: Int) -> Int64? {
        guard let config = router.routing.pools[pool], let minutes = config.slaMinutes else { return nil }
        let hours = config.members.first { $0.rep == owner }?.hours
        return hours?.adding(minutes: minutes * (step + 1), to: from) ?? from + Int64(minutes * (step + 1)) * 60_000
    }

    /// Timers: an outcome's wait for its lead, an assignment's SLA, a lost lead's recycling.
    public func fire(_ timer: FiredTimer, in partition: TablePartition<RouteLeadState>) -> [ProducerMessage] {
        if timer.id.hasPrefix("sla:") { return sla(timer, in: partition) }
        if timer.id.hasPrefix("recycle:") { return recycle(timer, in: partition) }
        return pendingOutcomeExpired(timer, in: partition)
    }

    /// A lead that went to `lost` comes back to nurture after `recycle.lost_after_days`.
    private func scheduleRecycle(_ transitions: [Transition], lead: RouteLeadState, leadID: String, cause: String, time: String,
                                 in partition: TablePartition<RouteLeadState>) {
        guard transitions.contains(where: { $0.to == .lost }), let at = Timestamp.milliseconds(time) else { return }
        partition.schedule("recycle:" + cause, for: leadID, at: at + Int64(router.routing.recycle.lostAfterDays) * 86_400_000)
    }

    private func recycle(_ timer: FiredTimer, in partition: TablePartition<RouteLeadState>) -> [ProducerMessage] {
        guard var lead = partition.value(of: timer.key), lead.lifecycle.stage == .lost else { return [] }
        let days = router.routing.recycle.lostAfterDays
        let transition = Transition(from: .lost, to: .nurture, reason: "recycled: lost \(days) days ago, back to nurture")
        lead.lifecycle.stage = .nurture
        lead.lifecycle.recycledAtScore = lead.lifecycle.score?.total
        let outputs = events([transition], lead: &lead, leadID: timer.key, cause: timer.eventID, time: Timestamp.format(milliseconds: timer.due))
        partition.update(timer.key) { $0 = lead }
        return outputs
    }

    /// An assignment's SLA ran out without `accepted`: first a reminder to the owner; at the
    /// second deadline the lead goes back to nurture if its score decayed, else to the next
    /// available member of the pool (a stage change `mql → mql`, reason `SLA breached:
    /// reassigned from rep-a to rep-b`). A lead that moved on (accepted, closed, reassigned)
    /// ignores the timer.
    private func sla(_ timer: FiredTimer, in partition: TablePartition<RouteLeadState>) -> [ProducerMessage] {
        guard var lead = partition.value(of: timer.key), lead.lifecycle.stage == .mql, lead.lifecycle.assignment == nil,
              let owner = lead.lifecycle.owner, let pool = lead.lifecycle.pool, let requestID = lead.lifecycle.requestID,
              Self.slaTimer(requestID) == timer.id, let minutes = router.routing.pools[pool]?.slaMinutes else { return [] }
        let leadID = timer.key, time = Timestamp.format(milliseconds: timer.due), cause = timer.eventID
        var outputs: [ProducerMessage] = []
        if lead.lifecycle.slaStep == 0 {
            lead.lifecycle.slaStep = 1
            var reminder = LeadRouted(leadID: leadID, stage: .mql, owner: owner, queue: "sla-reminder",
                                      reason: "SLA breached: not accepted within \(minutes) min of working time (pool \(pool))",
                                      score: lead.lifecycle.stageScore, routedAt: time)
            reminder.routingVersion = router.routing.version
            reminder.pool = pool
            reminder.rule = lead.lifecycle.rule
            reminder.priority = lead.lifecycle.priority?.rawValue
            outputs.append(StageIO.output(reminder, topic: TopicCatalog.routed, leadID: leadID, from: cause, purpose: "sla-reminder",
                                          source: Self.service, time: time))
            if let assigned = lead.lifecycle.assignedAt, let due = slaDue(pool: pool, owner: owner, from: assigned, step: 1) {
                partition.schedule(timer.id, for: leadID, at: max(due, timer.due + 1))
            }
        } else if lead.lifecycle.decayed {
            let transition = Transition(from: .mql, to: .nurture, reason: "score decayed: not accepted within the SLA (\(minutes) min, pool \(pool))")
            lead.lifecycle.stage = .nurture
            outputs += events([transition], lead: &lead, leadID: leadID, cause: cause, time: time)
        } else {
            // Reassign: release the owner's slot, ask the pool for someone else.
            let request = EventID.derive(cause, "reassign")
            lead.lifecycle.assignment = PendingAssignment(requestID: request, pool: pool, from: .mql,
                                                          reason: "SLA breached: reassigned from \(owner)", exclude: owner)
            outputs.append(command(AssignmentCommand(kind: .release, pool: pool, leadID: leadID, requestID: requestID, rep: owner, at: time),
                                   cause: cause, purpose: "sla-release"))
            outputs.append(command(AssignmentCommand(kind: .assign, pool: pool, leadID: leadID, requestID: request, at: time,
                                                     priority: lead.lifecycle.priority, rule: lead.lifecycle.rule, exclude: owner),
                                   cause: cause, purpose: "assign"))
            lead.lifecycle.pool = nil
        }
        partition.update(leadID) { $0 = lead }
        return outputs
    }

    /// A pending outcome's wait is over and its lead never came: its dead letter, the same one
    /// (id, bytes) an immediate rejection of that message would have produced.
    private func pendingOutcomeExpired(_ timer: FiredTimer, in partition: TablePartition<RouteLeadState>) -> [ProducerMessage] {
        partition.update(timer.key) { state -> [ProducerMessage] in
            guard var lead = state, let index = lead.pending.firstIndex(where: { $0.timerID == timer.id }) else { return [] }
            let held = lead.pending.remove(at: index)
            state = lead
            let original = ConsumerMessage(topic: held.topic, partition: held.partition, offset: held.offset, key: held.key,
                                           value: held.value, timestampMilliseconds: held.timestamp)
            let days = Double(pendingOutcomeWait) / 86_400_000
            let failure = StageFailure(field: "data.lead_id", reason: "outcome for a lead this router has not seen within \(days.formatted()) days (FUNNEL_ROUTE_PENDING_OUTCOME_HOURS)")
            return [StageIO.deadLetter(original, stage: Self.service, failure: failure)]
        }
    }

    /// Applies the outcomes that waited for this lead, in arrival order (their timers are the
    /// caller's to cancel).
    private func applyPending(_ lead: inout RouteLeadState, leadID: String)
        -> (held: [PendingOutcome], outputs: [ProducerMessage], recycleTimers: [(id: String, due: Int64)]) {
        var outputs: [ProducerMessage] = []
        var recycleTimers: [(id: String, due: Int64)] = []
        let held = lead.pending
        for held in held {
            let message = ConsumerMessage(topic: held.topic, partition: held.partition, offset: held.offset, key: held.key, value: held.value)
            // It was decoded when it arrived; the same bytes decode again.
            guard let event = try? StageIO.decode(LeadOutcome.self, message), lead.markSeen(event.id) else { continue }
            if let unfit = router.unfit(event.data, lead.lifecycle) {
                outputs.append(StageIO.deadLetter(ConsumerMessage(topic: held.topic, partition: held.partition, offset: held.offset, key: held.key,
                                                                  value: held.value, timestampMilliseconds: held.timestamp),
                                                  stage: Self.service, failure: StageFailure(field: "data.outcome", reason: unfit)))
                continue
            }
            let transitions = router.apply(event.data, to: &lead.lifecycle)
            outputs += events(transitions, lead: &lead, leadID: leadID, cause: event.id, time: event.data.occurredAt)
            if transitions.contains(where: { $0.to == .lost }), let at = Timestamp.milliseconds(event.data.occurredAt) {
                recycleTimers.append(("recycle:" + event.id, at + Int64(router.routing.recycle.lostAfterDays) * 86_400_000))
            }
        }
        lead.pending = []
        return (held, outputs, recycleTimers)
    }

    /// The events of `transitions`: stage changes and routings; an assignment request for a
    /// transition that waits for its pool (recorded in the lead); a release when the lead
    /// closes for a pool's rep.
    private func events(_ transitions: [Transition], lead: inout RouteLeadState, leadID: String, cause: String, time: String,
                        queue: String? = nil, pool: String? = nil) -> [ProducerMessage] {
        var outputs: [ProducerMessage] = []
        var published: [Transition] = []
        for t in transitions {
            if let pool = t.awaitsPool {
                let requestID = EventID.derive(cause, "assign")
                lead.lifecycle.assignment = PendingAssignment(requestID: requestID, pool: pool, from: t.from, reason: t.reason)
                outputs.append(command(AssignmentCommand(kind: .assign, pool: pool, leadID: leadID, requestID: requestID, at: time,
                                                         priority: lead.lifecycle.priority, rule: lead.lifecycle.rule),
                                       cause: cause, purpose: "assign"))
            } else {
                published.append(t)
            }
        }
        for (index, decision) in router.decisions(published, lead: lead.lifecycle, leadID: leadID, at: time, queue: queue).enumerated() {
            outputs.append(StageIO.output(decision.changed, topic: TopicCatalog.stageChanged, leadID: leadID, from: cause,
                                          purpose: "stage-changed-\(index)", source: Self.service, time: time))
            observe(decision.changed.from, decision.changed.to)
            if var routed = decision.routed {
                if routed.pool == nil, let pool { routed.pool = pool }
                outputs.append(StageIO.output(routed, topic: TopicCatalog.routed, leadID: leadID, from: cause,
                                              purpose: "routed-\(index)", source: Self.service, time: time))
                // Hot: the owner is alerted at once (funnel-followup e-mails the rep).
                if routed.stage == .mql, lead.lifecycle.priority == .hot, let owner = routed.owner {
                    routed.queue = "owner-alert"
                    routed.reason = "hot lead for \(owner): " + routed.reason
                    outputs.append(StageIO.output(routed, topic: TopicCatalog.routed, leadID: leadID, from: cause,
                                                  purpose: "owner-alert-\(index)", source: Self.service, time: time))
                }
            }
        }
        if published.contains(where: { LifecycleRouter.closesOwnership($0.to) }), let pool = lead.lifecycle.pool, let rep = lead.lifecycle.owner {
            outputs.append(command(AssignmentCommand(kind: .release, pool: pool, leadID: leadID, requestID: EventID.derive(cause, "release"),
                                                     rep: rep, at: time), cause: cause, purpose: "release"))
            lead.lifecycle.pool = nil
        }
        return outputs
    }

    /// An assignment command, keyed by its pool (so the pool's owner gets it).
    private func command(_ c: AssignmentCommand, cause: String, purpose: String) -> ProducerMessage {
        let event = CloudEvent(id: purpose == "assign" ? c.requestID : EventID.derive(cause, purpose), source: Self.service,
                               type: TopicCatalog.assignments, time: c.at, subject: c.leadID, data: c)
        return ProducerMessage(topic: TopicCatalog.assignments, key: c.pool, value: EventCoding.encode(event))
    }
}
