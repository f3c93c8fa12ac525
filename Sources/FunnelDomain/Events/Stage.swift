/// A lead's lifecycle stage (names fixed by the public contract).
public enum Stage: String, Sendable, Codable, CaseIterable {
    case captured, identified, mql, sal, sql, customer, lost, nurture, disqualified
}
