import Foundation
import FunnelDomain
import FunnelRuntime
import FunnelSMTP
import FunnelStages
import Testing

/// Templates and the message they make: the shipped templates load and render, syntax errors
/// name file and line, every marketing e-mail carries signed tracking links, a pixel and the
/// RFC 8058 headers, and the same command gives the same bytes.
@Suite("E-mail templates and composition")
struct MailComposerTests {
    static let root = #filePath.components(separatedBy: "/Tests/")[0]
    static let secret = String(repeating: "s", count: 40)

    static func composer() throws -> MailComposer {
        let config = try FollowupConfig.parse(yaml: String(contentsOfFile: root + "/deploy/followup.yaml", encoding: .utf8))
        let templates = try MailTemplates(directory: root + "/deploy/templates")
        try templates.check(config)
        return MailComposer(templates: templates, links: TrackingLinks(baseURL: "https://funnel.acme.example/", signer: try TrackingSigner(secrets: [secret])),
                            from: try MailAddress("hello@acme.example", displayName: "Acme"), config: config)
    }

    static func command(kind: MailCommand.Kind = .step, template: String = "intro") -> MailCommand {
        var contact = FollowupLeadState.Contact()
        contact.email = "ada@initech.example"; contact.firstName = "Ada"; contact.company = "Initech"
        var c = MailCommand(kind: kind, leadID: "lead-1", to: "ada@initech.example", toName: "Ada", template: template,
                            lead: .init(contact, stage: .nurture), due: "2026-11-02T09:00:00.000Z", configVersion: "t")
        if kind == .step { c.sequence = "nurture-default"; c.step = "intro" } else {
            c.rep = "rep-ada"; c.queue = "owner-alert"; c.reason = "hot lead for rep-ada: score 91"
            c.score = ScoreSnapshot(total: 91, grade: "A", quadrant: "hot", model: "m1")
        }
        return c
    }

    @Test("a step e-mail: personalised, tracked links and pixel signed for the lead, RFC 8058 headers, Message-ID from the step's id")
    func step() throws {
        let message = try Self.composer().message(for: Self.command(), id: "abc123")
        #expect(message.subject == "Ada, welcome: three things teams like Initech do first")
        #expect(message.messageID == "abc123@acme.example" && message.date == Timestamp.milliseconds("2026-11-02T09:00:00Z"))
        #expect(message.text.hasPrefix("Hi Ada,") && !message.text.contains("{{"))
        let headers = Dictionary(uniqueKeysWithValues: message.extraHeaders.map { ($0.name, $0.value) })
        #expect(headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click")
        let unsubscribe = try #require(headers["List-Unsubscribe"])
        #expect(unsubscribe.hasPrefix("<https://funnel.acme.example/u/") && message.text.contains(unsubscribe.dropFirst().dropLast()))
        let html = try #require(message.html)
        #expect(html.contains("<img src=\"https://funnel.acme.example/t/o/") && html.contains("href=\"https://funnel.acme.example/t/c/"))
        #expect(!html.contains("href=\"https://example.com/"), "every link is tracked")
        // The click link verifies as the lead's, towards the template's target.
        let signer = try TrackingSigner(secrets: [Self.secret])
        let click = try #require(html.components(separatedBy: "/t/c/").dropFirst().first?.prefix { $0 != "\"" })
        guard case .valid(let token) = signer.verify(Substring(click), now: 1_800_000_000) else { Issue.record("click token invalid"); return }
        #expect(token.leadID == "lead-1" && token.url == "https://example.com/tour" && token.campaign == "nurture-default/intro")
        // Deterministic: the same command renders the same bytes.
        let again = try Self.composer().message(for: Self.command(), id: "abc123")
        #expect(try message.rendered() == again.rendered())
    }

    @Test("a rep alert: the lead's facts and score, no tracking, no unsubscribe")
    func alert() throws {
        let message = try Self.composer().message(for: Self.command(kind: .alert, template: "rep-alert"), id: "al1")
        #expect(message.subject.hasPrefix("Hot lead: Ada at Initech (score 91.0, A)"), "\(message.subject)")
        #expect(message.text.contains("ada@initech.example") && message.text.contains("funnel explain lead-1"))
        #expect(!message.extraHeaders.contains { $0.name == "List-Unsubscribe" })
        #expect(!(message.html ?? "").contains("/t/o/"))
    }

    @Test("template mistakes stop the start with the file and line")
    func errors() throws {
        let broken = ["intro.subject": (file: "templates/intro.subject.mustache", text: "Hello"),
                      "intro.text": (file: "templates/intro.text.mustache", text: "line one\nline two {{#lead}}\nline three\n")]
        #expect(throws: ConfigFileError.self) { try MailTemplates(sources: broken) }
        do { _ = try MailTemplates(sources: broken) } catch {
            #expect(error.file == "templates/intro.text.mustache" && error.line != nil, "\(error)")
        }
        let missingText = ["intro.subject": (file: "templates/intro.subject.mustache", text: "Hello")]
        do { _ = try MailTemplates(sources: missingText); Issue.record("accepted") } catch {
            #expect(error.description == "templates/intro.subject.mustache: template 'intro' needs intro.subject.mustache and intro.text.mustache")
        }
        let templates = try MailTemplates(sources: ["other.subject": (file: "a", text: "Hi"), "other.text": (file: "b", text: "Hi")])
        let config = try FollowupConfig.parse(yaml: "version: x\nsequences:\n  - { name: a, steps: [{ name: s, template: intro, delay: 0h }] }\n")
        do { try templates.check(config); Issue.record("accepted") } catch {
            #expect(error.description.contains("no template 'intro'"))
        }
    }

    /// The shipped templates, each optionally prefixed with a delimiter change that changes
    /// nothing but keeps ``MailTemplates`` from rewriting `{{#track}}` sections (lambda path).
    static func templates(rewrite: Bool, extra: [String: String] = [:]) throws -> MailTemplates {
        let dir = root + "/deploy/templates"
        var sources: [String: (file: String, text: String)] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasSuffix(".mustache") {
            let text = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            sources[String(file.dropLast(".mustache".count))] = (file, (rewrite ? "" : "{{=<% %>=}}<%={{ }}=%>") + text)
        }
        for (name, text) in extra { sources[name] = (name, (rewrite ? "" : "{{=<% %>=}}<%={{ }}=%>") + text) }
        return try MailTemplates(sources: sources)
    }

    @Test("literal {{#track}} sections rewritten at load render the same bytes as the track lambda")
    func trackRewrite() throws {
        let config = try FollowupConfig.parse(yaml: String(contentsOfFile: Self.root + "/deploy/followup.yaml", encoding: .utf8))
        let links = TrackingLinks(baseURL: "https://funnel.acme.example/", signer: try TrackingSigner(secrets: [Self.secret]))
        let from = try MailAddress("hello@acme.example", displayName: "Acme")
        // A partial with a tracked link, a link with surrounding spaces, and one with a tag inside (stays a lambda).
        let extra = ["promo.subject": "Promo {{lead.first_name}}",
                     "promo.text": "A {{#track}}  https://example.com/a  {{/track}} B {{#track}}https://example.com/a{{/track}}\n{{> links.text}}",
                     "links.text": "C {{#track}}https://example.com/c?x=1&y=2{{/track}} D {{#track}}https://example.com/{{lead.id}}{{/track}}",
                     "promo.html": "<a href=\"{{#track}}https://example.com/c?x=1&y=2{{/track}}\">c</a>{{> links.text}}"]
        let fast = try Self.templates(rewrite: true, extra: extra), slow = try Self.templates(rewrite: false, extra: extra)
        #expect(fast.trackedLinks("intro").map(\.target) == ["https://example.com/tour", "https://example.com/docs/scoring", "https://example.com/pricing"])
        #expect(Set(fast.trackedLinks("promo").map(\.target)) == ["  https://example.com/a  ", "https://example.com/a", "https://example.com/c?x=1&y=2"])
        #expect(slow.trackedLinks("intro").isEmpty)
        try fast.check(config)
        let names = fast.names.sorted()
        #expect(names.count >= 7 && names == slow.names.sorted())
        for name in names {
            for kind in [MailCommand.Kind.step, .alert] {
                var command = Self.command(kind: kind, template: name)
                command.template = name
                let a = try MailComposer(templates: fast, links: links, from: from, config: config).message(for: command, id: "id-\(name)")
                let b = try MailComposer(templates: slow, links: links, from: from, config: config).message(for: command, id: "id-\(name)")
                #expect(a.text == b.text && a.html == b.html && a.subject == b.subject, "\(name) \(kind)")
                #expect(try a.rendered() == b.rendered(), "\(name) \(kind)")
            }
        }
        let promo = try MailComposer(templates: fast, links: links, from: from, config: config).message(for: Self.command(template: "promo"), id: "p")
        #expect(promo.text.components(separatedBy: "https://funnel.acme.example/t/c/").count == 4, "\(promo.text)")
        #expect(promo.text.contains(" D https://example.com/lead-1"), "a target with a tag is rendered by the lambda, as before")
    }

    @Test("a message keeps its rendered bytes until a field changes")
    func keptRendering() throws {
        var message = try Self.composer().message(for: Self.command(), id: "k1")
        let bytes = try message.rendered()
        message.subject = "Changed"
        let changed = try message.rendered()
        #expect(changed != bytes && String(decoding: changed, as: UTF8.self).contains("Subject: Changed"))
        message.subject = "Bad\r\nBcc: x@example.com"
        #expect(throws: MailMessageError.self) { try message.rendered() }
        #expect(throws: MailMessageError.self) { try message.render() }
    }
}
