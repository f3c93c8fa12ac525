import ArgumentParser
import Foundation
import FunnelDevKit
import FunnelDomain
import FunnelRuntime

/// `funnel bench report`: `funnel report` over 10^6 leads of stage events and `funnel backtest`
/// over 10^6 leads with 10^7 activities, each run as the real command on an export file (the
/// reading and decoding included); wall time, rates and the command's peak memory.
struct ReportBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "funnel report (10^6 leads of stage events) and funnel backtest (10^6 leads, 10^7 activities): time, rate, peak memory.")

    @Option(help: "Leads.") var leads = 1_000_000
    @Option(help: "Activities per lead for the backtest (10^7 in all by default).") var activitiesPerLead = 10
    @Option(help: "Run only part: all, report or backtest.") var only = "all"
    @Option(help: "Directory for the generated export files (several GB at the defaults).") var directory = NSTemporaryDirectory()

    func run() async throws {
        guard ["all", "report", "backtest"].contains(only) else { throw ValidationError("--only takes all, report or backtest") }
        let binary = URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0]).path
        print("machine load before: \(CPU.loadAverage); \(ProcessInfo.processInfo.activeProcessorCount) cores\n")
        if only != "backtest" {
            let file = directory + "/funnel-bench-stages.tsv"
            let events = try Self.generate(file: file, leads: leads, activities: 0)
            let r = try Self.measure(binary, ["report", "--json", "--input", file])
            print(String(format: "funnel report:   %d leads, %d stage events in %.1f s  (%.0f events/s, %.0f leads/s)   peak memory %.0f MiB",
                         leads, events.stages, r.seconds, Double(events.stages) / r.seconds, Double(leads) / r.seconds, r.peakMiB))
            try? FileManager.default.removeItem(atPath: file)
        }
        if only != "report" {
            let file = directory + "/funnel-bench-history.tsv"
            let events = try Self.generate(file: file, leads: leads, activities: activitiesPerLead)
            let naive = ProjectPaths.root.map { $0 + "/docs/backtest/naive-model.yaml" } ?? "docs/backtest/naive-model.yaml"
            let r = try Self.measure(binary, ["backtest", "--json", "--input", file, "--model", naive, "--threshold-sweep"])
            let inputs = events.enriched + events.activities + events.outcomes
            print(String(format: "funnel backtest: %d leads, %d activities, %d outcomes in %.1f s  (%.0f events/s through 2 models)   peak memory %.0f MiB",
                         leads, events.activities, events.outcomes, r.seconds, Double(inputs) / r.seconds, r.peakMiB))
            try? FileManager.default.removeItem(atPath: file)
        }
    }

    /// Runs the command (stdout discarded, stderr shown); wall seconds and its peak RSS.
    static func measure(_ binary: String, _ arguments: [String]) throws -> (seconds: Double, peakMiB: Double) {
        print("$ funnel " + arguments.joined(separator: " "))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let started = ContinuousClock.now
        try process.run()
        process.waitUntilExit()
        let seconds = (ContinuousClock.now - started).seconds
        guard process.terminationStatus == 0 else { throw ValidationError("funnel \(arguments.first ?? "") exited with \(process.terminationStatus)") }
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return (seconds, Double(usage.ru_maxrss) / 1024) // the largest child so far (kB on Linux)
    }

    struct Counts { var stages = 0, enriched = 0, activities = 0, outcomes = 0 }

    /// Writes an export file: per lead its stage path (and, with `activities`, an enriched event,
    /// that many activities and, for a share of leads, outcomes), all in event time.
    static func generate(file: String, leads: Int, activities: Int) throws -> Counts {
        guard FileManager.default.createFile(atPath: file, contents: nil), let handle = FileHandle(forWritingAtPath: file) else {
            throw ValidationError("cannot write \(file)")
        }
        let writer = ExportFile.Writer(handle: handle)
        var rng = SplitMix(state: 7)
        var counts = Counts()
        let t0 = Timestamp.milliseconds("2026-01-05T08:00:00Z")!
        let sources = ["webinar", "ads", "organic", "csv-import", "partner"], owners = (1...25).map { "rep-\($0)" }
        let titles = ["VP Sales", "CTO", "Marketing Manager", "Engineer", "Analyst", "Sales Associate"]
        let types: [ActivityType] = [.pageView, .pageView, .pageView, .pricingPageView, .emailOpen, .emailClick, .contentDownload, .webinarAttended]
        let started = ContinuousClock.now
        func emit<P: FastJSONEncodable & Codable & Sendable>(_ topic: String, _ lead: String, _ id: String, _ time: Int64, _ data: P) {
            let bytes = EventCoding.encode(CloudEvent(id: id, source: "bench", type: topic, time: Timestamp.format(milliseconds: time), subject: lead, data: data))
            bytes.withUnsafeBytes { writer.append(topic: topic, $0) }
        }
        for i in 0..<leads {
            let lead = "lead-" + String(format: "%020x", i)
            var t = t0 + Int64(i) * 2_000 + Int64(rng.next() % 600_000)
            let source = sources[Int(rng.next() % 5)], owner = owners[Int(rng.next() % 25)]
            let roll = Double(rng.next() % 1000) / 1000
            var path: [(Stage, String)] = [(.captured, "lead captured"), (.identified, "contact info usable (corporate)")]
            if roll < 0.08 { path = [(.captured, "lead captured"), (.disqualified, "student")] }
            else if roll < 0.55 { path.append((.nurture, "score 41 below 60: nurture")) }
            else {
                path.append((.mql, "score 72 >= 60 (hot)"))
                if roll < 0.9 { path.append((.sal, "accepted by sales")) } else { path.append((.nurture, "rejected by sales: not_a_fit")) }
                if roll < 0.75 { path.append((.sql, "meeting held")) }
                if roll < 0.62 { path.append((.customer, "closed won")) } else if roll < 0.75 { path.append((.lost, "closed lost: no_budget")) }
            }
            var from: Stage?
            for (n, (to, reason)) in path.enumerated() {
                t += Int64(rng.next() % 172_800_000)
                var change = StageChanged(leadID: lead, from: from, to: to, reason: reason, owner: [.mql, .sal, .sql, .customer, .lost].contains(to) ? owner : nil,
                                          score: nil, source: source, campaign: "c-\(i % 40)", occurredAt: Timestamp.format(milliseconds: t))
                if to == .sal { change.secondsToAccept = Int(rng.next() % 86_400) }
                emit(TopicCatalog.stageChanged, lead, "\(lead)-s\(n)", t, change)
                from = to
                counts.stages += 1
            }
            if activities > 0 {
                var at = t0 + Int64(i) * 2_000
                let profile = LeadCaptured(leadID: lead, email: "p\(i)@company\(i % 5000).example", jobTitle: titles[Int(rng.next() % 6)],
                                           company: "Company \(i % 5000)", employees: [8, 60, 400, 2500][Int(rng.next() % 4)], industry: "software",
                                           country: "GB", source: source, capturedAt: Timestamp.format(milliseconds: at))
                let enriched = LeadEnriched(leadID: lead, profile: profile, emailClass: .corporate, contactAvailable: true, company: nil,
                                            enrichedAt: Timestamp.format(milliseconds: at))
                let bytes = EventCoding.encode(CloudEvent(id: "\(lead)-e", source: "bench", type: TopicCatalog.enriched,
                                                          time: Timestamp.format(milliseconds: at), subject: lead, data: enriched))
                bytes.withUnsafeBytes { writer.append(topic: TopicCatalog.enriched, $0) }
                counts.enriched += 1
                for k in 0..<activities {
                    at += Int64(rng.next() % 3_600_000)
                    let type = k == activities - 1 && roll > 0.55 ? ActivityType.demoRequest : types[Int(rng.next() % UInt64(types.count))]
                    emit(TopicCatalog.activity, lead, "\(lead)-a\(k)", at, LeadActivity(leadID: lead, type: type, url: "https://example.com/p\(k)",
                                                                                      occurredAt: Timestamp.format(milliseconds: at)))
                    counts.activities += 1
                }
                if roll >= 0.55 {
                    at += 86_400_000
                    emit(TopicCatalog.outcome, lead, "\(lead)-o1", at, LeadOutcome(leadID: lead, outcome: roll < 0.9 ? .accepted : .rejected,
                                                                               reason: roll < 0.9 ? nil : "not_a_fit", occurredAt: Timestamp.format(milliseconds: at)))
                    counts.outcomes += 1
                    if roll < 0.62 {
                        emit(TopicCatalog.outcome, lead, "\(lead)-o2", at + 864_000_000, LeadOutcome(leadID: lead, outcome: .won, amount: 12_000, currency: "EUR",
                                                                                                  occurredAt: Timestamp.format(milliseconds: at + 864_000_000)))
                        counts.outcomes += 1
                    }
                }
            }
            if i % 100_000 == 99_999 {
                FileHandle.standardError.write(Data(String(format: "generating %@: %d of %d leads (%.0f s)\r", (file as NSString).lastPathComponent, i + 1, leads,
                                                           (ContinuousClock.now - started).seconds).utf8))
            }
        }
        try writer.close()
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        print(String(format: "\ngenerated %@: %.0f MB (%d stage events, %d enriched, %d activities, %d outcomes)", file, Double(size) / 1e6,
                     counts.stages, counts.enriched, counts.activities, counts.outcomes))
        return counts
    }

    /// SplitMix64: the same file on every run.
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
