/// A lead's place in the funnel as the router sees it.
public struct LeadLifecycle: Sendable, Equatable {
    public var stage: Stage?
    public var owner: String?
    /// The newest score (the router's decisions read it).
    public var score: ScoreSnapshot?
    /// The score the lead's events carry: the snapshot of the scored event behind the latest
    /// score-driven stage change (for an MQL waiting for its pool, the score that made it one).
    /// Outcomes, timers and scores that move nothing leave it alone, so an event's bytes do not
    /// depend on how the score, outcome and pool-answer topics interleaved: a replay after a
    /// crash publishes the same id with the same bytes.
    public var stageScore: ScoreSnapshot?
    public var source: String?
    public var campaign: String?
    /// The score when sales sent the lead back to nurture: it must score higher to return.
    public var recycledAtScore: Double?
    /// The pool that assigned the current owner (its open-lead count drops when the lead closes).
    public var pool: String?
    /// The routing rule that sent the lead to its owner or pool, and its priority.
    public var rule: String?
    public var priority: RoutingRule.Priority?
    /// An MQL transition decided and waiting for its pool's answer (published with the owner).
    public var assignment: PendingAssignment?
    /// The pool request that gave the current owner (its SLA timer is `sla:<id>`).
    public var requestID: String?
    /// When the current owner got the lead (event time, ms): the start of the SLA and of the
    /// time to accept on the `sal` event.
    public var assignedAt: Int64?
    /// 1 once the owner was reminded of the SLA.
    public var slaStep: UInt8 = 0
    /// The newest score no longer qualifies (the scorer's MQL flag with its hysteresis is off):
    /// an MQL sales has not accepted goes back to nurture when its SLA runs out.
    public var decayed = false
    /// The BANT of the acceptance being applied (for its `sal` event; not kept).
    public var bant: BANT?
    /// A lead sales rejected cannot become an MQL again before this event time (ms).
    public var coolOffUntil: Int64?
    public init() {}
}

/// An MQL transition (or an SLA reassignment) whose owner a pool has not named yet.
public struct PendingAssignment: Sendable, Equatable {
    public var requestID: String
    public var pool: String
    public var from: Stage?
    public var reason: String
    /// For a reassignment: the rep it is taken from (the pool skips it).
    public var exclude: String?
    public init(requestID: String, pool: String, from: Stage?, reason: String, exclude: String? = nil) {
        self.requestID = requestID; self.pool = pool; self.from = from; self.reason = reason; self.exclude = exclude
    }
}

/// One transition decided by the router.
public struct Transition: Sendable, Equatable {
    public var from: Stage?
    public var to: Stage
    public var reason: String
    /// Set when the new owner comes from a pool: the transition is published once the pool
    /// answers (``LeadLifecycle/assignment``), with the owner.
    public var awaitsPool: String?
    public init(from: Stage?, to: Stage, reason: String, awaitsPool: String? = nil) {
        self.from = from; self.to = to; self.reason = reason; self.awaitsPool = awaitsPool
    }
}

/// The lifecycle state machine (`funnel-route`): pure, deterministic.
public struct LifecycleRouter: Sendable {
    public var routing: RoutingConfig
    public var mqlThreshold: Double

    public init(routing: RoutingConfig, mqlThreshold: Double) {
        self.routing = routing
        self.mqlThreshold = mqlThreshold
    }

    /// Stages that close a lead for its owner: the pool's open-lead count goes down.
    public static func closesOwnership(_ stage: Stage) -> Bool {
        stage == .customer || stage == .lost || stage == .nurture || stage == .disqualified
    }

    /// Transitions caused by a new score (which then becomes the lead's ``LeadLifecycle/stageScore``).
    public func apply(_ scored: LeadScored, to lead: inout LeadLifecycle) -> [Transition] {
        let transitions = decide(scored, &lead)
        if !transitions.isEmpty { lead.stageScore = scored.snapshot }
        return transitions
    }

    private func decide(_ scored: LeadScored, _ lead: inout LeadLifecycle) -> [Transition] {
        guard scored.profileKnown else { return [] } // activities before the profile: wait for it
        lead.score = scored.snapshot
        if let mql = scored.mql { lead.decayed = !mql }
        // An MQL waiting for its owner: nothing moves until the pool answers (the next score
        // after the answer is judged as usual).
        if lead.assignment != nil { return [] }
        lead.source = lead.source ?? scored.source
        lead.campaign = lead.campaign ?? scored.campaign
        var out: [Transition] = []
        func move(_ to: Stage, _ reason: String) {
            out.append(Transition(from: lead.stage, to: to, reason: reason))
            lead.stage = to
        }
        if lead.stage == nil {
            // Kept in `captured` until enrichment finds contact info (a person provider's
            // re-enriched event) or the company turns out to be a known account.
            move(.captured, scored.contactAvailable || scored.accountOwner != nil ? "lead captured" : "no contact info")
        }
        if let reason = scored.disqualification, lead.stage != .disqualified, lead.stage != .customer {
            move(.disqualified, reason)
            return out
        }
        if lead.stage == .captured {
            if scored.contactAvailable { move(.identified, "contact info usable (\(scored.emailClass?.rawValue ?? "phone"))") }
            else if scored.accountOwner != nil { move(.identified, "known account") }
            else { return out } // find contact info before going further
        }
        if lead.stage == .nurture, let until = lead.coolOffUntil, (Timestamp.milliseconds(scored.scoredAt) ?? 0) < until {
            return out // rejected by sales: cooling off
        }
        if lead.stage == .identified || lead.stage == .nurture {
            let bar = max(mqlThreshold, (lead.recycledAtScore ?? -.infinity) + 1)
            // The scorer's MQL flag carries its hysteresis; older events only have the total.
            let qualifies = (scored.mql ?? (scored.total >= mqlThreshold)) && scored.total >= bar
            // A `before_mql` rule (a known account's owner) fast-tracks the lead to sales
            // whatever its score: "connected to the company? fast track to that owner".
            let fastTrack = qualifies || lead.stage == .nurture ? nil : routing.fastTrack(scored)
            if qualifies || fastTrack != nil {
                let reason = fastTrack.map { "fast track (rule \($0.rule)): score \(Int(scored.total)) below \(Int(mqlThreshold)) does not hold it back" }
                    ?? "score \(Int(scored.total)) >= \(Int(mqlThreshold)) (\(scored.quadrant))"
                let choice = fastTrack ?? routing.route(scored)
                lead.rule = choice.rule
                lead.priority = choice.priority
                switch choice.target {
                case .owner(let rep):
                    lead.owner = rep
                    lead.pool = nil
                    lead.assignedAt = Timestamp.milliseconds(scored.scoredAt)
                    let byAccount = scored.accountOwner == rep && routing.rules.contains { $0.name == choice.rule && $0.target == .accountOwner }
                    move(.mql, reason + (byAccount ? "; account owner \(rep) (rule \(choice.rule))" : "; rule \(choice.rule): \(rep)"))
                case .pool(let pool):
                    // Published when the pool names the owner (see RouteProcessor).
                    out.append(Transition(from: lead.stage, to: .mql, reason: reason, awaitsPool: pool))
                    lead.stage = .mql
                    lead.owner = nil
                }
            } else if lead.stage == .identified {
                move(.nurture, "score \(Int(scored.total)) below \(Int(mqlThreshold)): nurture")
            }
        }
        return out
    }

    /// The stages an outcome applies in (any other stage: the outcome does not fit).
    public static func stages(for outcome: OutcomeType) -> [Stage] {
        switch outcome {
        case .accepted: [.mql]
        case .rejected: [.mql, .sal]
        case .meeting: [.mql, .sal, .sql]  // another meeting at sql: fits, nothing moves
        case .proposal: [.sal, .sql]       // a proposal at sql: fits, nothing moves
        case .won: [.sal, .sql]
        case .lost: [.mql, .sal, .sql]
        }
    }

    /// Why `outcome` does not fit the lead's stage, or nil if it does.
    public func unfit(_ outcome: LeadOutcome, _ lead: LeadLifecycle) -> String? {
        let allowed = Self.stages(for: outcome.outcome)
        guard let stage = lead.stage, allowed.contains(stage) else {
            return "outcome \(outcome.outcome.rawValue) does not fit stage \(lead.stage?.rawValue ?? "none") (it applies at \(allowed.map(\.rawValue).joined(separator: ", ")))"
        }
        return nil
    }

    /// Transitions caused by sales feedback (none if it does not fit: see ``unfit(_:_:)``).
    public func apply(_ outcome: LeadOutcome, to lead: inout LeadLifecycle) -> [Transition] {
        let current = lead.stage
        guard unfit(outcome, lead) == nil else { return [] }
        if current == .sql && (outcome.outcome == .meeting || outcome.outcome == .proposal) { return [] }
        let (to, reason): (Stage, String) = switch outcome.outcome {
        case .accepted: (.sal, "accepted by sales")
        case .rejected: (.nurture, "rejected by sales: \(outcome.reason ?? "other")")
        case .meeting: (.sql, "meeting held")
        case .proposal: (.sql, "proposal sent")
        case .won: (.customer, "closed won")
        case .lost: (.lost, "closed lost: \(outcome.reason ?? "no reason")")
        }
        lead.bant = outcome.outcome == .accepted ? outcome.bant : nil
        if to == .nurture { lead.recycledAtScore = lead.score?.total }
        if outcome.outcome == .rejected, let at = Timestamp.milliseconds(outcome.occurredAt) {
            lead.coolOffUntil = at + Int64(routing.recycle.rejectedCoolOffDays) * 86_400_000
        }
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
    /// `queue` replaces the stage's queue (a pool's fallback queue when nobody was available).
    public func decisions(_ transitions: [Transition], lead: LeadLifecycle, leadID: String, at time: String,
                          queue: String? = nil) -> [RoutingDecision] {
        transitions.map { t in
            let reveals = Self.revealsOwner(t.to)
            let owner = reveals ? lead.owner : nil
            var changed = StageChanged(leadID: leadID, from: t.from, to: t.to, reason: t.reason, owner: owner,
                                       score: lead.stageScore, source: lead.source, campaign: lead.campaign, occurredAt: time)
            changed.routingVersion = routing.version
            changed.pool = reveals ? lead.pool : nil
            if t.to == .sal, let assigned = lead.assignedAt, let accepted = Timestamp.milliseconds(time) {
                changed.secondsToAccept = Int(max(0, accepted - assigned) / 1000)
            }
            if t.to == .sal { changed.bant = lead.bant }
            let routed = (t.to == .mql ? queue : nil).map(Optional.some) ?? Self.queue(for: t.to)
            return RoutingDecision(changed: changed, routed: routed.map {
                var r = LeadRouted(leadID: leadID, stage: t.to, owner: owner, queue: $0, reason: t.reason, score: lead.stageScore, routedAt: time)
                r.routingVersion = routing.version
                if t.to == .mql {
                    r.pool = lead.pool ?? lead.assignment?.pool
                    r.rule = lead.rule
                    r.priority = lead.priority?.rawValue
                }
                return r
            })
        }
    }
}
