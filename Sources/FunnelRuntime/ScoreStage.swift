import FunnelDomain
import FunnelKafka
import Logging
import Synchronization

/// funnel-score's processor: per-lead state in a store partitioned like the input topics and
/// backed by the compacted changelog `funnel.score.leads.v1` (a goka "group table").
///
/// - On assignment it restores exactly the assigned partitions from the changelog (reading
///   them to the end) before any of their inputs is processed; on revoke it drops them.
/// - Partition p of both input topics (enriched, activity) shares store partition p, so the
///   consumer uses the `range` assignor, which keeps equal partition numbers together.
/// - A lead's changelog record is written once per checkpoint however many of its inputs
///   arrived since the previous one (``checkpoint()``), only after the scored events of those
///   inputs were acknowledged; the input offsets are stored only after both (see the runner's
///   `Checkpoints`): a restored store is never ahead of the outputs, and re-processing an input
///   the store does not know reproduces the same output (ids derive from input ids; scores use
///   event time, never the wall clock).
/// - Re-delivered inputs (recent event ids are part of the state) change nothing.
/// - Each partition's event-time watermark drives a sweep: when it crosses a multiple of
///   `sweep_interval_hours`, leads whose bands changed only because time passed are re-emitted.
public final class ScoreStage: StageProcessor, Sendable {
    public static let changelogTopic = TopicCatalog.changelog(service: "score", store: "leads")
    public static let consumerProperties = ["partition.assignment.strategy": "range"]

    let scorer: Scorer
    let logger: Logger
    let restore: @Sendable ([Int32]) -> [Int32: [String: LeadScoreState]]
    private let store = Mutex<[Int32: PartitionStore]>([:])

    /// A class, so updating one lead never copies the partition's dictionary.
    final class PartitionStore {
        var leads: [String: LeadScoreState]
        /// The newest event time seen on this partition (ms).
        var watermark: Int64 = 0
        /// Leads whose state changed since the last checkpoint.
        var changed: Set<String> = []
        init(leads: [String: LeadScoreState]) { self.leads = leads }
    }

    /// - Parameter restore: reads the changelog partitions (``restoreFromChangelog(configuration:logger:)``).
    public init(scorer: Scorer, logger: Logger, restore: @escaping @Sendable ([Int32]) -> [Int32: [String: LeadScoreState]]) {
        self.scorer = scorer
        self.logger = logger
        self.restore = restore
    }

    /// A restore function reading `funnel.score.leads.v1` from the cluster.
    public static func restoreFromChangelog(configuration: KafkaConfiguration, logger: Logger) -> @Sendable ([Int32]) -> [Int32: [String: LeadScoreState]] {
        { partitions in
            var result: [Int32: [String: LeadScoreState]] = [:]
            for p in partitions { result[p] = [:] }
            var bad = 0
            let started = ContinuousClock.now
            do {
                let count = try KafkaPartitionReader.readToEnd(
                    configuration: configuration,
                    partitions: partitions.map { TopicPartition(topic: changelogTopic, partition: $0) }) { message in
                    guard let key = message.keyString, let value = message.valueBytes else { return }
                    do {
                        result[message.partition, default: [:]][key] = try value.withUnsafeBytes { bytes throws(LeadScoreState.DecodingError) in
                            try LeadScoreState(decoding: bytes)
                        }
                    } catch { bad += 1 }
                }
                logger.info("state restored", metadata: [
                    "partitions": "\(partitions.sorted())", "records": "\(count)", "undecodable": "\(bad)",
                    "leads": "\(result.values.reduce(0) { $0 + $1.count })", "seconds": "\((ContinuousClock.now - started).seconds)"])
            } catch {
                // Without its state the stage would score from scratch: refuse, and let the
                // orchestrator restart the process.
                logger.critical("state restore failed; exiting", metadata: ["error": "\(error)"])
                fatalError("funnel-score: state restore failed: \(error)")
            }
            return result
        }
    }

    public func assigned(_ partitions: [TopicPartition]) {
        let numbers = Set(partitions.map(\.partition))
        let missing = store.withLock { s in numbers.filter { s[$0] == nil } }
        guard !missing.isEmpty else { return }
        let restored = restore(Array(missing))
        store.withLock { s in
            for p in missing {
                let partition = PartitionStore(leads: restored[p] ?? [:])
                partition.watermark = partition.leads.values.reduce(0) { max($0, $1.lastEventTime) }
                s[p] = partition
            }
        }
    }

    public func revoked(_ partitions: [TopicPartition]) {
        store.withLock { s in for p in Set(partitions.map(\.partition)) { s[p] = nil } }
    }

    /// Leads held in memory (all owned partitions).
    public var leadCount: Int { store.withLock { $0.values.reduce(0) { $0 + $1.leads.count } } }

    /// The current state of a lead, if this process owns it.
    public func state(of leadID: String) -> LeadScoreState? {
        store.withLock { s in s.values.lazy.compactMap { $0.leads[leadID] }.first }
    }

    public func process(_ message: ConsumerMessage) throws(StageFailure) -> StageOutput {
        // Decode outside the lock.
        let input: Input
        if message.topic == TopicCatalog.enriched {
            let event = try StageIO.decode(LeadEnriched.self, message)
            guard let time = Timestamp.milliseconds(event.data.enrichedAt) else { throw StageFailure(field: "enriched_at", reason: "not a date-time") }
            input = Input(leadID: event.subject, eventID: event.id, time: time, change: .profile(ProfileFacts(event.data, time: time, eventID: event.id)))
        } else {
            let event = try StageIO.decode(LeadActivity.self, message)
            guard let time = Timestamp.milliseconds(event.data.occurredAt) else { throw StageFailure(field: "occurred_at", reason: "not a date-time") }
            let duration = event.data.attributes?["duration_seconds"].flatMap { Int32($0) } ?? 0
            input = Input(leadID: event.subject, eventID: event.id, time: time,
                          change: .activity(ActivityRecord(type: event.data.type, time: time, durationSeconds: duration,
                                                           idHash: LeadScoreState.hash(event.id))))
        }
        let partition = message.partition
        return store.withLock { s -> StageOutput in
            guard let owned = s[partition] else { return StageOutput(skipped: true) }
            var output = StageOutput()
            sweepIfDue(owned, partition: partition, eventTime: input.time, into: &output)
            // Taken out of the dictionary while it changes, so its arrays are not copied.
            var state = owned.leads.removeValue(forKey: input.leadID) ?? LeadScoreState()
            guard state.markSeen(input.eventID) else { // re-delivered: nothing changes
                owned.leads[input.leadID] = state
                return output
            }
            switch input.change {
            case .profile(let facts): state.apply(profile: facts)
            case .activity(let record): state.apply(activity: record)
            }
            let scored = scorer.score(&state, leadID: input.leadID)
            owned.leads[input.leadID] = state
            output.messages.append(StageIO.output(scored, topic: TopicCatalog.scored, leadID: input.leadID, from: input.eventID,
                                                  purpose: "scored", source: "funnel-score", time: scored.scoredAt))
            owned.changed.insert(input.leadID)
            return output
        }
    }

    /// The changelog records of the leads changed since the last call, one per lead, by
    /// partition (the lead's input and changelog partition), holding its current state.
    public func checkpoint() -> [Int32: [ProducerMessage]] {
        store.withLock { s in
            var records: [Int32: [ProducerMessage]] = [:]
            for (partition, owned) in s where !owned.changed.isEmpty {
                records[partition] = owned.changed.compactMap { leadID in
                    owned.leads[leadID].map { changelogRecord(leadID, $0, partition: partition) }
                }
                owned.changed.removeAll(keepingCapacity: true)
            }
            return records
        }
    }

    private struct Input {
        enum Change { case profile(ProfileFacts), activity(ActivityRecord) }
        var leadID: String
        var eventID: String
        var time: Int64
        var change: Change
    }

    private func changelogRecord(_ leadID: String, _ state: LeadScoreState, partition: Int32) -> ProducerMessage {
        ProducerMessage(topic: Self.changelogTopic, key: Array(leadID.utf8), value: state.encoded(), partition: partition)
    }

    /// When the partition's event time crosses a sweep boundary, re-emits the leads whose
    /// bands at that boundary differ from what was last emitted (decay, windows closing).
    private func sweepIfDue(_ owned: PartitionStore, partition: Int32, eventTime: Int64, into output: inout StageOutput) {
        let interval = Int64(scorer.model.sweepIntervalHours * 3_600_000)
        defer { owned.watermark = max(owned.watermark, eventTime) }
        guard owned.watermark > 0, eventTime / interval > owned.watermark / interval else { return }
        let boundary = eventTime / interval * interval
        var swept = 0
        for (leadID, state) in owned.leads where state.lastEventTime < boundary && state.emitted != nil {
            guard scorer.bands(state, at: boundary) != state.emitted else { continue }
            var state = state
            let scored = scorer.score(&state, leadID: leadID, at: boundary)
            owned.leads[leadID] = state
            let id = EventID.derive(leadID, "sweep", String(boundary))
            output.messages.append(StageIO.output(scored, topic: TopicCatalog.scored, leadID: leadID, from: id,
                                                  purpose: "scored", source: "funnel-score", time: scored.scoredAt))
            owned.changed.insert(leadID)
            swept += 1
        }
        if swept > 0 {
            logger.info("sweep re-emitted leads whose bands changed with time",
                        metadata: ["partition": "\(partition)", "at": "\(Timestamp.format(milliseconds: boundary))", "leads": "\(swept)"])
        }
    }
}
