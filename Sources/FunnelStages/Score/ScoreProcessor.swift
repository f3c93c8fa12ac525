import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Logging

/// funnel-score's processor: enriched + activity → scored, per-lead state in the table
/// `funnel.score.leads.v1` (see ``KeyedProcessor`` for what the runtime does around it).
///
/// - Scores use event time, never the wall clock, and a scored event's id derives from its
///   input's id *and its content*: a lead's score after an input depends on which of its other
///   events (on the other input topic) were read before it, so a replay after a crash may see
///   another interleaving — it then emits another id, never the same id with other bytes.
/// - Re-delivered inputs (recent event ids are part of the state) change nothing.
/// - An erase request (`funnel.lead.erased.v1`) deletes the lead's state.
/// - The stream-time punctuation is the sweep: when a partition's event time crosses a
///   multiple of `sweep_interval_hours`, leads whose bands changed only because time passed
///   are re-emitted.
public struct ScoreProcessor: KeyedProcessor {
    public typealias Value = LeadScoreState
    public static let changelogTopic = TopicCatalog.changelog(service: "score", store: "leads")

    public let scorer: Scorer
    public let table: TableDefinition
    let logger: Logger

    public init(scorer: Scorer, logger: Logger) {
        self.scorer = scorer
        self.logger = logger
        table = TableDefinition(service: "score", store: "leads", inputs: [TopicCatalog.enriched, TopicCatalog.activity, TopicCatalog.erased],
                                punctuationInterval: Int64(scorer.model.sweepIntervalHours * 3_600_000))
    }

    public func encode(_ value: LeadScoreState) -> [UInt8] { value.encoded() }
    public func decode(_ bytes: ArraySlice<UInt8>) throws -> LeadScoreState { try LeadScoreState(decoding: bytes) }
    public func streamTime(of value: LeadScoreState) -> Int64? { value.lastEventTime }

    public func process(_ message: ConsumerMessage, in partition: TablePartition<LeadScoreState>) throws(StageFailure) -> [ProducerMessage] {
        if message.topic == TopicCatalog.erased {
            // GDPR erasure: the lead's facts, activities and score are forgotten (deletion marker in the changelog).
            partition.erase(try StageIO.decode(LeadErased.self, message).subject)
            return []
        }
        let input = try Self.input(message)
        partition.advanceStreamTime(to: input.time)
        return partition.modify(input.leadID) { state -> [ProducerMessage] in
            if state == nil { state = LeadScoreState() }
            guard state!.markSeen(input.eventID) else { return [] } // re-delivered: nothing changes
            switch input.change {
            case .profile(let facts): state!.apply(profile: facts)
            case .activity(let record): state!.apply(activity: record)
            }
            let scored = scorer.score(&state!, leadID: input.leadID)
            partition.markChanged(input.leadID)
            return [StageIO.contentAddressedOutput(scored, topic: TopicCatalog.scored, leadID: input.leadID,
                                                   deriving: [input.eventID, "scored"], source: "funnel-score", time: scored.scoredAt)]
        }
    }

    /// The sweep: re-emits the leads whose bands at `boundary` differ from what was last emitted
    /// (decay, windows closing).
    public func punctuate(_ partition: TablePartition<LeadScoreState>, at boundary: Int64) -> [ProducerMessage] {
        var due: [String] = []
        partition.forEach { leadID, state in
            if state.lastEventTime < boundary, state.emitted != nil, scorer.bands(state, at: boundary) != state.emitted { due.append(leadID) }
        }
        var outputs: [ProducerMessage] = []
        for leadID in due {
            partition.update(leadID) { state in
                let scored = scorer.score(&state!, leadID: leadID, at: boundary)
                outputs.append(StageIO.contentAddressedOutput(scored, topic: TopicCatalog.scored, leadID: leadID,
                                                              deriving: [leadID, "sweep", String(boundary)],
                                                              source: "funnel-score", time: scored.scoredAt))
            }
        }
        if !due.isEmpty {
            logger.info("sweep re-emitted leads whose bands changed with time",
                        metadata: ["partition": "\(partition.number)", "at": "\(Timestamp.format(milliseconds: boundary))", "leads": "\(due.count)"])
        }
        return outputs
    }

    private struct Input {
        enum Change { case profile(ProfileFacts), activity(ActivityRecord) }
        var leadID: String
        var eventID: String
        var time: Int64
        var change: Change
    }

    private static func input(_ message: ConsumerMessage) throws(StageFailure) -> Input {
        if message.topic == TopicCatalog.enriched {
            let event = try StageIO.decode(LeadEnriched.self, message)
            guard let time = Timestamp.milliseconds(event.data.enrichedAt) else { throw StageFailure(field: "enriched_at", reason: "not a date-time") }
            return Input(leadID: event.subject, eventID: event.id, time: time, change: .profile(ProfileFacts(event.data, time: time, eventID: event.id)))
        }
        let event = try StageIO.decode(LeadActivity.self, message)
        guard let time = Timestamp.milliseconds(event.data.occurredAt) else { throw StageFailure(field: "occurred_at", reason: "not a date-time") }
        let duration = event.data.attributes?["duration_seconds"].flatMap { Int32($0) } ?? 0
        return Input(leadID: event.subject, eventID: event.id, time: time,
                     change: .activity(ActivityRecord(type: event.data.type, time: time, durationSeconds: duration,
                                                      idHash: LeadScoreState.hash(event.id))))
    }
}
