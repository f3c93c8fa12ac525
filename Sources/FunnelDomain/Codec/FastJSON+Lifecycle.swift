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

extension StageChanged: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("campaign"); if let campaign { w.string(campaign) } else { w.null() }
        w.key("from"); if let from { w.string(from.rawValue) } else { w.null() }
        w.field("lead_id", leadID)
        w.field("occurred_at", occurredAt)
        w.key("owner"); if let owner { w.string(owner) } else { w.null() }
        w.field("reason", reason)
        w.key("score"); if let score { score.writeJSON(to: &w) } else { w.null() }
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
        w.field("queue", queue)
        w.field("reason", reason)
        w.field("routed_at", routedAt)
        if let score { w.field("score") { w in score.writeJSON(to: &w) } }
        w.field("stage", stage.rawValue)
        w.endObject()
    }
}
