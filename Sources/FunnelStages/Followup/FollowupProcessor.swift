import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-followup's enrolment side: enriched + stage-changed + routed + activity → e-mail
/// commands on the outbox (`funnel.followup.outbox.v1`), per-lead state in the table
/// `funnel.followup.enrolments.v1` (see ``KeyedProcessor`` for what the runtime does around it).
///
/// - A lead entering `nurture` joins the first sequence whose entry criteria match; each step is
///   a durable timer (`step`), so a restart neither skips nor repeats one: the timer is part of
///   the lead's changelog record and fires on whichever replica owns the lead.
/// - A due step becomes a ``MailCommand`` unless the lead is suppressed (no consent,
///   unsubscribed, bounced), in quiet hours or over the frequency cap (then the timer moves).
/// - Stage changes to an exit stage (mql, sal, …) and exit activities (reply, unsubscribe,
///   hard bounce) end the enrolment and cancel the timer.
/// - An erase request (`funnel.lead.erased.v1`) deletes the lead's state but for a permanent
///   suppression with a salted hash of the address.
/// - Hot-lead and SLA-reminder routings (`owner-alert`, `sla-reminder`) become rep alerts.
/// - Command ids derive from (lead, enrolment, sequence, step, round): a timer that fires again
///   after a crash emits the same id, which the mail sender recognises as sent.
/// - The decisions are the pure ``FollowupPlanner``'s; this type keeps state and builds events.
public struct FollowupProcessor: KeyedProcessor {
    public typealias Value = FollowupLeadState
    public static let service = "funnel-followup"
    public static let stepTimer = "step"

    public let planner: FollowupPlanner
    public let table = TableDefinition(service: "followup", store: "enrolments",
                                       inputs: [TopicCatalog.enriched, TopicCatalog.stageChanged, TopicCatalog.routed, TopicCatalog.activity,
                                                TopicCatalog.erased])

    /// The activity types acted on: consent, delivery and every sequence's exit activities.
    let activityTypes: Set<ActivityType>
    /// Their JSON strings, to skip other activities without decoding them.
    let needles: [[UInt8]]

    /// Told each step decision (`sent`, `postponed: quiet hours`, `suppressed: no consent`, …)
    /// and each enrolment (`enrolled`, `suppressed: …`): for metrics only, never for decisions.
    let observe: @Sendable (String) -> Void
    /// The key of the salted hash kept of an erased lead's address.
    let erasureSalt: [UInt8]

    public init(planner: FollowupPlanner, erasureSalt: [UInt8] = Array("funnel-erasure".utf8),
                observe: @escaping @Sendable (String) -> Void = { _ in }) {
        self.planner = planner
        self.erasureSalt = erasureSalt
        self.observe = observe
        activityTypes = planner.exitActivities.union([.unsubscribe, .emailBounced, .emailReply, .emailSent])
        needles = activityTypes.map { Array("\"\($0.rawValue)\"".utf8) }
    }

    public func encode(_ value: FollowupLeadState) -> [UInt8] { value.encoded() }
    public func decode(_ bytes: ArraySlice<UInt8>) throws -> FollowupLeadState { try FollowupLeadState(decoding: bytes) }

    public func process(_ message: ConsumerMessage, in partition: TablePartition<FollowupLeadState>) throws(StageFailure) -> [ProducerMessage] {
        switch message.topic {
        case TopicCatalog.enriched:
            let event = try StageIO.decode(LeadEnriched.self, message)
            let contact = FollowupLeadState.Contact(event.data.profile)
            if partition.value(of: event.subject)?.contact != contact {
                partition.update(event.subject) { state in
                    if state == nil { state = FollowupLeadState() }
                    state!.contact = contact
                }
            }
            return []
        case TopicCatalog.stageChanged:
            let event = try StageIO.decode(StageChanged.self, message)
            let leadID = event.subject, change = event.data
            var state = partition.value(of: leadID) ?? FollowupLeadState()
            guard state.markSeen(event.id) else { return [] }
            if let owner = change.owner { state.owner = owner }
            if change.to == .nurture {
                state.stage = .nurture
                let entry = FollowupEntry(stage: .nurture, from: change.from, quadrant: change.score?.quadrant, grade: change.score?.grade,
                                          source: change.source ?? state.contact.source, campaign: change.campaign ?? state.contact.campaign)
                let at = Timestamp.milliseconds(change.occurredAt) ?? message.timestampMilliseconds
                let wasActive = state.enrolment?.status == .active
                if let due = planner.enter(entry, entryID: event.id, at: at, state: &state) {
                    partition.schedule(Self.stepTimer, for: leadID, at: due)
                    observe("enrolled")
                } else if !wasActive, let e = state.enrolment, e.status == .suppressed, e.entryID == event.id {
                    observe("suppressed: \(e.reason ?? "-")")
                }
            } else if planner.stageChanged(to: change.to, state: &state) {
                partition.cancel(Self.stepTimer, for: leadID)
            }
            partition.update(leadID) { $0 = state }
            return []
        case TopicCatalog.erased:
            // GDPR erasure: contact facts, enrolment, sends and timers are deleted; what stays is a
            // permanent suppression and the salted hash of the address (so it is never mailed again).
            let leadID = try StageIO.decode(LeadErased.self, message).subject
            let previous = partition.value(of: leadID)
            var state = FollowupLeadState()
            state.suppression = .erased
            state.erasedAddressHash = previous?.contact.email.map { Erasure.addressHash($0, salt: erasureSalt) } ?? previous?.erasedAddressHash
            partition.erase(leadID)
            partition.update(leadID) { $0 = state }
            if previous?.suppression != .erased { observe("suppressed: erased") }
            return []
        case TopicCatalog.routed:
            let event = try StageIO.decode(LeadRouted.self, message)
            guard event.data.queue == "owner-alert" || event.data.queue == "sla-reminder" else { return [] }
            let state = partition.value(of: event.subject) ?? FollowupLeadState()
            guard let command = planner.alert(event.data, state: state) else { return [] }
            return [Self.output(command, id: EventID.derive(event.id, "alert"))]
        default:
            // The activity topic carries every page view: only the few types that matter here are decoded.
            guard mayMatter(message) else { return [] }
            let event = try StageIO.decode(LeadActivity.self, message)
            guard activityTypes.contains(event.data.type) else { return [] }
            var state = partition.value(of: event.subject) ?? FollowupLeadState()
            guard state.markSeen(event.id) else { return [] }
            if planner.activity(event.data.type, attributes: event.data.attributes, state: &state) {
                partition.cancel(Self.stepTimer, for: event.subject)
            }
            partition.update(event.subject) { $0 = state }
            return []
        }
    }

    /// A step timer fell due: the command, a later retry (quiet hours, cap), or the end.
    public func fire(_ timer: FiredTimer, in partition: TablePartition<FollowupLeadState>) -> [ProducerMessage] {
        guard timer.id == Self.stepTimer, var state = partition.value(of: timer.key) else { return [] }
        let decision = planner.stepDue(leadID: timer.key, due: timer.due, state: &state)
        partition.update(timer.key) { $0 = state }
        switch decision {
        case .send: observe("sent")
        case .postpone(_, let reason): observe("postponed: \(reason)")
        case .stop(let status, let reason): observe("\(status.rawValue): \(reason)")
        }
        switch decision {
        case .send(let command, let next):
            if let next { partition.schedule(Self.stepTimer, for: timer.key, at: next) }
            return [Self.output(command, id: FollowupPlanner.commandID(command, entryID: state.enrolment?.entryID ?? ""))]
        case .postpone(let until, _):
            partition.schedule(Self.stepTimer, for: timer.key, at: until)
            return []
        case .stop:
            return []
        }
    }

    /// An outbox command event keyed by lead.
    static func output(_ command: MailCommand, id: String) -> ProducerMessage {
        let event = CloudEvent(id: id, source: service, type: TopicCatalog.outbox, time: command.due, subject: command.leadID, data: command)
        return ProducerMessage(topic: TopicCatalog.outbox, key: command.leadID, value: EventCoding.encode(event))
    }

    /// Whether an activity's bytes may name a type this stage acts on (a cheap scan before decoding).
    func mayMatter(_ message: ConsumerMessage) -> Bool {
        guard let bytes = message.valueBytes else { return true } // let the decoder say what is wrong
        return bytes.withUnsafeBytes { raw in
            let buffer = raw.bindMemory(to: UInt8.self)
            return needles.contains { Self.contains(buffer, $0) }
        }
    }

    static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return false }
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return true }
            }
            i += 1
        }
        return false
    }
}

extension FollowupPlanner {
    /// Every activity type some sequence exits on.
    public var exitActivities: Set<ActivityType> { Set(config.sequences.flatMap(\.exit.activities)) }
}
