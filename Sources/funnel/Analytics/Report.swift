import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// `funnel report`: the funnel from `funnel.lead.stage-changed.v1` (with revenue from outcomes
/// and SLA reminders from routings), as a terminal table, JSON (`--json`), one self-contained
/// HTML page (`--html FILE`) or a live page (`--serve PORT`).
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Funnel analytics: reach and conversion per stage, time in stage, leakage, sources, cohorts, owners.",
        discussion: """
        Reads the public stage-change topic (and outcomes, routings) from the beginning, outside any consumer group.
        A lead is in the report when its first event lies in [--since, --until); all it did afterwards counts.
        Definitions and the JSON shape: README, "Funnel report".
        """)

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Leads first seen at or after this time (RFC 3339 or YYYY-MM-DD).") var since: String?
    @Option(help: "Leads first seen before this time (RFC 3339 or YYYY-MM-DD).") var until: String?
    @Option(help: "Read events from a file of JSON lines (`funnel export`) instead of the broker.") var input: String?
    @Flag(help: "Print the report as JSON (stable field names, see the README).") var json = false
    @Option(help: "Write the report as one self-contained HTML page to this file.") var html: String?
    @Option(help: "Serve the report, refreshed live, on this port (http://127.0.0.1:PORT/).") var serve: Int?

    func run() async throws {
        let window = try ReportWindow(since: since, until: until)
        if let serve {
            let server = try ReportServer(configuration: cluster.configuration, window: window)
            print("report: http://127.0.0.1:\(serve)/  (JSON: /report.json; refreshed as events arrive; Ctrl-C stops)")
            try await server.run(port: serve)
            return
        }
        let history = try await EventSource(input: input, configuration: cluster.configuration).load(progress: true)
        let report = FunnelReport.make(history, since: window.since, until: window.until, generatedAt: Timestamp.format(Date()))
        if let html {
            try ReportHTML.render(report).write(toFile: html, atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("report written to \(html)\n".utf8))
        }
        if json {
            print(String(decoding: try ReportJSON.encode(report), as: UTF8.self))
        } else if html == nil {
            print(ReportText.render(report), terminator: "")
        }
    }
}

/// `--since` / `--until` as milliseconds.
struct ReportWindow: Sendable {
    var since: Int64?
    var until: Int64?

    init(since: String?, until: String?) throws {
        func parse(_ text: String?, _ name: String) throws -> Int64? {
            guard let text else { return nil }
            if let ms = Timestamp.milliseconds(text) ?? Timestamp.milliseconds(text + "T00:00:00Z") { return ms }
            throw ValidationError("--\(name): expected an RFC 3339 date-time or a date (2026-11-02), got \(text)")
        }
        self.since = try parse(since, "since")
        self.until = try parse(until, "until")
        if let s = self.since, let u = self.until, s >= u { throw ValidationError("--since must be before --until") }
    }
}

enum ReportJSON {
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}

/// Where a report or a backtest reads its events: the broker (every partition from the
/// beginning to its current end, outside any consumer group) or an export file.
struct EventSource: Sendable {
    var input: String?
    var configuration: KafkaConfiguration

    /// The funnel history, with progress on standard error for long reads.
    func load(progress: Bool) async throws -> FunnelHistory {
        try await read(topics: FunnelHistory.topics, progress: progress, into: FunnelHistory(),
                       decode: FunnelHistory.decode(json:topic:), fold: { $0.add($1) })
    }

    /// Folds every record of `topics` into `initial`: `decode` runs on all cores (nil: not a
    /// valid event, counted and reported), `fold` in record order, on a thread of its own, while
    /// the next records are read and decoded (see ``DecodePipeline``).
    func read<State: Sendable, Decoded: Sendable>(
        topics: [String], progress: Bool, into initial: State,
        decode: @escaping @Sendable (UnsafeRawBufferPointer, String) -> Decoded?,
        fold: @escaping @Sendable (inout State, Decoded) -> Void
    ) async throws -> State {
        var partitions: [TopicPartition] = []
        if input == nil {
            let admin = try KafkaAdmin(configuration: configuration)
            let known = Dictionary(uniqueKeysWithValues: try await admin.listTopics().map { ($0.name, $0.partitions) })
            guard topics.contains(where: { known[$0] != nil }) else {
                throw ValidationError("none of \(topics.joined(separator: ", ")) exists on \(configuration.brokers): is Funnel running there?")
            }
            partitions = topics.flatMap { topic in (0..<Int32(known[topic] ?? 0)).map { TopicPartition(topic: topic, partition: $0) } }
        }
        let input = input, config = configuration, partitionsToRead = partitions
        let (state, rejected) = try await Blocking.run { () throws -> (State, Int) in
            let counter = ProgressCounter(label: "events", enabled: progress)
            let pipeline = DecodePipeline(topics: topics, initial: initial, progress: counter, decode: decode, fold: fold)
            let names = topics.map { Array($0.utf8) }
            if let input {
                try ExportFile.forEachRecord(path: input) { topic, bytes in
                    let t = names.firstIndex { name in
                        name.count == topic.count && name.withUnsafeBytes { memcmp($0.baseAddress!, topic.baseAddress!, topic.count) == 0 }
                    }
                    if let t { pipeline.add(topic: t, bytes) }
                }
            } else {
                try KafkaPartitionReader.readToEnd(configuration: config, partitions: partitionsToRead, timeout: .seconds(600)) { m in
                    guard let t = topics.firstIndex(of: m.topic) else { return }
                    (m.value ?? []).withUnsafeBytes { pipeline.add(topic: t, $0) }
                }
            }
            let result = pipeline.finish()
            counter.finish()
            return result
        }
        if rejected > 0 { FileHandle.standardError.write(Data("warning: \(rejected) records were not valid events of their topic; skipped\n".utf8)) }
        return state
    }
}

/// Decoded records, one slot per record, written by the decoding threads at distinct indices.
final class DecodedSlots<T>: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<T?>
    init(count: Int) { storage = .allocate(capacity: count); storage.initialize(repeating: nil) }
    deinit { storage.deinitialize(); storage.deallocate() }
    subscript(i: Int) -> T? {
        get { storage[i] }
        set { storage[i] = newValue }
    }
}

/// Runs blocking work on a thread of its own, off Swift's cooperative pool.
enum Blocking {
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

/// "read 1,234,567 events (412,000/s)" on standard error, at most once a second.
final class ProgressCounter: @unchecked Sendable {
    let label: String
    let enabled: Bool
    private(set) var count = 0
    private let started = ContinuousClock.now
    private var lastPrint = ContinuousClock.now

    init(label: String, enabled: Bool) { self.label = label; self.enabled = enabled }

    func tick() {
        count += 1
        guard enabled, count & 0x3FFF == 0 else { return }
        let now = ContinuousClock.now
        if now - lastPrint >= .seconds(1) { lastPrint = now; print(final: false) }
    }

    func finish() { if enabled { print(final: true) } }

    private func print(final: Bool) {
        let seconds = max((ContinuousClock.now - started).seconds, 1e-6)
        let line = "read \(count) \(label) (\(Int(Double(count) / seconds))/s)" + (final ? String(format: " in %.1f s\n", seconds) : "\r")
        FileHandle.standardError.write(Data(line.utf8))
    }
}
