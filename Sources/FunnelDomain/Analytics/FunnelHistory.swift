/// Every lead's path through the funnel, as read from `funnel.lead.stage-changed.v1` (plus
/// revenue from `funnel.lead.outcome.v1` and SLA reminders from `funnel.lead.routed.v1`): the
/// input of ``FunnelReport``. Pure and compact: a million leads with five transitions each
/// take a few hundred megabytes; strings (reasons, owners, sources) are interned.
///
/// Events may arrive in any order across leads; a lead's transitions are ordered by event
/// time (ties keep arrival order) when the report is made. A stage-change event delivered
/// twice (same event id) counts once.
public struct FunnelHistory: Sendable {
    /// One transition of a lead.
    public struct Step: Sendable, Equatable {
        public var from: Stage?
        public var to: Stage
        /// Event time, milliseconds since the epoch.
        public var at: Int64
        /// Interned reason, owner (-1: none).
        var reason: Int32
        var owner: Int32
        /// On `sal`: seconds from the assignment to the acceptance (-1: not given).
        var secondsToAccept: Int32
    }

    struct Lead: Sendable {
        var steps: [Step] = []
        var source: Int32 = -1
        var campaign: Int32 = -1
        /// Won deals: (interned currency, amount).
        var won: [(currency: Int32, amount: Double)] = []
        var slaReminders: [(owner: Int32, at: Int64)] = []
        var sorted = true
    }

    private(set) var leadIndex: [String: Int32] = [:]
    private(set) var leads: [Lead] = []
    private(set) var strings: [String] = []
    private var stringIndex: [String: Int32] = [:]
    /// 64-bit FNV-1a hashes of the event ids seen (a collision in 10^7 ids: about 3 in a million).
    private var seenEvents: Set<UInt64> = []
    /// Events skipped: undecodable times (counted, so a report can say so).
    public private(set) var skipped = 0

    public init() {}

    /// How many leads have at least one event.
    public var leadCount: Int { leads.count }

    func string(_ i: Int32) -> String? { i < 0 ? nil : strings[Int(i)] }

    mutating func intern(_ s: String?) -> Int32 {
        guard let s else { return -1 }
        if let i = stringIndex[s] { return i }
        let i = Int32(strings.count)
        strings.append(s)
        stringIndex[s] = i
        return i
    }

    private mutating func lead(_ id: String) -> Int {
        if let i = leadIndex[id] { return Int(i) }
        let i = leads.count
        leads.append(Lead())
        leadIndex[id] = Int32(i)
        return i
    }

    /// Adds a stage change. `eventID` (the CloudEvents id) drops redeliveries.
    public mutating func add(_ change: StageChanged, eventID: String? = nil) {
        if let eventID, !seenEvents.insert(Self.hash(eventID)).inserted { return }
        guard let at = Timestamp.milliseconds(change.occurredAt) else { skipped += 1; return }
        let i = lead(change.leadID)
        let step = Step(from: change.from, to: change.to, at: at, reason: intern(change.reason), owner: intern(change.owner),
                        secondsToAccept: change.secondsToAccept.map { Int32(clamping: $0) } ?? -1)
        if let last = leads[i].steps.last, last.at > at { leads[i].sorted = false }
        leads[i].steps.append(step)
        // First touch: the first source and campaign the lead's events name.
        if leads[i].source < 0, let source = change.source { leads[i].source = intern(source) }
        if leads[i].campaign < 0, let campaign = change.campaign { leads[i].campaign = intern(campaign) }
    }

    /// Adds sales feedback: a `won` outcome's amount counts as revenue.
    public mutating func add(_ outcome: LeadOutcome, eventID: String? = nil) {
        guard outcome.outcome == .won else { return }
        if let eventID, !seenEvents.insert(Self.hash(eventID)).inserted { return }
        let i = lead(outcome.leadID)
        leads[i].won.append((intern(outcome.currency ?? "?"), outcome.amount ?? 0))
    }

    /// Adds a routing: an `sla-reminder` counts as an SLA breach of its owner.
    public mutating func add(_ routed: LeadRouted, eventID: String? = nil) {
        guard routed.queue == "sla-reminder", let owner = routed.owner, let at = Timestamp.milliseconds(routed.routedAt) else { return }
        if let eventID, !seenEvents.insert(Self.hash(eventID)).inserted { return }
        let i = lead(routed.leadID)
        leads[i].slaReminders.append((intern(owner), at))
    }

    static func hash(_ id: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in id.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Orders every lead's transitions by event time (stable). Called by the report.
    mutating func sortSteps() {
        for i in leads.indices where !leads[i].sorted {
            let indexed = leads[i].steps.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
            leads[i].steps = indexed.map(\.element)
            leads[i].sorted = true
        }
    }
}

extension FunnelHistory {
    /// The topics a report reads.
    public static let topics = [TopicCatalog.stageChanged, TopicCatalog.outcome, TopicCatalog.routed]

    /// Adds one CloudEvent (JSON bytes) read from `topic`; false when it is not a valid event
    /// of that topic (counted by the caller, never fatal).
    @discardableResult
    public mutating func add(json bytes: UnsafeRawBufferPointer, topic: String) -> Bool {
        switch topic {
        case TopicCatalog.stageChanged:
            guard case .success(let e) = EventDecoder.decode(StageChanged.self, from: bytes, expectedType: topic) else { return false }
            add(e.data, eventID: e.id)
        case TopicCatalog.outcome:
            guard case .success(let e) = EventDecoder.decode(LeadOutcome.self, from: bytes, expectedType: topic) else { return false }
            add(e.data, eventID: e.id)
        case TopicCatalog.routed:
            guard case .success(let e) = EventDecoder.decode(LeadRouted.self, from: bytes, expectedType: topic) else { return false }
            add(e.data, eventID: e.id)
        default:
            return false
        }
        return true
    }
}
