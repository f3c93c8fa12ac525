/// The part of an enriched lead that scoring needs, kept per lead in the scorer's state.
/// Derived fields (seniority, department, region) are computed from it on demand.
public struct ProfileFacts: Sendable, Equatable {
    public var jobTitle: String?
    public var company: String?
    public var companyDomain: String?
    public var employees: Int?
    public var industry: String?
    public var country: String?
    public var emailClass: EmailClass
    public var emailDomain: String?
    public var source: String?
    public var campaign: String?
    public var contactAvailable: Bool
    public var accountOwner: String?
    public var attributes: [String: String]
    /// Enrichment's judgement of who filled in the form (`intent`, `intent_reason`) and the
    /// account match (`account_id`, `match`); nil on facts from older enriched events.
    public var intent: String?
    public var intentReason: String?
    public var accountID: String?
    public var match: String?
    /// Derived once (titles are matched by words): see ``seniority(_:)``, ``department(_:)``.
    public private(set) var seniority: String?
    public private(set) var department: String?
    /// Event time (ms) and id of the enriched event these facts came from: the newest wins,
    /// whatever order the events arrive in.
    public var time: Int64
    public var eventID: String

    public init(_ lead: LeadEnriched, time: Int64, eventID: String) {
        let p = lead.profile
        jobTitle = p.jobTitle; company = p.company; companyDomain = p.companyDomain
        employees = p.employees ?? lead.company?.employees
        industry = p.industry ?? lead.company?.industry
        country = p.country ?? lead.company?.country
        emailClass = lead.emailClass
        emailDomain = p.email.flatMap { $0.split(separator: "@").last.map(String.init) }
        source = p.source; campaign = p.campaign
        contactAvailable = lead.contactAvailable
        accountOwner = lead.accountOwner ?? lead.company?.owner
        attributes = p.attributes ?? [:]
        intent = lead.intent?.rawValue
        intentReason = lead.intentReason
        accountID = lead.accountID
        match = lead.match?.rawValue
        self.time = time
        self.eventID = eventID
        derive()
    }

    private mutating func derive() {
        seniority = attributes["seniority"] ?? jobTitle.map(Self.seniority)
        department = attributes["department"] ?? jobTitle.flatMap(Self.department)
    }

    init(jobTitle: String?, company: String?, companyDomain: String?, employees: Int?, industry: String?,
         country: String?, emailClass: EmailClass, emailDomain: String?, source: String?, campaign: String?,
         contactAvailable: Bool, accountOwner: String?, attributes: [String: String], time: Int64, eventID: String) {
        self.jobTitle = jobTitle; self.company = company; self.companyDomain = companyDomain; self.employees = employees
        self.industry = industry; self.country = country; self.emailClass = emailClass; self.emailDomain = emailDomain
        self.source = source; self.campaign = campaign; self.contactAvailable = contactAvailable
        self.accountOwner = accountOwner; self.attributes = attributes; self.time = time; self.eventID = eventID
        derive()
    }

    /// Whether these facts should replace `other` (newer event time; ties broken by id).
    func isNewer(than other: ProfileFacts) -> Bool {
        time != other.time ? time > other.time : eventID > other.eventID
    }

    /// A field by its public name (see ``ScoringModel/fields``).
    public func value(_ field: String) -> String? {
        switch field {
        case "job_title": jobTitle
        case "seniority": seniority
        case "department": department
        case "company": company
        case "company_domain": companyDomain
        case "employees", "company_size": employees.map(String.init)
        case "industry": industry
        case "country": country
        case "region": country.flatMap { Self.regions[$0.uppercased()] }
        case "email_class", "address_type": emailClass.rawValue
        case "email_domain": emailDomain
        case "source": source
        case "campaign": campaign
        case "intent": intent
        case "intent_reason": intentReason
        case "account_id": accountID
        case "match": match
        default: field.hasPrefix("attributes.") ? attributes[String(field.dropFirst("attributes.".count))] : attributes[field]
        }
    }

    /// `c_level`, `vp`, `director`, `manager` or `individual`, from a job title.
    public static func seniority(_ title: String) -> String {
        let words = Self.words(title)
        if words.contains(where: { ["chief", "ceo", "cfo", "cto", "coo", "cmo", "cio", "founder", "cofounder", "owner", "president"].contains($0) }) {
            return words.contains("vice") ? "vp" : "c_level"
        }
        if words.contains("vp") || words.contains("vice") || words.contains("svp") || words.contains("evp") { return "vp" }
        if words.contains("director") || words.contains("head") { return "director" }
        if words.contains("manager") || words.contains("lead") || words.contains("supervisor") { return "manager" }
        return "individual"
    }

    /// `marketing`, `sales`, `engineering`, `it`, `finance`, `operations`, `hr`, `product` — or nil.
    public static func department(_ title: String) -> String? {
        let words = Self.words(title)
        let table: [(String, [String])] = [
            ("marketing", ["marketing", "cmo", "growth", "demand", "brand", "seo"]),
            ("sales", ["sales", "account", "revenue", "business", "bdr", "sdr"]),
            ("engineering", ["engineer", "engineering", "developer", "cto", "software", "devops"]),
            ("it", ["it", "cio", "infrastructure", "security", "systems"]),
            ("finance", ["finance", "cfo", "controller", "accountant", "accounting"]),
            ("operations", ["operations", "coo", "logistics", "supply"]),
            ("hr", ["hr", "people", "talent", "recruiter", "recruiting"]),
            ("product", ["product"]),
        ]
        return table.first { _, keys in words.contains { keys.contains($0) } }?.0
    }

    private static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init)
    }

    /// Country (ISO 3166-1 alpha-2) → `emea`, `na`, `latam`, `apac`.
    static let regions: [String: String] = {
        var map: [String: String] = [:]
        for c in ["AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU", "IE", "IS", "IT",
                  "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK", "UA", "TR", "IL", "AE", "SA", "ZA",
                  "EG", "NG", "KE", "MA"] { map[c] = "emea" }
        for c in ["US", "CA"] { map[c] = "na" }
        for c in ["MX", "BR", "AR", "CL", "CO", "PE", "UY"] { map[c] = "latam" }
        for c in ["AU", "NZ", "JP", "KR", "CN", "HK", "TW", "SG", "IN", "ID", "MY", "TH", "VN", "PH"] { map[c] = "apac" }
        return map
    }()
}
