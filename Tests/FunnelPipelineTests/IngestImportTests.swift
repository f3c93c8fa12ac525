import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// CSV import over HTTP (`POST /v1/imports`) and through `funnel import`, against a real
/// funnel-ingest and broker.
@Suite("Ingest CSV import: real funnel-ingest, real broker", .serialized, .timeLimit(.minutes(6)), IngestAuthScope())
struct IngestImportTests {
    var fixture: IngestAuthFixture { IngestAuthFixture.current! }

    func importCSV(_ csv: String, query: String = "", headers: [String: String] = [:]) async throws -> (reply: Reply, report: [String: Any]) {
        let r = try await HTTPProbe.request(port: fixture.port, method: "POST", path: "/v1/imports" + query,
                                            headers: ["Authorization": "Bearer \(fixture.admin)", "Content-Type": "text/csv"].merging(headers) { $1 },
                                            json: Data(csv.utf8))
        let report = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any] ?? [:]
        return (Reply(status: r.status, headers: r.headers, body: r.body), report)
    }

    @Test("a file with spreadsheet headers: good rows become leads, bad rows are reported by line, column, field and reason")
    func mixedFile() async throws {
        let tag = UUID().uuidString.prefix(6).lowercased()
        let csv = """
            E-mail,First Name,Job Title,Company Size,Country Code,attributes.plan,Notes,Opt-In\r
            ada-\(tag)@acme.example,Ada,CTO,120,gb,pro,"met at ""Expo"", hall 2",yes\r
            not-an-email,Bob,CEO,10,US,,,\r
            cy-\(tag)@acme.example,Cy,VP Sales,many,DE,,,no\r
            short-\(tag)@acme.example,Short\r
            "dee-\(tag)@acme.example",Dee,Head of Growth,5000,Frankreich,"team
            plan",,1
            """
        let (reply, report) = try await importCSV(csv, query: "?source=trade-show&campaign=expo-2026")
        #expect(reply.status == 200, "\(reply.body)")
        #expect(report["rows"] as? Int == 5)
        #expect(report["accepted"] as? Int == 2)
        #expect(report["rejected"] as? Int == 3)
        #expect(report["errors_truncated"] as? Bool == false)
        let errors = try #require(report["errors"] as? [[String: Any]])
        #expect(errors.map { "\($0["line"] ?? "") \($0["column"] ?? "-") \($0["field"] ?? "") \($0["reason"] ?? "")" } == [
            "3 E-mail email is not an e-mail address",
            "4 Company Size employees must be a whole number",
            "5 - row has 2 fields, the header has 8",
        ])
        #expect(report["ignored_columns"] as? [String] == ["Notes"])
        #expect((report["columns"] as? [String: String])?["Company Size"] == "employees")

        let ada = try await fixture.event(on: TopicCatalog.captured, lead: EventID.lead(forContact: "ada-\(tag)@acme.example"))
        #expect(ada["source"] as? String == "funnel-ingest/ops", "the key's source")
        let data = try #require(ada["data"] as? [String: Any])
        #expect(data["job_title"] as? String == "CTO")
        #expect(data["employees"] as? Int == 120)
        #expect(data["country"] as? String == "GB")
        #expect(data["source"] as? String == "trade-show")
        #expect(data["campaign"] as? String == "expo-2026")
        #expect((data["consent"] as? [String: Bool]) == ["email": true])
        #expect((data["attributes"] as? [String: String]) == ["plan": "pro"])
        let dee = try #require(try await fixture.event(on: TopicCatalog.captured, lead: EventID.lead(forContact: "dee-\(tag)@acme.example"))["data"] as? [String: Any])
        // A quoted line break is data, in a field that may span lines (a job title may not: see IngestHostileTests).
        #expect(dee["attributes"] as? [String: String] == ["plan": "team\nplan"], "a quoted line break is data")
        #expect(dee["country"] as? String == "FR", "a country name is stored as its ISO 3166-1 alpha-2 code")
    }

    @Test("a row with two bad fields counts once as rejected and lists both errors; a column name with a colon can be mapped")
    func rowWithTwoErrors() async throws {
        let tag = UUID().uuidString.prefix(6).lowercased()
        let csv = "Q1: Mail,country\nbad,XXX\nq-\(tag)@acme.example,GB\n"
        let (reply, report) = try await importCSV(csv, query: "?map=Q1:%20Mail:email")
        #expect(reply.status == 200, "\(reply.body)")
        #expect(report["rows"] as? Int == 2 && report["accepted"] as? Int == 1 && report["rejected"] as? Int == 1, "\(reply.body)")
        #expect((report["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } == ["email", "country"])
    }

    @Test("the same file under the same Idempotency-Key yields the same event ids; map overrides rename columns")
    func idempotentReimport() async throws {
        let tag = UUID().uuidString.prefix(6).lowercased()
        let csv = "Work address,Plan,Notes\neve-\(tag)@initech.example,gold,skip me\n"
        var ids: [String] = []
        for _ in 0..<2 {
            // `+` is a space, as forms and most clients send it.
            let (reply, report) = try await importCSV(csv, query: "?map=Work+address:email,Plan:attributes.plan,Notes:-",
                                                      headers: ["Idempotency-Key": "import-\(tag)"])
            #expect(reply.status == 200, "\(reply.body)")
            #expect(report["accepted"] as? Int == 1)
            #expect(report["ignored_columns"] as? [String] == ["Notes"])
        }
        let lead = EventID.lead(forContact: "eve-\(tag)@initech.example")
        for event in try await fixture.events(on: TopicCatalog.captured, lead: lead, count: 2) { ids.append(event["id"] as? String ?? "") }
        #expect(ids.count == 2 && ids[0] == ids[1], "\(ids)")
    }

    @Test("funnel import streams a 30,000-row file with progress, prints the summary and exits 2 when rows were rejected; ingest memory stays bounded")
    func cli() async throws {
        let dir = NSTemporaryDirectory() + "funnel-import-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/leads.csv"
        let tag = UUID().uuidString.prefix(6).lowercased()
        var csv = "email,first_name,last_name,job_title,company,employees,country\n"
        for i in 0..<30_000 {
            csv += i == 777 ? "broken,,,,,,\n" : "p\(i)-\(tag)@globex.example,Pat\(i),Lee,Engineer,Globex,\(i % 900 + 1),US\n"
        }
        try csv.write(toFile: file, atomically: true, encoding: .utf8)
        let before = Self.peakRSS(pid: fixture.ingest.commandPID ?? 0)
        let output = dir + "/out.txt"
        var env = ProcessInfo.processInfo.environment
        env["FUNNEL_API_KEY"] = fixture.admin
        let child = try ChildProcess(name: "funnel import", executable: IngestAuthFixture.binDirectory + "/funnel",
                                     arguments: ["import", file, "--url", "http://127.0.0.1:\(fixture.port)"], environment: env, outputPath: output)
        let status = await child.exitStatus()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 2, "\(text)")
        #expect(text.contains("imported \(file): 30,000 rows, 29,999 accepted, 1 rejected"), "\(text)")
        #expect(text.contains("line 779, column \"email\" (email): is not an e-mail address"), "\(text)")
        #expect(text.contains("leads.csv [##############################] 100%"), "progress reaches 100 %: \(text)")
        let growth = Self.peakRSS(pid: fixture.ingest.commandPID ?? 0) - before
        // The file is 2.1 MB; holding it (or its events) would show. Bounded: batches of 1000 rows.
        #expect(growth < 48 << 20, "ingest peak RSS grew by \(growth >> 20) MiB")
        let last = try await fixture.event(on: TopicCatalog.captured, lead: EventID.lead(forContact: "p29999-\(tag)@globex.example"))
        #expect((last["data"] as? [String: Any])?["employees"] as? Int == 29_999 % 900 + 1)
    }

    /// VmHWM of a process, in bytes.
    static func peakRSS(pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}

extension IngestAuthFixture {
    /// The first `count` events on `topic` whose subject is `lead`.
    func events(on topic: String, lead: String, count: Int) async throws -> [[String: Any]] {
        try await events(on: topic, lead: lead) { found, _ in found == count }
    }

    /// The events on `topic` whose subject is `lead`, oldest first, up to the one for which
    /// `last(number found, event)` is true.
    func events(on topic: String, lead: String, until last: @escaping @Sendable (Int, [String: Any]) -> Bool) async throws -> [[String: Any]] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(brokers: broker.bootstrap, properties: [
                "session.timeout.ms": "2000", "heartbeat.interval.ms": "200", "log_level": "3"]),
            groupID: "events-test-\(UUID().uuidString.prefix(6))", topics: [topic])
        defer { Task { await consumer.close() } }
        let raw = try await withThrowingTaskGroup(of: [Data]?.self) { group in
            group.addTask {
                var found: [Data] = []
                for try await message in consumer.messages where message.keyString == lead {
                    let data = Data(message.value ?? [])
                    found.append(data)
                    if last(found.count, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]) { return found }
                }
                return nil
            }
            group.addTask { try await Task.sleep(for: .seconds(30)); return nil }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return try #require(first, "the events expected for \(lead) on \(topic) did not arrive")
        }
        return try raw.map { try #require(try JSONSerialization.jsonObject(with: $0) as? [String: Any]) }
    }
}
