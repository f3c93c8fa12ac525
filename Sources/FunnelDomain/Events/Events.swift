/// Event payloads (`data` of the CloudEvents), one type per topic, version 1.
/// Field names are the public contract (snake_case); `schemas/` holds their JSON Schemas.

/// `funnel.lead.captured.v1`: a contact record as received (validated at the edge).
public struct LeadCaptured: Validatable, Equatable {
    public var leadID: String
    public var email: String?
    public var firstName: String?
    public var lastName: String?
    public var jobTitle: String?
    public var company: String?
    public var companyDomain: String?
    public var employees: Int?
    public var industry: String?
    public var country: String?
    public var phone: String?
    public var source: String?
    public var campaign: String?
    public var consent: Consent?
    public var attributes: [String: String]?
    public var capturedAt: String

    public struct Consent: Codable, Sendable, Equatable {
        public var email: Bool
        public init(email: Bool) { self.email = email }
    }

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", email, firstName = "first_name", lastName = "last_name"
        case jobTitle = "job_title", company, companyDomain = "company_domain", employees, industry
        case country, phone, source, campaign, consent, attributes, capturedAt = "captured_at"
    }

    public init(leadID: String, email: String? = nil, firstName: String? = nil, lastName: String? = nil,
                jobTitle: String? = nil, company: String? = nil, companyDomain: String? = nil, employees: Int? = nil,
                industry: String? = nil, country: String? = nil, phone: String? = nil, source: String? = nil,
                campaign: String? = nil, consent: Consent? = nil, attributes: [String: String]? = nil, capturedAt: String) {
        self.leadID = leadID; self.email = email; self.firstName = firstName; self.lastName = lastName
        self.jobTitle = jobTitle; self.company = company; self.companyDomain = companyDomain
        self.employees = employees; self.industry = industry; self.country = country; self.phone = phone
        self.source = source; self.campaign = campaign; self.consent = consent; self.attributes = attributes
        self.capturedAt = capturedAt
    }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if leadID.isEmpty { errors.append(FieldError(field: "lead_id", reason: "must not be empty")) }
        if (email ?? "").isEmpty && (phone ?? "").isEmpty {
            errors.append(FieldError(field: "email", reason: "is required unless phone is given"))
        }
        if let email, !email.isEmpty, !Check.isEmail(email) { errors.append(FieldError(field: "email", reason: "is not an e-mail address")) }
        if let country, !Check.isCountryCode(country) { errors.append(FieldError(field: "country", reason: "must be an ISO 3166-1 alpha-2 code")) }
        if let employees, employees < 0 { errors.append(FieldError(field: "employees", reason: "must be >= 0")) }
        if !Check.isTimestamp(capturedAt) { errors.append(FieldError(field: "captured_at", reason: "must be an RFC 3339 date-time")) }
        let limits: [(String, String?, Int)] = [
            ("lead_id", leadID, 128), ("email", email, 254), ("first_name", firstName, 100), ("last_name", lastName, 100),
            ("job_title", jobTitle, 200), ("company", company, 200), ("company_domain", companyDomain, 253),
            ("industry", industry, 100), ("phone", phone, 32), ("source", source, 100), ("campaign", campaign, 100),
        ]
        for (field, value, max) in limits where (value?.exceeds(characters: max) ?? false) { // as JSON Schema's maxLength counts
            errors.append(FieldError(field: field, reason: "must be at most \(max) characters"))
        }
        errors += Check.attributes(attributes)
        return errors
    }
}

extension Check {
    /// Free-form attributes: at most 50, keys up to 64 characters, values up to 1000.
    static func attributes(_ attributes: [String: String]?) -> [FieldError] {
        guard let attributes else { return [] }
        var errors: [FieldError] = []
        if attributes.count > 50 { errors.append(FieldError(field: "attributes", reason: "must have at most 50 entries")) }
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
            if key.isEmpty || key.exceeds(characters: 64) { errors.append(FieldError(field: "attributes", reason: "keys must be 1 to 64 characters")); break }
            if value.exceeds(characters: 1000) { errors.append(FieldError(field: "attributes.\(key)", reason: "must be at most 1000 characters")) }
        }
        return errors
    }
}

/// The behavioural event types accepted by `POST /v1/activities` (and produced by follow-up).
public enum ActivityType: String, Codable, Sendable, CaseIterable {
    case pageView = "page_view", pricingPageView = "pricing_page_view", demoRequest = "demo_request"
    case contentDownload = "content_download", webinarRegistered = "webinar_registered"
    case webinarAttended = "webinar_attended", emailOpen = "email_open", emailClick = "email_click"
    case emailReply = "email_reply", formSubmit = "form_submit", careersPageView = "careers_page_view"
    case unsubscribe, emailSent = "email_sent"
    /// Appended last: the scorer's state stores activity types by their position here.
    case emailBounced = "email_bounced"
}

/// `funnel.lead.activity.v1`
public struct LeadActivity: Validatable, Equatable {
    public var leadID: String
    public var type: ActivityType
    public var url: String?
    public var occurredAt: String
    public var source: String?
    public var attributes: [String: String]?

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", type, url, occurredAt = "occurred_at", source, attributes
    }

    public init(leadID: String, type: ActivityType, url: String? = nil, occurredAt: String,
                source: String? = nil, attributes: [String: String]? = nil) {
        self.leadID = leadID; self.type = type; self.url = url; self.occurredAt = occurredAt
        self.source = source; self.attributes = attributes
    }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if leadID.isEmpty { errors.append(FieldError(field: "lead_id", reason: "must not be empty")) }
        if !Check.isTimestamp(occurredAt) { errors.append(FieldError(field: "occurred_at", reason: "must be an RFC 3339 date-time")) }
        if leadID.exceeds(characters: 128) { errors.append(FieldError(field: "lead_id", reason: "must be at most 128 characters")) }
        if let url, url.exceeds(characters: 2048) { errors.append(FieldError(field: "url", reason: "must be at most 2048 characters")) }
        if let source, source.exceeds(characters: 100) { errors.append(FieldError(field: "source", reason: "must be at most 100 characters")) }
        errors += Check.attributes(attributes)
        return errors
    }
}

/// Sales feedback accepted by `POST /v1/outcomes`.
public enum OutcomeType: String, Codable, Sendable, CaseIterable {
    case accepted, rejected, meeting, proposal, won, lost
}

/// `funnel.lead.outcome.v1`
public struct LeadOutcome: Validatable, Equatable {
    public var leadID: String
    public var outcome: OutcomeType
    public var reason: String?
    public var amount: Double?
    public var currency: String?
    public var occurredAt: String
    /// With `accepted`: budget, authority, need, timeline as sales qualified them.
    public var bant: BANT?

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", outcome, reason, amount, currency, occurredAt = "occurred_at", bant
    }

    /// The reasons a `rejected` outcome must give (one of them).
    public static let rejectionReasons = ["not_a_fit", "no_budget", "bad_timing", "duplicate", "spam", "other"]

    public init(leadID: String, outcome: OutcomeType, reason: String? = nil, amount: Double? = nil,
                currency: String? = nil, occurredAt: String, bant: BANT? = nil) {
        self.leadID = leadID; self.outcome = outcome; self.reason = reason; self.amount = amount
        self.currency = currency; self.occurredAt = occurredAt; self.bant = bant
    }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if leadID.isEmpty { errors.append(FieldError(field: "lead_id", reason: "must not be empty")) }
        if let amount, amount < 0 { errors.append(FieldError(field: "amount", reason: "must be >= 0")) }
        if leadID.exceeds(characters: 128) { errors.append(FieldError(field: "lead_id", reason: "must be at most 128 characters")) }
        if let reason, reason.exceeds(characters: 1000) { errors.append(FieldError(field: "reason", reason: "must be at most 1000 characters")) }
        // Three ASCII letters (stored upper-case); "€€€" or "ß" are not codes.
        if let currency, !(currency.utf8.count == 3 && currency.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) })) {
            errors.append(FieldError(field: "currency", reason: "must be an ISO 4217 code"))
        }
        if !Check.isTimestamp(occurredAt) { errors.append(FieldError(field: "occurred_at", reason: "must be an RFC 3339 date-time")) }
        if outcome == .rejected && !(reason.map(Self.rejectionReasons.contains) ?? false) {
            errors.append(FieldError(field: "reason", reason: "a rejection needs one of \(Self.rejectionReasons.joined(separator: ", "))"))
        }
        if let bant {
            if outcome != .accepted { errors.append(FieldError(field: "bant", reason: "only with outcome accepted")) }
            for (name, c) in [("budget", bant.budget), ("authority", bant.authority), ("need", bant.need), ("timeline", bant.timeline)] {
                if let note = c?.note, note.exceeds(characters: 1000) { errors.append(FieldError(field: "bant.\(name).note", reason: "must be at most 1000 characters")) }
            }
        }
        return errors
    }
}

/// Sales' qualification of an accepted lead: each criterion met or not, with an optional note.
public struct BANT: Codable, Sendable, Equatable {
    public struct Criterion: Codable, Sendable, Equatable {
        public var met: Bool
        public var note: String?
        public init(met: Bool, note: String? = nil) { self.met = met; self.note = note }
    }
    public var budget: Criterion?
    public var authority: Criterion?
    public var need: Criterion?
    public var timeline: Criterion?
    public init(budget: Criterion? = nil, authority: Criterion? = nil, need: Criterion? = nil, timeline: Criterion? = nil) {
        self.budget = budget; self.authority = authority; self.need = need; self.timeline = timeline
    }
}

/// How an e-mail address was classified by enrichment.
public enum EmailClass: String, Codable, Sendable, CaseIterable {
    case corporate, free, disposable, role, missing
}

/// Company data found for a lead's domain.
public struct CompanyInfo: Codable, Sendable, Equatable {
    public var domain: String
    public var name: String?
    public var employees: Int?
    public var industry: String?
    public var country: String?
    /// The sales rep who owns this account, if it is a known account.
    public var owner: String?

    public init(domain: String, name: String? = nil, employees: Int? = nil, industry: String? = nil,
                country: String? = nil, owner: String? = nil) {
        self.domain = domain; self.name = name; self.employees = employees; self.industry = industry
        self.country = country; self.owner = owner
    }
}

/// `funnel.lead.enriched.v1`: the normalised profile plus what enrichment found.
public struct LeadEnriched: Validatable, Equatable {
    public var leadID: String
    public var profile: LeadCaptured
    public var emailClass: EmailClass
    public var contactAvailable: Bool
    public var company: CompanyInfo?
    public var enrichedAt: String
    /// Who filled in the form (``IntentClassifier``); absent on events of older enrichers.
    public var intent: Intent?
    /// The evidence for a non-buyer intent (`competitor domain rival.example`).
    public var intentReason: String?
    /// The known account the lead belongs to (``AccountDirectory``), its owner, how it was
    /// matched (`domain`, `name`, `none`) and how sure (0…1).
    public var accountID: String?
    public var accountOwner: String?
    public var match: AccountMatchKind?
    public var matchConfidence: Double?

    /// Provider enrichment (deploy/enrichment.yaml): `complete`, `partial` (a provider has not
    /// answered yet: a re-enriched event follows) or `none` (nothing to look up). Absent in older events.
    public var enrichment: EnrichmentStatus?
    /// The provider that found the contact info (`contact_available` became true through it).
    public var contactSource: String?
    /// The provider whose company data is in `company` (absent: the operator's company file or none).
    public var companySource: String?
    /// How the profile's country was found: `given`, `phone` (calling code), `company` (company
    /// data) or `domain` (ccTLD); absent when there is none, and in events of older enrichers.
    public var countrySource: CountrySource?

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", profile, emailClass = "email_class", contactAvailable = "contact_available"
        case company, enrichedAt = "enriched_at", intent, intentReason = "intent_reason", accountID = "account_id"
        case accountOwner = "account_owner", match, matchConfidence = "match_confidence"
        case enrichment, contactSource = "contact_source", companySource = "company_source"
        case countrySource = "country_source"
    }

    public init(leadID: String, profile: LeadCaptured, emailClass: EmailClass, contactAvailable: Bool,
                company: CompanyInfo?, enrichedAt: String) {
        self.leadID = leadID; self.profile = profile; self.emailClass = emailClass
        self.contactAvailable = contactAvailable; self.company = company; self.enrichedAt = enrichedAt
    }

    public func validate() -> [FieldError] {
        var errors = profile.validate().map { FieldError(field: "profile." + $0.field, reason: $0.reason) }
        if leadID.isEmpty { errors.append(FieldError(field: "lead_id", reason: "must not be empty")) }
        if !Check.isTimestamp(enrichedAt) { errors.append(FieldError(field: "enriched_at", reason: "must be an RFC 3339 date-time")) }
        return errors
    }
}

/// One rule that contributed to a score (explainability).
public struct RuleContribution: Codable, Sendable, Equatable {
    public var rule: String
    public var category: String
    public var points: Double
    /// For interest rules: how many activities counted (after window and filters).
    public var events: Int?

    public init(rule: String, category: String, points: Double, events: Int? = nil) {
        self.rule = rule; self.category = category; self.points = points; self.events = events
    }
}

/// A further named score of the model (e.g. per product line), beside the primary one.
public struct NamedScore: Codable, Sendable, Equatable {
    public var name: String
    public var total: Double
    public var fit: Double
    public var interest: Double
    public var grade: String
    public var quadrant: String
    public var interestBand: String

    enum CodingKeys: String, CodingKey {
        case name, total, fit, interest, grade, quadrant, interestBand = "interest_band"
    }

    public init(name: String, total: Double, fit: Double, interest: Double, grade: String, quadrant: String, interestBand: String) {
        self.name = name; self.total = total; self.fit = fit; self.interest = interest
        self.grade = grade; self.quadrant = quadrant; self.interestBand = interestBand
    }
}

/// The snapshot of a score carried by stage changes (public contract).
public struct ScoreSnapshot: Codable, Sendable, Equatable {
    public var total: Double
    public var grade: String
    public var quadrant: String
    public var model: String

    public init(total: Double, grade: String, quadrant: String, model: String) {
        self.total = total; self.grade = grade; self.quadrant = quadrant; self.model = model
    }
}

/// `funnel.lead.scored.v1`
public struct LeadScored: Validatable, Equatable {
    public var leadID: String
    public var model: String
    public var total: Double
    public var fit: Double
    public var interest: Double
    public var grade: String
    public var quadrant: String
    public var rules: [RuleContribution]
    /// Set when a negative rule disqualifies the lead outright.
    public var disqualification: String?
    /// Whether an enriched profile is known yet (activities may arrive first).
    public var profileKnown: Bool
    public var contactAvailable: Bool
    public var emailClass: EmailClass?
    public var accountOwner: String?
    public var source: String?
    public var campaign: String?
    /// The reference time of the score: the newest event time of the lead (or a sweep time).
    public var scoredAt: String
    /// Whether the lead is marketing qualified (threshold with hysteresis).
    public var mql: Bool?
    /// `high`, `medium` or `low` interest.
    public var interestBand: String?
    /// Further named scores of the model.
    public var scores: [NamedScore]?
    /// Profile facts routing rules match on (from the enriched profile; absent until it is known).
    public var country: String?
    public var employees: Int?
    public var industry: String?
    /// The matched account's tier (enrichment's `account_tier` attribute), if any.
    public var accountTier: String?
    /// Enrichment's intent (`buyer`, `partner`, …), for routing rules; absent until the profile is known.
    public var intent: Intent?

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", model, total, fit, interest, grade, quadrant, rules, disqualification
        case profileKnown = "profile_known", contactAvailable = "contact_available", emailClass = "email_class"
        case accountOwner = "account_owner", source, campaign, scoredAt = "scored_at", mql
        case interestBand = "interest_band", scores, country, employees, industry, accountTier = "account_tier", intent
    }

    public init(leadID: String, model: String, total: Double, fit: Double, interest: Double, grade: String,
                quadrant: String, rules: [RuleContribution], disqualification: String?, profileKnown: Bool,
                contactAvailable: Bool, emailClass: EmailClass?, accountOwner: String?, source: String?,
                campaign: String?, scoredAt: String) {
        self.leadID = leadID; self.model = model; self.total = total; self.fit = fit; self.interest = interest
        self.grade = grade; self.quadrant = quadrant; self.rules = rules; self.disqualification = disqualification
        self.profileKnown = profileKnown; self.contactAvailable = contactAvailable; self.emailClass = emailClass
        self.accountOwner = accountOwner; self.source = source; self.campaign = campaign; self.scoredAt = scoredAt
    }

    public var snapshot: ScoreSnapshot { ScoreSnapshot(total: total, grade: grade, quadrant: quadrant, model: model) }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if !["A", "B", "C", "D"].contains(grade) { errors.append(FieldError(field: "grade", reason: "must be A, B, C or D")) }
        if !Check.isTimestamp(scoredAt) { errors.append(FieldError(field: "scored_at", reason: "must be an RFC 3339 date-time")) }
        return errors
    }
}

/// `funnel.lead.routed.v1`: a routing decision.
public struct LeadRouted: Validatable, Equatable {
    public var leadID: String
    public var stage: Stage
    public var owner: String?
    public var queue: String
    public var reason: String
    public var score: ScoreSnapshot?
    public var routedAt: String
    /// The `version` of routing.yaml that decided.
    public var routingVersion: String?
    /// The pool that assigned the owner (or whose fallback queue the lead waits in).
    public var pool: String?
    /// The routing rule that matched (`default`: the default pool).
    public var rule: String?
    /// `hot` for a fast-tracked lead.
    public var priority: String?

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", stage, owner, queue, reason, score, routedAt = "routed_at"
        case routingVersion = "routing_version", pool, rule, priority
    }

    public init(leadID: String, stage: Stage, owner: String?, queue: String, reason: String, score: ScoreSnapshot?, routedAt: String) {
        self.leadID = leadID; self.stage = stage; self.owner = owner; self.queue = queue; self.reason = reason
        self.score = score; self.routedAt = routedAt
    }

    public func validate() -> [FieldError] {
        Check.isTimestamp(routedAt) ? [] : [FieldError(field: "routed_at", reason: "must be an RFC 3339 date-time")]
    }
}

/// `funnel.lead.stage-changed.v1` (public): field names fixed by the brief.
public struct StageChanged: Validatable, Equatable {
    public var leadID: String
    public var from: Stage?
    public var to: Stage
    public var reason: String
    public var owner: String?
    public var score: ScoreSnapshot?
    public var source: String?
    public var campaign: String?
    public var occurredAt: String
    /// The `version` of routing.yaml that decided (absent on events of older routers).
    public var routingVersion: String?
    /// The owner's pool, when a pool assigned the owner.
    public var pool: String?
    /// On `sal`: seconds from the owner's assignment to the acceptance.
    public var secondsToAccept: Int?
    /// On `sal`: sales' BANT qualification, when the acceptance gave one.
    public var bant: BANT?

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", from, to, reason, owner, score, source, campaign, occurredAt = "occurred_at"
        case routingVersion = "routing_version", pool, secondsToAccept = "seconds_to_accept", bant
    }

    public init(leadID: String, from: Stage?, to: Stage, reason: String, owner: String?, score: ScoreSnapshot?,
                source: String?, campaign: String?, occurredAt: String) {
        self.leadID = leadID; self.from = from; self.to = to; self.reason = reason; self.owner = owner
        self.score = score; self.source = source; self.campaign = campaign; self.occurredAt = occurredAt
    }

    /// Encodes `from`, `owner` and `score` as explicit nulls (the schema requires the keys).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(leadID, forKey: .leadID)
        try c.encode(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encode(reason, forKey: .reason)
        try c.encode(owner, forKey: .owner)
        try c.encode(score, forKey: .score)
        try c.encode(source, forKey: .source)
        try c.encode(campaign, forKey: .campaign)
        try c.encode(occurredAt, forKey: .occurredAt)
        try c.encodeIfPresent(routingVersion, forKey: .routingVersion)
        try c.encodeIfPresent(pool, forKey: .pool)
        try c.encodeIfPresent(secondsToAccept, forKey: .secondsToAccept)
        try c.encodeIfPresent(bant, forKey: .bant)
    }

    public func validate() -> [FieldError] {
        Check.isTimestamp(occurredAt) ? [] : [FieldError(field: "occurred_at", reason: "must be an RFC 3339 date-time")]
    }
}

/// A dead letter sent again by `funnel deadletters replay` (`funnel.deadletter.replays.v1`).
public struct DeadLetterReplay: Validatable, Equatable {
    public var letterID: String
    /// Where the original was sent again.
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var replayedAt: String
    /// The operator (`$USER`), if known.
    public var by: String?

    enum CodingKeys: String, CodingKey {
        case letterID = "letter_id", topic, partition, offset, replayedAt = "replayed_at", by
    }

    public init(letterID: String, topic: String, partition: Int32, offset: Int64, replayedAt: String, by: String?) {
        self.letterID = letterID; self.topic = topic; self.partition = partition; self.offset = offset
        self.replayedAt = replayedAt; self.by = by
    }

    public func validate() -> [FieldError] {
        Check.isTimestamp(replayedAt) ? [] : [FieldError(field: "replayed_at", reason: "must be an RFC 3339 date-time")]
    }
}

/// `funnel.deadletter.v1`: what could not be processed, with the original bytes and why.
public struct DeadLetter: Validatable, Equatable {
    /// The original message value, base64.
    public var original: String
    /// The original key (UTF-8), if any.
    public var key: String?
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The process that gave up, e.g. `funnel-score`.
    public var stage: String
    /// The field path that failed, if the reason is a validation error.
    public var field: String?
    public var reason: String
    public var failedAt: String

    enum CodingKeys: String, CodingKey {
        case original, key, topic, partition, offset, stage, field, reason, failedAt = "failed_at"
    }

    public init(original: String, key: String?, topic: String, partition: Int32, offset: Int64, stage: String,
                field: String?, reason: String, failedAt: String) {
        self.original = original; self.key = key; self.topic = topic; self.partition = partition
        self.offset = offset; self.stage = stage; self.field = field; self.reason = reason; self.failedAt = failedAt
    }

    public func validate() -> [FieldError] {
        Check.isTimestamp(failedAt) ? [] : [FieldError(field: "failed_at", reason: "must be an RFC 3339 date-time")]
    }
}

extension LeadCaptured { public var leadIDForSubject: String? { leadID } }
extension LeadActivity { public var leadIDForSubject: String? { leadID } }
extension LeadOutcome { public var leadIDForSubject: String? { leadID } }
extension LeadEnriched { public var leadIDForSubject: String? { leadID } }
extension LeadScored { public var leadIDForSubject: String? { leadID } }
extension LeadRouted { public var leadIDForSubject: String? { leadID } }
extension StageChanged { public var leadIDForSubject: String? { leadID } }
