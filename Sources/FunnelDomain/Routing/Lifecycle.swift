/// A lead's place in the funnel as the router sees it.
public struct LeadLifecycle: Sendable, Equatable {
    public var stage: Stage?
    public var owner: String?
    public var score: ScoreSnapshot?
    public var source: String?
    public var campaign: String?
    /// The score when sales sent the lead back to nurture: it must score higher to return.
    public var recycledAtScore: Double?
    public init() {}
}

/// One transition decided by the router.
public struct Transition: Sendable, Equatable {
    public var from: Stage?
    public var to: Stage
    public var reason: String
}

/// The lifecycle state machine (`funnel-route`): pure, deterministic.
public struct LifecycleRouter: Sendable {
    public var reps: [String]
    public var mqlThreshold: Double

    public init(reps: [String], mqlThreshold: Double) {
        self.reps = reps
        self.mqlThreshold = mqlThreshold
    }

    /// The owner for a lead: the account owner if known, else a rep chosen by the lead id
    /// (deterministic, so a replay assigns the same rep; even across many leads).
    public func owner(for leadID: String, accountOwner: String?) -> String? {
        if let accountOwner { return accountOwner }
        guard !reps.isEmpty else { return nil }
        let hash = EventID.derive("owner", leadID).prefix(8)
        return reps[Int(UInt32(hash, radix: 16) ?? 0) % reps.count]
    }

    /// Transitions caused by a new score.
    public func apply(_ scored: LeadScored, to lead: inout LeadLifecycle) -> [Transition] {
        guard scored.profileKnown else { return [] } // activities before the profile: wait for it
        lead.score = scored.snapshot
        lead.source = lead.source ?? scored.source
        lead.campaign = lead.campaign ?? scored.campaign
        var out: [Transition] = []
        func move(_ to: Stage, _ reason: String) {
            out.append(Transition(from: lead.stage, to: to, reason: reason))
            lead.stage = to
        }
        if lead.stage == nil { move(.captured, "lead captured") }
        if let reason = scored.disqualification, lead.stage != .disqualified, lead.stage != .customer {
            move(.disqualified, reason)
            return out
        }
        if lead.stage == .captured {
            if scored.contactAvailable { move(.identified, "contact info usable (\(scored.emailClass?.rawValue ?? "phone"))") }
            else if scored.accountOwner != nil { move(.identified, "known account") }
            else { return out } // find contact info before going further
        }
        if lead.stage == .identified || lead.stage == .nurture {
            let bar = max(mqlThreshold, (lead.recycledAtScore ?? -.infinity) + 1)
            // The scorer's MQL flag carries its hysteresis; older events only have the total.
            if (scored.mql ?? (scored.total >= mqlThreshold)) && scored.total >= bar {
                lead.owner = owner(for: scored.leadID, accountOwner: scored.accountOwner)
                move(.mql, "score \(Int(scored.total)) >= \(Int(mqlThreshold)) (\(scored.quadrant))")
            } else if lead.stage == .identified {
                move(.nurture, "score \(Int(scored.total)) below \(Int(mqlThreshold)): nurture")
            }
        }
        return out
    }

    /// Transitions caused by sales feedback.
    public func apply(_ outcome: LeadOutcome, to lead: inout LeadLifecycle) -> [Transition] {
        let current = lead.stage
        let next: (Stage, String)?
        switch outcome.outcome {
        case .accepted: next = current == .mql ? (.sal, "accepted by sales") : nil
        case .rejected: next = (current == .mql || current == .sal) ? (.nurture, "rejected by sales: \(outcome.reason ?? "no reason")") : nil
        case .meeting: next = (current == .sal || current == .mql) ? (.sql, "meeting held") : nil
        case .proposal: next = (current == .sal) ? (.sql, "proposal sent") : nil
        case .won: next = (current == .sql || current == .sal) ? (.customer, "closed won") : nil
        case .lost: next = (current == .sql || current == .sal || current == .mql) ? (.lost, "closed lost: \(outcome.reason ?? "no reason")") : nil
        }
        guard let (to, reason) = next else { return [] }
        if to == .nurture { lead.recycledAtScore = lead.score?.total }
        lead.stage = to
        return [Transition(from: current, to: to, reason: reason)]
    }
}

/// What one transition publishes: the stage change, and the routing when the new stage hands
/// the lead to a queue.
public struct RoutingDecision: Sendable, Equatable {
    public var changed: StageChanged
    public var routed: LeadRouted?
}

extension LifecycleRouter {
    /// Stages whose stage-changed event names the owner (sales has the lead).
    public static func revealsOwner(_ stage: Stage) -> Bool {
        stage == .mql || stage == .sal || stage == .sql || stage == .customer
    }

    /// The queue a stage hands the lead to (a `funnel.lead.routed.v1` event), if any.
    public static func queue(for stage: Stage) -> String? {
        switch stage {
        case .mql: "sales"
        case .nurture: "nurture"
        case .disqualified: "none"
        default: nil
        }
    }

    /// The events of `transitions`, all stamped `time`: the event time of their cause (the
    /// scored event's `scored_at`, the outcome's `occurred_at`), never the wall clock, so
    /// re-processing the cause yields the same bytes.
    public func decisions(_ transitions: [Transition], lead: LeadLifecycle, leadID: String, at time: String) -> [RoutingDecision] {
        transitions.map { t in
            let owner = Self.revealsOwner(t.to) ? lead.owner : nil
            let changed = StageChanged(leadID: leadID, from: t.from, to: t.to, reason: t.reason, owner: owner,
                                       score: lead.score, source: lead.source, campaign: lead.campaign, occurredAt: time)
            let routed = Self.queue(for: t.to).map {
                LeadRouted(leadID: leadID, stage: t.to, owner: owner, queue: $0, reason: t.reason, score: lead.score, routedAt: time)
            }
            return RoutingDecision(changed: changed, routed: routed)
        }
    }
}
