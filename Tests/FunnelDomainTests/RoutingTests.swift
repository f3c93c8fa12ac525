import Foundation
import FunnelDomain
import Testing

/// routing.yaml, rules and pool distribution: pure, exact counts.
@Suite("Routing: rules and fair pools")
struct RoutingTests {
    static let yaml = """
    version: "r-test-1"
    default_pool: inbound
    regions:
      dach: [DE, AT, CH]
    rules:
      - name: account
        when: { account_owner: true }
        owner: account
      - name: dach-enterprise
        when: { region: dach, employees: { min: 1000 } }
        pool: enterprise
        priority: hot
      - name: webinar
        when: { source: [webinar, Events], grade: [A, B] }
        owner: rep-events
    pools:
      inbound:
        sla_minutes: 60
        members:
          - { rep: a }
          - { rep: b }
          - { rep: c }
          - { rep: d }
      enterprise:
        fallback: { pool: inbound }
        members:
          - { rep: x, weight: 2, max_open: 5, timezone: Europe/Berlin, hours: "09:00-17:00", days: mon-fri }
          - { rep: y, max_new_per_day: 2 }
    """

    static func lead(country: String? = nil, employees: Int? = nil, source: String? = nil, grade: String = "B",
                     owner: String? = nil) -> LeadScored {
        var s = LeadScored(leadID: "l", model: "m", total: 70, fit: 40, interest: 30, grade: grade, quadrant: "hot", rules: [],
                           disqualification: nil, profileKnown: true, contactAvailable: true, emailClass: .corporate,
                           accountOwner: owner, source: source, campaign: nil, scoredAt: "2026-12-02T10:00:00Z")
        s.country = country
        s.employees = employees
        return s
    }

    static let config = try! RoutingConfig.parse(yaml: yaml, file: "routing.yaml")

    @Test("the shipped routing.yaml parses")
    func shipped() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy/routing.yaml")
        let config = try RoutingConfig.parse(yaml: String(contentsOf: url, encoding: .utf8))
        #expect(!config.version.isEmpty && config.pools[config.defaultPool] != nil)
    }

    @Test("errors name the file, the line and the field", arguments: [
        ("max_open: 5", "max_open: five", "routing.yaml:27: pools.enterprise.members[0].max_open: expected an integer"),
        ("{ rep: y, max_new_per_day: 2 }", "{ rep: y, max_new_per_dya: 2 }", "routing.yaml:28: pools.enterprise.members[1].max_new_per_dya: unknown key"),
        ("weight: 2", "weight: 0", "routing.yaml:27: pools.enterprise.members[0].weight: must be an integer >= 1"),
        ("Europe/Berlin", "Europe/Atlantis", "routing.yaml:27: pools.enterprise.members[0].timezone: unknown time zone 'Europe/Atlantis'"),
        ("\"09:00-17:00\"", "\"17:00-09:00\"", "routing.yaml:27: pools.enterprise.members[0].hours: expected HH:MM-HH:MM"),
        ("days: mon-fri", "days: mon-fry", "routing.yaml:27: pools.enterprise.members[0].days: unknown day 'mon-fry'"),
        ("pool: enterprise\n", "pool: enterprize\n", "routing.yaml:11: rules[1].pool: unknown pool 'enterprize'"),
        ("region: dach", "region: nordics", "routing.yaml:10: rules[1].when.region: unknown region 'nordics'"),
        ("source: [webinar", "sauce: [webinar", "routing.yaml:14: rules[2].when.sauce: unknown key"),
        ("fallback: { pool: inbound }", "fallback: { pool: enterprise }", "routing.yaml:25: pools.enterprise.fallback: fallbacks loop: enterprise → enterprise"),
        ("default_pool: inbound", "default_pool: outbound", "routing.yaml:2: default_pool: unknown pool 'outbound'"),
        ("  - { rep: d }", "  - { rep: a }", "routing.yaml:23: pools.inbound.members[3].rep: 'a' is already a member of pool 'inbound'"),
        ("owner: rep-events", "owner: rep-events\n    pool: inbound", "routing.yaml:13: rules[2]: rule 'webinar' needs exactly one of pool, owner"),
        ("priority: hot", "priority: urgent", "routing.yaml:12: rules[1].priority: expected normal or hot"),
    ])
    func errors(_ change: (String, String, String)) {
        let yaml = Self.yaml.replacingOccurrences(of: change.0, with: change.1)
        #expect(yaml != Self.yaml)
        do {
            _ = try RoutingConfig.parse(yaml: yaml, file: "routing.yaml")
            Issue.record("accepted: \(change.1)")
        } catch {
            #expect(error.description.hasPrefix(change.2), "\(error.description)")
        }
    }

    @Test("rules: ordered, first match wins; regions and ranges; a missing field never matches; else the default pool")
    func rules() {
        let c = Self.config
        #expect(c.route(Self.lead(country: "DE", employees: 5000, owner: "acct")) == RouteChoice(rule: "account", target: .owner("acct"), priority: .normal))
        #expect(c.route(Self.lead(country: "at", employees: 1000)) == RouteChoice(rule: "dach-enterprise", target: .pool("enterprise"), priority: .hot))
        #expect(c.route(Self.lead(country: "DE", employees: 999)).rule == "default")
        #expect(c.route(Self.lead(country: "DE")).rule == "default") // employees unknown
        #expect(c.route(Self.lead(country: "FR", employees: 5000)).rule == "default")
        #expect(c.route(Self.lead(source: "events")).target == .owner("rep-events")) // case-insensitive
        #expect(c.route(Self.lead(source: "webinar", grade: "C")).target == .pool("inbound"))
    }

    func assign(_ n: Int, _ pool: RoutingConfig.Pool, _ state: inout PoolState, at time: Int64 = 0) -> [String: Int] {
        var counts: [String: Int] = [:]
        for _ in 0..<n { if let rep = state.assign(in: pool, at: time) { counts[rep, default: 0] += 1 } }
        return counts
    }

    @Test("1,000 leads into 4 equal reps: 250 each; weights 2:1:1: 500/250/250, interleaved")
    func fairness() {
        let equal = RoutingConfig.Pool(name: "p", members: ["a", "b", "c", "d"].map { .init(rep: $0) })
        var s = PoolState()
        s.align(with: equal)
        #expect(assign(1000, equal, &s) == ["a": 250, "b": 250, "c": 250, "d": 250])

        let weighted = RoutingConfig.Pool(name: "w", members: [.init(rep: "a", weight: 2), .init(rep: "b"), .init(rep: "c")])
        var w = PoolState()
        w.align(with: weighted)
        var sequence: [String] = []
        for _ in 0..<1000 { sequence.append(w.assign(in: weighted, at: 0)!) }
        #expect(Dictionary(grouping: sequence, by: { $0 }).mapValues(\.count) == ["a": 500, "b": 250, "c": 250])
        // Smooth: never three of the same in a row (a bulk of leads does not go to one rep).
        #expect(!zip(zip(sequence, sequence.dropFirst()), sequence.dropFirst(2)).contains { $0.0 == $0.1 && $0.1 == $1 })
    }

    @Test("a paused rep is skipped and gets no backlog when it returns; a rep at capacity waits for a release")
    func pausesAndCapacity() {
        let pool = RoutingConfig.Pool(name: "p", members: [.init(rep: "a"), .init(rep: "b"), .init(rep: "c", maxOpen: 3)])
        var s = PoolState()
        s.align(with: pool)
        s.apply(RepControl(pool: "p", rep: "a", paused: true, at: "2026-12-02T00:00:00Z"))
        #expect(assign(100, pool, &s) == ["b": 97, "c": 3]) // c full after 3
        s.apply(RepControl(pool: "p", rep: "a", paused: false, at: "2026-12-02T00:00:00Z"))
        s.release("c"); s.release("c"); s.release("c")
        s.apply(RepControl(pool: "p", rep: "c", maxOpen: 1000, at: "2026-12-02T00:00:00Z"))
        // Back in the round: a gets its share from now on, not the 33 it missed.
        let after = assign(300, pool, &s)
        #expect(after.values.allSatisfy { (99...101).contains($0) }, "\(after)")
        #expect(s.members.first { $0.rep == "a" }?.assigned == Int64(after["a"] ?? 0))
    }

    @Test("working hours in the member's time zone (with DST) and a daily cap per local day")
    func hoursAndDailyCap() {
        let c = Self.config, enterprise = c.pools["enterprise"]!
        let x = enterprise.members[0].hours!
        func t(_ s: String) -> Int64 { Timestamp.milliseconds(s)! }
        #expect(x.contains(t("2026-12-02T08:30:00Z")))   // Wednesday 09:30 in Berlin (UTC+1)
        #expect(!x.contains(t("2026-12-02T07:30:00Z")))  // 08:30 Berlin
        #expect(!x.contains(t("2026-12-05T10:00:00Z")))  // Saturday
        #expect(x.contains(t("2026-07-01T07:30:00Z")))   // 09:30 Berlin in summer (UTC+2)
        #expect(!x.contains(t("2026-07-01T15:30:00Z")))  // 17:30 Berlin in summer

        var s = PoolState()
        s.align(with: enterprise)
        // Saturday: x is out of hours, y takes two and reaches its daily cap; then nobody.
        let saturday = t("2026-12-05T10:00:00Z")
        #expect(s.assign(in: enterprise, at: saturday) == "y")
        #expect(s.assign(in: enterprise, at: saturday) == "y")
        #expect(s.assign(in: enterprise, at: saturday) == nil)
        guard case .forward("inbound", let reason) = c.decide(enterprise, state: &s, at: saturday) else {
            Issue.record("expected the fallback pool"); return
        }
        #expect(reason.contains("x out of hours") && reason.contains("y daily limit reached"))
        #expect(s.assign(in: enterprise, at: t("2026-12-06T10:00:00Z")) == "y") // a new day
    }

    @Test("an SLA counts working time only: 60 minutes from Friday 16:30 (hours 09:00-17:00 Berlin) end Monday 09:30")
    func slaInWorkingHours() {
        let hours = Self.config.pools["enterprise"]!.members[0].hours!
        func t(_ s: String) -> Int64 { Timestamp.milliseconds(s)! }
        #expect(hours.adding(minutes: 60, to: t("2026-12-04T15:30:00Z")) == t("2026-12-07T08:30:00Z")) // Fri 16:30 → Mon 09:30 (UTC+1)
        #expect(hours.adding(minutes: 30, to: t("2026-12-02T09:00:00Z")) == t("2026-12-02T09:30:00Z"))  // inside: plain
        #expect(hours.adding(minutes: 30, to: t("2026-12-05T12:00:00Z")) == t("2026-12-07T08:30:00Z")) // from Saturday
        #expect(hours.adding(minutes: 8 * 60, to: t("2026-12-02T08:00:00Z")) == t("2026-12-02T16:00:00Z")) // a whole working day
    }

    @Test("pool state round-trips through its binary form; requests are seen once")
    func poolStateCodec() throws {
        var s = PoolState()
        s.align(with: Self.config.pools["enterprise"]!)
        _ = s.assign(in: Self.config.pools["enterprise"]!, at: Timestamp.milliseconds("2026-12-02T10:00:00Z")!)
        s.apply(RepControl(pool: "enterprise", rep: "y", paused: true, maxOpen: 7, at: "2026-12-02T00:00:00Z"))
        #expect(s.markSeen("req-1") && !s.markSeen("req-1"))
        #expect(try PoolState(decoding: s.encoded()) == s)
    }
}
