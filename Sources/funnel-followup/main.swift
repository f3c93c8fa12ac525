import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelSMTP
import FunnelStages

/// funnel-followup: enriched + stage-changed + routed + activity → e-mail.
///
/// Two stages in one process: the enrolment side (``FollowupProcessor``, durable per-lead state
/// and step timers in `funnel.followup.enrolments.v1`) decides what to send and when, onto the
/// outbox; the mail sender (``MailSender``) sends over SMTP and records `email_sent` /
/// `email_bounced` activities. Configuration: `deploy/followup.yaml`, `deploy/templates/`,
/// `FUNNEL_SMTP_URL`, `FUNNEL_MAIL_FROM`, `FUNNEL_PUBLIC_URL`, `FUNNEL_SMTP_RATE`,
/// `FUNNEL_TRACKING_SECRET` (see the README's "Follow-up" section).
await ServiceMain.run(service: "funnel-followup", defaultPort: 8084) { context, _ in
    let environment = context.environment
    let config = try FollowupConfig.parse(yaml: environment.readConfigFile("followup.yaml"))
    let templates = try MailTemplates(directory: environment.configDirectory + "/templates")
    try templates.check(config)
    let setup = try FollowupSetup(environment: environment.raw)
    let composer = MailComposer(templates: templates, links: setup.links, from: setup.from, config: config)
    let client = SMTPClient(configuration: setup.smtp, logger: context.logger)
    context.logger.info("follow-up configured", metadata: [
        "version": "\(config.version)", "sequences": "\(config.sequences.map(\.name))", "templates": "\(templates.names.sorted())",
        "smtp": "\(setup.smtp.host):\(setup.smtp.port)", "connections": "\(setup.smtp.maxConnections)",
        "rate": "\(setup.smtp.ratePerSecond.map { "\($0)/s" } ?? "unlimited")"])
    let metrics = context.metrics
    let decisions = FollowupDecisionCounters(metrics: metrics)
    let (enrolments, _) = context.stage(FollowupProcessor(planner: FollowupPlanner(config: config), erasureSalt: setup.erasureSalt) { decisions.count($0) })
    let sender = MailSender(environment: environment, producer: context.producer, metrics: context.metrics, health: context.health,
                            logger: context.logger, composer: composer, client: client, concurrency: setup.smtp.maxConnections,
                            unrecordedLimit: setup.unrecordedLimit)
    return [enrolments, sender]
}

/// `funnel_followup_decisions_total{decision}`: enrolments and step decisions (`sent`,
/// `postponed`, `suppressed`, `exited`, `completed`), reasons folded into the label's few values.
final class FollowupDecisionCounters: Sendable {
    let metrics: MetricsRegistry
    init(metrics: MetricsRegistry) { self.metrics = metrics }
    func count(_ decision: String) {
        // "postponed: quiet hours" → decision="postponed", reason="quiet hours" (both bounded sets).
        let parts = decision.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        metrics.increment("funnel_followup_decisions_total", help: "Follow-up enrolments and step decisions.",
                          labels: ["decision": parts[0], "reason": parts.count > 1 ? parts[1] : ""])
    }
}
