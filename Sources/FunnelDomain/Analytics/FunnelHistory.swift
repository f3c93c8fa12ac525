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
        /// FNV-1a of the event id (0: none given): a redelivery is dropped.
        var idHash: UInt64 = 0
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
    /// 64-bit FNV-1a hashes of the outcome and routing ids seen (few: stage changes are checked per lead).
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
        guard let at = Timestamp.milliseconds(change.occurredAt) else { skipped += 1; return }
        add(SkimmedStage(leadID: change.leadID, from: change.from, to: change.to, at: at, idHash: eventID.map(Self.hash) ?? 0,
                         reason: change.reason, owner: change.owner, source: change.source, campaign: change.campaign,
                         secondsToAccept: change.secondsToAccept))
    }

    /// Adds a stage change as the fast reader gives it (``add(_:eventID:)`` in compact form).
    mutating func add(_ change: SkimmedStage) {
        let i = lead(change.leadID)
        let idHash = change.idHash
        // A redelivery (same id) counts once: a lead has a handful of steps, so a scan beats a global set.
        if idHash != 0 && leads[i].steps.contains(where: { $0.idHash == idHash }) { return }
        let step = Step(from: change.from, to: change.to, at: change.at, reason: intern(change.reason), owner: intern(change.owner),
                        secondsToAccept: change.secondsToAccept.map { Int32(clamping: $0) } ?? -1, idHash: idHash)
        if let last = leads[i].steps.last, last.at > change.at { leads[i].sorted = false }
        leads[i].steps.append(step)
        // First touch: the first source and campaign the lead's events name.
        if leads[i].source < 0, let source = change.source { leads[i].source = intern(source) }
        if leads[i].campaign < 0, let campaign = change.campaign { leads[i].campaign = intern(campaign) }
    }

    /// Adds sales feedback: a `won` outcome's amount counts as revenue.
    public mutating func add(_ outcome: LeadOutcome, eventID: String? = nil) {
        addOutcome(outcome.outcome, leadID: outcome.leadID, idHash: eventID.map(Self.hash), currency: outcome.currency, amount: outcome.amount)
    }

    /// ``add(_:eventID:)`` of an outcome, from its fields (`idHash`: of the event id, if known).
    mutating func addOutcome(_ outcome: OutcomeType, leadID: String, idHash: UInt64?, currency: String?, amount: Double?) {
        guard outcome == .won else { return }
        if let idHash, !seenEvents.insert(idHash).inserted { return }
        let i = lead(leadID)
        leads[i].won.append((intern(currency ?? "?"), amount ?? 0))
    }

    /// Adds a routing: an `sla-reminder` counts as an SLA breach of its owner.
    public mutating func add(_ routed: LeadRouted, eventID: String? = nil) {
        guard routed.queue == "sla-reminder", let owner = routed.owner, let at = Timestamp.milliseconds(routed.routedAt) else { return }
        if let eventID, !seenEvents.insert(Self.hash(eventID)).inserted { return }
        let i = lead(routed.leadID)
        leads[i].slaReminders.append((intern(owner), at))
    }

    static func hash(_ id: String) -> UInt64 { FNV1a.hash(id) }

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

    /// One decoded input of a report.
    public enum Event: Sendable {
        case stage(StageChanged, id: String)
        case outcome(LeadOutcome, id: String)
        case routed(LeadRouted, id: String)
        /// The same events as read by the field-specific readers (the bulk of a report's input).
        case skimmedStage(SkimmedStage)
        case skimmedOutcome(SkimmedOutcome)
    }

    /// Decodes one CloudEvent (JSON bytes) read from `topic`; nil when it is not a valid event
    /// of that topic (counted by the caller, never fatal). Pure and thread-safe: readers decode
    /// in parallel and ``add(_:)`` in order.
    public static func decode(json bytes: UnsafeRawBufferPointer, topic: String) -> Event? {
        switch topic {
        case TopicCatalog.stageChanged:
            if let fast = SkimmedStage(bytes) { return .skimmedStage(fast) }
            guard case .success(let e) = EventDecoder.decode(StageChanged.self, from: bytes, expectedType: topic) else { return nil }
            return .stage(e.data, id: e.id)
        case TopicCatalog.outcome:
            if let fast = SkimmedOutcome(bytes) { return .skimmedOutcome(fast) }
            guard case .success(let e) = EventDecoder.decode(LeadOutcome.self, from: bytes, expectedType: topic) else { return nil }
            return .outcome(e.data, id: e.id)
        case TopicCatalog.routed:
            guard case .success(let e) = EventDecoder.decode(LeadRouted.self, from: bytes, expectedType: topic) else { return nil }
            return .routed(e.data, id: e.id)
        default:
            return nil
        }
    }

    public mutating func add(_ event: Event) {
        switch event {
        case .stage(let e, let id): add(e, eventID: id)
        case .outcome(let e, let id): add(e, eventID: id)
        case .routed(let e, let id): add(e, eventID: id)
        case .skimmedStage(let e): add(e)
        case .skimmedOutcome(let e): addOutcome(e.outcome, leadID: e.leadID, idHash: e.idHash, currency: e.currency, amount: e.amount)
        }
    }

    /// Decodes and adds one CloudEvent; false when it is not a valid event of `topic`.
    @discardableResult
    public mutating func add(json bytes: UnsafeRawBufferPointer, topic: String) -> Bool {
        guard let event = Self.decode(json: bytes, topic: topic) else { return false }
        add(event)
        return true
    }
}
