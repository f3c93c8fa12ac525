import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// funnel-followup for real: the five processes, Tansu and an aiosmtpd sink. Nurture leads get
/// real e-mail; the pixel and a click from a delivered message reach the scorer; the one-click
/// unsubscribe on funnel-ingest stops the next step; consent false is never mailed; a 550 is a
/// hard bounce (activity, suppression); a 451 is retried; a kill -9 mid-sequence skips no step
/// and repeats at most what was in flight.
@Suite("Follow-up: sequences over SMTP", .serialized, .timeLimit(.minutes(8)))
struct FollowupPipelineTests {
    /// A configuration directory: the shipped one with a fast sequence (seconds, not days) and no quiet hours.
    static func configDirectory(delays: [String]) throws -> String {
        let dir = NSTemporaryDirectory() + "funnel-followup-config-\(UUID().uuidString.prefix(6))"
        let source = (ProjectPaths.root ?? ".") + "/deploy"
        try FileManager.default.copyItem(atPath: source, toPath: dir)
        let templates = ["intro", "case-study", "webinar-invite", "blog-digest", "recycled-check-in"]
        let stepLines = delays.enumerated().map { i, delay in
            "      - { name: step-\(i + 1), template: \(templates[i % templates.count]), delay: \(delay) }"
        }.joined(separator: "\n")
        let yaml = """
        version: "test"
        sequences:
          - name: fast
            when: { stage: nurture }
            steps:
        \(stepLines)
        frequency_cap: { emails: 50, days: 7 }
        quiet_hours: off
        alerts:
          template: rep-alert
          fallback: sales-team@example.com
        """
        try yaml.write(toFile: dir + "/followup.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    static func mails(_ pipeline: LocalPipeline) -> [DeliveredMail] { pipeline.smtp.deliveredMail() }

    /// Waits (bounded) until the sink holds mail satisfying `predicate` (polling its Maildir).
    static func waitForMail(_ pipeline: LocalPipeline, _ what: String, seconds: Double = 60, _ predicate: @escaping @Sendable ([DeliveredMail]) -> Bool) async throws {
        try await within(seconds, what) {
            while !predicate(mails(pipeline)) { try await Task.sleep(for: .milliseconds(100)) } // polling a directory: no event to await
        }
    }

    static func nurtureLead(_ email: String, consent: Bool? = true) -> [String: Any] {
        var lead: [String: Any] = ["email": email, "first_name": "Pat", "job_title": "Product Manager", "country": "GB", "source": "webform"]
        if let consent { lead["consent"] = ["email": consent] }
        return lead
    }

    @Test("real mail to nurture leads; pixel and click reach the scorer; one-click unsubscribe stops the next step; consent, 550 and 451")
    func closedLoop() async throws {
        let logs = NSTemporaryDirectory() + "funnel-followup-\(UUID().uuidString.prefix(6))"
        // Step 2 comes 15 s after the intro: time enough to unsubscribe from the intro first.
        let config = try Self.configDirectory(delays: ["0s", "15s", "3s"])
        let pipeline = try await LocalPipeline.start(
            binDirectory: PipelineEndToEndTests.binDirectory, logDirectory: logs, extraEnvironment: ["FUNNEL_CONFIG_DIR": config],
            smtp: .init(fail: ["bounce-=550", "later-=451:2"], statsFile: logs + "/smtp-stats.json"))
        do {
            let tag = UUID().uuidString.prefix(6).lowercased()
            let steady = "steady-\(tag)@initech.example", clicker = "clicker-\(tag)@initech.example"
            let quitter = "quitter-\(tag)@initech.example", refused = "refused-\(tag)@initech.example"
            let bounce = "bounce-\(tag)@initech.example", later = "later-\(tag)@initech.example"
            let hot = "hot-\(tag)@acme-software.example"
            let client = RetryingClient(pipeline: pipeline)
            // A hot lead (VP at a 500-person software company with a demo request): its owner is alerted by e-mail.
            // The demo request is scored first, so the profile makes the lead an MQL that is hot at once (its
            // fit alone is 65 >= 60: a profile first would make it an MQL before the demo request made it hot).
            let hotScores = try KafkaConsumer(configuration: testConfiguration(pipeline.broker), groupID: uniqueName("hot"), topics: [TopicCatalog.scored])
            try await client.post("/v1/activities", [["email": hot, "type": "demo_request", "url": "https://example.com/demo",
                                                      "occurred_at": Timestamp.format(Date())]], key: "hot-demo-\(tag)")
            try await within(60, "the demo request to be scored") {
                for try await message in hotScores.messages where message.keyString == leadID(hot) { return }
            }
            await hotScores.close()
            try await client.post("/v1/leads", [["email": hot, "first_name": "Vera", "job_title": "VP Engineering", "company": "Acme Software",
                                                 "employees": 500, "industry": "software", "country": "DE", "consent": ["email": true]]],
                                  key: "hot-\(tag)")
            try await client.post("/v1/leads", [Self.nurtureLead(steady), Self.nurtureLead(clicker), Self.nurtureLead(quitter),
                                                Self.nurtureLead(refused, consent: false), Self.nurtureLead(bounce), Self.nurtureLead(later)],
                                  key: "followup-\(tag)")

            // One-click unsubscribe (RFC 8058) through funnel-ingest, from the quitter's own intro.
            let port = pipeline.ports["funnel-ingest"]!
            try await Self.waitForMail(pipeline, "the quitter's intro") { $0.contains { $0.to?.contains(quitter) == true } }
            let quitterIntro = try #require(Self.mails(pipeline).first { $0.to?.contains(quitter) == true })
            let unsubscribe = try #require(quitterIntro.paths("/u/").first)
            let r = try await HTTPProbe.request(port: port, method: "POST", path: unsubscribe,
                                                headers: ["Content-Type": "application/x-www-form-urlencoded"], json: Data("List-Unsubscribe=One-Click".utf8))
            #expect(r.status == 200, "\(r.body)")

            // The first step reaches every lead that may be mailed (the 451 one after two retries).
            try await Self.waitForMail(pipeline, "the intro to four leads") { mails in
                Set(mails.filter { $0.campaign == "fast/step-1" }.compactMap(\.to)).count == 4
            }
            var mails = Self.mails(pipeline)
            let intro = try #require(mails.first { $0.to?.contains(clicker) == true })
            #expect(intro.headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click")
            #expect(intro.headers["list-unsubscribe"]?.hasPrefix("<\(pipeline.ingestURL)/u/") == true)
            #expect(intro.headers["message-id"]?.hasPrefix("<") == true && intro.headers["subject"]?.isEmpty == false)
            #expect(intro.lead == leadID(clicker))

            // Open and click from the delivered message: the activities reach the scorer.
            let pixel = try #require(intro.paths("/t/o/").first)
            let click = try #require(intro.paths("/t/c/").first)
            #expect(try await HTTPProbe.get(port: port, path: pixel).status == 200)
            let redirect = try await HTTPProbe.request(port: port, method: "GET", path: click)
            #expect(redirect.status == 302 && redirect.headers["location"]?.hasPrefix("https://example.com/") == true)
            let scored = try KafkaConsumer(configuration: testConfiguration(pipeline.broker), groupID: uniqueName("scored"), topics: [TopicCatalog.scored])
            try await within(60, "a score with the open and the click") {
                for try await message in scored.messages {
                    guard message.keyString == leadID(clicker),
                          case .success(let e) = EventDecoder.decode(LeadScored.self, from: message.value ?? [], expectedType: TopicCatalog.scored) else { continue }
                    let rules = Set(e.data.rules.map(\.rule))
                    if rules.contains("email-open") && rules.contains("email-click") { return }
                }
            }
            await scored.close()

            // The steady lead gets all three steps; by then the quitter's next step was due twice over.
            try await Self.waitForMail(pipeline, "the steady lead's three steps", seconds: 90) { mails in
                mails.filter { $0.to?.contains(steady) == true }.count == 3
            }
            // The 451 lead's steps each come after its retries (1 s, then 2 s): later than the steady lead's.
            try await Self.waitForMail(pipeline, "the 451 lead's three steps", seconds: 90) { mails in
                mails.filter { $0.to?.contains(later) == true }.count >= 3
            }
            mails = Self.mails(pipeline)
            func count(_ who: String) -> Int { mails.filter { $0.to?.contains(who) == true }.count }
            #expect(count(quitter) == 1, "the unsubscribed lead got \(count(quitter)) e-mails")
            #expect(count(refused) == 0, "consent false was mailed")
            #expect(count(bounce) == 0)
            #expect(count(later) == 3, "the 451 lead got its steps once each after retries")
            // The hot lead is no nurture lead: its owner got an alert (to the fallback address: the test config names no reps).
            #expect(count(hot) == 0)
            if !mails.contains(where: { $0.campaign == "alert/owner-alert" }) {
                let routed = try KafkaConsumer(configuration: testConfiguration(pipeline.broker), groupID: uniqueName("diag"),
                                               topics: [TopicCatalog.routed, TopicCatalog.stageChanged, TopicCatalog.scored])
                _ = try? await within(5, "diagnostics") {
                    for try await message in routed.messages where message.keyString == leadID(hot) {
                        print("[hot lead] \(message.topic): \(String(decoding: message.value ?? [], as: UTF8.self).prefix(600))")
                    }
                }
                await routed.close()
            }
            let alert = try #require(mails.first { $0.campaign == "alert/owner-alert" })
            #expect(alert.to?.contains("sales-team@example.com") == true && alert.lead == leadID(hot))
            #expect(alert.headers["subject"]?.hasPrefix("Hot lead") == true && alert.headers["list-unsubscribe"] == nil)
            let perStep = Dictionary(grouping: mails.filter { $0.to?.contains(steady) == true }) { $0.campaign ?? "-" }.mapValues(\.count)
            #expect(perStep == ["fast/step-1": 1, "fast/step-2": 1, "fast/step-3": 1])

            // The 550 is a hard bounce: an email_bounced activity, and the address is never tried again.
            let activities = try KafkaConsumer(configuration: testConfiguration(pipeline.broker), groupID: uniqueName("act"), topics: [TopicCatalog.activity])
            let bounced = try await within(60, "the bounce activity") { () -> [String: String] in
                for try await message in activities.messages {
                    guard message.keyString == leadID(bounce),
                          case .success(let e) = EventDecoder.decode(LeadActivity.self, from: message.value ?? [], expectedType: TopicCatalog.activity),
                          e.data.type == .emailBounced else { continue }
                    return e.data.attributes ?? [:]
                }
                return [:]
            }
            await activities.close()
            #expect(bounced["bounce"] == "hard" && bounced["code"] == "550" && bounced["step"] == "step-1")
            pipeline.smtp.stop() // its counters are final once it stopped
            let stats = try #require(pipeline.smtp.stats())
            #expect(stats.by_code["550"] == 1, "the bounced address was tried again: \(stats.by_code)")
            #expect(stats.by_code["451"] == 2, "\(stats.by_code)")
        } catch {
            Issue.record("failed; service logs in \(logs)")
            await pipeline.stop()
            throw error
        }
        await pipeline.stop()
    }

    @Test("kill -9 of funnel-followup mid-sequence: no step skipped, duplicates at most the kills")
    func killMidSequence() async throws {
        let logs = NSTemporaryDirectory() + "funnel-followup-kill-\(UUID().uuidString.prefix(6))"
        let steps = 5
        let config = try Self.configDirectory(delays: ["0s"] + Array(repeating: "3s", count: steps - 1))
        let pipeline = try await LocalPipeline.start(binDirectory: PipelineEndToEndTests.binDirectory, logDirectory: logs,
                                                     extraEnvironment: ["FUNNEL_CONFIG_DIR": config, "FUNNEL_TIMER_TICK_MS": "200",
                                                                        // One e-mail sent and not yet recorded: what a kill can repeat.
                                                                        "FUNNEL_SMTP_CONNECTIONS": "1", "FUNNEL_MAIL_UNRECORDED_MAX": "1"])
        do {
            let tag = UUID().uuidString.prefix(6).lowercased()
            let leads = (0..<12).map { "kill\($0)-\(tag)@initech.example" }
            try await RetryingClient(pipeline: pipeline).post("/v1/leads", leads.map { Self.nurtureLead($0) }, key: "kill-\(tag)")
            try await Self.waitForMail(pipeline, "the first intro") { !$0.isEmpty }
            var kills = 0
            // Kill at points spread over the sequence, each after more mail went out.
            for target in [leads.count, leads.count * 2 + 3, leads.count * 3 + 5] {
                try await Self.waitForMail(pipeline, "\(target) e-mails", seconds: 90) { $0.count >= target }
                // Restarted after the previous kill (a kill during the supervisor's backoff finds no process).
                try await pipeline.waitUntilReady()
                if await pipeline.kill("funnel-followup") { kills += 1 }
            }
            let expected = leads.count * steps
            try await Self.waitForMail(pipeline, "every step of every lead", seconds: 180) { mails in
                Set(mails.compactMap { m in m.to.map { "\($0) \(m.campaign ?? "")" } }).count >= expected
            }
            let mails = Self.mails(pipeline)
            let perStep = Dictionary(grouping: mails) { "\($0.to ?? "") \($0.campaign ?? "")" }.mapValues(\.count)
            let duplicates = perStep.values.reduce(0) { $0 + $1 - 1 }
            print("[followup kill] \(mails.count) e-mails for \(expected) steps, \(kills) kills, \(duplicates) duplicates, restarts \(pipeline.restarts)")
            #expect(kills == 3)
            #expect(perStep.count == expected, "steps missing: \(expected - perStep.count)")
            #expect(duplicates <= kills, "\(duplicates) duplicates after \(kills) kills: \(perStep.filter { $0.value > 1 })")
        } catch {
            Issue.record("failed; service logs in \(logs)")
            await pipeline.stop()
            throw error
        }
        await pipeline.stop()
    }
}
