// funnel-enrich's event, written for every captured lead: the same bytes as `JSONEncoder`
// (sorted keys, absent optionals omitted; the profile is the captured event's writer).

extension CompanyInfo {
    func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("country", country)
        w.field("domain", domain)
        w.field("employees", employees)
        w.field("industry", industry)
        w.field("name", name)
        w.field("owner", owner)
        w.endObject()
    }
}

extension LeadEnriched: FastJSONEncodable {
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.field("account_id", accountID)
        w.field("account_owner", accountOwner)
        if let company { w.field("company") { company.writeJSON(to: &$0) } }
        w.field("company_source", companySource)
        w.field("contact_available", contactAvailable)
        w.field("contact_source", contactSource)
        w.field("country_source", countrySource?.rawValue)
        w.field("email_class", emailClass.rawValue)
        w.field("enriched_at", enrichedAt)
        w.field("enrichment", enrichment?.rawValue)
        w.field("intent", intent?.rawValue)
        w.field("intent_reason", intentReason)
        w.field("lead_id", leadID)
        w.field("match", match?.rawValue)
        if let matchConfidence { w.field("match_confidence", matchConfidence) }
        w.field("profile") { profile.writeJSON(to: &$0) }
        w.endObject()
    }
}
