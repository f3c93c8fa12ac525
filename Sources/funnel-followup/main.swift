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
    let (enrolments, _) = context.stage(FollowupProcessor(planner: FollowupPlanner(config: config)))
    let sender = MailSender(environment: environment, producer: context.producer, metrics: context.metrics, health: context.health,
                            logger: context.logger, composer: composer, client: client, concurrency: setup.smtp.maxConnections)
    return [enrolments, sender]
}
