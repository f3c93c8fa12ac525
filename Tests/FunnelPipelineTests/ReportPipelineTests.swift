import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// `funnel report` for real: the hand-computed fixture on a real broker, the CLI's JSON (the
/// same numbers the domain test checks one by one), the HTML page opened in headless Chromium
/// (a screenshot that is not blank, a DOM that holds the fixture's numbers), and an export file
/// that reports the same as the broker.
@Suite("funnel report: broker → JSON, HTML in Chromium, export", .serialized, .timeLimit(.minutes(4)))
struct ReportPipelineTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/report-fixture.jsonl").path

    /// The report's JSON from the CLI's output (progress lines go before it).
    static func json(_ output: String) throws -> [String: Any] {
        let start = try #require(output.range(of: "{\n")?.lowerBound ?? output.firstIndex(of: "{"), "no JSON in: \(output)")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(output[start...].utf8)) as? [String: Any])
        object["generated_at"] = nil
        return object
    }

    static func chromium() throws -> String {
        for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        Issue.record("Debian chromium is not installed (scripts/bootstrap.sh installs it)")
        throw CancellationError()
    }

    /// Runs headless Chromium once; returns what it printed.
    static func browse(_ arguments: [String], logs: String) async throws -> (Int32, String) {
        let output = logs + "/chromium-\(UUID().uuidString.prefix(6)).txt"
        let child = try ChildProcess(name: "chromium", executable: try chromium(),
                                     arguments: ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                                                 "--user-data-dir=\(logs)/chromium-profile"] + arguments,
                                     environment: ProcessInfo.processInfo.environment, outputPath: output)
        let status = await child.exitStatus()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test("the fixture on a broker: JSON equal to the domain's report, an HTML page Chromium renders with the numbers, export = broker")
    func report() async throws {
        let logs = NSTemporaryDirectory() + "funnel-report-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let broker = try await LocalBroker.start(logPath: logs + "/tansu.log")
        defer { Task { await broker.stop() } }
        let config = testConfiguration(broker)
        try await TopicSetup.create(admin: KafkaAdmin(configuration: config), partitions: 3)

        // The fixture as the router would have written it: keyed by lead, on its event's topic.
        var expected = FunnelHistory()
        let producer = try KafkaProducer(configuration: config)
        for line in try String(contentsOfFile: Self.fixture, encoding: .utf8).split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let topic = try #require(object["type"] as? String), key = try #require(object["subject"] as? String)
            try await producer.sendAndAwait(ProducerMessage(topic: topic, key: key, value: Array(line.utf8)))
            Array(line.utf8).withUnsafeBytes { _ = expected.add(json: $0, topic: topic) }
        }
        await producer.close()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var domain = try #require(try JSONSerialization.jsonObject(with: encoder.encode(FunnelReport.make(expected, generatedAt: "x"))) as? [String: Any])
        domain["generated_at"] = nil

        let cli = try await PipelineEndToEndTests.runFunnel(["report", "--json"], broker: broker, logs: logs)
        #expect(cli.status == 0, "\(cli.output)")
        let fromBroker = try Self.json(cli.output)
        #expect(NSDictionary(dictionary: fromBroker).isEqual(to: domain), "the CLI's report differs from the domain's on the same events")
        #expect((fromBroker["stages"] as? [[String: Any]])?.compactMap { $0["leads"] as? Int } == [9, 6, 6, 4, 2, 1])
        #expect(fromBroker["leads"] as? Int == 9)

        // The terminal form names the sections and the numbers.
        let table = try await PipelineEndToEndTests.runFunnel(["report"], broker: broker, logs: logs)
        #expect(table.status == 0 && table.output.contains("captured→mql") && table.output.contains("score N below N: nurture"), "\(table.output)")

        // HTML: self-contained, rendered by a real browser.
        let page = logs + "/report.html"
        let html = try await PipelineEndToEndTests.runFunnel(["report", "--html", page], broker: broker, logs: logs)
        #expect(html.status == 0, "\(html.output)")
        let source = try String(contentsOfFile: page, encoding: .utf8)
        #expect(!source.contains("http://") && !source.contains("https://") && !source.contains("<script"), "the page loads nothing from anywhere")
        let (domStatus, dom) = try await Self.browse(["--dump-dom", "file://" + page], logs: logs)
        #expect(domStatus == 0)
        for needle in ["<table id=\"stages\">", "<td>identified</td><td>6</td><td>66.7 %</td>", "captured→mql", "3.0 h",
                       "score N below N: nurture", "2026-W45", "2026-W46", "rep-ada", "1000 EUR", "<svg"] {
            #expect(dom.contains(needle), "the rendered DOM lacks \(needle)")
        }
        let shot = logs + "/report.png", blank = logs + "/blank.png"
        _ = try await Self.browse(["--screenshot=\(shot)", "--window-size=1000,1800", "file://" + page], logs: logs)
        try "<!doctype html><html><body></body></html>".write(toFile: logs + "/blank.html", atomically: true, encoding: .utf8)
        _ = try await Self.browse(["--screenshot=\(blank)", "--window-size=1000,1800", "file://\(logs)/blank.html"], logs: logs)
        let shotSize = (try FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0
        let blankSize = (try FileManager.default.attributesOfItem(atPath: blank)[.size] as? Int) ?? 0
        print("[report] screenshot \(shot): \(shotSize) bytes (a blank page of the same size: \(blankSize) bytes)")
        #expect(blankSize > 0 && shotSize > 5 * blankSize, "the screenshot looks blank: \(shotSize) bytes against \(blankSize)")

        // An export file reports exactly what the broker does.
        let file = logs + "/history.tsv"
        let export = try await PipelineEndToEndTests.runFunnel(["export", file], broker: broker, logs: logs)
        #expect(export.status == 0 && export.output.contains("exported 36 records"), "\(export.output)")
        let fromFile = try await PipelineEndToEndTests.runFunnel(["report", "--json", "--input", file], broker: broker, logs: logs)
        #expect(NSDictionary(dictionary: try Self.json(fromFile.output)).isEqual(to: fromBroker), "the export reports differently")

        // A window: the second week's leads only.
        let week = try await PipelineEndToEndTests.runFunnel(["report", "--json", "--since", "2026-11-09"], broker: broker, logs: logs)
        #expect(try Self.json(week.output)["leads"] as? Int == 4)
        let bad = try await PipelineEndToEndTests.runFunnel(["report", "--since", "last tuesday"], broker: broker, logs: logs)
        #expect(bad.status != 0 && bad.output.contains("--since"), "\(bad.output)")
    }
}

/// `funnel backtest` as a command: an export file with a known truth (buyers are senior people
/// at mid-size companies who ask for a demo; page views are noise), the shipped model against
/// the naive one, twice.
@Suite("funnel backtest: the command on an export file", .serialized, .timeLimit(.minutes(3)))
struct BacktestCommandTests {
    static func run(_ arguments: [String], logs: String) async throws -> (status: Int32, output: String) {
        let output = logs + "/funnel-\(UUID().uuidString.prefix(6)).txt"
        let child = try ChildProcess(name: "funnel " + arguments.joined(separator: " "), executable: PipelineEndToEndTests.binDirectory + "/funnel",
                                     arguments: arguments, environment: ProcessInfo.processInfo.environment, outputPath: output)
        let status = await child.exitStatus()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// Export lines (`TOPIC<TAB>JSON`) for `leads` synthetic leads, from a fixed seed.
    static func history(leads: Int) -> String {
        var state: UInt64 = 99
        func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        var lines: [String] = []
        func add<P: FastJSONEncodable & Codable & Sendable>(_ topic: String, _ lead: String, _ id: String, _ time: Int64, _ data: P) {
            lines.append(topic + "\t" + String(decoding: EventCoding.encode(CloudEvent(id: id, source: "test", type: topic, time: Timestamp.format(milliseconds: time),
                                                                                        subject: lead, data: data)), as: UTF8.self))
        }
        let t0 = Timestamp.milliseconds("2026-10-01T09:00:00Z")!
        for i in 0..<leads {
            let id = "lead-\(String(format: "%020x", i))", start = t0 + Int64(i) * 600_000
            let senior = next() < 0.5, midSize = next() < 0.5
            let demo = next() < (senior && midSize ? 0.7 : 0.15)
            let profile = LeadCaptured(leadID: id, email: "p\(i)@company\(i).example", jobTitle: senior ? "VP Sales" : "Sales Associate",
                                       company: "Company \(i)", employees: midSize ? 800 : 8, industry: "software", country: "GB",
                                       capturedAt: Timestamp.format(milliseconds: start))
            let enriched = LeadEnriched(leadID: id, profile: profile, emailClass: .corporate, contactAvailable: true, company: nil,
                                        enrichedAt: Timestamp.format(milliseconds: start))
            lines.append(TopicCatalog.enriched + "\t" + String(decoding: EventCoding.encode(CloudEvent(
                id: "e\(i)", source: "test", type: TopicCatalog.enriched, time: Timestamp.format(milliseconds: start), subject: id, data: enriched)), as: UTF8.self))
            for v in 0..<Int(next() * 8) {
                let at = start + Int64(v + 1) * 60_000
                add(TopicCatalog.activity, id, "v\(i)-\(v)", at, LeadActivity(leadID: id, type: .pageView, url: "https://example.com/\(v)", occurredAt: Timestamp.format(milliseconds: at)))
            }
            if demo { add(TopicCatalog.activity, id, "d\(i)", start + 3_600_000, LeadActivity(leadID: id, type: .demoRequest, occurredAt: Timestamp.format(milliseconds: start + 3_600_000))) }
            if next() < (senior ? 0.3 : 0.05) + (midSize ? 0.2 : 0) + (demo ? 0.35 : 0) {
                add(TopicCatalog.outcome, id, "o\(i)", start + 86_400_000, LeadOutcome(leadID: id, outcome: .accepted, occurredAt: Timestamp.format(milliseconds: start + 86_400_000)))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("the shipped model against the naive one: AUC and top-decile lift favour it; the same file gives the same JSON twice; HTML written")
    func backtest() async throws {
        let logs = NSTemporaryDirectory() + "funnel-backtest-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let file = logs + "/history.tsv"
        try Self.history(leads: 500).write(toFile: file, atomically: true, encoding: .utf8)
        let root = ProjectPaths.root ?? "."
        let arguments = ["backtest", "--input", file, "--model", root + "/docs/backtest/naive-model.yaml",
                         "--baseline", root + "/deploy/scoring-model.yaml", "--threshold-sweep", "--json"]
        let first = try await Self.run(arguments, logs: logs), second = try await Self.run(arguments, logs: logs)
        #expect(first.status == 0, "\(first.output)")
        let a = try ReportPipelineTests.json(first.output), b = try ReportPipelineTests.json(second.output)
        #expect(NSDictionary(dictionary: a).isEqual(to: b), "two runs on the same history differ")
        let shipped = try #require(a["baseline"] as? [String: Any]), naive = try #require(a["candidate"] as? [String: Any])
        let aucShipped = try #require(shipped["auc_accepted"] as? Double), aucNaive = try #require(naive["auc_accepted"] as? Double)
        print("[backtest] AUC accepted: shipped \(aucShipped), naive \(aucNaive)")
        #expect(aucShipped > aucNaive + 0.1)
        let liftShipped = try #require((shipped["deciles"] as? [[String: Any]])?.first?["lift_accepted"] as? Double)
        let liftNaive = try #require((naive["deciles"] as? [[String: Any]])?.first?["lift_accepted"] as? Double)
        #expect(liftShipped > 1.5 && liftShipped > liftNaive)
        #expect((a["threshold_sweep"] as? [[String: Any]])?.count == 13)
        let page = logs + "/backtest.html"
        let html = try await Self.run(Array(arguments.dropLast()) + ["--html", page], logs: logs)
        let htmlText = (try? String(contentsOfFile: page, encoding: .utf8)) ?? ""
        #expect(html.status == 0 && htmlText.contains("Lift by score decile"), "\(html.output)")
        let missing = try await Self.run(["backtest", "--input", file, "--model", logs + "/nope.yaml"], logs: logs)
        #expect(missing.status != 0 && missing.output.contains("nope.yaml"), "\(missing.output)")
    }
}
