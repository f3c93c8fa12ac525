import Foundation
import Synchronization

/// One score evaluated at a reference time: totals, bands and the contributing rules.
public struct ScoreResult: Sendable, Equatable {
    public var name: String
    public var fit = 0.0
    public var interest = 0.0
    public var negative = 0.0
    public var total: Double { fit + interest + negative }
    public var grade = "D"
    public var quadrant = "cold"
    public var interestBand = "low"
    public var rules: [RuleContribution] = []
    public var disqualification: String?
}

/// Evaluates a ``ScoringModel`` on a lead's state. Pure: no I/O, no clock — the reference
/// time is an argument (the lead's newest event time), so a replay gives the same result.
/// `@unchecked`: `NSRegularExpression` is immutable and thread-safe but not declared `Sendable`.
public struct Scorer: @unchecked Sendable {
    public let model: ScoringModel
    private let compiled: [CompiledScore]
    /// Identifies this compiled model in the profile-rule memo of each lead's profile.
    private let memoOwner = MemoOwner()
    private final class MemoOwner: Sendable {}
    /// Whether every score has at most 64 fit and 64 negative rules (one bit each in the memo).
    private let memoisable: Bool

    private struct CompiledScore {
        let definition: ScoringModel.ScoreDefinition
        let fitRegexes: [NSRegularExpression?]
        let negativeRegexes: [NSRegularExpression?]
        /// Lower-cased `equals` / `in` values, so matching does not re-lowercase the model.
        let fitValues: [Set<String>?]
        let negativeValues: [Set<String>?]
    }

    public init(model: ScoringModel) {
        self.model = model
        func values(_ equals: String?, _ list: [String]?) -> Set<String>? {
            if let equals { return [equals.lowercased()] }
            return list.map { Set($0.map { $0.lowercased() }) }
        }
        memoisable = model.allScores.allSatisfy { $0.fit.count <= 64 && $0.negative.count <= 64 }
        compiled = model.allScores.map { score in
            CompiledScore(
                definition: score,
                fitRegexes: score.fit.map { $0.regex.flatMap { try? NSRegularExpression(pattern: $0, options: [.caseInsensitive]) } },
                negativeRegexes: score.negative.map { $0.regex.flatMap { try? NSRegularExpression(pattern: $0, options: [.caseInsensitive]) } },
                fitValues: score.fit.map { values($0.equals, $0.in) },
                negativeValues: score.negative.map { values($0.equals, $0.in) })
        }
    }

    /// Every score of the model (primary first) at reference time `at` (ms since the epoch).
    public func evaluate(_ state: LeadScoreState, at: Int64) -> [ScoreResult] {
        compiled.indices.map { evaluate(compiled[$0], profileHits(state, score: $0), state, at: at) }
    }

    /// Which profile rules the lead's profile matches for score `i`, memoised on the profile
    /// for the first two scores of a model with at most 64 rules of each kind per score; nil
    /// without a profile or beyond that (`evaluate` then matches the rules itself).
    private func profileHits(_ state: LeadScoreState, score i: Int) -> ProfileHits? {
        guard memoisable && i < 2 else { return nil }
        return state.profileHits(memoOwner, score: i) { profile in
            (Self.hits(compiled[0], profile), compiled.count > 1 ? Self.hits(compiled[1], profile) : ProfileHits())
        }
    }

    private static func hits(_ c: CompiledScore, _ profile: ProfileFacts) -> ProfileHits {
        var hits = ProfileHits()
        for i in c.definition.fit.indices where i < 64
            && matches(c.definition.fit[i], profile, regex: c.fitRegexes[i], values: c.fitValues[i]) {
            hits.fit |= 1 << UInt64(i)
        }
        for i in c.definition.negative.indices where i < 64 {
            guard c.definition.negative[i].activity == nil, let field = c.definition.negative[i].field else { continue }
            if matches(value: profile.value(field), values: c.negativeValues[i], regex: c.negativeRegexes[i]) {
                hits.negative |= 1 << UInt64(i)
            }
        }
        return hits
    }

    /// The primary score alone at `at` (what a backtest needs after every event).
    public func primary(_ state: LeadScoreState, at: Int64) -> ScoreResult {
        evaluate(compiled[0], profileHits(state, score: 0), state, at: at)
    }

    /// The MQL flag after a score of `total`, given the previous flag (hysteresis).
    public func mql(total: Double, disqualified: Bool, previous: Bool) -> Bool {
        if disqualified { return false }
        return previous ? total >= model.mql.release : total >= model.mql.threshold
    }

    /// Scores the lead at its newest event time, updates its MQL flag and emitted bands,
    /// and returns the event to emit.
    public func score(_ state: inout LeadScoreState, leadID: String) -> LeadScored {
        score(&state, leadID: leadID, at: state.lastEventTime)
    }

    /// As above at an explicit reference time (a sweep, `funnel explain --at`).
    public func score(_ state: inout LeadScoreState, leadID: String, at: Int64) -> LeadScored {
        let results = evaluate(state, at: at)
        let primary = results[0]
        if state.historyChanged {
            state.mql = replayMQL(state, until: at, last: primary)
            state.historyChanged = false
        } else {
            state.mql = mql(total: primary.total, disqualified: primary.disqualification != nil, previous: state.mql)
        }
        state.emitted = bands(primary, mql: state.mql)
        return scored(results, state, leadID: leadID, at: at)
    }

    /// The MQL flag walked through the lead's event times in order (hysteresis applied at
    /// each), ending with `last` (the evaluation at `at`): the same whatever order the events
    /// arrived in.
    func replayMQL(_ state: LeadScoreState, until at: Int64, last: ScoreResult) -> Bool {
        var times = state.activities.lazy.map(\.time).filter { $0 < at }
            .reduce(into: Set<Int64>()) { $0.insert($1) }
        if let p = state.profile, p.time < at { times.insert(p.time) }
        var flag = false
        let hits = profileHits(state, score: 0)
        for t in times.sorted() {
            let r = evaluate(compiled[0], hits, state, at: t)
            flag = mql(total: r.total, disqualified: r.disqualification != nil, previous: flag)
        }
        return mql(total: last.total, disqualified: last.disqualification != nil, previous: flag)
    }

    /// The bands a sweep at `at` would find, without changing the state.
    public func bands(_ state: LeadScoreState, at: Int64) -> ScoreBands {
        let primary = evaluate(compiled[0], profileHits(state, score: 0), state, at: at)
        return bands(primary, mql: mql(total: primary.total, disqualified: primary.disqualification != nil, previous: state.mql))
    }

    private func bands(_ r: ScoreResult, mql: Bool) -> ScoreBands {
        ScoreBands(grade: r.grade, quadrant: r.quadrant, interestBand: r.interestBand, mql: mql)
    }

    private func scored(_ results: [ScoreResult], _ state: LeadScoreState, leadID: String, at: Int64) -> LeadScored {
        let p = results[0]
        let profile = state.profile // one copy, not one per field
        var event = LeadScored(
            leadID: leadID, model: model.version, total: Self.round(p.total), fit: Self.round(p.fit),
            interest: Self.round(p.interest), grade: p.grade, quadrant: p.quadrant, rules: p.rules,
            disqualification: p.disqualification, profileKnown: profile != nil,
            contactAvailable: profile?.contactAvailable ?? false, emailClass: profile?.emailClass,
            accountOwner: profile?.accountOwner, source: profile?.source, campaign: profile?.campaign,
            scoredAt: Timestamp.format(milliseconds: at))
        event.mql = state.mql
        event.interestBand = p.interestBand
        event.country = profile?.country
        event.employees = profile?.employees
        event.industry = profile?.industry
        event.accountTier = profile?.attributes["account_tier"]
        event.intent = profile?.intent.flatMap(Intent.init(rawValue:))
        if results.count > 1 {
            event.scores = results.dropFirst().map {
                NamedScore(name: $0.name, total: Self.round($0.total), fit: Self.round($0.fit), interest: Self.round($0.interest),
                           grade: $0.grade, quadrant: $0.quadrant, interestBand: $0.interestBand)
            }
        }
        return event
    }

    /// A disqualification reason with its `{field}` placeholders replaced by the profile's values
    /// (an unknown value leaves the placeholder out: `"competitor: {intent_reason}"` →
    /// `competitor: competitor domain rival.example`, or `competitor` when there is no reason).
    static func fill(_ reason: String, _ profile: ProfileFacts?) -> String {
        guard reason.contains("{") else { return reason }
        var out = ""
        var rest = Substring(reason)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            out += profile?.value(String(rest[rest.index(after: open)..<close])) ?? ""
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        // A missing value leaves "competitor: " behind: trim the separator with it.
        while let last = out.last, last == " " || last == ":" || last == "(" || last == "-" { out.removeLast() }
        return out.replacingOccurrences(of: " ()", with: "")
    }

    /// `hits`: the memoised profile-rule results for this score (nil: match the rules here).
    private func evaluate(_ c: CompiledScore, _ hits: ProfileHits?, _ state: LeadScoreState, at: Int64) -> ScoreResult {
        let score = c.definition
        var r = ScoreResult(name: score.name)
        let profile = hits == nil ? state.profile : nil // only needed when not memoised
        func fitHit(_ i: Int) -> Bool {
            if let hits { return hits.fit(i) }
            guard let profile else { return false }
            return Self.matches(score.fit[i], profile, regex: c.fitRegexes[i], values: c.fitValues[i])
        }
        for i in score.fit.indices where fitHit(i) {
            r.fit += score.fit[i].points
            r.rules.append(RuleContribution(rule: score.fit[i].name, category: "fit", points: score.fit[i].points))
        }
        for rule in score.interest {
            let halfLife = (rule.halfLifeDays ?? score.halfLifeDays ?? 0) * 86_400_000
            let window = rule.windowDays.map { Int64($0 * 86_400_000) }
            var points = 0.0, events = 0
            for a in state.activities where a.type == rule.activity && a.time <= at {
                let age = at - a.time
                if let window, age > window { continue }
                if let min = rule.minDurationSeconds, a.durationSeconds < min { continue }
                events += 1
                points += halfLife > 0 ? rule.points * pow(0.5, Double(age) / halfLife) : rule.points
            }
            guard events > 0 else { continue }
            if let cap = rule.cap { points = min(points, cap) }
            points = Self.round(points)
            r.interest += points
            r.rules.append(RuleContribution(rule: rule.name, category: "interest", points: points, events: events))
        }
        for (i, rule) in score.negative.enumerated() {
            let hit: Bool
            if let activity = rule.activity {
                let window = rule.windowDays.map { Int64($0 * 86_400_000) }
                hit = state.activities.contains { a in a.type == activity && a.time <= at && (window.map { at - a.time <= $0 } ?? true) }
            } else if let hits {
                hit = hits.negative(i)
            } else if let profile, let field = rule.field {
                hit = Self.matches(value: profile.value(field), values: c.negativeValues[i], regex: c.negativeRegexes[i])
            } else {
                hit = false
            }
            guard hit else { continue }
            if let reason = rule.disqualify {
                r.disqualification = r.disqualification ?? Self.fill(reason, state.profile)
                r.rules.append(RuleContribution(rule: rule.name, category: "disqualify", points: 0))
            } else if let points = rule.points {
                r.negative += points
                r.rules.append(RuleContribution(rule: rule.name, category: "negative", points: points))
            }
        }
        let g = score.grades
        r.grade = r.fit >= g.a ? "A" : r.fit >= g.b ? "B" : r.fit >= g.c ? "C" : "D"
        r.interestBand = r.interest >= score.interestBands.high ? "high" : r.interest >= score.interestBands.medium ? "medium" : "low"
        let highFit = r.grade == "A" || r.grade == "B"
        let highInterest = r.interestBand == "high"
        r.quadrant = highFit ? (highInterest ? "hot" : "fit") : (highInterest ? "engaged" : "cold")
        return r
    }

    private static func matches(_ rule: ScoringModel.ProfileRule, _ profile: ProfileFacts, regex: NSRegularExpression?, values: Set<String>?) -> Bool {
        let value = profile.value(rule.field)
        if let range = rule.range {
            guard let v = value.flatMap(Double.init) else { return false }
            return v >= range[0] && v <= range[1]
        }
        return Self.matches(value: value, values: values, regex: regex)
    }

    private static func matches(value: String?, values: Set<String>?, regex: NSRegularExpression?) -> Bool {
        guard let value else { return false }
        if let values { return values.contains(value.lowercased()) }
        if let regex { return RegexCache.matches(regex, value) }
        return false
    }

    /// Points are reported to two decimals (decay makes long fractions).
    static func round(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}

/// Regex results by (pattern, value): profile values repeat (titles, domains) and a regex
/// match costs microseconds, a lookup a fraction of one. Bounded: cleared when it grows large.
enum RegexCache {
    /// By pattern text, not object identity: a freed regex's address can be reused by another.
    private struct Key: Hashable { let pattern: String; let value: String }
    private static let cache = Mutex<[Key: Bool]>([:])

    static func matches(_ regex: NSRegularExpression, _ value: String) -> Bool {
        let key = Key(pattern: regex.pattern, value: value)
        if let known = cache.withLock({ $0[key] }) { return known }
        let result = regex.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
        cache.withLock { cache in
            if cache.count > 200_000 { cache.removeAll(keepingCapacity: true) }
            cache[key] = result
        }
        return result
    }
}
