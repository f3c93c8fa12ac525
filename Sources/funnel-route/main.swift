import FunnelDomain
import FunnelRuntime
import FunnelStages

/// funnel-route: scored + outcome → stage-changed + routed. The lifecycle of every lead lives
/// in the table `funnel.route.leads.v1` (restored on assignment, see RouteProcessor), so a
/// restart or a rebalance never forgets a lead.
await ServiceMain.run(service: "funnel-route", defaultPort: 8083) { context, _ in
    let model = try ScoringModel.parse(yaml: context.environment.readConfigFile("scoring-model.yaml"))
    let routingFile = context.environment.configDirectory + "/" + RoutingConfig.fileName
    let routing = try RoutingConfig.parse(yaml: context.environment.readConfigFile(RoutingConfig.fileName), file: routingFile)
    let waitHours = try context.environment.integer("FUNNEL_ROUTE_PENDING_OUTCOME_HOURS", default: 168, in: 1...8_760)
    let processor = RouteProcessor(router: LifecycleRouter(routing: routing, mqlThreshold: model.mqlThreshold),
                                   pendingOutcomeWait: Int64(waitHours) * 3_600_000)
    context.logger.info("router ready", metadata: [
        "routing_version": "\(routing.version)", "rules": "\(routing.rules.count)", "pools": "\(routing.pools.keys.sorted())",
        "mql_threshold": "\(model.mqlThreshold)", "pending_outcome_hours": "\(waitHours)"])
    // Two stages in one process: the leads (keyed by lead) and the pools (keyed by pool), each
    // with its own consumer group and table; they talk through the assignment topics.
    let (leads, leadStage) = context.stage(processor)
    let (pools, poolStage) = context.stage(PoolProcessor(routing: routing), group: "funnel-route-pools")
    context.metrics.gauge("funnel_route_leads", help: "Leads whose lifecycle this replica holds.", labels: [:]) { Double(leadStage.keyCount) }
    context.metrics.gauge("funnel_route_pools", help: "Pools whose distribution state this replica holds.", labels: [:]) { Double(poolStage.keyCount) }
    return [leads, pools]
}
