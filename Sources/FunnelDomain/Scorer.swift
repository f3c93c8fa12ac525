/// Per-lead scoring state: the latest profile and activity counts. Pure value.
public struct LeadScoreState: Sendable, Equatable {
    public var profile: LeadEnriched?
    public var activityCounts: [ActivityType: Int] = [:]
    /// Recent input event ids, to ignore re-delivered events.
    public var seen: [String] = []
    public var source: String?
    public var campaign: String?

    public init() {}

    /// Records an event id; false if it was already seen (a duplicate).
    public mutating func markSeen(_ id: String, keep: Int = 64) -> Bool {
        if seen.contains(id) { return false }
        seen.append(id)
        if seen.count > keep { seen.removeFirst(seen.count - keep) }
        return true
    }
}

/// Evaluates a ``ScoringModel`` on a lead's state. No I/O, no clock.
/// `@unchecked`: `Regex` is an immutable value but not declared `Sendable`.
public struct Scorer: @unchecked Sendable {
    public let model: ScoringModel
    private let fitRegexes: [Int: Regex<AnyRegexOutput>]
    private let negativeRegexes: [Int: Regex<AnyRegexOutput>]

    public init(model: ScoringModel) {
        self.model = model
        var fit: [Int: Regex<AnyRegexOutput>] = [:]
        for (i, r) in model.fit.enumerated() { if let p = r.regex { fit[i] = try? Regex(p).ignoresCase() } }
        var neg: [Int: Regex<AnyRegexOutput>] = [:]
        for (i, r) in model.negative.enumerated() { if let p = r.regex { neg[i] = try? Regex(p).ignoresCase() } }
        fitRegexes = fit
        negativeRegexes = neg
    }

    public func score(_ state: LeadScoreState, leadID: String, at time: String) -> LeadScored {
        var rules: [RuleContribution] = []
        var fit = 0.0, interest = 0.0, negative = 0.0
        var disqualification: String?
        if let profile = state.profile {
            for (i, rule) in model.fit.enumerated() where matches(rule, profile, regex: fitRegexes[i]) {
                fit += rule.points
                rules.append(RuleContribution(rule: rule.name, category: "fit", points: rule.points))
            }
        }
        for rule in model.interest {
            let count = state.activityCounts[rule.activity] ?? 0
            guard count > 0 else { continue }
            let points = min(Double(count) * rule.points, rule.cap ?? .infinity)
            interest += points
            rules.append(RuleContribution(rule: rule.name, category: "interest", points: points))
        }
        for (i, rule) in model.negative.enumerated() {
            let hit: Bool
            if let activity = rule.activity {
                hit = (state.activityCounts[activity] ?? 0) > 0
            } else if let profile = state.profile, let field = rule.field {
                hit = Self.matches(value: Self.value(field, profile), equals: rule.equals, in: rule.in, regex: negativeRegexes[i])
            } else { hit = false }
            guard hit else { continue }
            if let reason = rule.disqualify {
                disqualification = disqualification ?? reason
                rules.append(RuleContribution(rule: rule.name, category: "disqualify", points: 0))
            } else if let points = rule.points {
                negative += points
                rules.append(RuleContribution(rule: rule.name, category: "negative", points: points))
            }
        }
        let grade = fit >= model.grades.a ? "A" : fit >= model.grades.b ? "B" : fit >= model.grades.c ? "C" : "D"
        let highFit = grade == "A" || grade == "B"
        let highInterest = interest >= model.highInterest
        let quadrant = highFit ? (highInterest ? "hot" : "fit") : (highInterest ? "engaged" : "cold")
        return LeadScored(
            leadID: leadID, model: model.version, total: fit + interest + negative, fit: fit, interest: interest,
            grade: grade, quadrant: quadrant, rules: rules, disqualification: disqualification,
            profileKnown: state.profile != nil, contactAvailable: state.profile?.contactAvailable ?? false,
            emailClass: state.profile?.emailClass, accountOwner: state.profile?.company?.owner,
            source: state.source, campaign: state.campaign, scoredAt: time)
    }

    private func matches(_ rule: ScoringModel.ProfileRule, _ profile: LeadEnriched, regex: Regex<AnyRegexOutput>?) -> Bool {
        let value = Self.value(rule.field, profile)
        if let range = rule.range {
            guard let v = value.flatMap(Double.init) else { return false }
            return v >= range[0] && v <= range[1]
        }
        return Self.matches(value: value, equals: rule.equals, in: rule.in, regex: regex)
    }

    private static func matches(value: String?, equals: String?, in list: [String]?, regex: Regex<AnyRegexOutput>?) -> Bool {
        guard let value else { return false }
        if let equals { return value.lowercased() == equals.lowercased() }
        if let list { return list.contains { $0.lowercased() == value.lowercased() } }
        if let regex { return value.contains(regex) }
        return false
    }

    /// A profile field by its public (snake_case) name.
    static func value(_ field: String, _ lead: LeadEnriched) -> String? {
        let p = lead.profile
        switch field {
        case "job_title": return p.jobTitle
        case "company": return p.company
        case "company_domain": return p.companyDomain
        case "employees": return p.employees.map(String.init)
        case "industry": return p.industry
        case "country": return p.country
        case "email_class": return lead.emailClass.rawValue
        case "source": return p.source
        case "email_domain": return p.email.flatMap { $0.split(separator: "@").last.map(String.init) }
        default: return p.attributes?[field]
        }
    }
}
