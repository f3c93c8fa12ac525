extension BacktestHistory {
    /// The topics a backtest reads.
    public static let topics = [TopicCatalog.enriched, TopicCatalog.activity, TopicCatalog.outcome]

    /// One decoded input of a backtest, already in the compact form the history keeps (the
    /// decoding threads do the conversion; ``add(_:)`` only files it).
    public enum Event: Sendable {
        case profile(ProfileFacts, leadID: String, idHash: UInt64)
        case activity(ActivityRecord, leadID: String)
        case outcome(OutcomeType, leadID: String, time: Int64)
    }

    /// Decodes one CloudEvent (JSON bytes) read from `topic`; nil when it is not a valid event of
    /// it. Thread-safe: readers decode in parallel and ``add(_:)`` in order. Activities and
    /// outcomes go through the field-specific readers first (``SkimmedActivity``,
    /// ``SkimmedOutcome``), anything they leave through ``EventDecoder``.
    public static func decode(json bytes: UnsafeRawBufferPointer, topic: String) -> Event? {
        switch topic {
        case TopicCatalog.enriched:
            guard case .success(let e) = EventDecoder.decode(LeadEnriched.self, from: bytes, expectedType: topic),
                  let time = Timestamp.milliseconds(e.data.enrichedAt) else { return nil }
            return .profile(ProfileFacts(e.data, time: time, eventID: e.id), leadID: e.data.leadID, idHash: LeadScoreState.hash(e.id))
        case TopicCatalog.activity:
            if let fast = SkimmedActivity(bytes) { return .activity(fast.record, leadID: fast.leadID) }
            guard case .success(let e) = EventDecoder.decode(LeadActivity.self, from: bytes, expectedType: topic),
                  let record = record(e.data, eventID: e.id) else { return nil }
            return .activity(record, leadID: e.subject)
        case TopicCatalog.outcome:
            if let fast = SkimmedOutcome(bytes) { return .outcome(fast.outcome, leadID: fast.leadID, time: fast.time) }
            guard case .success(let e) = EventDecoder.decode(LeadOutcome.self, from: bytes, expectedType: topic),
                  let time = Timestamp.milliseconds(e.data.occurredAt) else { return nil }
            return .outcome(e.data.outcome, leadID: e.data.leadID, time: time)
        default:
            return nil
        }
    }

    public mutating func add(_ event: Event) {
        switch event {
        case .profile(let facts, let leadID, let idHash): add(profile: facts, leadID: leadID, idHash: idHash)
        case .activity(let record, let leadID): add(activity: record, leadID: leadID)
        case .outcome(let outcome, let leadID, let time): add(outcome: outcome, leadID: leadID, time: time)
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
