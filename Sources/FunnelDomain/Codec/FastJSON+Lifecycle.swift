// The router's events, written on every transition: the same bytes as `JSONEncoder`
// (sorted keys; StageChanged writes absent values as explicit nulls, LeadRouted omits them).

extension ScoreSnapshot {
    func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("grade", grade)
        w.field("model", model)
        w.field("quadrant", quadrant)
        w.field("total", total)
        w.endObject()
    }
}

extension BANT {
    func writeJSON(to w: inout JSONWriter) {
        func criterion(_ name: StaticString, _ c: Criterion?) {
            guard let c else { return }
            w.field(name) { w in
                w.beginObject()
                w.field("met", c.met)
                w.field("note", c.note)
                w.endObject()
            }
        }
        w.beginObject()
        criterion("authority", authority)
        criterion("budget", budget)
        criterion("need", need)
        criterion("timeline", timeline)
        w.endObject()
    }
}

extension StageChanged: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        if let bant { w.field("bant") { bant.writeJSON(to: &$0) } }
        w.key("campaign"); if let campaign { w.string(campaign) } else { w.null() }
        w.key("from"); if let from { w.string(from.rawValue) } else { w.null() }
        w.field("lead_id", leadID)
        w.field("occurred_at", occurredAt)
        w.key("owner"); if let owner { w.string(owner) } else { w.null() }
        w.field("pool", pool)
        w.field("reason", reason)
        w.field("routing_version", routingVersion)
        w.key("score"); if let score { score.writeJSON(to: &w) } else { w.null() }
        w.field("seconds_to_accept", secondsToAccept)
        w.key("source"); if let source { w.string(source) } else { w.null() }
        w.field("to", to.rawValue)
        w.endObject()
    }
}

extension LeadRouted: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("lead_id", leadID)
        w.field("owner", owner)
        w.field("pool", pool)
        w.field("priority", priority)
        w.field("queue", queue)
        w.field("reason", reason)
        w.field("routed_at", routedAt)
        w.field("routing_version", routingVersion)
        w.field("rule", rule)
        if let score { w.field("score") { w in score.writeJSON(to: &w) } }
        w.field("stage", stage.rawValue)
        w.endObject()
    }
}

extension AssignmentCommand: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("at", at)
        w.field("exclude", exclude)
        w.field("hops", hops)
        w.field("kind", kind.rawValue)
        w.field("lead_id", leadID)
        w.field("pool", pool)
        w.field("priority", priority?.rawValue)
        w.field("rep", rep)
        w.field("request_id", requestID)
        w.field("rule", rule)
        w.endObject()
    }
}

extension AssignmentAnswer: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("at", at)
        w.field("lead_id", leadID)
        w.field("owner", owner)
        w.field("pool", pool)
        w.field("queue", queue)
        w.field("reason", reason)
        w.field("request_id", requestID)
        if let sequence { w.field("sequence") { $0.int(Int(sequence)) } }
        w.endObject()
    }
}
