/// Reference data for classifying e-mail addresses (`deploy/data/`, read by the process and
/// checked by `ReferenceList`). Lookups are set look-ups: one per label of the domain at most.
public struct EmailDirectory: Sendable {
    /// Free webmail providers; matched exactly (`vip.21cn.com` is listed by itself).
    public var freeDomains: Set<String>
    /// Disposable-mail providers; a listed domain also covers its subdomains (the upstream list
    /// holds registrable domains: `a@x.mailinator.com` is disposable).
    public var disposableDomains: Set<String>
    /// Local parts of role accounts (`info`, `sales`, …).
    public var rolePrefixes: Set<String>

    public init(freeDomains: Set<String>, disposableDomains: Set<String>, rolePrefixes: Set<String>) {
        self.freeDomains = freeDomains
        self.disposableDomains = disposableDomains
        self.rolePrefixes = rolePrefixes
    }

    /// Expects a normalised (trimmed, lower-case) address, as `Enricher` passes it.
    /// Precedence: disposable (the domain or a parent domain) wins over role and free-mail where a
    /// domain is on both lists: it cannot reach a person later. Then role, then free, else corporate.
    public func classify(_ email: String?) -> EmailClass {
        guard let email, let at = email.lastIndex(of: "@") else { return .missing }
        let local = email[..<at]
        var domain = email[email.index(after: at)...]
        if domain.last == "." { domain = domain.dropLast() }  // a fully qualified name, `gmail.com.`
        if isDisposable(domain) { return .disposable }
        if rolePrefixes.contains(String(local)) { return .role }
        if freeDomains.contains(String(domain)) { return .free }
        return .corporate
    }

    /// The domain or one of its parent domains is listed (the top-level label alone is never tried).
    public func isDisposable<S: StringProtocol>(_ domain: S) -> Bool {
        var rest = Substring(domain)
        while let dot = rest.firstIndex(of: ".") {
            if disposableDomains.contains(String(rest)) { return true }
            rest = rest[rest.index(after: dot)...]
        }
        return false
    }
}

/// Company data by domain (the operator's firmographic file).
public struct CompanyDirectory: Sendable {
    public var byDomain: [String: CompanyInfo]
    public init(_ companies: [CompanyInfo]) {
        byDomain = Dictionary(companies.map { ($0.domain, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Enrichment: normalise the profile, classify the address, look up the company, match the
/// lead to a known account and judge its intent. Pure: the data comes in as arguments.
public enum Enricher {
    public static func enrich(_ lead: LeadCaptured, emails: EmailDirectory, companies: CompanyDirectory,
                              intents: IntentDirectory = IntentDirectory(), accounts: AccountDirectory = AccountDirectory(),
                              at time: String) -> LeadEnriched {
        var profile = lead
        profile.email = Normalise.email(lead.email)
        profile.firstName = Normalise.name(lead.firstName)
        profile.lastName = Normalise.name(lead.lastName)
        var countrySource: CountrySource?
        if let given = lead.country { profile.country = given.uppercased(); countrySource = .given }
        else if let fromPhone = Normalise.country(fromPhone: lead.phone) { profile.country = fromPhone; countrySource = .phone }
        profile.jobTitle = Normalise.text(lead.jobTitle)
        profile.company = Normalise.text(lead.company)
        let emailClass = emails.classify(profile.email)
        let emailDomain = profile.email.flatMap { $0.split(separator: "@").last.map(String.init) }
        let companyAddress = emailClass == .corporate || emailClass == .role
        profile.companyDomain = profile.companyDomain.flatMap(Normalise.domain(fromWebsite:))
            ?? websiteDomain(lead.attributes) ?? (companyAddress ? emailDomain : nil)
        let company = profile.companyDomain.flatMap { companies.byDomain[$0] }
        if let company {
            profile.employees = profile.employees ?? company.employees
            profile.industry = profile.industry ?? company.industry
            profile.company = profile.company ?? company.name
            if profile.country == nil, let country = company.country { profile.country = country; countrySource = .company }
        }
        if profile.country == nil {
            // The ccTLD of the company's domain, else of a corporate address (not free-mail or disposable).
            if let country = profile.companyDomain.flatMap(CountryFromDomain.country(of:))
                ?? (companyAddress ? emailDomain.flatMap(CountryFromDomain.country(of:)) : nil) {
                profile.country = country
                countrySource = .domain
            }
        }
        let reachableEmail = emailClass == .corporate || emailClass == .free || emailClass == .role
        let contactAvailable = reachableEmail || !(profile.phone ?? "").isEmpty
        var enriched = LeadEnriched(leadID: lead.leadID, profile: profile, emailClass: emailClass,
                                    contactAvailable: contactAvailable, company: company, enrichedAt: time)
        enriched.countrySource = countrySource
        let intent = IntentClassifier.classify(profile, emailClass: emailClass, emailDomain: emailDomain, directory: intents)
        enriched.intent = intent.intent
        enriched.intentReason = intent.reason
        if !accounts.isEmpty {
            let found = accounts.match(emailDomain: companyAddress ? emailDomain : nil, companyDomain: profile.companyDomain,
                                       company: profile.company)
            enriched.match = found.kind
            enriched.matchConfidence = found.confidence
            enriched.accountID = found.account?.id
            enriched.accountOwner = found.account?.owner
            if let account = found.account {
                profile.employees = profile.employees ?? account.employees
                profile.industry = profile.industry ?? account.industry
                // Where the scorer and router read the tier from (`account_tier` on scored events).
                if let tier = account.tier, profile.attributes?["account_tier"] == nil, (profile.attributes?.count ?? 0) < 50 {
                    profile.attributes = (profile.attributes ?? [:]).merging(["account_tier": tier]) { old, _ in old }
                }
                enriched.profile = profile
            }
        }
        return enriched
    }

    /// Attributes a form or import may carry the company's website in.
    static let websiteKeys = ["website", "company_website", "web", "url", "homepage"]

    static func websiteDomain(_ attributes: [String: String]?) -> String? {
        guard let attributes, !attributes.isEmpty else { return nil }
        for key in websiteKeys { if let domain = Normalise.domain(fromWebsite: attributes[key]) { return domain } }
        return nil
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

    /// A phone number in E.164 (`+4930123456`) when it has an international prefix (`+`, `00`)
    /// or `country` is known (a national trunk `0` is dropped); otherwise its digits as given.
    /// Separators (space, `-`, `.`, `/`, parentheses) are removed. `.failure` when it is not a
    /// phone number: letters, or a digit count outside what E.164 allows.
    public static func phone(_ value: String?, country: String?) -> Result<String, FieldError>? {
        guard let t = text(value) else { return nil }
        let invalid = FieldError(field: "phone", reason: "is not a phone number (international: + and 8 to 15 digits)")
        var compact = t.filter { !" -./()\u{00A0}".contains($0) }
        if compact.hasPrefix("00") { compact = "+" + compact.dropFirst(2) }
        let international = compact.hasPrefix("+")
        let digits = international ? String(compact.dropFirst()) : compact
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return .failure(invalid) }
        if international {
            return (8...15).contains(digits.count) && !digits.hasPrefix("0") ? .success("+" + digits) : .failure(invalid)
        }
        if let code = country.flatMap({ callingCodes[$0.uppercased()] }) {
            let national = digits.hasPrefix("0") ? String(digits.dropFirst()) : digits
            let full = code + national
            return (8...15).contains(full.count) && national.count >= 4 ? .success("+" + full) : .failure(invalid)
        }
        return (6...15).contains(digits.count) ? .success(digits) : .failure(invalid)
    }

    /// The calling code (`49`) of a country (`DE`) whose national numbers Funnel checks and
    /// completes, or nil.
    public static func callingCode(of country: String) -> String? { callingCodes[country] }

    /// Country calling codes (ITU-T E.164) for the countries Funnel knows regions of.
    static let callingCodes: [String: String] = [
        "US": "1", "CA": "1", "GB": "44", "IE": "353", "DE": "49", "AT": "43", "CH": "41", "FR": "33", "BE": "32",
        "NL": "31", "LU": "352", "ES": "34", "PT": "351", "IT": "39", "MT": "356", "GR": "30", "CY": "357",
        "DK": "45", "SE": "46", "NO": "47", "FI": "358", "IS": "354", "EE": "372", "LV": "371", "LT": "370",
        "PL": "48", "CZ": "420", "SK": "421", "HU": "36", "SI": "386", "HR": "385", "RO": "40", "BG": "359",
        "UA": "380", "TR": "90", "IL": "972", "AE": "971", "SA": "966", "ZA": "27", "EG": "20", "NG": "234",
        "KE": "254", "MA": "212", "MX": "52", "BR": "55", "AR": "54", "CL": "56", "CO": "57", "PE": "51",
        "UY": "598", "AU": "61", "NZ": "64", "JP": "81", "KR": "82", "CN": "86", "HK": "852", "TW": "886",
        "SG": "65", "IN": "91", "ID": "62", "MY": "60", "TH": "66", "VN": "84", "PH": "63",
    ]

}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
