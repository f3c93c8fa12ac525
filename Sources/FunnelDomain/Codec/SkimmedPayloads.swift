/// Field-specific readers of the events `funnel report` and `funnel backtest` read by the
/// million: just the fields they use, no tree, few Strings. Each checks everything
/// ``EventDecoder`` would (types of every field the payload declares, and its `validate()`),
/// and answers nil for anything else, so the caller falls back to the full decoder: the same
/// events are accepted, with the same values.

/// A stage change as ``FunnelHistory`` keeps it.
public struct SkimmedStage: Sendable {
    public var leadID: String
    public var from: Stage?
    public var to: Stage
    /// `occurred_at`, ms since the epoch.
    public var at: Int64
    public var idHash: UInt64
    public var reason: String
    public var owner: String?
    public var source: String?
    public var campaign: String?
    public var secondsToAccept: Int?
}

extension SkimmedStage {
    /// `funnel.lead.stage-changed.v1`; nil: decode it in full. A `score` object or a `bant`
    /// key (rare) are left to the full decoder too.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard let e = SkimmedEvent(bytes, type: TopicCatalog.stageChanged),
              let to = e.name("to", Names.stages), let from = e.optionalName("from", Names.stages),
              let reason = e.string("reason"), let owner = e.optionalString("owner"),
              let source = e.optionalString("source"), let campaign = e.optionalString("campaign"),
              let at = e.time("occurred_at"),
              e.optionalString("routing_version") != nil, e.optionalString("pool") != nil,
              let secondsToAccept = e.optionalInt("seconds_to_accept"), e.absent("bant"),
              e.json.member("score", in: e.data).map({ $0.kind == .null }) ?? true
        else { return nil }
        leadID = e.leadID
        self.from = from
        self.to = to
        self.at = at
        idHash = e.idHash
        self.reason = e.json.string(reason)
        self.owner = owner.map(e.json.string)
        self.source = source.map(e.json.string)
        self.campaign = campaign.map(e.json.string)
        self.secondsToAccept = secondsToAccept
    }
}

/// A sales outcome as the report (revenue) and the backtest (labels) use it.
public struct SkimmedOutcome: Sendable {
    public var leadID: String
    public var outcome: OutcomeType
    /// `occurred_at`, ms since the epoch.
    public var time: Int64
    public var idHash: UInt64
    public var amount: Double?
    public var currency: String?
}

extension SkimmedOutcome {
    /// `funnel.lead.outcome.v1`; nil: decode it in full (also any `bant`).
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard let e = SkimmedEvent(bytes, type: TopicCatalog.outcome),
              e.string("lead_id", maxLength: 128) != nil,
              let outcome = e.name("outcome", Names.outcomes),
              let reason = e.optionalString("reason", maxLength: 1000),
              let amount = e.optionalDouble("amount"), (amount ?? 0) >= 0,
              let currency = e.optionalString("currency"),
              let time = e.time("occurred_at"),
              e.json.member("bant", in: e.data).map({ $0.kind == .null }) ?? true
        else { return nil }
        // The rules of LeadOutcome.validate(): a currency is three ASCII letters; a rejection names a known reason.
        if let currency {
            let code = e.json.slice(currency)
            guard code.count == 3, code.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else { return nil }
        }
        if outcome == .rejected {
            guard let reason, LeadOutcome.rejectionReasons.contains(where: { e.json.value(reason, equals: $0) }) else { return nil }
        }
        leadID = e.leadID
        self.outcome = outcome
        self.time = time
        idHash = e.idHash
        self.amount = amount
        self.currency = currency.map(e.json.string)
    }
}

/// An activity as the backtest replays it.
public struct SkimmedActivity: Sendable {
    public var leadID: String
    public var record: ActivityRecord
}

extension SkimmedActivity {
    /// `funnel.lead.activity.v1`; nil: decode it in full.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard let e = SkimmedEvent(bytes, type: TopicCatalog.activity),
              e.string("lead_id", maxLength: 128) != nil,
              let type = e.name("type", Names.activityTypes),
              e.optionalString("url", maxLength: 2048) != nil, e.optionalString("source", maxLength: 100) != nil,
              let attributes = e.optionalAttributes("attributes"),
              let time = e.time("occurred_at")
        else { return nil }
        var duration: Int32 = 0
        if let attributes, let m = e.json.member("duration_seconds", in: attributes) {
            duration = Int32(e.json.string(m)) ?? 0
        }
        leadID = e.leadID
        record = ActivityRecord(type: type, time: time, durationSeconds: duration, idHash: e.idHash)
    }
}
