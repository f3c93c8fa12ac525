/// One e-mail to send, on funnel-followup's outbox (`funnel.followup.outbox.v1`, keyed by lead):
/// a sequence step to a lead, or an alert to a rep. Decided by the enrolment processor (pure,
/// durable timers), sent by the mail sender (SMTP), which answers with an `email_sent` or
/// `email_bounced` activity whose id derives from this command's id.
///
/// The command holds what the template needs, so the sender needs no state: a re-sent command
/// renders the same message (same Message-ID, derived from the command's id).
public struct MailCommand: Validatable, Equatable {
    public enum Kind: String, Codable, Sendable { case step, alert }

    public var kind: Kind
    public var leadID: String
    /// Recipient address (the lead's for a step, the rep's for an alert) and display name.
    public var to: String
    public var toName: String?
    public var template: String
    /// Step commands: the sequence, step and repeat round.
    public var sequence: String?
    public var step: String?
    public var round: Int?
    /// Alert commands: the rep, the routing queue (`owner-alert`, `sla-reminder`) and reason.
    public var rep: String?
    public var queue: String?
    public var reason: String?
    /// The lead's facts for the template (never secrets).
    public var lead: LeadFields
    public var score: ScoreSnapshot?
    public var owner: String?
    /// When the step was due (RFC 3339): the e-mail's Date and its activity's time.
    public var due: String
    /// `followup.yaml`'s version.
    public var configVersion: String

    public struct LeadFields: Codable, Sendable, Equatable {
        public var email: String?
        public var firstName: String?
        public var lastName: String?
        public var company: String?
        public var jobTitle: String?
        public var country: String?
        public var source: String?
        public var campaign: String?
        public var stage: String?
        enum CodingKeys: String, CodingKey {
            case email, firstName = "first_name", lastName = "last_name", company, jobTitle = "job_title", country, source, campaign, stage
        }
        public init(_ c: FollowupLeadState.Contact, stage: Stage?) {
            email = c.email; firstName = c.firstName; lastName = c.lastName; company = c.company; jobTitle = c.jobTitle
            country = c.country; source = c.source; campaign = c.campaign; self.stage = stage?.rawValue
        }
    }

    enum CodingKeys: String, CodingKey {
        case kind, leadID = "lead_id", to, toName = "to_name", template, sequence, step, round, rep, queue, reason, lead, score, owner, due
        case configVersion = "config_version"
    }

    public init(kind: Kind, leadID: String, to: String, toName: String? = nil, template: String, lead: LeadFields, due: String,
                configVersion: String) {
        self.kind = kind; self.leadID = leadID; self.to = to; self.toName = toName; self.template = template
        self.lead = lead; self.due = due; self.configVersion = configVersion
    }

    /// The campaign name tracking links carry: `sequence/step` (alerts: `alert/queue`).
    public var trackingCampaign: String {
        kind == .step ? "\(sequence ?? "-")/\(step ?? "-")" : "alert/\(queue ?? "-")"
    }

    public func validate() -> [FieldError] {
        var errors: [FieldError] = []
        if leadID.isEmpty { errors.append(FieldError(field: "lead_id", reason: "must not be empty")) }
        if !Check.isEmail(to) { errors.append(FieldError(field: "to", reason: "must be an e-mail address")) }
        if template.isEmpty { errors.append(FieldError(field: "template", reason: "must not be empty")) }
        if !Check.isTimestamp(due) { errors.append(FieldError(field: "due", reason: "must be an RFC 3339 date-time")) }
        if kind == .step && (sequence == nil || step == nil) { errors.append(FieldError(field: "step", reason: "a step command names its sequence and step")) }
        if kind == .alert && rep == nil { errors.append(FieldError(field: "rep", reason: "an alert names its rep")) }
        return errors
    }

    public var leadIDForSubject: String? { leadID }
}
