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

    enum CodingKeys: String, CodingKey {
        case email, firstName = "first_name", lastName = "last_name", jobTitle = "job_title", company
        case companyDomain = "company_domain", employees, industry, country, phone, source, campaign, consent, attributes
    }

    /// The text fields by their public name: one table for the fast JSON reader and CSV import.
    static let textFields: [String: WritableKeyPath<LeadRequest, String?> & Sendable] = [
        "email": \.email, "first_name": \.firstName, "last_name": \.lastName, "job_title": \.jobTitle, "company": \.company,
        "company_domain": \.companyDomain, "industry": \.industry, "country": \.country, "phone": \.phone,
        "source": \.source, "campaign": \.campaign,
    ]

    /// The captured event's payload, or the field errors (paths relative to the item).
    func captured(now: String) -> Result<LeadCaptured, FieldErrors> {
        let email = Normalise.email(self.email)
        var phoneError: FieldError?
        var phone: String?
        switch Normalise.phone(self.phone, country: country) {
        case .success(let normalised)?: phone = normalised
        case .failure(let error)?: phoneError = error; phone = Normalise.text(self.phone)
        case nil: phone = nil
        }
        let contact = phoneError == nil ? (email ?? phone ?? "") : (email ?? "")
        let lead = LeadCaptured(
            leadID: contact.isEmpty ? "" : EventID.lead(forContact: contact), email: email, firstName: firstName,
            lastName: lastName, jobTitle: jobTitle, company: company, companyDomain: companyDomain?.lowercased(),
            employees: employees?.value, industry: industry, country: country?.uppercased(), phone: phone, source: source,
            campaign: campaign, consent: consent, attributes: attributes, capturedAt: now)
        // The same checks consumers apply to the captured event (one definition: LeadCaptured.validate).
        var errors = lead.validate().filter { $0.field != "lead_id" } // the lead id comes from the contact:
        if let phoneError { errors.append(phoneError) }
        return errors.isEmpty ? .success(lead) : .failure(FieldErrors(errors))
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

    enum CodingKeys: String, CodingKey {
        case email, leadID = "lead_id", type, url, occurredAt = "occurred_at", attributes
    }

    func activity(now: String) -> Result<LeadActivity, FieldErrors> {
        switch resolveLead(email: email, leadID: leadID) {
        case .failure(let e): return .failure(FieldErrors([e]))
        case .success(let lead):
            if type == .emailSent {
                return .failure(FieldErrors([FieldError(field: "type", reason: "email_sent is recorded by funnel-followup, not accepted over HTTP")]))
            }
            // The same checks consumers apply (occurred_at, lengths, attributes).
            return LeadActivity(leadID: lead, type: type, url: url, occurredAt: occurredAt ?? now,
                                source: "funnel-ingest", attributes: attributes).validated()
        }
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

    enum CodingKeys: String, CodingKey {
        case email, leadID = "lead_id", outcome, reason, amount, currency, occurredAt = "occurred_at", bant
    }

    /// Upper-cases ASCII letters only, so "ßa" stays invalid instead of becoming "SSA".
    static func upperASCII(_ text: String) -> String {
        String(decoding: text.utf8.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }, as: UTF8.self)
    }

    func outcomeEvent(now: String) -> Result<LeadOutcome, FieldErrors> {
        switch resolveLead(email: email, leadID: leadID) {
        case .failure(let e): return .failure(FieldErrors([e]))
        case .success(let lead):
            return LeadOutcome(leadID: lead, outcome: outcome, reason: reason, amount: amount,
                               currency: currency.map(Self.upperASCII), occurredAt: occurredAt ?? now, bant: bant).validated()
        }
    }
}

extension Validatable {
    /// The payload, or every field error the checks consumers apply find in it.
    func validated() -> Result<Self, FieldErrors> {
        let errors = validate()
        return errors.isEmpty ? .success(self) : .failure(FieldErrors(errors))
    }
}

/// The lead id from `lead_id`, else derived from the normalised e-mail (as for leads).
func resolveLead(email: String?, leadID: String?) -> Result<String, FieldError> {
    if let leadID = Normalise.text(leadID) { return .success(leadID) }
    guard let email = Normalise.email(email) else { return .failure(FieldError(field: "lead_id", reason: "lead_id or email is required")) }
    guard Check.isEmail(email) else { return .failure(FieldError(field: "email", reason: "is not an e-mail address")) }
    return .success(EventID.lead(forContact: email))
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
