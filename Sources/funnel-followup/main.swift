import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-followup: routed → activity. Enrols nurture leads in the sequence from
/// deploy/followup.yaml and records each step as an `email_sent` activity
/// (real e-mail delivery and durable timers come later).
await ServiceMain.run(service: "funnel-followup", defaultPort: 8084) { context, _ in
    let sequence = try FollowupSequence.parse(yaml: context.environment.readConfigFile("followup.yaml"))
    context.logger.info("sequence loaded", metadata: ["sequence": "\(sequence.sequence)", "steps": "\(sequence.steps.count)"])
    return [context.stage(topics: [TopicCatalog.routed]) {
        { message throws(StageFailure) in
            let event = try StageIO.decode(LeadRouted.self, message)
            guard event.data.stage == .nurture, let first = sequence.steps.first else { return [] }
            // The routing's event time, not the wall clock: a re-processed input yields the same bytes.
            let now = event.data.routedAt
            let activity = LeadActivity(leadID: event.subject, type: .emailSent, occurredAt: now, source: "funnel-followup",
                                        attributes: ["sequence": sequence.sequence, "step": first.name, "template": first.template])
            return [StageIO.output(activity, topic: TopicCatalog.activity, leadID: event.subject, from: event.id,
                                   purpose: "followup-\(first.name)", source: "funnel-followup", time: now)]
        }
    }]
}
