/// A human-readable breakdown of a lead's score (`funnel explain`). Pure.
public enum ScoreExplanation {
    public static func render(leadID: String, state: LeadScoreState, scorer: Scorer, at: Int64) -> String {
        let results = scorer.evaluate(state, at: at)
        let primary = results[0]
        let mql = scorer.mql(total: primary.total, disqualified: primary.disqualification != nil, previous: state.mql)
        var out = "lead \(leadID) — model \(scorer.model.version), as of \(Timestamp.format(milliseconds: at))"
        out += at == state.lastEventTime ? " (its newest event)\n" : "\n"
        if let p = state.profile {
            let facts: [(String, String?)] = [
                ("title", p.jobTitle), ("seniority", p.value("seniority")), ("department", p.value("department")),
                ("employees", p.value("employees")), ("industry", p.industry), ("country", p.country),
                ("region", p.value("region")), ("address", p.emailClass.rawValue), ("owner", p.accountOwner),
                ("intent", p.intent.map { i in p.intentReason.map { "\(i) (\($0))" } ?? i }), ("account", p.accountID),
            ]
            out += "profile: " + facts.compactMap { k, v in v.map { "\(k)=\($0)" } }.joined(separator: ", ") + "\n"
        } else {
            out += "profile: not known yet (activities are kept and scored when it arrives)\n"
        }
        var counts: [ActivityType: Int] = [:]
        for a in state.activities { counts[a.type, default: 0] += 1 }
        let summary = counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)×\($0.value)" }.joined(separator: ", ")
        out += "activities: \(state.activities.count)\(summary.isEmpty ? "" : " (\(summary))")\n"
        for r in results {
            out += "\n[\(r.name)] total \(format(r.total)) = fit \(format(r.fit)) + interest \(format(r.interest))"
            out += r.negative != 0 ? " + negative \(format(r.negative))" : ""
            out += "  grade \(r.grade), interest \(r.interestBand), quadrant \(r.quadrant)"
            if r.name == primary.name { out += ", \(mql ? "MQL" : "not MQL") (threshold \(format(scorer.model.mql.threshold)), release \(format(scorer.model.mql.release)))" }
            if let d = r.disqualification { out += "\n  DISQUALIFIED: \(d)" }
            out += "\n"
            for rule in r.rules {
                let events = rule.events.map { "  (\($0) event\($0 == 1 ? "" : "s"))" } ?? ""
                out += "  \(rule.category.padding(toLength: 10, withPad: " ", startingAt: 0)) \(rule.rule.padding(toLength: 24, withPad: " ", startingAt: 0)) \(format(rule.points).leftPadded(8))\(events)\n"
            }
        }
        return out
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String((v * 100).rounded() / 100)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
