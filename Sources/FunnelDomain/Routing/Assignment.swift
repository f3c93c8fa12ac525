/// The internal events of pool assignment (see the README's "Routing" section):
///
/// - funnel-route's lead side sends an ``AssignmentCommand`` (`assign` or `release`) keyed by
///   **pool** to `funnel.route.assignments.v1`, so one replica owns each pool's counters;
/// - the pool side answers with an ``AssignmentAnswer`` keyed by **lead** on
///   `funnel.route.assigned.v1`, read by the replica that owns the lead;
/// - `funnel reps` writes ``RepControl`` records (compacted, key `pool/rep`, in the pool's
///   partition) to `funnel.route.reps.v1`.
public struct AssignmentCommand: Validatable, Equatable {
    public enum Kind: String, Codable, Sendable { case assign, release }
    public var kind: Kind
    public var pool: String
    public var leadID: String
    /// The assignment this is about: derived from the cause that made the lead assignable.
    public var requestID: String
    /// For `release`: the rep whose lead closed.
    public var rep: String?
    /// Event time of the cause (ms precision, RFC 3339): working hours and daily caps use it.
    public var at: String
    public var priority: RoutingRule.Priority?
    public var rule: String?
    /// Pools this request was passed through as fallbacks (a guard against loops).
    public var hops: Int?
    /// For an SLA reassignment: the rep the lead is taken from (not chosen again).
    public var exclude: String?

    enum CodingKeys: String, CodingKey {
        case kind, pool, leadID = "lead_id", requestID = "request_id", rep, at, priority, rule, hops, exclude
    }

    public init(kind: Kind, pool: String, leadID: String, requestID: String, rep: String? = nil, at: String,
                priority: RoutingRule.Priority? = nil, rule: String? = nil, hops: Int? = nil, exclude: String? = nil) {
        self.kind = kind; self.pool = pool; self.leadID = leadID; self.requestID = requestID; self.rep = rep
        self.at = at; self.priority = priority; self.rule = rule; self.hops = hops; self.exclude = exclude
    }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if pool.isEmpty { errors.append(FieldError(field: "pool", reason: "must not be empty")) }
        if leadID.isEmpty { errors.append(FieldError(field: "lead_id", reason: "must not be empty")) }
        if !Check.isTimestamp(at) { errors.append(FieldError(field: "at", reason: "must be an RFC 3339 date-time")) }
        if kind == .release && (rep ?? "").isEmpty { errors.append(FieldError(field: "rep", reason: "a release names the rep")) }
        return errors
    }
}

extension RoutingRule.Priority: Codable {}

/// The pool's answer to an `assign`: the rep, or the queue the lead waits in.
public struct AssignmentAnswer: Validatable, Equatable {
    public var leadID: String
    public var requestID: String
    /// The pool that decided (after fallbacks: not necessarily the one asked).
    public var pool: String
    public var owner: String?
    public var queue: String?
    public var reason: String
    public var at: String
    /// The pool's assignment count after this one: a second assignment of the same request (the
    /// pool no longer remembered it) differs from a re-delivery of the first answer.
    public var sequence: Int64?

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", requestID = "request_id", pool, owner, queue, reason, at, sequence
    }

    public init(leadID: String, requestID: String, pool: String, owner: String?, queue: String?, reason: String, at: String,
                sequence: Int64? = nil) {
        self.leadID = leadID; self.requestID = requestID; self.pool = pool; self.owner = owner; self.queue = queue
        self.reason = reason; self.at = at; self.sequence = sequence
    }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if (owner == nil) == (queue == nil) { errors.append(FieldError(field: "owner", reason: "exactly one of owner, queue")) }
        if !Check.isTimestamp(at) { errors.append(FieldError(field: "at", reason: "must be an RFC 3339 date-time")) }
        return errors
    }
}

/// A run-time change to a pool member (`funnel reps pause|resume|set-capacity`). Fields that
/// are absent are left as they are.
public struct RepControl: Validatable, Equatable {
    public var pool: String
    public var rep: String
    public var paused: Bool?
    public var maxOpen: Int?
    public var maxNewPerDay: Int?
    public var at: String

    enum CodingKeys: String, CodingKey {
        case pool, rep, paused, maxOpen = "max_open", maxNewPerDay = "max_new_per_day", at
    }

    public init(pool: String, rep: String, paused: Bool? = nil, maxOpen: Int? = nil, maxNewPerDay: Int? = nil, at: String) {
        self.pool = pool; self.rep = rep; self.paused = paused; self.maxOpen = maxOpen; self.maxNewPerDay = maxNewPerDay; self.at = at
    }

    /// The compacted topic's key: one record per pool member.
    public var key: String { pool + "/" + rep }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if pool.isEmpty { errors.append(FieldError(field: "pool", reason: "must not be empty")) }
        if rep.isEmpty { errors.append(FieldError(field: "rep", reason: "must not be empty")) }
        if let m = maxOpen, m < 0 { errors.append(FieldError(field: "max_open", reason: "must be >= 0")) }
        if let m = maxNewPerDay, m < 0 { errors.append(FieldError(field: "max_new_per_day", reason: "must be >= 0")) }
        if !Check.isTimestamp(at) { errors.append(FieldError(field: "at", reason: "must be an RFC 3339 date-time")) }
        return errors
    }
}

extension RoutingConfig {
    /// What a pool decides for an `assign` at `time`: a rep, a fallback pool to ask instead,
    /// or a queue. Pure; `state` is the pool's (aligned with its configuration).
    public enum PoolDecision: Sendable, Equatable {
        case owner(String, reason: String)
        case forward(String, reason: String)
        case queue(String, reason: String)
    }

    public func decide(_ pool: Pool, state: inout PoolState, at time: Int64, excluding: String? = nil) -> PoolDecision {
        if let rep = state.assign(in: pool, at: time, excluding: excluding) {
            let weights = Set(pool.members.map(\.weight)).count > 1 ? "weighted round robin" : "round robin"
            return .owner(rep, reason: "pool \(pool.name): \(rep) (\(weights))")
        }
        let why = state.members.indices.compactMap { i in
            state.members[i].rep == excluding ? "\(excluding!) excluded"
                : state.unavailable(i, of: pool, at: time).map { "\(state.members[i].rep) \($0.rawValue)" }
        }.joined(separator: ", ")
        switch pool.fallback {
        case .pool(let other): return .forward(other, reason: "pool \(pool.name): nobody available (\(why)); fallback pool \(other)")
        case .queue(let queue): return .queue(queue, reason: "pool \(pool.name): nobody available (\(why)); queue \(queue)")
        }
    }
}
