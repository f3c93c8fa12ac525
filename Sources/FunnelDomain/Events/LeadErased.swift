import Crypto
import Foundation

/// `funnel.lead.erased.v1`: a person asked to be forgotten (GDPR Art. 17). Written by
/// `POST /v1/erasures` and `funnel erase`, keyed by the lead id like every lead topic.
///
/// Every stateful stage consumes it and deletes what it holds on the lead (funnel-score and
/// funnel-route their table entries, funnel-followup keeps only a suppression with a salted
/// hash of the address); other systems subscribe to erase their copies too. It carries no
/// personal data: the lead id is all a subscriber needs to find its records.
public struct LeadErased: Validatable, Equatable {
    public var leadID: String
    /// When the request was made (RFC 3339).
    public var requestedAt: String
    /// Who asked for it: the API key's source (`funnel-ingest/<source>`) or `funnel erase`.
    public var requestedBy: String

    enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", requestedAt = "requested_at", requestedBy = "requested_by"
    }

    public init(leadID: String, requestedAt: String, requestedBy: String) {
        self.leadID = leadID; self.requestedAt = requestedAt; self.requestedBy = requestedBy
    }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if !LeadID.isValid(leadID) { errors.append(FieldError(field: "lead_id", reason: "must be \(LeadID.formatDescription)")) }
        if !Check.isTimestamp(requestedAt) { errors.append(FieldError(field: "requested_at", reason: "must be an RFC 3339 date-time")) }
        if requestedBy.isEmpty || requestedBy.exceeds(characters: 200) {
            errors.append(FieldError(field: "requested_by", reason: "must be 1 to 200 characters"))
        }
        return errors
    }

    public var leadIDForSubject: String? { leadID }
}

/// What an erase request names, and the pieces every part of an erasure agrees on.
public enum Erasure {
    /// The lead an erase request is for: the id funnel-ingest derives from an e-mail address
    /// (anything with an `@`: ``EmailAddress/canonical(_:)``, ``EmailAddress/identity(_:)``, then
    /// ``EventID/lead(forContact:)``, exactly as `POST /v1/leads` does), else a lead id as given. A phone-only lead is erased
    /// by its lead id.
    public static func leadID(for subject: String) -> Result<String, InputHygiene.Invalid> {
        subject.contains("@") ? leadID(email: subject) : InputHygiene.leadID(subject)
    }

    /// The lead id of an e-mail address, as funnel-ingest derives it.
    public static func leadID(email: String) -> Result<String, InputHygiene.Invalid> {
        EmailAddress.canonical(email).map { EventID.lead(forContact: EmailAddress.identity($0)) }
    }

    /// The erased event's id: one per lead and request time, so a retried request (same
    /// `Idempotency-Key`, same time) is the same event.
    public static func eventID(leadID: String, requestedAt: String) -> String {
        EventID.derive("erasure", leadID, requestedAt)
    }

    /// A salted hash of an address (HMAC-SHA256, hex): what funnel-followup keeps of an erased
    /// person, enough to recognise the address and nothing to read it back from.
    public static func addressHash(_ email: String, salt: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(email.lowercased().utf8), using: SymmetricKey(data: salt))
        return mac.map { String(format: "%02x", $0) }.joined()
    }
}
