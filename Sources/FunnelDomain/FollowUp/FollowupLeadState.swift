/// What funnel-followup keeps per lead in its table (`funnel.followup.enrolments.v1`): the
/// contact facts a mail needs (from the enriched event), the lifecycle stage and owner, the
/// current enrolment, the suppression (unsubscribed, bounced), the recent marketing sends (for
/// the frequency cap) and the ids of recent inputs (a re-delivered input changes nothing).
public struct FollowupLeadState: Sendable, Equatable {
    /// Format version, the first byte of the encoding (never 0xF7, the table-record marker).
    public static let formatVersion: UInt8 = 1
    public static let recentInputs = 16

    public var contact = Contact()
    public var stage: Stage?
    public var owner: String?
    public var enrolment: Enrolment?
    /// Set once the person unsubscribed, the address bounced hard or the person was erased:
    /// no marketing mail, ever.
    public var suppression: Suppression?
    /// After an erasure: the salted hash of the address (``Erasure/addressHash(_:salt:)``), the
    /// only trace kept of it.
    public var erasedAddressHash: String?
    /// Due times (ms) of the marketing e-mails sent, newest last, only those inside the cap window.
    public var sent: [Int64] = []
    /// E-mails confirmed sent by the mail sender (its `email_sent` activities).
    public var delivered: Int = 0
    public var recent: [UInt64] = []

    public init() {}

    /// The contact facts templates use (from the enriched profile).
    public struct Contact: Sendable, Equatable {
        public var email: String?
        public var firstName: String?
        public var lastName: String?
        public var company: String?
        public var jobTitle: String?
        public var country: String?
        /// An IANA zone from the lead's `timezone` attribute, when given.
        public var timeZone: String?
        public var source: String?
        public var campaign: String?
        /// `consent.email`: nil when the lead recorded none.
        public var consent: Bool?
        public init() {}

        public init(_ profile: LeadCaptured) {
            email = profile.email; firstName = profile.firstName; lastName = profile.lastName; company = profile.company
            jobTitle = profile.jobTitle; country = profile.country; timeZone = profile.attributes?["timezone"]
            source = profile.source; campaign = profile.campaign; consent = profile.consent?.email
        }
    }

    public enum Suppression: String, Sendable, Equatable {
        case unsubscribed, bounced
        /// GDPR erasure (`funnel.lead.erased.v1`): everything else about the lead was deleted.
        case erased
    }

    /// A lead's place in a sequence.
    public struct Enrolment: Sendable, Equatable {
        public enum Status: String, Sendable, Equatable {
            /// Steps are scheduled.
            case active
            /// Every step was sent.
            case completed
            /// The lead met an exit criterion (reason says which).
            case exited
            /// Never e-mailed: no consent, unsubscribed, bounced, no address (reason says which).
            case suppressed
        }
        public var sequence: String
        /// The id of the event that enrolled the lead: part of every step's id, so a later
        /// enrolment in the same sequence sends its steps again under new ids.
        public var entryID: String
        public var enteredAt: Int64
        /// The index of the next step to send (== steps.count once the last was sent).
        public var nextStep: Int = 0
        /// Repeats of the last step sent so far (`repeat_last_every_days`).
        public var round: Int = 0
        public var status: Status = .active
        public var reason: String?
        /// When the next step is due (ms; nil when none is).
        public var nextDue: Int64?

        public init(sequence: String, entryID: String, enteredAt: Int64) {
            self.sequence = sequence; self.entryID = entryID; self.enteredAt = enteredAt
        }
    }

    /// Records input `id`; false if it was seen already (a re-delivery).
    public mutating func markSeen(_ id: String) -> Bool {
        let hash = LeadScoreState.hash(id)
        guard !recent.contains(hash) else { return false }
        recent.append(hash)
        if recent.count > Self.recentInputs { recent.removeFirst(recent.count - Self.recentInputs) }
        return true
    }
}

// MARK: Binary form

extension FollowupLeadState {
    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.byte(Self.formatVersion)
        let c = contact
        for s in [c.email, c.firstName, c.lastName, c.company, c.jobTitle, c.country, c.timeZone, c.source, c.campaign] { w.optionalString(s) }
        w.byte(c.consent.map { $0 ? 2 : 1 } ?? 0)
        w.optionalString(stage?.rawValue)
        w.optionalString(owner)
        if let e = enrolment {
            w.byte(1)
            w.string(e.sequence); w.string(e.entryID); w.varint(UInt64(bitPattern: e.enteredAt))
            w.varint(UInt64(e.nextStep)); w.varint(UInt64(e.round)); w.string(e.status.rawValue); w.optionalString(e.reason)
            w.varint(e.nextDue.map { UInt64(bitPattern: $0) &+ 1 } ?? 0)
        } else { w.byte(0) }
        w.optionalString(suppression?.rawValue)
        w.varint(UInt64(sent.count))
        for t in sent { w.varint(UInt64(bitPattern: t)) }
        w.varint(UInt64(delivered))
        w.varint(UInt64(recent.count))
        for hash in recent { w.fixed64(hash) }
        // Added after format 1 shipped: a trailing optional field, absent in older records.
        if let erasedAddressHash { w.optionalString(erasedAddressHash) }
        return w.bytes
    }

    public init(decoding bytes: some Collection<UInt8>) throws(DecodingError) {
        var r = ByteReader(Array(bytes))
        func fail(_ what: String) -> DecodingError { DecodingError(description: "followup lead state: \(what)") }
        guard let version = r.byte() else { throw fail("empty") }
        guard version == Self.formatVersion else { throw fail("unknown format version \(version)") }
        self.init()
        var fields: [String?] = []
        for _ in 0..<9 {
            guard let s = r.optionalString() else { throw fail("truncated contact") }
            fields.append(s)
        }
        contact.email = fields[0]; contact.firstName = fields[1]; contact.lastName = fields[2]; contact.company = fields[3]
        contact.jobTitle = fields[4]; contact.country = fields[5]; contact.timeZone = fields[6]; contact.source = fields[7]
        contact.campaign = fields[8]
        guard let consent = r.byte(), let stage = r.optionalString(), let owner = r.optionalString(), let hasEnrolment = r.byte() else {
            throw fail("truncated lifecycle")
        }
        contact.consent = consent == 0 ? nil : consent == 2
        self.stage = stage.flatMap(Stage.init(rawValue:))
        self.owner = owner
        if hasEnrolment == 1 {
            guard let sequence = r.string(), let entryID = r.string(), let entered = r.varint(), let next = r.varint(), let round = r.varint(),
                  let statusText = r.string(), let status = Enrolment.Status(rawValue: statusText), let reason = r.optionalString(),
                  let due = r.varint() else { throw fail("truncated enrolment") }
            var e = Enrolment(sequence: sequence, entryID: entryID, enteredAt: Int64(bitPattern: entered))
            e.nextStep = Int(next); e.round = Int(round); e.status = status; e.reason = reason
            e.nextDue = due == 0 ? nil : Int64(bitPattern: due &- 1)
            enrolment = e
        }
        guard let suppression = r.optionalString(), let sentCount = r.varint(), sentCount <= 10_000 else { throw fail("truncated sends") }
        self.suppression = suppression.flatMap(Suppression.init(rawValue:))
        for _ in 0..<sentCount {
            guard let t = r.varint() else { throw fail("truncated sends") }
            sent.append(Int64(bitPattern: t))
        }
        guard let delivered = r.varint(), let recentCount = r.varint(), recentCount <= 10_000 else { throw fail("truncated recent inputs") }
        self.delivered = Int(delivered)
        for _ in 0..<recentCount {
            guard let hash = r.fixed64() else { throw fail("truncated recent inputs") }
            recent.append(hash)
        }
        if !r.isAtEnd {
            guard let hash = r.optionalString() else { throw fail("truncated erasure") }
            erasedAddressHash = hash
        }
    }
}
