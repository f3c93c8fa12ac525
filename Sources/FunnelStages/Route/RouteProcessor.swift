import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-route's processor: scored + outcome → stage-changed + routed, per-lead lifecycle in
/// the table `funnel.route.leads.v1` (see ``KeyedProcessor`` for what the runtime does around it).
///
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
    public let table = TableDefinition(service: "route", store: "leads", inputs: [TopicCatalog.scored, TopicCatalog.outcome])
    /// How long an outcome waits for its lead (ms) before it is dead-lettered.
    public let pendingOutcomeWait: Int64

    public init(router: LifecycleRouter, pendingOutcomeWait: Int64 = 7 * 86_400_000) {
        self.router = router
        self.pendingOutcomeWait = pendingOutcomeWait
    }

    public func encode(_ value: RouteLeadState) -> [UInt8] { value.encoded() }
    public func decode(_ bytes: ArraySlice<UInt8>) throws -> RouteLeadState { try RouteLeadState(decoding: bytes) }

    public func process(_ message: ConsumerMessage, in partition: TablePartition<RouteLeadState>) throws(StageFailure) -> [ProducerMessage] {
        if message.topic == TopicCatalog.scored {
            let event = try StageIO.decode(LeadScored.self, message)
            var lead = partition.value(of: event.subject) ?? RouteLeadState()
            guard lead.markSeen(event.id) else { return [] } // re-delivered: nothing changes
            let transitions = router.apply(event.data, to: &lead.lifecycle)
            var outputs = events(transitions, lead: lead, leadID: event.subject, cause: event.id, time: event.data.scoredAt)
            let applied = lead.isKnown ? applyPending(&lead, leadID: event.subject) : (held: [], outputs: [])
            partition.update(event.subject) { $0 = lead }
            for held in applied.held { partition.cancel(held.timerID, for: event.subject) }
            outputs += applied.outputs
            return outputs
        }
        let event = try StageIO.decode(LeadOutcome.self, message)
        var lead = partition.value(of: event.subject) ?? RouteLeadState()
        if lead.isKnown {
            guard lead.markSeen(event.id) else { return [] }
            let transitions = router.apply(event.data, to: &lead.lifecycle)
            partition.update(event.subject) { $0 = lead }
            return events(transitions, lead: lead, leadID: event.subject, cause: event.id, time: event.data.occurredAt)
        }
        // Not seen yet: hold it (once) until the lead arrives or the wait ends.
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

    /// A pending outcome's wait is over and its lead never came: its dead letter, the same one
    /// (id, bytes) an immediate rejection of that message would have produced.
    public func fire(_ timer: FiredTimer, in partition: TablePartition<RouteLeadState>) -> [ProducerMessage] {
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
    private func applyPending(_ lead: inout RouteLeadState, leadID: String) -> (held: [PendingOutcome], outputs: [ProducerMessage]) {
        var outputs: [ProducerMessage] = []
        let held = lead.pending
        for held in held {
            let message = ConsumerMessage(topic: held.topic, partition: held.partition, offset: held.offset, key: held.key, value: held.value)
            // It was decoded when it arrived; the same bytes decode again.
            guard let event = try? StageIO.decode(LeadOutcome.self, message), lead.markSeen(event.id) else { continue }
            let transitions = router.apply(event.data, to: &lead.lifecycle)
            outputs += events(transitions, lead: lead, leadID: leadID, cause: event.id, time: event.data.occurredAt)
        }
        lead.pending = []
        return (held, outputs)
    }

    private func events(_ transitions: [Transition], lead: RouteLeadState, leadID: String, cause: String, time: String) -> [ProducerMessage] {
        var outputs: [ProducerMessage] = []
        for (index, decision) in router.decisions(transitions, lead: lead.lifecycle, leadID: leadID, at: time).enumerated() {
            outputs.append(StageIO.output(decision.changed, topic: TopicCatalog.stageChanged, leadID: leadID, from: cause,
                                          purpose: "stage-changed-\(index)", source: Self.service, time: time))
            if let routed = decision.routed {
                outputs.append(StageIO.output(routed, topic: TopicCatalog.routed, leadID: leadID, from: cause,
                                              purpose: "routed-\(index)", source: Self.service, time: time))
            }
        }
        return outputs
    }
}
