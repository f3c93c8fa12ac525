import Foundation

/// The follow-up decisions, pure: who enrols in which sequence, when a step may be sent
/// (quiet hours, frequency cap), when a lead leaves, and the e-mail command of a step.
/// funnel-followup's processor keeps the state and the timers around it.
public struct FollowupPlanner: Sendable {
    public let config: FollowupConfig

    public init(config: FollowupConfig) { self.config = config }

    /// What a due step timer leads to.
    public enum StepDecision: Equatable, Sendable {
        /// Send this command; schedule the next step at `next` (nil: the sequence is complete).
        case send(MailCommand, next: Int64?)
        /// Not now: try again at `until` (quiet hours, frequency cap, no address yet).
        case postpone(until: Int64, reason: String)
        /// The enrolment ends without sending (status and reason recorded).
        case stop(FollowupLeadState.Enrolment.Status, reason: String)
    }

    // MARK: Entry and exit

    /// A lead entered `entry.stage` (event `entryID` at `at`): enrols it in the first matching
    /// sequence unless it is enrolled already. Returns when the first step is due (nil: no
    /// step to schedule — not enrolled, or enrolled as suppressed).
    public func enter(_ entry: FollowupEntry, entryID: String, at: Int64, state: inout FollowupLeadState) -> Int64? {
        if let current = state.enrolment, current.status == .active { return nil }
        guard let sequence = config.sequence(for: entry), let first = sequence.steps.first else { return nil }
        var enrolment = FollowupLeadState.Enrolment(sequence: sequence.name, entryID: entryID, enteredAt: at)
        if let why = suppressionReason(state) {
            enrolment.status = .suppressed
            enrolment.reason = why
            state.enrolment = enrolment
            return nil
        }
        let due = first.delay.after(at, in: zone(of: state))
        enrolment.nextDue = due
        state.enrolment = enrolment
        return due
    }

    /// Whether a stage change ends the enrolment; records the exit. True if a timer is to cancel.
    public func stageChanged(to stage: Stage, state: inout FollowupLeadState) -> Bool {
        state.stage = stage
        guard var e = state.enrolment, e.status == .active, let sequence = config.sequence(named: e.sequence),
              sequence.exit.stages.contains(stage) else { return false }
        e.status = .exited
        e.reason = "became \(stage.rawValue)"
        e.nextDue = nil
        state.enrolment = e
        return true
    }

    /// An activity of the lead: unsubscribes and hard bounces suppress the address for good;
    /// exit activities end the enrolment. True if the step timer is to cancel.
    public func activity(_ type: ActivityType, attributes: [String: String]?, state: inout FollowupLeadState) -> Bool {
        switch type {
        case .unsubscribe: state.suppression = .unsubscribed
        case .emailBounced where attributes?["bounce"] != "soft": state.suppression = .bounced
        case .emailSent: state.delivered += 1
        default: break
        }
        guard var e = state.enrolment, e.status == .active, let sequence = config.sequence(named: e.sequence),
              sequence.exit.activities.contains(type) else { return false }
        if type == .emailBounced && attributes?["bounce"] == "soft" { return false }
        e.status = type == .unsubscribe || type == .emailBounced ? .suppressed : .exited
        e.reason = switch type {
        case .unsubscribe: "unsubscribed"
        case .emailBounced: "bounced"
        case .emailReply: "replied"
        default: type.rawValue
        }
        e.nextDue = nil
        state.enrolment = e
        return true
    }

    /// Why the lead may get no marketing e-mail now (nil: it may).
    public func suppressionReason(_ state: FollowupLeadState) -> String? {
        if let s = state.suppression { return s.rawValue }
        switch state.contact.consent {
        case .some(false): return "no consent"
        case .none where !config.mailWithoutConsent: return "no consent recorded"
        default: return nil
        }
    }

    // MARK: Steps

    /// The step timer of the lead's enrolment fell due at `due`.
    public func stepDue(leadID: String, due: Int64, state: inout FollowupLeadState) -> StepDecision {
        guard var e = state.enrolment, e.status == .active, let sequence = config.sequence(named: e.sequence) else {
            return .stop(.exited, reason: "no active enrolment")
        }
        func finish(_ status: FollowupLeadState.Enrolment.Status, _ reason: String) -> StepDecision {
            e.status = status; e.reason = reason; e.nextDue = nil
            state.enrolment = e
            return .stop(status, reason: reason)
        }
        if let why = suppressionReason(state) { return finish(.suppressed, why) }
        guard let address = state.contact.email, Check.isEmail(address) else {
            // The profile may still be on its way (another topic): wait up to a day for it.
            if due - e.enteredAt < 86_400_000 {
                let until = due + 600_000
                e.nextDue = until
                state.enrolment = e
                return .postpone(until: until, reason: "no address yet")
            }
            return finish(.suppressed, "no e-mail address")
        }
        let sendAt = earliestSend(at: due, state: state)
        if sendAt > due {
            e.nextDue = sendAt
            state.enrolment = e
            return .postpone(until: sendAt, reason: isQuiet(due, zone: zone(of: state)) ? "quiet hours" : "frequency cap")
        }
        let isRepeat = e.nextStep >= sequence.steps.count
        if isRepeat { e.round += 1 }
        let index = min(e.nextStep, sequence.steps.count - 1)
        let step = sequence.steps[index]
        var command = MailCommand(kind: .step, leadID: leadID, to: address, toName: displayName(state.contact), template: step.template,
                                  lead: .init(state.contact, stage: state.stage), due: Timestamp.format(milliseconds: due),
                                  configVersion: config.version)
        command.sequence = sequence.name
        command.step = step.name
        command.round = isRepeat ? e.round : nil
        command.owner = state.owner
        // Record the send, then plan the next step from it.
        state.sent = state.sent.filter { $0 > due - config.frequencyCap.windowMilliseconds } + [due]
        var next: Int64?
        if e.nextStep + 1 < sequence.steps.count {
            e.nextStep += 1
            next = sequence.steps[e.nextStep].delay.after(due, in: zone(of: state))
        } else if let every = sequence.repeatLast {
            e.nextStep = sequence.steps.count
            next = every.after(due, in: zone(of: state))
        } else {
            e.nextStep = sequence.steps.count
            e.status = .completed
            e.reason = "all \(sequence.steps.count) steps sent"
        }
        e.nextDue = next
        state.enrolment = e
        return .send(command, next: next)
    }

    /// The id of a step's command: from the lead, the enrolment's entry, the sequence, the step
    /// and the repeat round. The `email_sent` activity and the Message-ID derive from it.
    public static func commandID(_ command: MailCommand, entryID: String) -> String {
        EventID.derive(command.leadID, "followup", entryID, command.sequence ?? "", command.step ?? "", String(command.round ?? 0))
    }

    // MARK: Pressure

    /// The earliest time at or after `t` when a marketing e-mail may go: outside quiet hours in
    /// the lead's zone and under the frequency cap.
    public func earliestSend(at t: Int64, state: FollowupLeadState) -> Int64 {
        let zone = zone(of: state)
        var time = t
        for _ in 0..<8 {
            let capped = underCap(time, sent: state.sent)
            let quiet = outsideQuietHours(capped, zone: zone)
            if quiet == time { return time }
            time = quiet
        }
        return time
    }

    /// The earliest time at or after `t` with fewer than the cap's e-mails in the window before it.
    public func underCap(_ t: Int64, sent: [Int64]) -> Int64 {
        let window = config.frequencyCap.windowMilliseconds, cap = config.frequencyCap.emails
        let inWindow = sent.filter { $0 > t - window && $0 <= t }.sorted()
        guard inWindow.count >= cap else { return t }
        // Wait until enough of them leave the window.
        return inWindow[inWindow.count - cap] + window + 1
    }

    public func isQuiet(_ t: Int64, zone: TimeZone) -> Bool {
        guard let q = config.quietHours else { return false }
        let minute = WorkingHours.local(t, in: zone).minute
        return q.start > q.end ? (minute >= q.start || minute < q.end) : (minute >= q.start && minute < q.end)
    }

    /// `t`, or the end of the quiet hours it falls in (the lead's local time).
    public func outsideQuietHours(_ t: Int64, zone: TimeZone) -> Int64 {
        guard let q = config.quietHours else { return t }
        var time = t
        for _ in 0..<3 where isQuiet(time, zone: zone) {
            let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(time) / 1000))) * 1000
            let local = time + offset
            let msOfDay = local - WorkingHours.floorDiv(local, 86_400_000) * 86_400_000
            var wait = Int64(q.end) * 60_000 - msOfDay
            if wait <= 0 { wait += 86_400_000 }
            time += wait
        }
        return time
    }

    public func zone(of state: FollowupLeadState) -> TimeZone {
        CountryTimeZones.zone(country: state.contact.country, given: state.contact.timeZone)
    }

    // MARK: Alerts

    /// A rep alert for a routed event (`owner-alert`: a hot lead; `sla-reminder`): nil when the
    /// queue is not an alert or the rep has no address and there is no fallback.
    public func alert(_ routed: LeadRouted, state: FollowupLeadState) -> MailCommand? {
        guard routed.queue == "owner-alert" || routed.queue == "sla-reminder", let rep = routed.owner else { return nil }
        let known = config.alerts.reps[rep]
        guard let address = known?.email ?? config.alerts.fallback else { return nil }
        var command = MailCommand(kind: .alert, leadID: routed.leadID, to: address, toName: known?.name, template: config.alerts.template,
                                  lead: .init(state.contact, stage: routed.stage), due: routed.routedAt, configVersion: config.version)
        command.rep = rep
        command.queue = routed.queue
        command.reason = routed.reason
        command.score = routed.score
        command.owner = rep
        return command
    }

    func displayName(_ c: FollowupLeadState.Contact) -> String? {
        let name = [c.firstName, c.lastName].compactMap { $0 }.joined(separator: " ")
        return name.isEmpty ? nil : name
    }
}
