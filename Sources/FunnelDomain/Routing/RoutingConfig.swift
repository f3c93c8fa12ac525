import Foundation

/// `deploy/routing.yaml`: who gets a lead. Ordered rules (first match wins) send a lead to a
/// pool or a named owner; pools distribute fairly among their members (weights, capacity,
/// working hours) and fall back to another pool or a queue when nobody is available.
/// Its `version` is on every routed and stage-changed event.
public struct RoutingConfig: Sendable, Equatable {
    public var version: String
    public var defaultPool: String
    public var rules: [RoutingRule]
    public var pools: [String: Pool]
    /// Named groups of countries (`dach: [DE, AT, CH]`) that rules can match as `region`.
    public var regions: [String: Set<String>]
    public var recycle = Recycle()

    /// When closed leads come back: a lost lead goes to nurture after `lostAfterDays`; a lead
    /// sales rejected (it goes to nurture at once) cannot be an MQL again for `rejectedCoolOffDays`.
    public struct Recycle: Sendable, Equatable {
        public var lostAfterDays = 90
        public var rejectedCoolOffDays = 30
        public init(lostAfterDays: Int = 90, rejectedCoolOffDays: Int = 30) {
            self.lostAfterDays = lostAfterDays; self.rejectedCoolOffDays = rejectedCoolOffDays
        }
    }

    public init(version: String, defaultPool: String, rules: [RoutingRule], pools: [String: Pool], regions: [String: Set<String>] = [:]) {
        self.version = version; self.defaultPool = defaultPool; self.rules = rules; self.pools = pools; self.regions = regions
    }

    /// Every MQL to one named owner, a one-pool config otherwise unused: for tests and benchmarks
    /// that exercise the lifecycle without pools.
    public static func everyoneTo(_ owner: String, version: String = "single-owner") -> RoutingConfig {
        RoutingConfig(version: version, defaultPool: "default", rules: [RoutingRule(name: "everyone", conditions: [], target: .owner(owner))],
                      pools: ["default": Pool(name: "default", members: [Member(rep: owner)])])
    }

    /// A pool of reps.
    public struct Pool: Sendable, Equatable {
        public var name: String
        public var members: [Member]
        /// Minutes an assigned lead may wait for `accepted` before the SLA is breached.
        public var slaMinutes: Int?
        public var fallback: Fallback

        public init(name: String, members: [Member], slaMinutes: Int? = nil, fallback: Fallback = .queue("unassigned")) {
            self.name = name; self.members = members; self.slaMinutes = slaMinutes; self.fallback = fallback
        }
    }

    public enum Fallback: Sendable, Equatable {
        case pool(String)
        case queue(String)
    }

    /// A rep in a pool.
    public struct Member: Sendable, Equatable {
        public var rep: String
        /// Share of the pool's leads relative to the other members (integer ≥ 1).
        public var weight: Int
        /// At most this many open leads (assigned, not yet customer/lost/nurture/disqualified).
        public var maxOpen: Int?
        /// At most this many new leads per day (the day in the member's time zone).
        public var maxNewPerDay: Int?
        public var hours: WorkingHours?

        public init(rep: String, weight: Int = 1, maxOpen: Int? = nil, maxNewPerDay: Int? = nil, hours: WorkingHours? = nil) {
            self.rep = rep; self.weight = weight; self.maxOpen = maxOpen; self.maxNewPerDay = maxNewPerDay; self.hours = hours
        }
    }
}

/// One routing rule: conditions on the lead's profile and score, and where the lead goes.
public struct RoutingRule: Sendable, Equatable {
    public var name: String
    public var conditions: [Condition]
    public var target: Target
    /// `hot`: assigned at once and the owner is alerted.
    public var priority: Priority
    /// Route at identification, before the lead is an MQL ("fast track": a known account's owner).
    public var beforeMQL: Bool

    public init(name: String, conditions: [Condition], target: Target, priority: Priority = .normal, beforeMQL: Bool = false) {
        self.name = name; self.conditions = conditions; self.target = target; self.priority = priority; self.beforeMQL = beforeMQL
    }

    public enum Target: Sendable, Equatable {
        case pool(String)
        case owner(String)
        /// The account owner that enrichment found (the rule does not match without one).
        case accountOwner
    }

    public enum Priority: String, Sendable, Equatable { case normal, hot }

    public enum Condition: Sendable, Equatable {
        /// A text field is one of the values (case-insensitive).
        case oneOf(TextField, Set<String>)
        /// A number is within [min, max] (either may be open).
        case range(NumberField, min: Double?, max: Double?)
        /// The country is in one of the named regions.
        case region(Set<String>)
        /// Whether enrichment found an account owner.
        case hasAccountOwner(Bool)
    }

    public enum TextField: String, Sendable, CaseIterable {
        case country, industry, source, campaign, grade, quadrant, accountTier = "account_tier", emailClass = "email_class"
        /// Enrichment's intent (`partner`, …; disqualified intents never reach routing).
        case intent
    }

    public enum NumberField: String, Sendable, CaseIterable {
        case employees, total, fit, interest
    }
}

/// Working hours of a member: days of the week and a daily window in a time zone.
public struct WorkingHours: Sendable, Equatable {
    public var timeZone: TimeZone
    /// Minutes after local midnight: `start..<end`.
    public var start: Int
    public var end: Int
    /// ISO weekdays (1 = Monday … 7 = Sunday).
    public var days: Set<Int>

    public init(timeZone: TimeZone, start: Int, end: Int, days: Set<Int> = Set(1...7)) {
        self.timeZone = timeZone; self.start = start; self.end = end; self.days = days
    }

    /// Whether `time` (ms since the epoch) is inside the hours.
    public func contains(_ time: Int64) -> Bool {
        let local = Self.local(time, in: timeZone)
        return days.contains(local.weekday) && local.minute >= start && local.minute < end
    }

    /// `time` plus `minutes` of working time: the clock only runs inside the hours and days
    /// (an SLA of 60 minutes from Friday 16:30 with hours 09:00-17:00 ends Monday 09:30).
    public func adding(minutes: Int, to time: Int64) -> Int64 {
        var t = time, remaining = Int64(minutes) * 60_000
        let dayMs: Int64 = 86_400_000, startMs = Int64(start) * 60_000, endMs = Int64(end) * 60_000
        for _ in 0..<800 where !days.isEmpty { // two years of days at most: a guard, not a limit reached in practice
            let offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t) / 1000))) * 1000
            let local = t + offset
            let msOfDay = local - Self.floorDiv(local, dayMs) * dayMs
            let weekday = Self.local(t, in: timeZone).weekday
            if days.contains(weekday) && msOfDay >= startMs && msOfDay < endMs {
                let available = endMs - msOfDay
                if remaining <= available { return t + remaining }
                remaining -= available
                t += available
            } else if days.contains(weekday) && msOfDay < startMs {
                t += startMs - msOfDay
            } else {
                t += dayMs - msOfDay + startMs // the next day's start (that day is checked next round)
            }
        }
        return t + remaining
    }

    /// The day number (days since 1970-01-01) of `time` in `zone`: the unit of a daily cap.
    public static func day(_ time: Int64, in zone: TimeZone) -> Int32 {
        let seconds = time / 1000 + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(time) / 1000)))
        return Int32(floorDiv(seconds, 86_400))
    }

    static func local(_ time: Int64, in zone: TimeZone) -> (weekday: Int, minute: Int) {
        let seconds = time / 1000 + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(time) / 1000)))
        let days = floorDiv(seconds, 86_400)
        let minute = Int((seconds - days * 86_400) / 60)
        // 1970-01-01 was a Thursday (ISO 4).
        let weekday = Int(((days % 7) + 7 + 3) % 7) + 1
        return (weekday, minute)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    static let dayNames = ["mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7]
}

// MARK: - Parsing

extension RoutingConfig {
    public static let fileName = "routing.yaml"

    /// Parses and checks `routing.yaml`: every error names the file, line and field.
    public static func parse(yaml: String, file: String = fileName) throws(ConfigFileError) -> RoutingConfig {
        let root = try ConfigNode.parse(yaml: yaml, file: file)
        _ = try root.entries(allowed: ["version", "default_pool", "rules", "pools", "regions", "recycle"])
        var recycle = Recycle()
        if let node = root.optional("recycle") {
            _ = try node.entries(allowed: ["lost_after_days", "rejected_cool_off_days"])
            if let n = node.optional("lost_after_days") { recycle.lostAfterDays = try n.int(min: 1) }
            if let n = node.optional("rejected_cool_off_days") { recycle.rejectedCoolOffDays = try n.int(min: 0) }
        }
        let version = try root.required("version").nonEmptyString()
        var regions: [String: Set<String>] = [:]
        if let node = root.optional("regions") {
            for (name, countries) in try node.entries() {
                regions[name] = Set(try countries.strings().map { $0.uppercased() })
            }
        }
        var pools: [String: Pool] = [:]
        var poolNodes: [String: ConfigNode] = [:]
        for (name, node) in try root.required("pools").entries() {
            pools[name] = try parsePool(name, node)
            poolNodes[name] = node
        }
        if pools.isEmpty { throw try root.required("pools").error("needs at least one pool") }
        let defaultNode = try root.required("default_pool")
        let defaultPool = try defaultNode.nonEmptyString()
        if pools[defaultPool] == nil { throw defaultNode.error("unknown pool '\(defaultPool)' (pools: \(pools.keys.sorted().joined(separator: ", ")))") }
        // Fallbacks name existing pools and never loop.
        for (name, pool) in pools {
            var seen: [String] = [name]
            var next = pool.fallback
            while case .pool(let other) = next {
                let at = poolNodes[seen.last!]!.optional("fallback")!
                guard let target = pools[other] else { throw at.error("unknown pool '\(other)'") }
                if seen.contains(other) { throw at.error("fallbacks loop: \((seen + [other]).joined(separator: " → "))") }
                seen.append(other)
                next = target.fallback
            }
        }
        var rules: [RoutingRule] = []
        if let node = root.optional("rules") {
            for item in try node.items() {
                let rule = try parseRule(item, pools: pools, regions: regions)
                if rules.contains(where: { $0.name == rule.name }) { throw try item.required("name").error("duplicate rule name '\(rule.name)'") }
                rules.append(rule)
            }
        }
        var config = RoutingConfig(version: version, defaultPool: defaultPool, rules: rules, pools: pools, regions: regions)
        config.recycle = recycle
        return config
    }

    private static func parsePool(_ name: String, _ node: ConfigNode) throws(ConfigFileError) -> Pool {
        _ = try node.entries(allowed: ["members", "sla_minutes", "fallback"])
        var members: [Member] = []
        let membersNode = try node.required("members")
        for item in try membersNode.items() {
            _ = try item.entries(allowed: ["rep", "weight", "max_open", "max_new_per_day", "timezone", "hours", "days"])
            let rep = try item.required("rep").nonEmptyString()
            if members.contains(where: { $0.rep == rep }) { throw try item.required("rep").error("'\(rep)' is already a member of pool '\(name)'") }
            var member = Member(rep: rep)
            if let w = item.optional("weight") { member.weight = try w.int(min: 1) }
            if let m = item.optional("max_open") { member.maxOpen = try m.int(min: 0) }
            if let m = item.optional("max_new_per_day") { member.maxNewPerDay = try m.int(min: 0) }
            member.hours = try parseHours(item)
            members.append(member)
        }
        if members.isEmpty { throw membersNode.error("needs at least one member") }
        var pool = Pool(name: name, members: members)
        if let sla = node.optional("sla_minutes") { pool.slaMinutes = try sla.int(min: 1) }
        if let fallback = node.optional("fallback") {
            let entries = try fallback.entries(allowed: ["pool", "queue"])
            guard entries.count == 1, let (kind, value) = entries.first else { throw fallback.error("needs exactly one of pool, queue") }
            pool.fallback = kind == "pool" ? .pool(try value.nonEmptyString()) : .queue(try value.nonEmptyString())
        }
        return pool
    }

    private static func parseHours(_ item: ConfigNode) throws(ConfigFileError) -> WorkingHours? {
        let zoneNode = item.optional("timezone"), hoursNode = item.optional("hours"), daysNode = item.optional("days")
        guard zoneNode != nil || hoursNode != nil || daysNode != nil else { return nil }
        var zone = TimeZone(identifier: "UTC")!
        if let zoneNode {
            let id = try zoneNode.nonEmptyString()
            guard let known = TimeZone(identifier: id) else { throw zoneNode.error("unknown time zone '\(id)' (an IANA name such as Europe/Berlin)") }
            zone = known
        }
        var start = 0, end = 24 * 60
        if let hoursNode {
            let text = try hoursNode.nonEmptyString()
            let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
            func minutes(_ s: String) -> Int? {
                let hm = s.split(separator: ":")
                guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0..<60).contains(m), h * 60 + m <= 1440 else { return nil }
                return h * 60 + m
            }
            guard parts.count == 2, let s = minutes(parts[0]), let e = minutes(parts[1]), s < e else {
                throw hoursNode.error("expected HH:MM-HH:MM with the start before the end, e.g. 09:00-17:30")
            }
            start = s; end = e
        }
        var days = Set(1...7)
        if let daysNode {
            days = []
            for name in try daysNode.strings() {
                let lower = name.lowercased()
                let range = lower.split(separator: "-").map(String.init)
                if range.count == 2, let a = WorkingHours.dayNames[range[0]], let b = WorkingHours.dayNames[range[1]], a <= b {
                    days.formUnion(a...b)
                } else if let d = WorkingHours.dayNames[lower] {
                    days.insert(d)
                } else {
                    throw daysNode.error("unknown day '\(name)' (mon … sun, or a range such as mon-fri)")
                }
            }
        }
        return WorkingHours(timeZone: zone, start: start, end: end, days: days)
    }

    private static func parseRule(_ item: ConfigNode, pools: [String: Pool], regions: [String: Set<String>]) throws(ConfigFileError) -> RoutingRule {
        _ = try item.entries(allowed: ["name", "when", "pool", "owner", "priority", "before_mql"])
        let name = try item.required("name").nonEmptyString()
        var conditions: [RoutingRule.Condition] = []
        if let when = item.optional("when") {
            let textFields = Dictionary(uniqueKeysWithValues: RoutingRule.TextField.allCases.map { ($0.rawValue, $0) })
            let numberFields = Dictionary(uniqueKeysWithValues: RoutingRule.NumberField.allCases.map { ($0.rawValue, $0) })
            let known = Set(textFields.keys).union(numberFields.keys).union(["region", "account_owner"])
            for (field, value) in try when.entries(allowed: known) {
                if let text = textFields[field] {
                    conditions.append(.oneOf(text, Set(try value.strings().map { $0.lowercased() })))
                } else if let number = numberFields[field] {
                    let bounds = try value.entries(allowed: ["min", "max"])
                    if bounds.isEmpty { throw value.error("needs min, max or both") }
                    let min = try value.optional("min")?.double(), max = try value.optional("max")?.double()
                    if let min, let max, min > max { throw value.error("min must not exceed max") }
                    conditions.append(.range(number, min: min, max: max))
                } else if field == "region" {
                    let names = try value.strings()
                    for region in names where regions[region] == nil {
                        throw value.error("unknown region '\(region)' (define it under regions:)")
                    }
                    conditions.append(.region(Set(names.flatMap { regions[$0]! })))
                } else {
                    conditions.append(.hasAccountOwner(try value.bool()))
                }
            }
        }
        let poolNode = item.optional("pool"), ownerNode = item.optional("owner")
        let target: RoutingRule.Target
        switch (poolNode, ownerNode) {
        case (let p?, nil):
            let pool = try p.nonEmptyString()
            if pools[pool] == nil { throw p.error("unknown pool '\(pool)' (pools: \(pools.keys.sorted().joined(separator: ", ")))") }
            target = .pool(pool)
        case (nil, let o?):
            let owner = try o.nonEmptyString()
            target = owner == "account" ? .accountOwner : .owner(owner)
        default:
            throw item.error("rule '\(name)' needs exactly one of pool, owner")
        }
        var rule = RoutingRule(name: name, conditions: conditions, target: target)
        if let p = item.optional("priority") {
            let text = try p.nonEmptyString()
            guard let priority = RoutingRule.Priority(rawValue: text) else { throw p.error("expected normal or hot") }
            rule.priority = priority
        }
        if let b = item.optional("before_mql") { rule.beforeMQL = try b.bool() }
        return rule
    }
}
