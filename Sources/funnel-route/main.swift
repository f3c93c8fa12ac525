import FunnelDomain
import FunnelRuntime
import FunnelStages

/// funnel-route: scored + outcome → stage-changed + routed. The lifecycle of every lead lives
/// in the table `funnel.route.leads.v1` (restored on assignment, see RouteProcessor), so a
/// restart or a rebalance never forgets a lead.
await ServiceMain.run(service: "funnel-route", defaultPort: 8083) { context, _ in
    let model = try ScoringModel.parse(yaml: context.environment.readConfigFile("scoring-model.yaml"))
    let reps = try context.environment.readList("reps.txt")
    let waitHours = try context.environment.integer("FUNNEL_ROUTE_PENDING_OUTCOME_HOURS", default: 168, in: 1...8_760)
    let processor = RouteProcessor(router: LifecycleRouter(reps: reps, mqlThreshold: model.mqlThreshold),
                                   pendingOutcomeWait: Int64(waitHours) * 3_600_000)
    context.logger.info("router ready", metadata: [
        "reps": "\(reps.count)", "mql_threshold": "\(model.mqlThreshold)", "pending_outcome_hours": "\(waitHours)"])
    let (runner, stage) = context.stage(processor)
    context.metrics.gauge("funnel_route_leads", help: "Leads whose lifecycle this replica holds.", labels: [:]) { Double(stage.keyCount) }
    return [runner]
}
