import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// A real `funnel-ingest` process on a real local broker, with keys made by `funnel keys create`:
/// an admin key in `FUNNEL_API_KEYS`, scoped keys in `<config dir>/api-keys.txt`.
final class IngestAuthFixture: Sendable {
    let broker: LocalBroker
    let ingest: ChildProcess
    let port: Int
    let logPath: String
    let admin: String      // source "ops", scope admin (environment)
    let leadsOnly: String  // source "webform", scope leads:write (file)
    let outcomes: String   // source "crm-sync", scopes outcomes:write,activities:write (file)

    @TaskLocal static var current: IngestAuthFixture?

    static var binDirectory: String { PipelineEndToEndTests.binDirectory }

    private init(broker: LocalBroker, ingest: ChildProcess, port: Int, logPath: String, admin: String, leadsOnly: String, outcomes: String) {
        self.broker = broker; self.ingest = ingest; self.port = port; self.logPath = logPath
        self.admin = admin; self.leadsOnly = leadsOnly; self.outcomes = outcomes
    }

    static func start() async throws -> IngestAuthFixture {
        let dir = NSTemporaryDirectory() + "funnel-auth-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let broker = try await LocalBroker.start(logPath: dir + "/tansu.log")
        do {
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap))
            _ = try await TopicSetup.create(admin: admin, partitions: 2)
            let adminKey = try await LocalPipeline.createAPIKey(binDirectory: binDirectory, source: "ops", scopes: ["admin"], scratchDirectory: dir)
            let leads = try await LocalPipeline.createAPIKey(binDirectory: binDirectory, source: "webform", scopes: ["leads:write"], scratchDirectory: dir)
            let crm = try await LocalPipeline.createAPIKey(binDirectory: binDirectory, source: "crm-sync",
                                                           scopes: ["outcomes:write", "activities:write"], scratchDirectory: dir)
            try "# test keys\n\n\(leads.line)\n  \(crm.line)   \n".write(toFile: dir + "/api-keys.txt", atomically: true, encoding: .utf8)
            let port = try Network.freePort()
            let ingest = try startIngest(configDirectory: dir, port: port, brokers: broker.bootstrap,
                                         extra: ["FUNNEL_API_KEYS": adminKey.line], logPath: dir + "/funnel-ingest.log")
            try await HTTPProbe.waitUntilReady(port: port, process: ingest, log: dir + "/funnel-ingest.log")
            return IngestAuthFixture(broker: broker, ingest: ingest, port: port, logPath: dir + "/funnel-ingest.log",
                                     admin: adminKey.key, leadsOnly: leads.key, outcomes: crm.key)
        } catch {
            await broker.stop()
            throw error
        }
    }

    /// The tracking secret of the test processes.
    static let trackingSecret = "test-tracking-secret-" + String(repeating: "0123456789", count: 3)

    static func startIngest(configDirectory: String, port: Int, brokers: String, extra: [String: String] = [:], logPath: String) throws -> ChildProcess {
        // The project's configuration files, beside the test's own api-keys.txt.
        try FileManager.default.createDirectory(atPath: configDirectory + "/data", withIntermediateDirectories: true)
        for file in ["openapi.yaml", "data/country-names.tsv", "data/country-aliases.tsv"]
        where !FileManager.default.fileExists(atPath: configDirectory + "/" + file) {
            try? FileManager.default.copyItem(atPath: ProjectPaths.configDirectory + "/" + file, toPath: configDirectory + "/" + file)
        }
        var env = ProcessInfo.processInfo.environment
        env["FUNNEL_API_KEYS"] = nil
        env["KAFKA_BROKERS"] = brokers
        env["FUNNEL_HTTP_PORT"] = String(port)
        env["FUNNEL_CONFIG_DIR"] = configDirectory
        env["FUNNEL_PARENT_PID"] = String(getpid())
        env["FUNNEL_TRACKING_SECRET"] = trackingSecret
        return try ChildProcess(name: "funnel-ingest", executable: binDirectory + "/funnel-ingest", arguments: [],
                                environment: env.merging(extra) { $1 }, outputPath: logPath)
    }

    func stop() async {
        await ingest.terminate()
        await broker.stop()
    }

    /// POSTs `object`; returns status, headers and the decoded `errors` (field, reason) if any.
    func post(_ path: String, _ object: Any, headers: [String: String]) async throws -> Reply {
        let r = try await HTTPProbe.request(port: port, method: "POST", path: path, headers: headers,
                                            json: JSONSerialization.data(withJSONObject: object))
        return Reply(status: r.status, headers: r.headers, body: r.body)
    }

    /// The first event on `topic` whose subject is `lead`.
    func event(on topic: String, lead: String) async throws -> [String: Any] {
        let data = try await eventBytes(on: topic, lead: lead)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func eventBytes(on topic: String, lead: String) async throws -> Data {
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(brokers: broker.bootstrap, properties: [
                "session.timeout.ms": "2000", "heartbeat.interval.ms": "200", "log_level": "3"]),
            groupID: "auth-test-\(UUID().uuidString.prefix(6))", topics: [topic])
        defer { Task { await consumer.close() } }
        return try await withThrowingTaskGroup(of: Data?.self) { group in
            group.addTask {
                for try await message in consumer.messages where message.keyString == lead { return Data(message.value ?? []) }
                return nil
            }
            group.addTask { try await Task.sleep(for: .seconds(30)); return nil }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return try #require(first, "no event for \(lead) on \(topic)")
        }
    }
}

/// The messages of a JSON log file (one object per line).
func logMessages(_ path: String) -> [String] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap {
        ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["message"] as? String
    }
}

struct Reply {
    let status: Int
    let headers: [String: String]
    let body: String
    /// The per-item `results` of a reply.
    func results() throws -> [[String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        return try #require(object["results"] as? [[String: Any]])
    }
    var errors: [[String: String]] {
        ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["errors"] as? [[String: String]] ?? []
    }
}

/// Runs the suite once around one fixture.
struct IngestAuthScope: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let fixture = try await IngestAuthFixture.start()
        do { try await IngestAuthFixture.$current.withValue(fixture) { try await function() } } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }
}


@Suite("Ingest API keys and scopes: real funnel-ingest, real broker", .serialized, .timeLimit(.minutes(4)), IngestAuthScope())
struct IngestAuthTests {
    var fixture: IngestAuthFixture { IngestAuthFixture.current! }
    var aLead: [String: Any] { ["email": "auth-\(UUID().uuidString.prefix(8).lowercased())@initech.example", "country": "GB"] }
    func bearer(_ key: String) -> [String: String] { ["Authorization": "Bearer \(key)"] }

    @Test("no key: 401 with WWW-Authenticate: Bearer and the error naming the reason; health and metrics stay open")
    func missingKey() async throws {
        for path in ["/v1/leads", "/v1/activities", "/v1/outcomes"] {
            let r = try await fixture.post(path, aLead, headers: [:])
            #expect(r.status == 401, "\(path): \(r.body)")
            #expect(r.headers["www-authenticate"] == "Bearer realm=\"funnel-ingest\"")
            #expect(r.errors == [["field": "authorization", "reason": "missing API key (send `Authorization: Bearer <key>` or `X-API-Key: <key>`)"]])
        }
        #expect(try await HTTPProbe.get(port: fixture.port, path: "/healthz").status == 200)
        #expect(try await HTTPProbe.get(port: fixture.port, path: "/readyz").status == 200)
        #expect(try await HTTPProbe.get(port: fixture.port, path: "/metrics").status == 200)
    }

    @Test("unknown key (Bearer or X-API-Key), empty key, or another scheme: 401")
    func unknownKey() async throws {
        let forged = "fk_" + String(repeating: "A", count: 43)
        for headers in [bearer(forged), ["X-API-Key": forged], bearer(fixture.admin + "x")] {
            let r = try await fixture.post("/v1/leads", aLead, headers: headers)
            #expect(r.status == 401, "\(r.body)")
            #expect(r.headers["www-authenticate"] == "Bearer realm=\"funnel-ingest\", error=\"invalid_token\"")
            #expect(r.errors == [["field": "authorization", "reason": "unknown API key"]])
        }
        let basic = try await fixture.post("/v1/leads", aLead, headers: ["Authorization": "Basic \(fixture.admin)"])
        #expect(basic.status == 401)
        #expect(basic.errors == [["field": "authorization", "reason": "Authorization must be `Bearer <API key>`"]])
        #expect(!basic.body.contains(fixture.admin), "a key is never echoed")
    }

    @Test("a key without the endpoint's scope: 403 naming the source and the scope")
    func missingScope() async throws {
        let activity = try await fixture.post("/v1/activities", ["email": aLead["email"]!, "type": "page_view"], headers: bearer(fixture.leadsOnly))
        #expect(activity.status == 403, "\(activity.body)")
        #expect(activity.headers["www-authenticate"] == "Bearer realm=\"funnel-ingest\", error=\"insufficient_scope\", scope=\"activities:write\"")
        #expect(activity.errors == [["field": "authorization", "reason": "API key of source \"webform\" lacks scope activities:write"]])

        let outcome = try await fixture.post("/v1/outcomes", ["email": aLead["email"]!, "outcome": "accepted"], headers: ["X-API-Key": fixture.leadsOnly])
        #expect(outcome.status == 403)
        #expect(outcome.errors == [["field": "authorization", "reason": "API key of source \"webform\" lacks scope outcomes:write"]])

        let lead = try await fixture.post("/v1/leads", aLead, headers: bearer(fixture.outcomes))
        #expect(lead.status == 403)
        #expect(lead.errors == [["field": "authorization", "reason": "API key of source \"crm-sync\" lacks scope leads:write"]])
    }

    @Test("admin passes on every endpoint; its source is recorded on the events")
    func adminEverywhere() async throws {
        let email = "admin-\(UUID().uuidString.prefix(8).lowercased())@hooli.example"
        let lead = try await fixture.post("/v1/leads", ["email": email, "country": "US"], headers: bearer(fixture.admin))
        #expect(lead.status == 202, "\(lead.body)")
        let activity = try await fixture.post("/v1/activities", ["email": email, "type": "pricing_page_view"], headers: ["X-API-Key": fixture.admin])
        #expect(activity.status == 202, "\(activity.body)")
        let outcome = try await fixture.post("/v1/outcomes", ["email": email, "outcome": "accepted"], headers: bearer(fixture.admin))
        #expect(outcome.status == 202, "\(outcome.body)")
        let id = EventID.lead(forContact: email)
        for topic in [TopicCatalog.captured, TopicCatalog.activity, TopicCatalog.outcome] {
            #expect(try await fixture.event(on: topic, lead: id)["source"] as? String == "funnel-ingest/ops", "\(topic)")
        }
    }

    @Test("a valid scoped key from the key file: 202, and the captured event carries the key's source")
    func validKey() async throws {
        let email = "valid-\(UUID().uuidString.prefix(8).lowercased())@globex.example"
        let r = try await fixture.post("/v1/leads", ["email": email, "country": "DE"], headers: bearer(fixture.leadsOnly))
        #expect(r.status == 202, "\(r.body)")
        let id = EventID.lead(forContact: email)
        #expect(r.body.contains(id))
        let event = try await fixture.event(on: TopicCatalog.captured, lead: id)
        #expect(event["source"] as? String == "funnel-ingest/webform")
        #expect(event["type"] as? String == TopicCatalog.captured)

        let crm = try await fixture.post("/v1/outcomes", ["email": email, "outcome": "accepted"], headers: ["X-API-Key": fixture.outcomes])
        #expect(crm.status == 202, "\(crm.body)")
        #expect(try await fixture.event(on: TopicCatalog.outcome, lead: id)["source"] as? String == "funnel-ingest/crm-sync")
    }

    @Test("the same Idempotency-Key (per key source) yields the same event ids; another key or none yields new ones")
    func idempotency() async throws {
        let email = "idem-\(UUID().uuidString.prefix(8).lowercased())@umbrella.example"
        let body: [[String: Any]] = [["email": email, "type": "pricing_page_view"], ["email": email, "type": "demo_request"]]
        func ids(_ r: Reply) throws -> [String] { try r.results().compactMap { $0["event_id"] as? String } }
        let key = "retry-\(UUID().uuidString)"
        let first = try await fixture.post("/v1/activities", body, headers: bearer(fixture.admin).merging(["Idempotency-Key": key]) { $1 })
        let retry = try await fixture.post("/v1/activities", body, headers: bearer(fixture.admin).merging(["Idempotency-Key": key]) { $1 })
        let other = try await fixture.post("/v1/activities", body, headers: bearer(fixture.admin).merging(["Idempotency-Key": key + "-2"]) { $1 })
        let otherSource = try await fixture.post("/v1/activities", body, headers: bearer(fixture.outcomes).merging(["Idempotency-Key": key]) { $1 })
        let none = try await fixture.post("/v1/activities", body, headers: bearer(fixture.admin))
        #expect([first, retry, other, otherSource, none].allSatisfy { $0.status == 202 })
        #expect(try ids(first).count == 2 && Set(try ids(first)).count == 2)
        #expect(try ids(retry) == ids(first))
        #expect(Set(try ids(other)).isDisjoint(with: try ids(first)))
        #expect(Set(try ids(otherSource)).isDisjoint(with: try ids(first)))
        #expect(Set(try ids(none)).isDisjoint(with: try ids(first)))
        // The retry's events are the first request's, byte for byte (its time too: an id never
        // carries two contents, even when the first attempt was written but answered 503).
        let events = try await fixture.events(on: TopicCatalog.activity, lead: EventID.lead(forContact: email)) { found, _ in found == 10 }
        let byID = Dictionary(grouping: events) { $0["id"] as? String ?? "" }
        #expect(byID.count == 8 && byID.values.filter { $0.count == 2 }.count == 2)
        for (id, copies) in byID where copies.count > 1 {
            #expect(NSDictionary(dictionary: copies[0]) == NSDictionary(dictionary: copies[1]), "event \(id) delivered with different contents")
        }

        let bad = try await fixture.post("/v1/activities", body, headers: bearer(fixture.admin).merging(["Idempotency-Key": "has space"]) { $1 })
        #expect(bad.status == 400 && bad.errors == [["field": "Idempotency-Key", "reason": "must be 1 to 255 visible ASCII characters"]])
    }

    @Test("sales feedback over HTTP: accepted with BANT is produced as given; a rejection needs a listed reason; BANT only with accepted")
    func salesFeedback() async throws {
        let lead = EventID.lead(forContact: "feedback-\(UUID().uuidString.prefix(8).lowercased())@initech.example") // lead_id has its format
        let bant: [String: Any] = ["budget": ["met": true, "note": "approved for Q1"], "need": ["met": false]]
        let accepted = try await fixture.post("/v1/outcomes", ["lead_id": lead, "outcome": "accepted", "bant": bant], headers: bearer(fixture.admin))
        #expect(accepted.status == 202, "\(accepted.body)")
        let event = try await fixture.event(on: TopicCatalog.outcome, lead: lead)
        let data = try #require(event["data"] as? [String: Any])
        #expect(NSDictionary(dictionary: data["bant"] as? [String: Any] ?? [:]) == NSDictionary(dictionary: bant))

        let unlisted = try await fixture.post("/v1/outcomes", ["lead_id": lead, "outcome": "rejected", "reason": "student"], headers: bearer(fixture.admin))
        #expect(unlisted.status == 400 && unlisted.errors == [["field": "reason", "reason": "a rejection needs one of not_a_fit, no_budget, bad_timing, duplicate, spam, other"]],
                "\(unlisted.body)")
        let missing = try await fixture.post("/v1/outcomes", ["lead_id": lead, "outcome": "rejected"], headers: bearer(fixture.admin))
        #expect(missing.status == 400 && missing.errors.first?["field"] == "reason")
        let listed = try await fixture.post("/v1/outcomes", ["lead_id": lead, "outcome": "rejected", "reason": "no_budget"], headers: bearer(fixture.admin))
        #expect(listed.status == 202, "\(listed.body)")
        let misplaced = try await fixture.post("/v1/outcomes", ["lead_id": lead, "outcome": "won", "bant": bant], headers: bearer(fixture.admin))
        #expect(misplaced.status == 400 && misplaced.errors == [["field": "bant", "reason": "only with outcome accepted"]], "\(misplaced.body)")
        let badCriterion = try await fixture.post("/v1/outcomes", ["lead_id": lead, "outcome": "accepted", "bant": ["budget": ["met": "yes"]]],
                                                  headers: bearer(fixture.admin))
        #expect(badCriterion.status == 400 && badCriterion.errors.first?["field"] == "bant.budget.met", "\(badCriterion.body)")
    }

    @Test("an array with bad items: the good ones are accepted and produced, each bad one rejected with its field; all bad: 400; too many: 413")
    func partialBatch() async throws {
        let good = "batch-\(UUID().uuidString.prefix(8).lowercased())@soylent.example"
        let items: [[String: Any]] = [["email": good, "country": "FR"], ["email": "not-an-address"], ["email": "b-\(good)", "employees": "many"]]
        let r = try await fixture.post("/v1/leads", items, headers: bearer(fixture.admin))
        #expect(r.status == 202, "\(r.body)")
        let results = try r.results()
        #expect(results.map { $0["status"] as? String } == ["accepted", "rejected", "rejected"])
        #expect(results.map { $0["index"] as? Int } == [0, 1, 2])
        #expect(results[0]["lead_id"] as? String == EventID.lead(forContact: good) && results[0]["event_id"] is String)
        #expect((results[1]["errors"] as? [[String: String]])?.first?["field"] == "email")
        #expect((results[2]["errors"] as? [[String: String]])?.first?["field"] == "employees")
        #expect(try await fixture.event(on: TopicCatalog.captured, lead: EventID.lead(forContact: good))["id"] as? String == results[0]["event_id"] as? String)

        let allBad = try await fixture.post("/v1/leads", [["email": "x"], ["country": "Narnia"]], headers: bearer(fixture.admin))
        #expect(allBad.status == 400)
        #expect(allBad.errors.map { $0["field"] } == ["[0].email", "[1].email", "[1].country"]) // [1] lacks a contact and has a bad country
        #expect(try allBad.results().map { $0["status"] as? String } == ["rejected", "rejected"])

        let tooMany = try await fixture.post("/v1/leads", Array(repeating: ["email": good], count: 1001), headers: bearer(fixture.admin))
        #expect(tooMany.status == 413 && tooMany.errors == [["field": "", "reason": "at most 1000 items per request, got 1001"]])
    }

    @Test("a body that is not declared as JSON: 415 naming Content-Type", arguments: ["text/plain", "application/x-www-form-urlencoded", ""])
    func contentType(_ type: String) async throws {
        let r = try await fixture.post("/v1/leads", aLead, headers: bearer(fixture.admin).merging(["Content-Type": type]) { $1 })
        #expect(r.status == 415)
        #expect(r.errors == [["field": "Content-Type", "reason": "must be application/json"]])
        let charset = try await fixture.post("/v1/leads", aLead, headers: bearer(fixture.admin).merging(["Content-Type": "application/json; charset=utf-8"]) { $1 })
        #expect(charset.status == 202)
    }

    @Test("beyond the per-source burst: 429 with Retry-After; other sources are not affected")
    func rateLimit() async throws {
        // A second ingest with a burst of 3 and one new token per 20 s: the 4th request is over the limit.
        let port = try Network.freePort()
        let dir = (fixture.logPath as NSString).deletingLastPathComponent
        let limited = try IngestAuthFixture.startIngest(configDirectory: dir, port: port, brokers: fixture.broker.bootstrap,
                                                        extra: ["FUNNEL_RATE_LIMIT": "0.05", "FUNNEL_RATE_BURST": "3"], logPath: dir + "/limited.log")
        defer { Task { _ = await limited.terminate() } }
        try await HTTPProbe.waitUntilReady(port: port, process: limited, log: dir + "/limited.log")
        func post(_ key: String, _ path: String = "/v1/leads", _ body: [String: Any]? = nil) async throws -> Reply {
            let r = try await HTTPProbe.request(port: port, method: "POST", path: path, headers: bearer(key),
                                                json: JSONSerialization.data(withJSONObject: body ?? aLead))
            return Reply(status: r.status, headers: r.headers, body: r.body)
        }
        for _ in 0..<3 { #expect(try await post(fixture.leadsOnly).status == 202) }
        let over = try await post(fixture.leadsOnly)
        #expect(over.status == 429)
        #expect(over.errors == [["field": "", "reason": "rate limit of 0.05 requests/s for source \"webform\" exceeded"]])
        #expect(Int(over.headers.first { $0.key.lowercased() == "retry-after" }?.value ?? "") ?? 0 >= 1)
        // Another source has its own bucket.
        #expect(try await post(fixture.outcomes, "/v1/activities", ["email": "x@initech.example", "type": "page_view"]).status == 202)
    }

    @Test("rejections are counted by reason and status; keys never reach the log")
    func metricsAndLogs() async throws {
        _ = try await fixture.post("/v1/leads", aLead, headers: [:])
        _ = try await fixture.post("/v1/outcomes", aLead, headers: ["X-API-Key": "nope"])
        _ = try await fixture.post("/v1/activities", ["email": aLead["email"]!, "type": "page_view"], headers: bearer(fixture.leadsOnly))
        let metrics = try await HTTPProbe.get(port: fixture.port, path: "/metrics").body
        let lines = metrics.split(separator: "\n").filter { $0.hasPrefix("funnel_http_auth_rejected_total{") }
        #expect(lines.contains { $0.contains("reason=\"missing_key\"") && $0.contains("status=\"401\"") }, "\(lines)")
        #expect(lines.contains { $0.contains("reason=\"unknown_key\"") && $0.contains("status=\"401\"") && $0.contains(TopicCatalog.outcome) }, "\(lines)")
        #expect(lines.contains { $0.contains("reason=\"missing_scope\"") && $0.contains("status=\"403\"") && $0.contains(TopicCatalog.activity) }, "\(lines)")
        let log = (try? String(contentsOfFile: fixture.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("API keys loaded"))
        for key in [fixture.admin, fixture.leadsOnly, fixture.outcomes] { #expect(!log.contains(key)) }
    }

    @Test("a malformed key entry stops funnel-ingest at start with an error naming the file and line",
          arguments: [
            ("webform leads:write", "2 fields"),
            ("webform leads:write,everything sha256:" + String(repeating: "ab", count: 32), "unknown scope \"everything\""),
            ("webform leads:write fk_plaintextkeyinsteadofitshash", "the third field must be the key's hash"),
            ("WebForm leads:write sha256:" + String(repeating: "ab", count: 32), "source \"WebForm\" must be"),
            ("webform admin sha256:abcd", "the hash must be 64 hex digits"),
          ])
    func malformedKeyFile(entry: String, reason: String) async throws {
        let dir = NSTemporaryDirectory() + "funnel-badkeys-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "# keys\n\n\(entry)\n".write(toFile: dir + "/api-keys.txt", atomically: true, encoding: .utf8)
        let log = dir + "/funnel-ingest.log"
        let child = try IngestAuthFixture.startIngest(configDirectory: dir, port: try Network.freePort(), brokers: fixture.broker.bootstrap, logPath: log)
        let status = await child.exitStatus()
        #expect(status == 1)
        let messages = logMessages(log)
        #expect(messages.contains { $0.hasPrefix("cannot run: \(dir)/api-keys.txt:3: \(reason)") }, "\(messages)")
    }

    @Test("a malformed FUNNEL_API_KEYS entry is named by its position")
    func malformedEnvironment() async throws {
        let dir = NSTemporaryDirectory() + "funnel-badenv-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let good = "ops admin sha256:" + String(repeating: "cd", count: 32)
        let child = try IngestAuthFixture.startIngest(configDirectory: dir, port: try Network.freePort(), brokers: fixture.broker.bootstrap,
                                                      extra: ["FUNNEL_API_KEYS": "\(good);ops leads:read sha256:\(String(repeating: "ef", count: 32))"],
                                                      logPath: dir + "/funnel-ingest.log")
        #expect(await child.exitStatus() == 1)
        let messages = logMessages(dir + "/funnel-ingest.log")
        #expect(messages.contains("cannot run: FUNNEL_API_KEYS entry 2: unknown scope \"leads:read\" (known: leads:write, activities:write, outcomes:write, admin)"), "\(messages)")
    }
}
