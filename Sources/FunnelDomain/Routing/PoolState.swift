/// One pool's distribution state, owned by the replica that owns the pool's partition (the
/// table `funnel.route.pools.v1`, keyed by pool name): the members' round-robin weights, open
/// leads, today's new leads, pauses and capacity overrides, and the ids of recent requests.
///
/// Distribution is smooth weighted round robin (nginx's): each available member's `current`
/// grows by its weight, the largest takes the lead and gives back the sum of the available
/// weights. Over any run of assignments with the same members available, member `i` gets
/// `n · wᵢ / Σw` leads ± 1, interleaved (not 500 in a row). A member that is unavailable
/// (paused, at capacity, out of hours) is left out of the round and accrues nothing: it gets
/// no backlog when it comes back.
public struct PoolState: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var rep: String
        /// The round-robin weight accumulator.
        public var current: Int64 = 0
        /// Open leads (assigned, not yet closed).
        public var open: Int32 = 0
        /// The day (days since 1970 in the member's time zone) `newToday` counts.
        public var day: Int32 = 0
        public var newToday: Int32 = 0
        /// Leads assigned in all (for `funnel reps list`).
        public var assigned: Int64 = 0
        public var paused = false
        /// Set at run time by `funnel reps set-capacity` (overrides routing.yaml; -1: not set).
        public var maxOpenOverride: Int32 = -1
        public var maxNewOverride: Int32 = -1

        public init(rep: String) { self.rep = rep }
    }

    public var members: [Member] = []
    /// Hashes of recently processed request and release ids, oldest first: a re-delivered one
    /// changes nothing.
    public var recent: [UInt64] = []
    public static let maxRecent = 8192

    public init() {}

    /// Whether `id` was processed recently; records it if not.
    public mutating func markSeen(_ id: String) -> Bool {
        let hash = LeadScoreState.hash(id)
        if recent.contains(hash) { return false }
        recent.append(hash)
        if recent.count > Self.maxRecent { recent.removeFirst(recent.count - Self.maxRecent) }
        return true
    }

    /// Aligns the members with the pool's configuration: members that left are dropped, new
    /// ones start with nothing (no catch-up burst, no bias towards older members).
    public mutating func align(with pool: RoutingConfig.Pool) {
        let known = Dictionary(uniqueKeysWithValues: members.map { ($0.rep, $0) })
        members = pool.members.map { known[$0.rep] ?? Member(rep: $0.rep) }
    }

    public enum Unavailable: String, Sendable {
        case paused, atCapacity = "at capacity", dailyLimit = "daily limit reached", outOfHours = "out of hours"
    }

    /// Why member `i` of `pool` cannot take a lead at `time`, or nil if it can.
    public func unavailable(_ i: Int, of pool: RoutingConfig.Pool, at time: Int64) -> Unavailable? {
        let m = members[i], config = pool.members[i]
        if m.paused { return .paused }
        let maxOpen = m.maxOpenOverride >= 0 ? Int(m.maxOpenOverride) : config.maxOpen
        if let maxOpen, Int(m.open) >= maxOpen { return .atCapacity }
        let maxNew = m.maxNewOverride >= 0 ? Int(m.maxNewOverride) : config.maxNewPerDay
        if let maxNew {
            let today = WorkingHours.day(time, in: config.hours?.timeZone ?? .gmt)
            if m.day == today && Int(m.newToday) >= maxNew { return .dailyLimit }
        }
        if let hours = config.hours, !hours.contains(time) { return .outOfHours }
        return nil
    }

    /// Picks the member for a new lead at `time` (event time), or nil if nobody is available;
    /// updates the counters. `pool` must be the configuration this state was aligned with.
    /// `excluding` sits this round out (an SLA reassignment takes the lead from that rep).
    public mutating func assign(in pool: RoutingConfig.Pool, at time: Int64, excluding: String? = nil) -> String? {
        var total: Int64 = 0
        var best: Int?
        for i in members.indices where members[i].rep != excluding && unavailable(i, of: pool, at: time) == nil {
            let weight = Int64(pool.members[i].weight)
            members[i].current += weight
            total += weight
            if best == nil || members[i].current > members[best!].current { best = i }
        }
        guard let chosen = best else { return nil }
        members[chosen].current -= total
        members[chosen].open += 1
        members[chosen].assigned += 1
        let today = WorkingHours.day(time, in: pool.members[chosen].hours?.timeZone ?? .gmt)
        if members[chosen].day != today { members[chosen].day = today; members[chosen].newToday = 0 }
        members[chosen].newToday += 1
        return members[chosen].rep
    }

    /// A lead of `rep` closed (customer, lost, nurture, disqualified) or was handed back.
    public mutating func release(_ rep: String) {
        guard let i = members.firstIndex(where: { $0.rep == rep }) else { return }
        members[i].open = max(0, members[i].open - 1)
    }

    /// Applies a control event from `funnel reps`.
    public mutating func apply(_ control: RepControl) {
        guard let i = members.firstIndex(where: { $0.rep == control.rep }) else { return }
        if let paused = control.paused { members[i].paused = paused }
        if let maxOpen = control.maxOpen { members[i].maxOpenOverride = Int32(clamping: maxOpen) }
        if let maxNew = control.maxNewPerDay { members[i].maxNewOverride = Int32(clamping: maxNew) }
    }
}

// MARK: - Binary encoding (the changelog value)

extension PoolState {
    static let formatVersion: UInt8 = 1

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.byte(Self.formatVersion)
        w.varint(UInt64(members.count))
        for m in members {
            w.string(m.rep)
            w.varint(UInt64(bitPattern: m.current))
            w.varint(UInt64(UInt32(bitPattern: m.open)))
            w.varint(UInt64(UInt32(bitPattern: m.day)))
            w.varint(UInt64(UInt32(bitPattern: m.newToday)))
            w.varint(UInt64(bitPattern: m.assigned))
            w.byte(m.paused ? 1 : 0)
            w.varint(UInt64(UInt32(bitPattern: m.maxOpenOverride)))
            w.varint(UInt64(UInt32(bitPattern: m.maxNewOverride)))
        }
        w.varint(UInt64(recent.count))
        for h in recent { w.fixed64(h) }
        return w.bytes
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(decoding bytes: some Collection<UInt8>) throws(DecodingError) {
        var r = ByteReader(Array(bytes))
        guard r.byte() == Self.formatVersion else { throw DecodingError(description: "unknown pool state format version") }
        self.init()
        guard let count = r.varint(), count <= 100_000 else { throw DecodingError(description: "bad member count") }
        for _ in 0..<count {
            guard let rep = r.string(), let current = r.varint(), let open = r.varint(), let day = r.varint(),
                  let newToday = r.varint(), let assigned = r.varint(), let paused = r.byte(),
                  let maxOpen = r.varint(), let maxNew = r.varint() else { throw DecodingError(description: "truncated member") }
            var m = Member(rep: rep)
            m.current = Int64(bitPattern: current)
            m.open = Int32(bitPattern: UInt32(truncatingIfNeeded: open))
            m.day = Int32(bitPattern: UInt32(truncatingIfNeeded: day))
            m.newToday = Int32(bitPattern: UInt32(truncatingIfNeeded: newToday))
            m.assigned = Int64(bitPattern: assigned)
            m.paused = paused == 1
            m.maxOpenOverride = Int32(bitPattern: UInt32(truncatingIfNeeded: maxOpen))
            m.maxNewOverride = Int32(bitPattern: UInt32(truncatingIfNeeded: maxNew))
            members.append(m)
        }
        guard let recentCount = r.varint(), recentCount <= 1_000_000 else { throw DecodingError(description: "bad recent count") }
        for _ in 0..<recentCount {
            guard let h = r.fixed64() else { throw DecodingError(description: "truncated recent ids") }
            recent.append(h)
        }
    }
}
