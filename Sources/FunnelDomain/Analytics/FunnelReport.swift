/// What `funnel report` computes from a ``FunnelHistory``: reach and conversion per stage,
/// time in stage and time to convert, leakage, breakdowns by source, campaign and capture
/// cohort, revenue by first touch, owner performance. The JSON field names are a documented,
/// stable contract (README "Funnel report"); add fields, never rename them.
///
/// Definitions (the same in the terminal, JSON and HTML output):
/// - **Window**: a lead belongs to the report when its first event (normally `captured`) lies in
///   `[since, until)`; everything it did afterwards counts, so every rate compares one cohort.
/// - **Reached** (`leads`, any-stage counting): the lead entered the stage at least once, however
///   often. **In order** (`leads_in_order`): it entered captured → identified → mql → sal → sql →
///   customer in that order (each first entry not before the previous one's).
/// - **Time in stage**: from entering a stage to the next transition; a visit still open when the
///   history ends is not counted. **Time to convert** A→B: first entry of A to the first entry of
///   B after it.
/// - Percentiles interpolate linearly between the closest ranks (NumPy's default).
/// - **Leakage**: transitions to `disqualified`, `lost` or `nurture`; a sales rejection (reason
///   "rejected by sales: …", which recycles to nurture) is `rejected`. Numbers in reasons become
///   `N` so "score 42 below 60" and "score 51 below 60" are one reason. `share` is of the
///   cohort's captured leads; a lead counts once per (to, from, reason).
/// - **Source / campaign**: first touch (the first the lead's events name; `(none)` without).
/// - **Owners**: `assigned` leads the owner got at `mql`; `accepted` those they took to `sal`;
///   time to accept from the `sal` event's `seconds_to_accept`; `sla_breaches` SLA reminders.
public struct FunnelReport: Codable, Sendable, Equatable {
    public var generatedAt: String
    public var window: Window
    public var leads: Int
    public var stages: [StageRow]
    public var timeInStage: [Durations]
    public var timeToConvert: [Durations]
    public var leakage: [LeakageRow]
    public var bySource: [Breakdown]
    public var byCampaign: [Breakdown]
    public var cohorts: [Breakdown]
    public var owners: [OwnerRow]

    enum CodingKeys: String, CodingKey {
        case generatedAt = "generated_at", window, leads, stages, timeInStage = "time_in_stage", timeToConvert = "time_to_convert"
        case leakage, bySource = "by_source", byCampaign = "by_campaign", cohorts, owners
    }

    public struct Window: Codable, Sendable, Equatable {
        public var since: String?
        public var until: String?
        /// Event time of the first and last transition read.
        public var first: String?
        public var last: String?
    }

    public struct StageRow: Codable, Sendable, Equatable {
        public var stage: Stage
        public var leads: Int
        public var fromPrevious: Double?
        public var fromCaptured: Double?
        public var leadsInOrder: Int
        public var inOrderFromPrevious: Double?
        public var inOrderFromCaptured: Double?
        enum CodingKeys: String, CodingKey {
            case stage, leads, fromPrevious = "from_previous", fromCaptured = "from_captured", leadsInOrder = "leads_in_order"
            case inOrderFromPrevious = "in_order_from_previous", inOrderFromCaptured = "in_order_from_captured"
        }
    }

    /// Durations of a stage (time in stage) or of a conversion (`stage` is then `from→to`).
    public struct Durations: Codable, Sendable, Equatable {
        public var stage: String
        public var count: Int
        public var medianS: Double?
        public var p90S: Double?
        public var histogram: [Bucket]
        enum CodingKeys: String, CodingKey { case stage, count, medianS = "median_s", p90S = "p90_s", histogram }
    }

    /// Durations up to `le_s` seconds (and above the previous bucket); `le_s` null: the rest.
    public struct Bucket: Codable, Sendable, Equatable {
        public var leS: Double?
        public var label: String
        public var count: Int
        enum CodingKeys: String, CodingKey { case leS = "le_s", label, count }
    }

    public struct LeakageRow: Codable, Sendable, Equatable {
        /// `disqualified`, `lost`, `nurture` or `rejected`.
        public var to: String
        public var from: String?
        public var reason: String
        public var leads: Int
        public var share: Double
    }

    /// One row of a breakdown: by source, campaign or capture cohort (ISO week, `2026-W49`).
    public struct Breakdown: Codable, Sendable, Equatable {
        public var key: String
        public var leads: Int
        public var mql: Int
        public var sal: Int
        public var sql: Int
        public var customer: Int
        public var mqlRate: Double?
        public var customerRate: Double?
        /// Revenue won, per currency (sorted by currency).
        public var won: [Money]
        enum CodingKeys: String, CodingKey { case key, leads, mql, sal, sql, customer, mqlRate = "mql_rate", customerRate = "customer_rate", won }
    }

    public struct Money: Codable, Sendable, Equatable {
        public var currency: String
        public var amount: Double
        public var deals: Int
    }

    public struct OwnerRow: Codable, Sendable, Equatable {
        public var owner: String
        public var assigned: Int
        public var accepted: Int
        public var acceptRate: Double?
        public var medianTimeToAcceptS: Double?
        public var p90TimeToAcceptS: Double?
        public var slaBreaches: Int
        public var customers: Int
        enum CodingKeys: String, CodingKey {
            case owner, assigned, accepted, acceptRate = "accept_rate", medianTimeToAcceptS = "median_time_to_accept_s"
            case p90TimeToAcceptS = "p90_time_to_accept_s", slaBreaches = "sla_breaches", customers
        }
    }

    /// The main path, in order.
    public static let path: [Stage] = [.captured, .identified, .mql, .sal, .sql, .customer]
    /// The conversions whose time is reported.
    public static let conversions: [(Stage, Stage)] = [(.captured, .mql), (.mql, .sal), (.sal, .sql), (.sql, .customer)]
    /// Histogram edges (seconds) and labels for durations.
    public static let bucketEdges: [(Double?, String)] = [
        (60, "≤ 1 min"), (600, "≤ 10 min"), (3_600, "≤ 1 h"), (21_600, "≤ 6 h"), (86_400, "≤ 1 day"),
        (259_200, "≤ 3 days"), (604_800, "≤ 7 days"), (2_592_000, "≤ 30 days"), (nil, "> 30 days"),
    ]
}

// Absent values are written as explicit nulls: every documented key is always present.
extension FunnelReport.Window {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(since, forKey: .since); try c.encode(until, forKey: .until)
        try c.encode(first, forKey: .first); try c.encode(last, forKey: .last)
    }
}

extension FunnelReport.StageRow {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stage, forKey: .stage); try c.encode(leads, forKey: .leads)
        try c.encode(fromPrevious, forKey: .fromPrevious); try c.encode(fromCaptured, forKey: .fromCaptured)
        try c.encode(leadsInOrder, forKey: .leadsInOrder); try c.encode(inOrderFromPrevious, forKey: .inOrderFromPrevious)
        try c.encode(inOrderFromCaptured, forKey: .inOrderFromCaptured)
    }
}

extension FunnelReport.Durations {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stage, forKey: .stage); try c.encode(count, forKey: .count)
        try c.encode(medianS, forKey: .medianS); try c.encode(p90S, forKey: .p90S); try c.encode(histogram, forKey: .histogram)
    }
}

extension FunnelReport.Bucket {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(leS, forKey: .leS); try c.encode(label, forKey: .label); try c.encode(count, forKey: .count)
    }
}

extension FunnelReport.LeakageRow {
    enum CodingKeys: String, CodingKey { case to, from, reason, leads, share }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(to, forKey: .to); try c.encode(from, forKey: .from); try c.encode(reason, forKey: .reason)
        try c.encode(leads, forKey: .leads); try c.encode(share, forKey: .share)
    }
}

extension FunnelReport.Breakdown {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key); try c.encode(leads, forKey: .leads); try c.encode(mql, forKey: .mql)
        try c.encode(sal, forKey: .sal); try c.encode(sql, forKey: .sql); try c.encode(customer, forKey: .customer)
        try c.encode(mqlRate, forKey: .mqlRate); try c.encode(customerRate, forKey: .customerRate); try c.encode(won, forKey: .won)
    }
}

extension FunnelReport.OwnerRow {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(owner, forKey: .owner); try c.encode(assigned, forKey: .assigned); try c.encode(accepted, forKey: .accepted)
        try c.encode(acceptRate, forKey: .acceptRate); try c.encode(medianTimeToAcceptS, forKey: .medianTimeToAcceptS)
        try c.encode(p90TimeToAcceptS, forKey: .p90TimeToAcceptS); try c.encode(slaBreaches, forKey: .slaBreaches)
        try c.encode(customers, forKey: .customers)
    }
}
