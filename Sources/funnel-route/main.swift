import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-route: scored + outcome → routed + stage-changed. Owns the lifecycle state machine.
await ServiceMain.run(service: "funnel-route", defaultPort: 8083) { context, _ in
    let model = try ScoringModel.parse(yaml: context.environment.readConfigFile("scoring-model.yaml"))
    let reps = try context.environment.readList("reps.txt")
    let router = LifecycleRouter(reps: reps, mqlThreshold: model.mqlThreshold)
    context.logger.info("router ready", metadata: ["reps": "\(reps.count)", "mql_threshold": "\(model.mqlThreshold)"])
    return [context.stage(topics: [TopicCatalog.scored, TopicCatalog.outcome]) {
        var leads: [String: LeadLifecycle] = [:]
        return { message throws(StageFailure) in
            let leadID: String, inputID: String, transitions: [Transition]
            if message.topic == TopicCatalog.scored {
                let event = try StageIO.decode(LeadScored.self, message)
                leadID = event.subject; inputID = event.id
                transitions = router.apply(event.data, to: &leads[leadID, default: LeadLifecycle()])
            } else {
                let event = try StageIO.decode(LeadOutcome.self, message)
                leadID = event.subject; inputID = event.id
                guard leads[leadID] != nil else {
                    throw StageFailure(field: "data.lead_id", reason: "outcome '\(event.data.outcome.rawValue)' for a lead this router has not seen")
                }
                transitions = router.apply(event.data, to: &leads[leadID]!)
            }
            let lead = leads[leadID] ?? LeadLifecycle()
            let now = StageIO.now()
            var outputs: [ProducerMessage] = []
            for (index, t) in transitions.enumerated() {
                let owner = (t.to == .mql || t.to == .sal || t.to == .sql || t.to == .customer) ? lead.owner : nil
                let change = StageChanged(leadID: leadID, from: t.from, to: t.to, reason: t.reason, owner: owner,
                                          score: lead.score, source: lead.source, campaign: lead.campaign, occurredAt: now)
                outputs.append(StageIO.output(change, topic: TopicCatalog.stageChanged, leadID: leadID, from: inputID,
                                              purpose: "stage-changed-\(index)", source: "funnel-route", time: now))
                if [.mql, .nurture, .disqualified].contains(t.to) {
                    let queue = t.to == .mql ? "sales" : t.to == .nurture ? "nurture" : "none"
                    let routed = LeadRouted(leadID: leadID, stage: t.to, owner: owner, queue: queue, reason: t.reason,
                                            score: lead.score, routedAt: now)
                    outputs.append(StageIO.output(routed, topic: TopicCatalog.routed, leadID: leadID, from: inputID,
                                                  purpose: "routed-\(index)", source: "funnel-route", time: now))
                }
            }
            return outputs
        }
    }]
}
