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
    let changes = StageChangeCounters(metrics: context.metrics)
    let processor = RouteProcessor(router: LifecycleRouter(routing: routing, mqlThreshold: model.mqlThreshold),
                                   pendingOutcomeWait: Int64(waitHours) * 3_600_000) { changes.count(from: $0, to: $1) }
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

/// `funnel_stage_changes_total{from,to}`: the funnel as the lifecycle moves it. Counted when the
/// router decides (an input re-processed after a crash can count twice; the topic stays exact).
/// Both labels are stage names (`from="none"` for a new lead): at most 10 × 9 series.
final class StageChangeCounters: Sendable {
    private let counters: [String: MetricsRegistry.Counter]

    init(metrics: MetricsRegistry) {
        var counters: [String: MetricsRegistry.Counter] = [:]
        for from in [nil] + Stage.allCases.map(Optional.some) {
            for to in Stage.allCases {
                let key = Self.key(from, to)
                counters[key] = metrics.counter("funnel_stage_changes_total", help: "Stage changes published by funnel-route, by from and to stage.",
                                                labels: ["from": from?.rawValue ?? "none", "to": to.rawValue])
            }
        }
        self.counters = counters
    }

    func count(from: Stage?, to: Stage) { counters[Self.key(from, to)]?.increment() }

    private static func key(_ from: Stage?, _ to: Stage) -> String { (from?.rawValue ?? "none") + ">" + to.rawValue }
}
