/// What `funnel backtest` replays: every lead's profile (enriched events) and activities, and
/// the sales outcomes that label it, as read from `funnel.lead.enriched.v1`,
/// `funnel.lead.activity.v1` and `funnel.lead.outcome.v1`. Pure; event time only, so a
/// backtest of the same history is the same, byte for byte.
///
/// Compact: an input is 24 bytes (an activity, or the index of a profile kept once in
/// ``profiles``), so ten million activities take a few hundred megabytes.
public struct BacktestHistory: Sendable {
    /// One input of a lead's score, at its event time: an activity, or a profile.
    struct Input: Sendable {
        var time: Int64
        /// FNV-1a of the event id (redeliveries count once; the replay's tie-break).
        var idHash: UInt64
        /// An activity's `duration_seconds`; a profile's index in ``profiles``.
        var value: Int32
        var type: ActivityType
        var isProfile: Bool

        /// The order at equal times: profiles first, then by event id hash.
        var tie: UInt64 { isProfile ? idHash >> 1 : idHash | 1 << 63 }
        var activity: ActivityRecord { ActivityRecord(type: type, time: time, durationSeconds: value, idHash: idHash) }
    }

    struct Lead: Sendable {
        var id: String
        /// In arrival order until ``finishReading()`` sorts them by (time, tie).
        var inputs: [Input] = []
        /// Time of the first outcome (the decision point: nothing after it is used to predict).
        var firstOutcome: Int64?
        var accepted = false
        var won = false
    }

    private(set) var leadIndex: [String: Int32] = [:]
    private(set) var leads: [Lead] = []
    /// The profiles of every enriched event kept, referenced by index from the inputs.
    private(set) var profiles: [ProfileFacts] = []
    public private(set) var events = 0

    public init() {}

    public var leadCount: Int { leads.count }

    private mutating func lead(_ id: String) -> Int {
        if let i = leadIndex[id] { return Int(i) }
        leads.append(Lead(id: id))
        leadIndex[id] = Int32(leads.count - 1)
        return leads.count - 1
    }

    /// Appends an input unless the lead already has one with this event id hash (a lead has
    /// tens of events, so a scan beats a set per lead).
    private mutating func add(_ input: Input, lead i: Int) -> Bool {
        guard !leads[i].inputs.contains(where: { $0.idHash == input.idHash }) else { return false }
        leads[i].inputs.append(input)
        events += 1
        return true
    }

    public mutating func add(_ enriched: LeadEnriched, eventID: String) {
        guard let time = Timestamp.milliseconds(enriched.enrichedAt) else { return }
        add(profile: ProfileFacts(enriched, time: time, eventID: eventID), leadID: enriched.leadID, idHash: LeadScoreState.hash(eventID))
    }

    /// A profile (its `time` the enriched event's) of the event with this id hash.
    mutating func add(profile: ProfileFacts, leadID: String, idHash: UInt64) {
        let i = lead(leadID)
        let input = Input(time: profile.time, idHash: idHash, value: Int32(profiles.count), type: .pageView, isProfile: true)
        if add(input, lead: i) { profiles.append(profile) }
    }

    public mutating func add(_ activity: LeadActivity, leadID: String, eventID: String) {
        guard let record = Self.record(activity, eventID: eventID) else { return }
        add(activity: record, leadID: leadID)
    }

    mutating func add(activity: ActivityRecord, leadID: String) {
        let i = lead(leadID)
        _ = add(Input(time: activity.time, idHash: activity.idHash, value: activity.durationSeconds, type: activity.type, isProfile: false), lead: i)
    }

    /// An activity as the replay keeps it; nil when its time is not RFC 3339.
    static func record(_ activity: LeadActivity, eventID: String) -> ActivityRecord? {
        guard let time = Timestamp.milliseconds(activity.occurredAt) else { return nil }
        let duration = activity.attributes?["duration_seconds"].flatMap { Int32($0) } ?? 0
        return ActivityRecord(type: activity.type, time: time, durationSeconds: duration, idHash: LeadScoreState.hash(eventID))
    }

    /// Sales feedback: `accepted` (or any later step: meeting, proposal, won) labels the lead
    /// accepted; `won` labels it won. The first outcome's time is the decision point.
    public mutating func add(_ outcome: LeadOutcome) {
        guard let time = Timestamp.milliseconds(outcome.occurredAt) else { return }
        add(outcome: outcome.outcome, leadID: outcome.leadID, time: time)
    }

    mutating func add(outcome: OutcomeType, leadID: String, time: Int64) {
        let i = lead(leadID)
        leads[i].firstOutcome = min(leads[i].firstOutcome ?? time, time)
        switch outcome {
        case .accepted, .meeting, .proposal: leads[i].accepted = true
        case .won: leads[i].accepted = true; leads[i].won = true
        case .rejected, .lost: break
        }
    }

    /// Sorts every lead's inputs into replay order, the same however the topics interleaved.
    mutating func finishReading() {
        for i in leads.indices {
            leads[i].inputs.sort { ($0.time, $0.tie) < ($1.time, $1.tie) }
        }
    }
}
