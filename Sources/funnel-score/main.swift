import FunnelDomain
import FunnelRuntime
import FunnelStages

/// funnel-score: enriched + activity → scored, with per-lead state restored from the
/// compacted changelog on every partition assignment (see ScoreProcessor). Scale it by adding
/// replicas: each owns some partitions and their state.
await ServiceMain.run(service: "funnel-score", defaultPort: 8082) { context, router in
    let file = context.environment.configDirectory + "/scoring-model.yaml"
    let model = try ScoringModel.parse(yaml: context.environment.readConfigFile("scoring-model.yaml"), file: file)
    context.logger.info("scoring model loaded", metadata: [
        "version": "\(model.version)", "scores": "\(model.allScores.map(\.name))",
        "rules": "\(model.ruleCount)"])
    let (runner, stage) = context.stage(ScoreProcessor(scorer: Scorer(model: model), logger: context.logger))
    context.metrics.gauge("funnel_score_leads", help: "Leads whose state this replica holds.", labels: [:]) { Double(stage.keyCount) }
    // During a rolling model change: which replicas score with which version.
    context.metrics.gauge("funnel_score_model_info", help: "Always 1: the version of the scoring model this replica loaded.",
                          labels: ["model": model.version]) { 1 }
    return [runner]
}
