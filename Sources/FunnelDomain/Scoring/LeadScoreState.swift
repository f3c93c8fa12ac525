import Synchronization

/// One behavioural event as the scorer keeps it (16–24 bytes, model independent).
public struct ActivityRecord: Sendable, Equatable {
    public var type: ActivityType
    /// Event time, ms since the epoch.
    public var time: Int64
    /// The `duration_seconds` attribute, if any (visit duration); 0 if absent.
    public var durationSeconds: Int32
    /// Hash of the event id: a stable tie-break, so order of arrival never matters.
    public var idHash: UInt64

    public init(type: ActivityType, time: Int64, durationSeconds: Int32 = 0, idHash: UInt64) {
        self.type = type; self.time = time; self.durationSeconds = durationSeconds; self.idHash = idHash
    }

    static func < (a: ActivityRecord, b: ActivityRecord) -> Bool {
        a.time != b.time ? a.time < b.time : a.idHash < b.idHash
    }
}

/// Immutable holder of a lead's profile facts (see ``LeadScoreState/profile``), with the
/// results of a model's profile rules memoised (they depend on the profile alone, so they are
/// evaluated once per profile, not at every activity). The memo is inline bit masks for the
/// first two scores of one model, about 40 bytes per lead and no allocation.
final class ProfileBox: Sendable {
    let value: ProfileFacts
    private struct Memo {
        let owner: any AnyObject & Sendable
        let hits: (ProfileHits, ProfileHits)
    }
    private let memo = Mutex<Memo?>(nil)
    init(_ value: ProfileFacts) { self.value = value }

    /// The memoised results of score 0 or 1 for `owner` (a scorer's compiled model),
    /// computed by `compute` the first time.
    func hits(_ owner: any AnyObject & Sendable, score: Int,
              _ compute: (ProfileFacts) -> (ProfileHits, ProfileHits)) -> ProfileHits {
        let hits: (ProfileHits, ProfileHits)
        if let known = memo.withLock({ $0 }), known.owner === owner {
            hits = known.hits
        } else {
            hits = compute(value)
            memo.withLock { $0 = Memo(owner: owner, hits: hits) }
        }
        return score == 0 ? hits.0 : hits.1
    }
}

/// Which profile rules of one score a profile matches: bit `i` is rule `i` (fit rules, and
/// negative rules on a field). Models with more than 64 of either are not memoised.
struct ProfileHits: Sendable {
    var fit: UInt64 = 0
    var negative: UInt64 = 0
    func fit(_ i: Int) -> Bool { fit >> UInt64(i) & 1 == 1 }
    func negative(_ i: Int) -> Bool { negative >> UInt64(i) & 1 == 1 }
}

/// The bands of a score: what a sweep compares to decide whether a lead must be re-emitted.
public struct ScoreBands: Sendable, Equatable {
    public var grade: String
    public var quadrant: String
    public var interestBand: String
    public var mql: Bool

    public init(grade: String, quadrant: String, interestBand: String, mql: Bool) {
        self.grade = grade; self.quadrant = quadrant; self.interestBand = interestBand; self.mql = mql
    }

    private static let grades = ["A", "B", "C", "D"], quadrants = ["hot", "fit", "engaged", "cold"], bands = ["high", "medium", "low"]

    /// A compact code (the value sets are closed); nil for values outside them.
    var code: UInt32? {
        guard let g = Self.grades.firstIndex(of: grade), let q = Self.quadrants.firstIndex(of: quadrant),
              let b = Self.bands.firstIndex(of: interestBand) else { return nil }
        return UInt32(g) | UInt32(q) << 8 | UInt32(b) << 16 | (mql ? 1 << 24 : 0)
    }

    init?(code: UInt32) {
        let g = Int(code & 0xff), q = Int(code >> 8 & 0xff), b = Int(code >> 16 & 0xff)
        guard g < Self.grades.count, q < Self.quadrants.count, b < Self.bands.count else { return nil }
        self.init(grade: Self.grades[g], quadrant: Self.quadrants[q], interestBand: Self.bands[b], mql: code >> 24 & 1 == 1)
    }
}

/// Per-lead scoring state. Pure value; the scorer's store keeps one per lead and writes it
/// to a compacted changelog (``encoded()`` / ``init(decoding:)``) after each change.
public struct LeadScoreState: Sendable, Equatable {
    public static func == (a: LeadScoreState, b: LeadScoreState) -> Bool {
        a.profile == b.profile && a.activities == b.activities && a.seen == b.seen && a.lastEventTime == b.lastEventTime
            && a.mql == b.mql && a.emittedCode == b.emittedCode
    }

    /// The newest enriched profile (nil until it arrives; activities are kept meanwhile).
    /// Boxed: a store holds millions of states, and a dictionary's empty slots cost the
    /// inline size of its values — keeping the state small keeps the store small.
    public var profile: ProfileFacts? {
        get { profileBox?.value }
        set { profileBox = newValue.map(ProfileBox.init) }
    }
    private var profileBox: ProfileBox?

    /// Score 0 or 1's profile-rule results for `owner`'s model (nil without a profile), computed
    /// once per profile.
    func profileHits(_ owner: any AnyObject & Sendable, score: Int,
                     _ compute: (ProfileFacts) -> (ProfileHits, ProfileHits)) -> ProfileHits? {
        profileBox?.hits(owner, score: score, compute)
    }
    /// Activities, oldest first, at most ``maxActivities`` (the newest are kept).
    public var activities: [ActivityRecord] = []
    /// Hashes of recent input event ids: a re-delivered event changes nothing.
    public var seen: [UInt64] = []
    /// The newest event time seen for this lead (ms): the reference time for decay and windows.
    public var lastEventTime: Int64 = 0
    /// Whether the lead is an MQL (with hysteresis: see ``ScoringModel/MQLRule``).
    public var mql = false
    /// The bands of the last emitted score (stored as a 4-byte code).
    public var emitted: ScoreBands? {
        get { emittedCode.flatMap(ScoreBands.init(code:)) }
        set { emittedCode = newValue?.code }
    }
    private var emittedCode: UInt32?

    public static let maxActivities = 200
    public static let maxSeen = 32

    public init() {}

    /// Records an event id; false if it was seen recently (a duplicate).
    public mutating func markSeen(_ eventID: String) -> Bool {
        let hash = Self.hash(eventID)
        if seen.contains(hash) { return false }
        seen.append(hash)
        if seen.count > Self.maxSeen { seen.removeFirst(seen.count - Self.maxSeen) }
        return true
    }

    /// Set when an event changed the lead's past (a new profile, or an activity not newer than
    /// every earlier one): the MQL flag is then recomputed over the whole event-time history,
    /// so it does not depend on arrival order. Not persisted.
    var historyChanged = false

    public mutating func apply(profile facts: ProfileFacts) {
        if let current = profile, !facts.isNewer(than: current) { return }
        profile = facts
        historyChanged = true
        lastEventTime = max(lastEventTime, facts.time)
    }

    public mutating func apply(activity: ActivityRecord) {
        if activity.time <= lastEventTime { historyChanged = true }
        lastEventTime = max(lastEventTime, activity.time)
        // Keep sorted by (time, id hash): usually an append.
        var index = activities.count
        while index > 0 && activity < activities[index - 1] { index -= 1 }
        activities.insert(activity, at: index)
        if activities.count > Self.maxActivities { activities.removeFirst(activities.count - Self.maxActivities) }
    }

    /// 64-bit FNV-1a.
    public static func hash(_ text: String) -> UInt64 { FNV1a.hash(text) }
}

// MARK: - Binary encoding (the changelog value)

extension LeadScoreState {
    /// 2 added the enrichment facts `intent`, `intent_reason`, `account_id`, `match` after the
    /// profile's event id; version 1 records (written before) are still read.
    static let formatVersion: UInt8 = 2

    /// A compact binary form: a version byte, then varints and length-prefixed strings.
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.byte(Self.formatVersion)
        w.varint(UInt64(bitPattern: lastEventTime))
        w.byte((mql ? 1 : 0) | (profile != nil ? 2 : 0) | (emitted != nil ? 4 : 0))
        if let p = profile {
            for s in [p.jobTitle, p.company, p.companyDomain, p.industry, p.country, p.emailDomain, p.source, p.campaign, p.accountOwner] {
                w.optionalString(s)
            }
            w.varint(p.employees.map { UInt64($0) + 1 } ?? 0)
            w.string(p.emailClass.rawValue)
            w.byte(p.contactAvailable ? 1 : 0)
            w.varint(UInt64(p.attributes.count))
            for (k, v) in p.attributes.sorted(by: { $0.key < $1.key }) { w.string(k); w.string(v) }
            w.varint(UInt64(bitPattern: p.time))
            w.string(p.eventID)
            for s in [p.intent, p.intentReason, p.accountID, p.match] { w.optionalString(s) }
        }
        if let e = emitted {
            w.string(e.grade); w.string(e.quadrant); w.string(e.interestBand); w.byte(e.mql ? 1 : 0)
        }
        w.varint(UInt64(activities.count))
        for a in activities {
            w.byte(ActivityRecord.code(a.type))
            w.varint(UInt64(bitPattern: a.time))
            w.varint(UInt64(UInt32(bitPattern: a.durationSeconds)))
            w.fixed64(a.idHash)
        }
        w.varint(UInt64(seen.count))
        for h in seen { w.fixed64(h) }
        return w.bytes
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(decoding bytes: some Collection<UInt8>) throws(DecodingError) {
        var r = ByteReader(Array(bytes))
        guard let version = r.byte(), version == 1 || version == Self.formatVersion else {
            throw DecodingError(description: "unknown state format version")
        }
        self.init()
        guard let last = r.varint(), let flags = r.byte() else { throw DecodingError(description: "truncated header") }
        lastEventTime = Int64(bitPattern: last)
        mql = flags & 1 != 0
        if flags & 2 != 0 {
            var s: [String?] = []
            for _ in 0..<9 { guard let v = r.optionalString() else { throw DecodingError(description: "truncated profile") }; s.append(v) }
            guard let employees = r.varint(), let cls = r.string(), let emailClass = EmailClass(rawValue: cls),
                  let contact = r.byte(), let count = r.varint() else { throw DecodingError(description: "truncated profile") }
            var attributes: [String: String] = [:]
            for _ in 0..<count {
                guard let k = r.string(), let v = r.string() else { throw DecodingError(description: "truncated attributes") }
                attributes[k] = v
            }
            guard let time = r.varint(), let id = r.string() else { throw DecodingError(description: "truncated profile") }
            profile = ProfileFacts(jobTitle: s[0], company: s[1], companyDomain: s[2], employees: employees == 0 ? nil : Int(employees - 1),
                                   industry: s[3], country: s[4], emailClass: emailClass, emailDomain: s[5], source: s[6],
                                   campaign: s[7], contactAvailable: contact == 1, accountOwner: s[8], attributes: attributes,
                                   time: Int64(bitPattern: time), eventID: id)
            if version >= 2 {
                var e: [String?] = []
                for _ in 0..<4 { guard let v = r.optionalString() else { throw DecodingError(description: "truncated enrichment facts") }; e.append(v) }
                profile?.intent = e[0]; profile?.intentReason = e[1]; profile?.accountID = e[2]; profile?.match = e[3]
            }
        }
        if flags & 4 != 0 {
            guard let g = r.string(), let q = r.string(), let i = r.string(), let m = r.byte() else { throw DecodingError(description: "truncated bands") }
            emitted = ScoreBands(grade: g, quadrant: q, interestBand: i, mql: m == 1)
        }
        guard let count = r.varint(), count <= 100_000 else { throw DecodingError(description: "bad activity count") }
        activities.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let code = r.byte(), let type = ActivityRecord.type(code), let time = r.varint(), let duration = r.varint(),
                  let hash = r.fixed64() else { throw DecodingError(description: "truncated activity") }
            activities.append(ActivityRecord(type: type, time: Int64(bitPattern: time),
                                             durationSeconds: Int32(bitPattern: UInt32(truncatingIfNeeded: duration)), idHash: hash))
        }
        guard let seenCount = r.varint(), seenCount <= 10_000 else { throw DecodingError(description: "bad seen count") }
        for _ in 0..<seenCount {
            guard let h = r.fixed64() else { throw DecodingError(description: "truncated seen ids") }
            seen.append(h)
        }
    }
}

extension ActivityRecord {
    private static let types = ActivityType.allCases
    static func code(_ type: ActivityType) -> UInt8 { UInt8(types.firstIndex(of: type)!) }
    static func type(_ code: UInt8) -> ActivityType? { Int(code) < types.count ? types[Int(code)] : nil }
}

