/// A known account (`deploy/data/accounts.csv`, later a CRM sync's topic): the company a sales
/// rep owns, with the domains its people write from.
public struct Account: Sendable, Equatable {
    public var id: String
    public var name: String
    /// Registrable domains, lower case; a lead on a subdomain matches too.
    public var domains: [String]
    public var owner: String?
    public var tier: String?
    public var industry: String?
    public var employees: Int?

    public init(id: String, name: String, domains: [String], owner: String? = nil, tier: String? = nil,
                industry: String? = nil, employees: Int? = nil) {
        self.id = id; self.name = name; self.domains = domains; self.owner = owner; self.tier = tier
        self.industry = industry; self.employees = employees
    }
}

/// How a lead was matched to an account (`match` on the enriched event).
public enum AccountMatchKind: String, Codable, Sendable, CaseIterable {
    /// The e-mail's or the company's domain is one of the account's.
    case domain
    /// The normalised company name is the account's (exactly, as an acronym, or nearly).
    case name
    case none
}

/// The account a lead belongs to and how sure the match is (1 = a domain).
public struct AccountMatch: Sendable, Equatable {
    public var account: Account?
    public var kind: AccountMatchKind
    /// 0…1: 1 an exact domain, 0.95 a parent domain, 0.9 an exact normalised name, 0.8 an
    /// acronym, below that a near name (its similarity × 0.9); 0 no match.
    public var confidence: Double
    /// What matched, for logs and explanations (`domain acme.example`, `name acmesoftware`).
    public var evidence: String?

    public static let none = AccountMatch(account: nil, kind: .none, confidence: 0, evidence: nil)
}
