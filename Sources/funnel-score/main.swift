import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-score: enriched + activity → scored. Fit, interest and negative rules from the
/// versioned model in deploy/scoring-model.yaml. Per-lead state is in memory for now.
await ServiceMain.run(service: "funnel-score", defaultPort: 8082) { context, _ in
    let model = try ScoringModel.parse(yaml: context.environment.readConfigFile("scoring-model.yaml"))
    context.logger.info("scoring model loaded", metadata: ["version": "\(model.version)", "rules": "\(model.fit.count + model.interest.count + model.negative.count)"])
    return [context.stage(topics: [TopicCatalog.enriched, TopicCatalog.activity]) {
        let scorer = Scorer(model: model)
        var leads: [String: LeadScoreState] = [:]
        return { message throws(StageFailure) in
            let leadID: String, inputID: String
            if message.topic == TopicCatalog.enriched {
                let event = try StageIO.decode(LeadEnriched.self, message)
                leadID = event.subject; inputID = event.id
                guard leads[leadID, default: LeadScoreState()].markSeen(inputID) else { return [] }
                leads[leadID]!.profile = event.data
                leads[leadID]!.source = event.data.profile.source
                leads[leadID]!.campaign = event.data.profile.campaign
            } else {
                let event = try StageIO.decode(LeadActivity.self, message)
                leadID = event.subject; inputID = event.id
                guard leads[leadID, default: LeadScoreState()].markSeen(inputID) else { return [] }
                leads[leadID]!.activityCounts[event.data.type, default: 0] += 1
            }
            let now = StageIO.now()
            let scored = scorer.score(leads[leadID]!, leadID: leadID, at: now)
            return [StageIO.output(scored, topic: TopicCatalog.scored, leadID: leadID, from: inputID,
                                   purpose: "scored", source: "funnel-score", time: now)]
        }
    }]
}
