/// What funnel-route keeps per lead in its table (`funnel.route.leads.v1`): the lifecycle, the
/// sales outcomes that arrived before the lead did, and the ids of recent inputs (so a
/// re-delivered input changes nothing).
public struct RouteLeadState: Sendable, Equatable {
    /// Format version, the first byte of the encoding (never 0xF7, the table-record marker).
    /// Version 2 added the pool, rule, priority and pending assignment; version 3 the stage
    /// score (read as the newest score from older versions). Versions 1 and 2 still read.
    public static let formatVersion: UInt8 = 3
    /// How many recent input ids are remembered: re-deliveries come from one checkpoint
    /// interval (about a second), in which a lead has a handful of inputs.
    public static let recentInputs = 32
    /// Outcomes held for one unseen lead; more are dead-lettered at once.
    public static let maxPending = 32

    public var lifecycle = LeadLifecycle()
    /// Outcomes for a lead the router has not seen yet, oldest first.
    public var pending: [PendingOutcome] = []
    /// Hashes of recent input ids, oldest first.
    public var recent: [UInt64] = []

    public init() {}

    /// Records input `id`; false if it was seen already (a re-delivery).
    public mutating func markSeen(_ id: String) -> Bool {
        let hash = LeadScoreState.hash(id)
        guard !recent.contains(hash) else { return false }
        recent.append(hash)
        if recent.count > Self.recentInputs { recent.removeFirst(recent.count - Self.recentInputs) }
        return true
    }

    /// Whether the router has seen the lead (it has a stage): outcomes apply, or wait.
    public var isKnown: Bool { lifecycle.stage != nil }

    /// Whether outcomes apply now: the lead is known and not waiting for its pool's answer
    /// (sales cannot act on a lead whose MQL event, with the owner, is not out yet).
    public var acceptsOutcomes: Bool { isKnown && lifecycle.assignment == nil }
}

/// An outcome message held until its lead arrives: enough to apply it later and to
/// dead-letter it with the original coordinates (and so the same id) if the lead never comes.
public struct PendingOutcome: Sendable, Equatable {
    public var eventID: String
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The message's broker timestamp (ms).
    public var timestamp: Int64
    public var key: [UInt8]
    public var value: [UInt8]

    public init(eventID: String, topic: String, partition: Int32, offset: Int64, timestamp: Int64, key: [UInt8], value: [UInt8]) {
        self.eventID = eventID; self.topic = topic; self.partition = partition; self.offset = offset
        self.timestamp = timestamp; self.key = key; self.value = value
    }

    /// The timer that dead-letters this outcome if its lead does not arrive in time.
    public var timerID: String { "pending-outcome:" + eventID }
}

// MARK: Binary form

extension RouteLeadState {
    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.byte(Self.formatVersion)
        let l = lifecycle
        w.optionalString(l.stage?.rawValue)
        w.optionalString(l.owner)
        w.optionalString(l.source)
        w.optionalString(l.campaign)
        w.score(l.score)
        if let recycled = l.recycledAtScore { w.byte(1); w.fixed64(recycled.bitPattern) } else { w.byte(0) }
        w.varint(UInt64(pending.count))
        for p in pending {
            w.string(p.eventID); w.string(p.topic)
            w.varint(UInt64(UInt32(bitPattern: p.partition))); w.varint(UInt64(bitPattern: p.offset)); w.varint(UInt64(bitPattern: p.timestamp))
            w.varint(UInt64(p.key.count)); w.bytes += p.key
            w.varint(UInt64(p.value.count)); w.bytes += p.value
        }
        w.varint(UInt64(recent.count))
        for hash in recent { w.fixed64(hash) }
        // Version 2.
        w.optionalString(l.pool)
        w.optionalString(l.rule)
        w.optionalString(l.priority?.rawValue)
        if let a = l.assignment {
            w.byte(1)
            w.string(a.requestID); w.string(a.pool); w.optionalString(a.from?.rawValue); w.string(a.reason)
            w.optionalString(a.exclude)
        } else { w.byte(0) }
        w.optionalString(l.requestID)
        w.varint(l.assignedAt.map { UInt64(bitPattern: $0) &+ 1 } ?? 0)
        w.byte(l.slaStep | (l.decayed ? 0x80 : 0))
        w.varint(l.coolOffUntil.map { UInt64(bitPattern: $0) &+ 1 } ?? 0)
        // Version 3.
        w.score(l.stageScore)
        return w.bytes
    }

    public init(decoding bytes: some Collection<UInt8>) throws(DecodingError) {
        var r = ByteReader(Array(bytes))
        func fail(_ what: String) -> DecodingError { DecodingError(description: "route lead state: \(what)") }
        guard let version = r.byte() else { throw fail("empty") }
        guard (1...Self.formatVersion).contains(version) else { throw fail("unknown format version \(version)") }
        guard let stage = r.optionalString(), let owner = r.optionalString(), let source = r.optionalString(),
              let campaign = r.optionalString(), let score = r.score() else { throw fail("truncated lifecycle") }
        var lifecycle = LeadLifecycle()
        if let stage {
            guard let s = Stage(rawValue: stage) else { throw fail("unknown stage '\(stage)'") }
            lifecycle.stage = s
        }
        lifecycle.owner = owner; lifecycle.source = source; lifecycle.campaign = campaign
        lifecycle.score = score
        lifecycle.stageScore = score // versions 1 and 2
        guard let hasRecycled = r.byte() else { throw fail("truncated recycle mark") }
        if hasRecycled == 1 {
            guard let recycled = r.fixed64() else { throw fail("truncated recycle mark") }
            lifecycle.recycledAtScore = Double(bitPattern: recycled)
        }
        self.init()
        self.lifecycle = lifecycle
        guard let pendingCount = r.varint(), pendingCount <= 10_000 else { throw fail("truncated pending outcomes") }
        for _ in 0..<pendingCount {
            guard let id = r.string(), let topic = r.string(), let partition = r.varint(), let offset = r.varint(),
                  let timestamp = r.varint(), let keyCount = r.varint(), r.index + Int(keyCount) <= r.bytes.count else { throw fail("truncated pending outcome") }
            let key = Array(r.bytes[r.index..<(r.index + Int(keyCount))]); r.index += Int(keyCount)
            guard let valueCount = r.varint(), r.index + Int(valueCount) <= r.bytes.count else { throw fail("truncated pending outcome") }
            let value = Array(r.bytes[r.index..<(r.index + Int(valueCount))]); r.index += Int(valueCount)
            pending.append(PendingOutcome(eventID: id, topic: topic, partition: Int32(bitPattern: UInt32(truncatingIfNeeded: partition)),
                                          offset: Int64(bitPattern: offset), timestamp: Int64(bitPattern: timestamp), key: key, value: value))
        }
        guard let recentCount = r.varint(), recentCount <= 10_000 else { throw fail("truncated recent inputs") }
        for _ in 0..<recentCount {
            guard let hash = r.fixed64() else { throw fail("truncated recent inputs") }
            recent.append(hash)
        }
        guard version >= 2 else { return }
        guard let pool = r.optionalString(), let rule = r.optionalString(), let priority = r.optionalString(),
              let hasAssignment = r.byte() else { throw fail("truncated routing") }
        self.lifecycle.pool = pool
        self.lifecycle.rule = rule
        self.lifecycle.priority = priority.flatMap(RoutingRule.Priority.init(rawValue:))
        if hasAssignment == 1 {
            guard let id = r.string(), let pool = r.string(), let from = r.optionalString(), let reason = r.string(),
                  let exclude = r.optionalString() else { throw fail("truncated assignment") }
            self.lifecycle.assignment = PendingAssignment(requestID: id, pool: pool, from: from.flatMap(Stage.init(rawValue:)), reason: reason,
                                                          exclude: exclude)
        }
        guard let requestID = r.optionalString(), let assignedAt = r.varint(), let sla = r.byte() else { throw fail("truncated SLA") }
        self.lifecycle.requestID = requestID
        self.lifecycle.assignedAt = assignedAt == 0 ? nil : Int64(bitPattern: assignedAt &- 1)
        self.lifecycle.slaStep = sla & 0x7F
        self.lifecycle.decayed = sla & 0x80 != 0
        guard let coolOff = r.varint() else { throw fail("truncated cool-off") }
        self.lifecycle.coolOffUntil = coolOff == 0 ? nil : Int64(bitPattern: coolOff &- 1)
        guard version >= 3 else { return }
        guard let stageScore = r.score() else { throw fail("truncated stage score") }
        self.lifecycle.stageScore = stageScore
    }
}

private extension ByteWriter {
    /// An optional score: a presence byte, then total, grade, quadrant and model.
    mutating func score(_ score: ScoreSnapshot?) {
        guard let score else { byte(0); return }
        byte(1)
        fixed64(score.total.bitPattern)
        string(score.grade); string(score.quadrant); string(score.model)
    }
}

private extension ByteReader {
    /// An optional score as ``ByteWriter/score(_:)`` wrote it; nil if truncated, `.some(nil)` if absent.
    mutating func score() -> ScoreSnapshot?? {
        guard let present = byte() else { return nil }
        guard present == 1 else { return .some(nil) }
        guard let total = fixed64(), let grade = string(), let quadrant = string(), let model = string() else { return nil }
        return ScoreSnapshot(total: Double(bitPattern: total), grade: grade, quadrant: quadrant, model: model)
    }
}
