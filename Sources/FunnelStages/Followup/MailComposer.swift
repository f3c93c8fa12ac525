import Foundation
import FunnelDomain
import FunnelSMTP
import Mustache

/// Turns a ``MailCommand`` into the e-mail: the template rendered with the lead's fields, an
/// open pixel and click-tracked links (`{{#track}}https://…{{/track}}`) signed with
/// ``TrackingLinks`` towards `FUNNEL_PUBLIC_URL`, a signed unsubscribe link in the footer,
/// `List-Unsubscribe` + `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), and a
/// `Message-ID` derived from the command's id. Deterministic: the same command gives the same bytes.
public struct MailComposer: Sendable {
    public let templates: MailTemplates
    public let links: TrackingLinks
    public let from: MailAddress
    public let config: FollowupConfig
    /// The domain of Message-IDs (`<id@domain>`): the sender address's domain.
    let messageDomain: String

    public init(templates: MailTemplates, links: TrackingLinks, from: MailAddress, config: FollowupConfig) {
        self.templates = templates
        self.links = links
        self.from = from
        self.config = config
        messageDomain = from.address.split(separator: "@").last.map(String.init) ?? "funnel.local"
    }

    public enum ComposeError: Error, CustomStringConvertible {
        case template(String), address(String), signing(String), message(String)
        public var description: String {
            switch self {
            case .template(let s): "template: \(s)"
            case .address(let s): "address: \(s)"
            case .signing(let s): "tracking links: \(s)"
            case .message(let s): "message: \(s)"
            }
        }
    }

    /// The message for `command` (event id `id`).
    public func message(for command: MailCommand, id: String) throws(ComposeError) -> MailMessage {
        guard templates.names.contains(command.template) else { throw .template("no template '\(command.template)'") }
        let due = Timestamp.milliseconds(command.due) ?? 0
        let campaign = command.trackingCampaign
        let isMarketing = command.kind == .step
        // Token expiries are in seconds since 1970.
        let trackingExpiry = due / 1000 + Int64(config.trackingLinkDays) * 86_400
        let unsubscribeExpiry = due / 1000 + Int64(config.unsubscribeLinkDays) * 86_400
        var unsubscribe: (url: String, headers: [(name: String, value: String)])?
        var pixel: String?
        do {
            if isMarketing {
                unsubscribe = try links.unsubscribe(leadID: command.leadID, campaign: campaign, expires: unsubscribeExpiry)
                pixel = try links.openPixel(leadID: command.leadID, campaign: campaign, expires: trackingExpiry)
            }
        } catch { throw .signing("\(error)") }
        let links = self.links, leadID = command.leadID
        // Click tracking only for the lead's own mail; an alert's links go straight to the target.
        let link = { (url: String) -> String in
            guard isMarketing, url.hasPrefix("http://") || url.hasPrefix("https://") else { return url }
            return (try? links.click(leadID: leadID, url: url, campaign: campaign, expires: trackingExpiry)) ?? url
        }
        var context = Self.context(command)
        // Literal `{{#track}}URL{{/track}}` sections were rewritten at load into variables: each
        // target signed once per e-mail (the text and HTML parts share it), nothing parsed.
        for tracked in templates.trackedLinks(command.template) { context[tracked.variable] = link(tracked.url) }
        // Sections with tags inside still call the lambda (its result is parsed as a template).
        // A target with a tag (`https://example.com/{{lead.id}}`) reaches the lambda unrendered:
        // signing it would send the click to the literal tag, so it renders as a plain link.
        context["track"] = MustacheLambda { (target: String) -> Any? in
            target.contains("{{") ? target : link(target.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        context["unsubscribe_url"] = unsubscribe?.url ?? ""
        let rendered = templates.render(command.template, context: context)
        var html = rendered.html
        if let pixel, var body = html {
            let img = "<img src=\"\(pixel)\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0\">"
            if let close = body.range(of: "</body>", options: [.caseInsensitive, .backwards]) { body.insert(contentsOf: img, at: close.lowerBound) } else { body += img }
            html = body
        }
        var headers: [(String, String)] = [("X-Funnel-Lead", command.leadID), ("X-Funnel-Campaign", campaign)]
        // RFC 8058 one-click: List-Unsubscribe and List-Unsubscribe-Post.
        for header in unsubscribe?.headers ?? [] { headers.append((header.name, header.value)) }
        let to: MailAddress
        do { to = try MailAddress(command.to, displayName: command.toName) } catch { throw .address("\(error)") }
        var message = MailMessage(from: from, to: [to], subject: rendered.subject, text: rendered.text, html: html,
                                  messageID: "\(id)@\(messageDomain)", date: due, extraHeaders: headers)
        // Checked here (header injection, sizes), so what reaches the SMTP client renders; the
        // bytes stay in the message, so the client does not render it again.
        do { try message.render() } catch { throw .message("\(error)") }
        return message
    }

    /// What a template sees: `lead.*`, `owner`, `rep`, `score.*`, `reason`, `queue`, `sequence`, `step`.
    static func context(_ c: MailCommand) -> [String: Any] {
        var lead: [String: Any] = [:]
        let l = c.lead
        for (key, value) in [("email", l.email), ("first_name", l.firstName), ("last_name", l.lastName), ("company", l.company),
                             ("job_title", l.jobTitle), ("country", l.country), ("source", l.source), ("campaign", l.campaign),
                             ("stage", l.stage)] {
            if let value, !value.isEmpty { lead[key] = value }
        }
        let name = [l.firstName, l.lastName].compactMap { $0 }.joined(separator: " ")
        if !name.isEmpty { lead["name"] = name }
        lead["id"] = c.leadID
        var context: [String: Any] = ["lead": lead]
        if let owner = c.owner { context["owner"] = owner }
        if let rep = c.rep { context["rep"] = ["id": rep, "name": c.toName ?? rep] }
        if let s = c.score {
            context["score"] = ["total": String(format: "%.1f", s.total), "grade": s.grade, "quadrant": s.quadrant, "model": s.model]
        }
        if let reason = c.reason { context["reason"] = reason }
        if let queue = c.queue {
            context["queue"] = queue
            context[queue == "owner-alert" ? "hot" : "sla_reminder"] = true
        }
        if let sequence = c.sequence { context["sequence"] = sequence }
        if let step = c.step { context["step"] = step }
        return context
    }

    /// A lead with every field, for checking templates at start.
    static var sampleContext: [String: Any] {
        var command = MailCommand(kind: .alert, leadID: "lead-sample", to: "ada@example.com", template: "-",
                                  lead: .init(FollowupLeadState.Contact(), stage: .mql), due: "2026-01-01T00:00:00Z", configVersion: "-")
        command.lead.firstName = "Ada"; command.lead.lastName = "Lovelace"; command.lead.company = "Analytical Engines"
        command.lead.jobTitle = "CTO"; command.lead.email = "ada@example.com"
        command.rep = "rep-sample"; command.queue = "owner-alert"; command.reason = "sample"
        command.score = ScoreSnapshot(total: 80, grade: "A", quadrant: "hot", model: "sample")
        command.sequence = "sample"; command.step = "sample"
        var context = context(command)
        context["track"] = MustacheLambda { (text: String) -> Any? in text }
        context["unsubscribe_url"] = "https://example.com/u/sample"
        return context
    }
}
