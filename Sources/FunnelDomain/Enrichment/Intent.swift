/// Who filled in the form, as enrichment judges it from the profile (`intent` on
/// `funnel.lead.enriched.v1`, with the evidence in `intent_reason`). Only `buyer` is a sales
/// lead; the scoring model's negative rules and so the router's disqualification read the rest.
public enum Intent: String, Codable, Sendable, CaseIterable {
    case buyer, competitor, student, analyst
    case jobSeeker = "job_seeker"
    case spam, partner
}

/// An intent with its evidence: short, and with no personal data beyond what is needed
/// (`competitor domain rival.example`, `academic domain (.edu)`, `title: student`).
public struct IntentFinding: Sendable, Equatable {
    public var intent: Intent
    /// Nil for `buyer` (nothing else was found).
    public var reason: String?

    public init(_ intent: Intent, _ reason: String? = nil) {
        self.intent = intent
        self.reason = reason
    }

    public static let buyer = IntentFinding(.buyer)
}
