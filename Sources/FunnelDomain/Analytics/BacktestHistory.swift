/// What `funnel backtest` replays: every lead's profile (enriched events) and activities, and
/// the sales outcomes that label it, as read from `funnel.lead.enriched.v1`,
/// `funnel.lead.activity.v1` and `funnel.lead.outcome.v1`. Pure; event time only, so a
/// backtest of the same history is the same, byte for byte.
public struct BacktestHistory: Sendable {
    /// One input of a lead's score, at its event time.
    enum Input: Sendable {
        case profile(ProfileFacts)
        case activity(ActivityRecord)
    }

    struct Lead: Sendable {
        var id: String
        /// (event time, tie-break: profiles first then by event id hash, input).
        var inputs: [(time: Int64, tie: UInt64, input: Input)] = []
        /// Event ids seen for this lead (redeliveries count once).
        var seen: Set<UInt64> = []
        /// Time of the first outcome (the decision point: nothing after it is used to predict).
        var firstOutcome: Int64?
        var accepted = false
        var won = false
    }

    private(set) var leadIndex: [String: Int32] = [:]
    private(set) var leads: [Lead] = []
    public private(set) var events = 0

    public init() {}

    public var leadCount: Int { leads.count }

    private mutating func lead(_ id: String) -> Int {
        if let i = leadIndex[id] { return Int(i) }
        leads.append(Lead(id: id))
        leadIndex[id] = Int32(leads.count - 1)
        return leads.count - 1
    }

    public mutating func add(_ enriched: LeadEnriched, eventID: String) {
        guard let time = Timestamp.milliseconds(enriched.enrichedAt) else { return }
        let i = lead(enriched.leadID)
        guard leads[i].seen.insert(LeadScoreState.hash(eventID)).inserted else { return }
        leads[i].inputs.append((time, LeadScoreState.hash(eventID) >> 1, .profile(ProfileFacts(enriched, time: time, eventID: eventID))))
        events += 1
    }

    public mutating func add(_ activity: LeadActivity, leadID: String, eventID: String) {
        guard let time = Timestamp.milliseconds(activity.occurredAt) else { return }
        let i = lead(leadID)
        let hash = LeadScoreState.hash(eventID)
        guard leads[i].seen.insert(hash).inserted else { return }
        let duration = activity.attributes?["duration_seconds"].flatMap { Int32($0) } ?? 0
        leads[i].inputs.append((time, hash | 1 << 63, .activity(ActivityRecord(type: activity.type, time: time, durationSeconds: duration, idHash: hash))))
        events += 1
    }

    /// Sales feedback: `accepted` (or any later step: meeting, proposal, won) labels the lead
    /// accepted; `won` labels it won. The first outcome's time is the decision point.
    public mutating func add(_ outcome: LeadOutcome) {
        guard let time = Timestamp.milliseconds(outcome.occurredAt) else { return }
        let i = lead(outcome.leadID)
        leads[i].firstOutcome = min(leads[i].firstOutcome ?? time, time)
        switch outcome.outcome {
        case .accepted, .meeting, .proposal: leads[i].accepted = true
        case .won: leads[i].accepted = true; leads[i].won = true
        case .rejected, .lost: break
        }
    }

    /// The topics a backtest reads.
    public static let topics = [TopicCatalog.enriched, TopicCatalog.activity, TopicCatalog.outcome]

    /// Adds one CloudEvent (JSON bytes) read from `topic`; false when it is not a valid event of it.
    @discardableResult
    public mutating func add(json bytes: UnsafeRawBufferPointer, topic: String) -> Bool {
        switch topic {
        case TopicCatalog.enriched:
            guard case .success(let e) = EventDecoder.decode(LeadEnriched.self, from: bytes, expectedType: topic) else { return false }
            add(e.data, eventID: e.id)
        case TopicCatalog.activity:
            guard case .success(let e) = EventDecoder.decode(LeadActivity.self, from: bytes, expectedType: topic) else { return false }
            add(e.data, leadID: e.subject, eventID: e.id)
        case TopicCatalog.outcome:
            guard case .success(let e) = EventDecoder.decode(LeadOutcome.self, from: bytes, expectedType: topic) else { return false }
            add(e.data)
        default:
            return false
        }
        return true
    }

    /// Every lead's seen-set is only needed while reading: drop it before the replay.
    mutating func finishReading() {
        for i in leads.indices {
            leads[i].seen = []
            leads[i].inputs.sort { ($0.time, $0.tie) < ($1.time, $1.tie) } // the same order however the topics interleaved
        }
    }
}
