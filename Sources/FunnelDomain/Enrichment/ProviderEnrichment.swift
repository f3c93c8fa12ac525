import Foundation

/// `enrichment` on the enriched event.
public enum EnrichmentStatus: String, Codable, Sendable {
    /// Every provider look-up the lead needed has an answer (found or not found).
    case complete
    /// A provider has not answered yet; a re-enriched event follows when it does.
    case partial
    /// The lead needed no provider look-up (or no provider is enabled).
    case none
}

/// What a provider said about one query. `found` and `notFound` are answers (cached); the
/// others are failures, after which the look-up is tried again later.
public enum ProviderAnswer: Sendable, Equatable {
    case found([String: String])
    case notFound
    case failed(ProviderFailure)

    public var isAnswer: Bool { if case .failed = self { false } else { true } }
}

/// Why a provider call gave no answer (the `outcome` label of `funnel_provider_calls_total`).
public enum ProviderFailure: String, Error, Sendable, Equatable {
    case timeout
    /// 5xx, 429 or a transport error after the retries.
    case unavailable
    /// The breaker is open: no call was made.
    case breakerOpen = "breaker_open"
    /// An answer that is not JSON, or a 4xx other than the not-found statuses.
    case badAnswer = "bad_answer"
    /// The API key's environment variable is not set.
    case noKey = "no_key"
}

/// A provider's company answer as kept in `funnel.enrich.companies.v1` (key: the domain).
/// Not-found answers are kept too, so a domain no provider knows is not asked again until `expires_at`.
public struct CompanyCacheRecord: Codable, Sendable, Equatable {
    public var domain: String
    public var provider: String
    public var company: CompanyInfo?
    /// Milliseconds since 1970.
    public var fetchedAt: Int64
    public var expiresAt: Int64

    enum CodingKeys: String, CodingKey {
        case domain, provider, company, fetchedAt = "fetched_at_ms", expiresAt = "expires_at_ms"
    }

    public init(domain: String, provider: String, company: CompanyInfo?, fetchedAt: Int64, expiresAt: Int64) {
        self.domain = domain; self.provider = provider; self.company = company; self.fetchedAt = fetchedAt; self.expiresAt = expiresAt
    }

    public func isFresh(now: Int64) -> Bool { now < expiresAt }

    /// A company provider's answer as a record; nil for a failure (never cached).
    public static func from(_ answer: ProviderAnswer, domain: String, provider: String, now: Int64, ttl: Int64) -> CompanyCacheRecord? {
        switch answer {
        case .found(let fields):
            let company = CompanyInfo(domain: domain, name: fields["name"], employees: fields["employees"].flatMap { Int(Double($0) ?? -1) }.flatMap { $0 >= 0 ? $0 : nil },
                                      industry: fields["industry"], country: fields["country"].map { $0.uppercased() })
            return CompanyCacheRecord(domain: domain, provider: provider, company: company, fetchedAt: now, expiresAt: now + ttl)
        case .notFound:
            return CompanyCacheRecord(domain: domain, provider: provider, company: nil, fetchedAt: now, expiresAt: now + ttl)
        case .failed:
            return nil
        }
    }

    public func encoded() -> [UInt8] { (try? Array(EventCoding.encoder().encode(self))) ?? [] }
    public static func decode(_ bytes: [UInt8]) -> CompanyCacheRecord? { try? JSONDecoder().decode(Self.self, from: Data(bytes)) }
}

/// The provider look-ups a lead needs, and how their answers change the enriched event.
/// Pure: the stage and the re-enrichment loop call it with what they have.
public enum ProviderEnrichment {
    /// The domain to look up with the company provider: the lead has a company domain the
    /// operator's company file does not know, and no provider filled `company` yet.
    public static func companyQuery(_ lead: LeadEnriched, config: EnrichmentConfig) -> String? {
        guard config.provider(.company) != nil, lead.company == nil, lead.companySource == nil,
              let domain = lead.profile.companyDomain, !domain.isEmpty else { return nil }
        return domain
    }

    /// The person query (URL template variables) for a lead without usable contact info but
    /// with a company ("find contact info"); nil when it is not needed or cannot be asked.
    public static func personQuery(_ lead: LeadEnriched, config: EnrichmentConfig) -> [String: String]? {
        guard let provider = config.provider(.person), !lead.contactAvailable, lead.contactSource == nil else { return nil }
        let p = lead.profile
        guard p.company != nil || p.companyDomain != nil else { return nil }
        var values: [String: String] = [:]
        values["email"] = p.email
        values["first_name"] = p.firstName
        values["last_name"] = p.lastName
        values["company"] = p.company ?? lead.company?.name
        values["domain"] = p.companyDomain
        return provider.url.variables.allSatisfy({ values[$0] != nil }) ? values : nil
    }

    /// The lead with a company record applied (a found company fills the profile's gaps).
    public static func apply(company record: CompanyCacheRecord, to lead: LeadEnriched) -> LeadEnriched {
        var lead = lead
        lead.companySource = record.provider
        guard let company = record.company else { return lead }
        lead.company = company
        lead.profile.employees = lead.profile.employees ?? company.employees
        lead.profile.industry = lead.profile.industry ?? company.industry
        lead.profile.company = lead.profile.company ?? company.name
        // A provider's country beats a guess from the domain's ccTLD.
        if let country = company.country, lead.profile.country == nil || lead.countrySource == .domain {
            lead.profile.country = country
            lead.countrySource = .company
        }
        return lead
    }

    /// The lead with a person provider's answer applied: a found, reachable e-mail address or a
    /// phone number makes contact info available, with `contact_source` naming the provider.
    public static func apply(person answer: ProviderAnswer, provider: String, to lead: LeadEnriched, emails: EmailDirectory) -> LeadEnriched {
        guard case .found(let fields) = answer else { return lead }
        var lead = lead
        if let email = Normalise.email(fields["email"]) {
            let emailClass = emails.classify(email)
            if emailClass == .corporate || emailClass == .role || emailClass == .free {
                lead.profile.email = email
                lead.emailClass = emailClass
                lead.contactAvailable = true
            }
        }
        if !lead.contactAvailable, let phone = Normalise.text(fields["phone"]) {
            lead.profile.phone = phone
            lead.contactAvailable = true
        }
        lead.profile.jobTitle = lead.profile.jobTitle ?? Normalise.text(fields["job_title"])
        if lead.contactAvailable { lead.contactSource = provider }
        return lead
    }

    /// The enriched event as the stage emits it: the company look-up answered from the cache
    /// when it can; a person look-up is always left to the re-enrichment loop (never cached).
    public static func atStage(_ lead: LeadEnriched, config: EnrichmentConfig, cached: (String) -> CompanyCacheRecord?) -> LeadEnriched {
        var lead = lead
        var pending = false
        var asked = false
        if let domain = companyQuery(lead, config: config) {
            asked = true
            if let record = cached(domain) { lead = apply(company: record, to: lead) } else { pending = true }
        }
        if personQuery(lead, config: config) != nil { asked = true; pending = true }
        lead.enrichment = pending ? .partial : (asked ? .complete : EnrichmentStatus.none)
        return lead
    }
}
