import Foundation
import FunnelDomain

/// `POST /v1/leads` item (public contract field names).
struct LeadRequest: Decodable {
    var email: String?
    var firstName: String?
    var lastName: String?
    var jobTitle: String?
    var company: String?
    var companyDomain: String?
    var employees: WholeNumber?
    var industry: String?
    var country: String?
    var phone: String?
    var source: String?
    var campaign: String?
    var consent: LeadCaptured.Consent?
    var attributes: [String: String]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email, firstName = "first_name", lastName = "last_name", jobTitle = "job_title", company
        case companyDomain = "company_domain", employees, industry, country, phone, source, campaign, consent, attributes
    }

    /// The text fields by their public name: one table for the fast JSON reader and CSV import.
    static let textFields: [String: WritableKeyPath<LeadRequest, String?> & Sendable] = [
        "email": \.email, "first_name": \.firstName, "last_name": \.lastName, "job_title": \.jobTitle, "company": \.company,
        "company_domain": \.companyDomain, "industry": \.industry, "country": \.country, "phone": \.phone,
        "source": \.source, "campaign": \.campaign,
    ]

    /// The captured event's payload, or the field errors (paths relative to the item). The
    /// edge's rules (``InputHygiene``: blank is absent, no control characters, e-mail syntax and
    /// IDNs, host name, a country code or name as its alpha-2 code), then the checks consumers apply.
    func captured(now: String, countries: CountryNames) -> Result<LeadCaptured, FieldErrors> {
        let present = InputHygiene.present
        let firstName = present(self.firstName), lastName = present(self.lastName), jobTitle = present(self.jobTitle)
        let company = present(self.company), industry = present(self.industry), source = present(self.source)
        let campaign = present(self.campaign)
        var errors = InputHygiene.controlCharacterErrors([
            ("first_name", firstName), ("last_name", lastName), ("job_title", jobTitle), ("company", company),
            ("industry", industry), ("source", source), ("campaign", campaign),
        ])
        errors += InputHygiene.attributeErrors(attributes)
        var email: String?
        if let given = present(self.email) {
            switch EmailAddress.canonical(given) {
            case .success(let address): email = address
            case .failure(let invalid): errors.append(FieldError(field: "email", reason: invalid.reason)); email = Normalise.email(given)
            }
        }
        var companyDomain: String?
        if let given = present(self.companyDomain) {
            if let reason = InputHygiene.controlCharacterReason(given, lines: .single) {
                errors.append(FieldError(field: "company_domain", reason: reason))
            } else {
                switch Hostname.canonical(given) {
                case .success(let host): companyDomain = host
                case .failure(let invalid):
                    errors.append(FieldError(field: "company_domain", reason: "must be a host name like acme.example: " + invalid.reason))
                }
            }
        }
        var country: String?
        if let given = present(self.country) {
            switch InputHygiene.country(given, names: countries) {
            case .success(let code): country = code
            case .failure(let invalid): errors.append(FieldError(field: "country", reason: invalid.reason))
            }
        }
        var phone: String?
        if let given = Normalise.text(self.phone) {
            if let reason = InputHygiene.controlCharacterReason(given, lines: .single) {
                errors.append(FieldError(field: "phone", reason: reason))
                phone = given
            } else {
                switch Normalise.phone(given, country: country ?? self.country) {
                case .success(let normalised)?: phone = normalised
                case .failure(let error)?: errors.append(error); phone = given
                case nil: phone = nil
                }
            }
        }
        // The id names the person: `ada+news@…` and `a.da@gmail.com` are Ada (EmailAddress.identity).
        let contact = errors.isEmpty ? (email.map(EmailAddress.identity) ?? phone ?? "") : ""
        let lead = LeadCaptured(
            leadID: contact.isEmpty ? "" : EventID.lead(forContact: contact), email: email, firstName: firstName,
            lastName: lastName, jobTitle: jobTitle, company: company, companyDomain: companyDomain,
            employees: employees?.value, industry: industry, country: country, phone: phone, source: source,
            campaign: campaign, consent: consent, attributes: attributes, capturedAt: now)
        // The same checks consumers apply to the captured event (one definition: LeadCaptured.validate);
        // the lead id comes from the contact, and a field the edge rejected already is named once.
        errors += lead.validate().filter { error in error.field != "lead_id" && !errors.contains { $0.field == error.field } }
        return errors.isEmpty ? .success(lead) : .failure(FieldErrors(errors.inOrder(of: CodingKeys.allCases.map(\.stringValue))))
    }
}

/// `POST /v1/activities` item.
struct ActivityRequest: Decodable {
    var email: String?
    var leadID: String?
    var type: ActivityType
    var url: String?
    var occurredAt: String?
    var attributes: [String: String]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email, leadID = "lead_id", type, url, occurredAt = "occurred_at", attributes
    }

    func activity(now: String) -> Result<LeadActivity, FieldErrors> {
        let url = InputHygiene.present(self.url), occurredAt = InputHygiene.present(self.occurredAt)
        var errors: [FieldError] = []
        var lead = ""
        switch resolveLead(email: email, leadID: leadID) {
        case .failure(let e): errors += e.errors
        case .success(let id): lead = id
        }
        if type == .emailSent {
            errors.append(FieldError(field: "type", reason: "email_sent is recorded by funnel-followup, not accepted over HTTP"))
        }
        errors += InputHygiene.controlCharacterErrors([("url", url)]) + InputHygiene.attributeErrors(attributes)
        // The same checks consumers apply (occurred_at, lengths, attributes).
        let activity = LeadActivity(leadID: lead, type: type, url: url, occurredAt: occurredAt ?? now,
                                    source: "funnel-ingest", attributes: attributes)
        errors += activity.validate().filter { error in error.field != "lead_id" && !errors.contains { $0.field == error.field } }
        return errors.isEmpty ? .success(activity) : .failure(FieldErrors(errors.inOrder(of: CodingKeys.allCases.map(\.stringValue))))
    }
}

/// `POST /v1/outcomes` item.
struct OutcomeRequest: Decodable {
    var email: String?
    var leadID: String?
    var outcome: OutcomeType
    var reason: String?
    var amount: Double?
    var currency: String?
    var occurredAt: String?
    var bant: BANT?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case email, leadID = "lead_id", outcome, reason, amount, currency, occurredAt = "occurred_at", bant
    }

    /// Upper-cases ASCII letters only, so "ßa" stays invalid instead of becoming "SSA".
    static func upperASCII(_ text: String) -> String {
        String(decoding: text.utf8.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }, as: UTF8.self)
    }

    func outcomeEvent(now: String) -> Result<LeadOutcome, FieldErrors> {
        let reason = InputHygiene.present(self.reason), currency = InputHygiene.present(self.currency)
        let occurredAt = InputHygiene.present(self.occurredAt)
        var errors: [FieldError] = []
        var lead = ""
        switch resolveLead(email: email, leadID: leadID) {
        case .failure(let e): errors += e.errors
        case .success(let id): lead = id
        }
        errors += InputHygiene.controlCharacterErrors([("reason", reason)], lines: .multi)
        var bant = self.bant
        if var given = bant {
            for (name, path) in [("budget", \BANT.budget), ("authority", \BANT.authority), ("need", \BANT.need), ("timeline", \BANT.timeline)] {
                let note = InputHygiene.present(given[keyPath: path]?.note)
                given[keyPath: path]?.note = note
                errors += InputHygiene.controlCharacterErrors([("bant.\(name).note", given[keyPath: path]?.note)], lines: .multi)
            }
            bant = given
        }
        // The same checks consumers apply (amount, currency, occurred_at, reasons, BANT).
        let outcome = LeadOutcome(leadID: lead, outcome: self.outcome, reason: reason, amount: amount,
                                  currency: currency.map(Self.upperASCII), occurredAt: occurredAt ?? now, bant: bant)
        errors += outcome.validate().filter { error in error.field != "lead_id" && !errors.contains { $0.field == error.field } }
        return errors.isEmpty ? .success(outcome) : .failure(FieldErrors(errors.inOrder(of: CodingKeys.allCases.map(\.stringValue))))
    }
}

extension Array where Element == FieldError {
    /// Stably sorted by the order of their (top-level) fields in `fields`: an item's errors come
    /// in the order of its fields, whichever check found them.
    func inOrder(of fields: [String]) -> [FieldError] {
        func rank(_ error: FieldError) -> Int {
            let top = error.field.prefix { $0 != "." && $0 != "[" }
            return fields.firstIndex { $0 == top } ?? fields.count
        }
        return enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }
}

/// The lead id from `lead_id`, else derived from the e-mail address in its stored form (as for
/// leads). Both are checked when both are given (`lead_id` wins); blank is absent.
func resolveLead(email: String?, leadID: String?) -> Result<String, FieldErrors> {
    var errors: [FieldError] = []
    var lead: String?
    if let given = InputHygiene.present(leadID) {
        switch InputHygiene.leadID(given) {
        case .success(let id): lead = id
        case .failure(let invalid): errors.append(FieldError(field: "lead_id", reason: invalid.reason))
        }
    }
    if let given = InputHygiene.present(email) {
        switch EmailAddress.canonical(given) {
        case .success(let address): if lead == nil { lead = EventID.lead(forContact: EmailAddress.identity(address)) }
        case .failure(let invalid): errors.append(FieldError(field: "email", reason: invalid.reason))
        }
    }
    guard errors.isEmpty else { return .failure(FieldErrors(errors)) }
    guard let lead else { return .failure(FieldErrors([FieldError(field: "lead_id", reason: "lead_id or email is required")])) }
    return .success(lead)
}

/// An integer that may arrive as `120` or `120.0`; `1.5` is rejected naming the field (JSONDecoder
/// on Linux reports a fraction for an `Int` as "not valid JSON", without the field).
struct WholeNumber: Decodable {
    let value: Int
    /// The number if it is whole (and below 10^15, exact in a Double); the one rule for JSON,
    /// the fast reader and CSV cells.
    init?(exactly number: Double) {
        guard number == number.rounded(), abs(number) < 1e15 else { return nil }
        value = Int(number)
    }
    init(from decoder: Decoder) throws {
        guard let whole = WholeNumber(exactly: try decoder.singleValueContainer().decode(Double.self)) else {
            throw DecodingError.typeMismatch(Int.self, .init(codingPath: decoder.codingPath, debugDescription: "not an integer"))
        }
        self = whole
    }
}

/// A request item that can be read from `FastJSON`'s parse when every field has the JSON type
/// it expects; nil means "let `JSONDecoder` decide", which gives the precise field error. Both
/// paths accept the same items with the same values (tested).
protocol FastDecodable {
    init?(fast value: FastJSON.Value)
}

extension LeadRequest: FastDecodable {
    init?(fast value: FastJSON.Value) {
        guard case .object(let fields) = value else { return nil }
        for (key, field) in fields {
            if let path = Self.textFields[key] {
                guard let text = FastJSON.optionalString(field) else { return nil }
                self[keyPath: path] = text
                continue
            }
            switch key {
            case "employees":
                switch field {
                case .null: employees = nil
                case .number(let number): guard let whole = WholeNumber(exactly: number) else { return nil }; employees = whole
                default: return nil
                }
            case "consent":
                switch field {
                case .null: consent = nil
                case .object:
                    guard case .bool(let flag)? = field["email"] else { return nil }
                    consent = LeadCaptured.Consent(email: flag)
                default: return nil
                }
            case "attributes":
                guard let map = FastJSON.optionalStringMap(field) else { return nil }
                attributes = map
            default: continue // unknown fields are ignored, as JSONDecoder does
            }
        }
    }
}

extension ActivityRequest: FastDecodable {
    static let textFields: [String: WritableKeyPath<ActivityRequest, String?> & Sendable] = [
        "email": \.email, "lead_id": \.leadID, "url": \.url, "occurred_at": \.occurredAt,
    ]

    init?(fast value: FastJSON.Value) {
        guard case .object(let fields) = value, let typeName = value["type"]?.string,
              let type = ActivityType(rawValue: typeName) else { return nil }
        self.type = type
        for (key, field) in fields {
            if let path = Self.textFields[key] {
                guard let text = FastJSON.optionalString(field) else { return nil }
                self[keyPath: path] = text
            } else if key == "attributes" {
                guard let map = FastJSON.optionalStringMap(field) else { return nil }
                attributes = map
            } // other fields are ignored, as JSONDecoder does
        }
    }
}
