import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// `funnel backtest --model NEW.yaml`: the recorded history replayed through the live model and
/// a new one, side by side, before the new one goes live.
struct BacktestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "Replay the history through a new scoring model and the current one; compare MQLs, lift, AUC, precision and recall.",
        discussion: """
        Reads enriched events, activities and outcomes (from the broker, or --input FILE written by `funnel export`),
        replays each lead up to its first sales outcome through both models with the pure scorer (event time only:
        the same history gives the same result), and joins what sales said. Definitions: README, "Backtest".
        """)

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "The scoring model to test.") var model: String
    @Option(help: "The model to compare with (default: $FUNNEL_CONFIG_DIR/scoring-model.yaml, else deploy/).") var baseline: String?
    @Option(help: "Read events from a file written by `funnel export` instead of the broker.") var input: String?
    @Flag(help: "Also compare MQL thresholds around the new model's (±30 in steps of 5).") var thresholdSweep = false
    @Option(help: "Examples of changed MQLs to show per direction.") var examples = 5
    @Flag(help: "Print the result as JSON (stable field names, see the README).") var json = false
    @Option(help: "Write the result as one self-contained HTML page to this file.") var html: String?

    static func load(_ path: String) throws -> Scorer {
        let yaml: String
        do { yaml = try String(contentsOfFile: path, encoding: .utf8) } catch { throw ValidationError("cannot read the model \(path): \(error.localizedDescription)") }
        return Scorer(model: try ScoringModel.parse(yaml: yaml, file: path))
    }

    func run() async throws {
        let baselinePath = baseline ?? ((ProcessInfo.processInfo.environment["FUNNEL_CONFIG_DIR"] ?? ProjectPaths.configDirectory) + "/scoring-model.yaml")
        let old = try Self.load(baselinePath), new = try Self.load(model)
        let started = ContinuousClock.now
        let history = try await EventSource(input: input, configuration: cluster.configuration)
            .read(topics: BacktestHistory.topics, progress: true, into: BacktestHistory(),
                  decode: BacktestHistory.decode(json:topic:), fold: { $0.add($1) })
        guard history.leadCount > 0 else { throw ValidationError("no enriched events or activities to replay: nothing to backtest") }
        let threshold = new.model.mql.threshold
        let sweep = thresholdSweep ? stride(from: max(0, threshold - 30), through: threshold + 30, by: 5).map { $0 } : nil
        let leadCount = history.leadCount, events = history.events
        FileHandle.standardError.write(Data("replaying \(leadCount) leads (\(events) events) through \(old.model.version) and \(new.model.version) …\n".utf8))
        let replayStarted = ContinuousClock.now
        let report = Backtest.run(consume history, baseline: old, candidate: new, sweep: sweep, examples: examples,
                                  parallelism: ProcessInfo.processInfo.activeProcessorCount, generatedAt: Timestamp.format(Date()))
        FileHandle.standardError.write(Data(String(format: "replayed in %.1f s (%.1f s in all)\n", (ContinuousClock.now - replayStarted).seconds,
                                                   (ContinuousClock.now - started).seconds).utf8))
        if let html {
            try BacktestHTML.render(report).write(toFile: html, atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("backtest written to \(html)\n".utf8))
        }
        if json {
            print(String(decoding: try ReportJSON.encode(report), as: UTF8.self))
        } else if html == nil {
            print(BacktestText.render(report), terminator: "")
        }
    }
}

/// The terminal form of a ``BacktestReport``.
enum BacktestText {
    static func render(_ r: BacktestReport) -> String {
        let b = r.baseline, c = r.candidate
        func num(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "-" }
        var out = "Backtest — \(r.leads) leads, \(r.accepted) accepted by sales, \(r.won) won\n\n"
        out += ReportText.table("Side by side", ["", "baseline \(b.version)", "candidate \(c.version)"], [
            ["MQL threshold", String(format: "%.0f", b.mqlThreshold), String(format: "%.0f", c.mqlThreshold)],
            ["MQLs", "\(b.mqls)", "\(c.mqls)"],
            ["MQL rate", ReportText.pct(b.mqlRate), ReportText.pct(c.mqlRate)],
            ["ROC AUC (won)", num(b.aucWon), num(c.aucWon)],
            ["ROC AUC (accepted)", num(b.aucAccepted), num(c.aucAccepted)],
            ["precision at MQL (accepted)", ReportText.pct(b.precisionAccepted), ReportText.pct(c.precisionAccepted)],
            ["recall at MQL (accepted)", ReportText.pct(b.recallAccepted), ReportText.pct(c.recallAccepted)],
            ["precision at MQL (won)", ReportText.pct(b.precisionWon), ReportText.pct(c.precisionWon)],
            ["recall at MQL (won)", ReportText.pct(b.recallWon), ReportText.pct(c.recallWon)],
            ["time to MQL (median)", ReportText.duration(b.timeToMQL.medianS), ReportText.duration(c.timeToMQL.medianS)],
            ["time to MQL (p90)", ReportText.duration(b.timeToMQL.p90S), ReportText.duration(c.timeToMQL.p90S)],
        ])
        out += ReportText.table("Score deciles (1 = top tenth): share accepted / won, lift", ["decile", "baseline accepted", "won", "lift", "candidate accepted", "won", "lift"],
                                zip(b.deciles, c.deciles).map { x, y in
                                    ["\(x.decile)", ReportText.pct(x.acceptedShare), ReportText.pct(x.wonShare), num(x.liftAccepted),
                                     ReportText.pct(y.acceptedShare), ReportText.pct(y.wonShare), num(y.liftAccepted)]
                                })
        let grades = Set(b.grades.map(\.grade) + c.grades.map(\.grade)).sorted()
        out += ReportText.table("Grades: leads, share accepted / won", ["grade", "baseline leads", "accepted", "won", "candidate leads", "accepted", "won"],
                                grades.map { g in
                                    let x = b.grades.first { $0.grade == g }, y = c.grades.first { $0.grade == g }
                                    return [g, "\(x?.leads ?? 0)", ReportText.pct(x?.acceptedShare), ReportText.pct(x?.wonShare),
                                            "\(y?.leads ?? 0)", ReportText.pct(y?.acceptedShare), ReportText.pct(y?.wonShare)]
                                })
        out += "Changed stage: \(r.changes.newMQLs) leads become MQL only under the candidate, \(r.changes.droppedMQLs) only under the baseline\n"
        for (title, list) in [("new MQLs", r.changes.newExamples), ("dropped MQLs", r.changes.droppedExamples)] where !list.isEmpty {
            out += "  \(title), for example:\n"
            for e in list {
                out += "    \(e.leadID)  score \(String(format: "%.0f", e.baselineScore)) → \(String(format: "%.0f", e.candidateScore))"
                out += e.accepted ? (e.won ? "  (won)" : "  (accepted)") : "  (not accepted)"
                if let d = e.baselineDisqualification { out += "  baseline disqualifies: \(d)" }
                if let d = e.candidateDisqualification { out += "  candidate disqualifies: \(d)" }
                out += "  " + e.rules.map { "\($0.rule) \(String(format: "%+.0f", $0.candidatePoints - $0.baselinePoints))" }.joined(separator: ", ") + "\n"
            }
        }
        out += "\n"
        if let sweep = r.thresholdSweep {
            out += ReportText.table("Threshold sweep (score at the decision point ≥ threshold)",
                                    ["threshold", "baseline MQLs", "precision", "recall", "candidate MQLs", "precision", "recall"],
                                    sweep.map { s in
                                        [String(format: "%.0f", s.threshold), "\(s.baseline.mqls)", ReportText.pct(s.baseline.precisionAccepted),
                                         ReportText.pct(s.baseline.recallAccepted), "\(s.candidate.mqls)", ReportText.pct(s.candidate.precisionAccepted),
                                         ReportText.pct(s.candidate.recallAccepted)]
                                    })
        }
        return out
    }
}

/// The HTML page of a ``BacktestReport``: the comparison table, lift by decile as paired bars,
/// the grades, the changed MQLs and the threshold sweep.
enum BacktestHTML {
    static func render(_ r: BacktestReport) -> String {
        let text = BacktestText.render(r)
        let b = r.baseline, c = r.candidate
        let top = max(b.deciles.compactMap(\.liftAccepted).max() ?? 1, c.deciles.compactMap(\.liftAccepted).max() ?? 1, 1)
        var svg = "<svg viewBox=\"0 0 640 260\" role=\"img\" aria-label=\"Lift by score decile\">"
        svg += "<rect x=\"40\" y=\"2\" width=\"10\" height=\"10\" fill=\"var(--bar2)\"/><text x=\"54\" y=\"11\">baseline \(ReportHTML.e(b.version))</text>"
        svg += "<rect x=\"260\" y=\"2\" width=\"10\" height=\"10\" fill=\"var(--bar)\"/><text x=\"274\" y=\"11\">candidate \(ReportHTML.e(c.version))</text>"
        for (i, (x, y)) in zip(b.deciles, c.deciles).enumerated() {
            let left = 40.0 + Double(i) * 60
            for (k, lift) in [(0, x.liftAccepted ?? 0), (1, y.liftAccepted ?? 0)] {
                let h = 200 * lift / top
                svg += "<rect x=\"\(ReportHTML.n(left + Double(k) * 24))\" y=\"\(ReportHTML.n(220 - h))\" width=\"22\" height=\"\(ReportHTML.n(h))\" fill=\"var(\(k == 0 ? "--bar2" : "--bar"))\"><title>decile \(x.decile): lift \(String(format: "%.2f", lift))</title></rect>"
            }
            svg += "<text x=\"\(ReportHTML.n(left + 23))\" y=\"238\" text-anchor=\"middle\">\(x.decile)</text>"
        }
        svg += "<line x1=\"36\" x2=\"640\" y1=\"\(ReportHTML.n(220 - 200 / top))\" y2=\"\(ReportHTML.n(220 - 200 / top))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
        svg += "<text x=\"0\" y=\"\(ReportHTML.n(224 - 200 / top))\">lift 1</text><text x=\"300\" y=\"256\">score decile (1 = top)</text></svg>"
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Backtest · \(ReportHTML.e(c.version)) vs \(ReportHTML.e(b.version))</title><style>\(ReportHTML.css) pre{white-space:pre-wrap;font-size:.85em}</style></head>
        <body><header><h1>Backtest: \(ReportHTML.e(c.version)) vs \(ReportHTML.e(b.version))</h1>
        <p class="meta">\(r.leads) leads · \(r.accepted) accepted · \(r.won) won · generated \(ReportHTML.e(r.generatedAt))</p></header>
        <section id="lift"><h2>Lift by score decile (accepted)</h2>\(svg)</section>
        <section id="details"><h2>Side by side</h2><pre>\(ReportHTML.e(text))</pre></section>
        <footer>Definitions: README, “Backtest”. JSON: <code>funnel backtest --json</code>.</footer></body></html>

        """
    }
}
