/// `funnel.enrich.accounts.v1`: one account as a CRM sync writes it. Compacted; the key and the
/// envelope's `subject` are the account id; a tombstone (a null value) deletes the account.
/// funnel-enrich reads the topic whole in every replica and matches leads against these
/// accounts and those of `accounts.csv` (``AccountBook``). Holds no personal data: `owner` is a
/// rep id as in `routing.yaml`.
public struct AccountRecord: Validatable, Equatable {
    public var id: String
    public var name: String
    /// Registrable domains, lower case (a lead on a subdomain matches too).
    public var domains: [String]
    public var owner: String?
    public var tier: String?
    public var industry: String?
    public var employees: Int?
    /// When the CRM last changed the account (RFC 3339), for operators; not used for matching.
    public var updatedAt: String?

    enum CodingKeys: String, CodingKey {
        case id, name, domains, owner, tier, industry, employees, updatedAt = "updated_at"
    }

    public init(id: String, name: String, domains: [String], owner: String? = nil, tier: String? = nil,
                industry: String? = nil, employees: Int? = nil, updatedAt: String? = nil) {
        self.id = id; self.name = name; self.domains = domains; self.owner = owner; self.tier = tier
        self.industry = industry; self.employees = employees; self.updatedAt = updatedAt
    }

    public init(_ account: Account, updatedAt: String? = nil) {
        self.init(id: account.id, name: account.name, domains: account.domains, owner: account.owner, tier: account.tier,
                  industry: account.industry, employees: account.employees, updatedAt: updatedAt)
    }

    /// The most domains one account may list.
    public static let maxDomains = 100

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        func text(_ field: String, _ value: String?, max: Int, required: Bool = false) {
            guard let value else {
                if required { errors.append(FieldError(field: field, reason: "is required")) }
                return
            }
            if value.trimmingWhitespace.isEmpty { errors.append(FieldError(field: field, reason: "must not be blank")) }
            else if value.exceeds(characters: max) { errors.append(FieldError(field: field, reason: "must be at most \(max) characters")) }
            else if let reason = InputHygiene.controlCharacterReason(value, lines: .single) { errors.append(FieldError(field: field, reason: reason)) }
        }
        text("id", id, max: 128, required: true)
        text("name", name, max: 300, required: true)
        if let reason = Account.nameProblem(name) { errors.append(FieldError(field: "name", reason: reason)) }
        text("owner", owner, max: 200)
        text("tier", tier, max: 100)
        text("industry", industry, max: 200)
        if domains.count > Self.maxDomains { errors.append(FieldError(field: "domains", reason: "must list at most \(Self.maxDomains) domains")) }
        var seen: Set<String> = []
        for (i, domain) in domains.enumerated() {
            if let problem = ReferenceList.domainProblem(domain) { errors.append(FieldError(field: "domains[\(i)]", reason: problem)) }
            else if !seen.insert(domain).inserted { errors.append(FieldError(field: "domains[\(i)]", reason: "'\(domain)' is listed twice")) }
        }
        if let employees, employees < 0 { errors.append(FieldError(field: "employees", reason: "must be >= 0")) }
        if let updatedAt, !Check.isTimestamp(updatedAt) { errors.append(FieldError(field: "updated_at", reason: "must be an RFC 3339 date-time")) }
        return errors
    }

    /// Why a record without a key cannot be applied.
    public static let missingKey = "the record has no key (the account id)"

    /// A record's value as funnel-enrich and `funnel accounts` read it: a valid
    /// `funnel.enrich.accounts.v1` event whose `data.id` is the message key, or why not.
    public static func decode(_ value: UnsafeRawBufferPointer, key: String) -> Result<AccountRecord, FieldError> {
        switch EventDecoder.decode(AccountRecord.self, from: value, expectedType: TopicCatalog.enrichAccounts) {
        case .failure(let error): return .failure(error)
        case .success(let event) where event.data.id != key: return .failure(FieldError(field: "data.id", reason: "is not the key '\(key)'"))
        case .success(let event): return .success(event.data)
        }
    }

    /// The account to match against (tier and industry lower-cased, as in `accounts.csv`).
    public var account: Account {
        Account(id: id, name: name, domains: domains, owner: owner, tier: tier?.lowercased(), industry: industry?.lowercased(),
                employees: employees)
    }
}

extension Account {
    /// Why `name` cannot identify an account, or nil.
    public static func nameProblem(_ name: String) -> String? {
        CompanyName(name).key.isEmpty && !name.trimmingWhitespace.isEmpty
            ? "'\(name)' has nothing left once legal suffixes and punctuation are removed" : nil
    }
}
