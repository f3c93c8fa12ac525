/// Reference data for classifying e-mail addresses (loaded from `deploy/data/` by the process).
public struct EmailDirectory: Sendable {
    public var freeDomains: Set<String>
    public var disposableDomains: Set<String>
    /// Local parts of role accounts (`info`, `sales`, …).
    public var rolePrefixes: Set<String>

    public init(freeDomains: Set<String>, disposableDomains: Set<String>, rolePrefixes: Set<String>) {
        self.freeDomains = freeDomains
        self.disposableDomains = disposableDomains
        self.rolePrefixes = rolePrefixes
    }

    /// Disposable wins over free-mail where a domain is on both lists: it cannot reach a person later.
    public func classify(_ email: String?) -> EmailClass {
        guard let email, let at = email.lastIndex(of: "@") else { return .missing }
        let local = email[..<at]
        let domain = String(email[email.index(after: at)...])
        if disposableDomains.contains(domain) { return .disposable }
        if rolePrefixes.contains(String(local)) { return .role }
        if freeDomains.contains(domain) { return .free }
        return .corporate
    }
}

/// Company data by domain (the operator's firmographic file).
public struct CompanyDirectory: Sendable {
    public var byDomain: [String: CompanyInfo]
    public init(_ companies: [CompanyInfo]) {
        byDomain = Dictionary(companies.map { ($0.domain, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Enrichment: normalise the profile, classify the address, look up the company.
public enum Enricher {
    public static func enrich(_ lead: LeadCaptured, emails: EmailDirectory, companies: CompanyDirectory, at time: String) -> LeadEnriched {
        var profile = lead
        profile.email = Normalise.email(lead.email)
        profile.firstName = Normalise.name(lead.firstName)
        profile.lastName = Normalise.name(lead.lastName)
        profile.country = lead.country.map { $0.uppercased() }
        profile.jobTitle = Normalise.text(lead.jobTitle)
        profile.company = Normalise.text(lead.company)
        let emailClass = emails.classify(profile.email)
        let emailDomain = profile.email.flatMap { $0.split(separator: "@").last.map(String.init) }
        if profile.companyDomain == nil, emailClass == .corporate || emailClass == .role {
            profile.companyDomain = emailDomain
        }
        profile.companyDomain = profile.companyDomain.map { $0.lowercased() }
        let company = profile.companyDomain.flatMap { companies.byDomain[$0] }
        if let company {
            profile.employees = profile.employees ?? company.employees
            profile.industry = profile.industry ?? company.industry
            profile.company = profile.company ?? company.name
            profile.country = profile.country ?? company.country
        }
        let reachableEmail = emailClass == .corporate || emailClass == .free || emailClass == .role
        let contactAvailable = reachableEmail || !(profile.phone ?? "").isEmpty
        return LeadEnriched(leadID: lead.leadID, profile: profile, emailClass: emailClass,
                            contactAvailable: contactAvailable, company: company, enrichedAt: time)
    }
}

/// Normalisation used at the HTTP edge and by enrichment.
public enum Normalise {
    public static func email(_ text: String?) -> String? {
        guard let t = text?.trimmingWhitespace, !t.isEmpty else { return nil }
        return t.lowercased()
    }

    public static func text(_ value: String?) -> String? {
        guard let t = value?.trimmingWhitespace, !t.isEmpty else { return nil }
        return t
    }

    /// Trims and capitalises the first letter of each word ("ada LOVELACE" → "Ada Lovelace").
    public static func name(_ value: String?) -> String? {
        guard let t = text(value) else { return nil }
        return t.split(separator: " ").map { word in word.prefix(1).uppercased() + word.dropFirst().lowercased() }
            .joined(separator: " ")
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
