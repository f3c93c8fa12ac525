/// Where a lead goes: the rule that matched and its resolved target.
public struct RouteChoice: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case pool(String)
        case owner(String)
    }
    /// The rule's name, or `default` (the default pool).
    public var rule: String
    public var target: Target
    public var priority: RoutingRule.Priority

    public init(rule: String, target: Target, priority: RoutingRule.Priority) {
        self.rule = rule; self.target = target; self.priority = priority
    }
}

extension RoutingRule {
    /// Whether every condition holds for the scored lead (a missing field never matches).
    public func matches(_ s: LeadScored) -> Bool {
        conditions.allSatisfy { condition in
            switch condition {
            case .oneOf(let field, let values):
                guard let value = Self.text(field, of: s) else { return false }
                return values.contains(value.lowercased())
            case .range(let field, let min, let max):
                guard let value = Self.number(field, of: s) else { return false }
                return (min.map { value >= $0 } ?? true) && (max.map { value <= $0 } ?? true)
            case .region(let countries):
                guard let country = s.country else { return false }
                return countries.contains(country.uppercased())
            case .hasAccountOwner(let wanted):
                return (s.accountOwner != nil) == wanted
            }
        }
    }

    static func text(_ field: TextField, of s: LeadScored) -> String? {
        switch field {
        case .country: s.country
        case .industry: s.industry
        case .source: s.source
        case .campaign: s.campaign
        case .grade: s.grade
        case .quadrant: s.quadrant
        case .accountTier: s.accountTier
        case .emailClass: s.emailClass?.rawValue
        case .intent: s.intent?.rawValue
        }
    }

    static func number(_ field: NumberField, of s: LeadScored) -> Double? {
        switch field {
        case .employees: s.employees.map(Double.init)
        case .total: s.total
        case .fit: s.fit
        case .interest: s.interest
        }
    }

    /// The target for this lead, or nil if the rule cannot apply (an account-owner rule for a
    /// lead without an account owner).
    func resolve(_ s: LeadScored) -> RouteChoice.Target? {
        switch target {
        case .pool(let pool): .pool(pool)
        case .owner(let rep): .owner(rep)
        case .accountOwner: s.accountOwner.map { .owner($0) }
        }
    }
}

extension RoutingConfig {
    /// Where an MQL goes: the first rule that matches (ordered, first match wins), else the
    /// default pool.
    public func route(_ s: LeadScored) -> RouteChoice {
        for rule in rules where rule.matches(s) {
            if let target = rule.resolve(s) { return RouteChoice(rule: rule.name, target: target, priority: rule.priority) }
        }
        return RouteChoice(rule: "default", target: .pool(defaultPool), priority: .normal)
    }

    /// A fast track before the lead is an MQL: the first `before_mql` rule that matches.
    public func fastTrack(_ s: LeadScored) -> RouteChoice? {
        for rule in rules where rule.beforeMQL && rule.matches(s) {
            if let target = rule.resolve(s) { return RouteChoice(rule: rule.name, target: target, priority: rule.priority) }
        }
        return nil
    }
}
