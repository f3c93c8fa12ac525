import Foundation
import Testing
@testable import FunnelDomain

/// `funnel backtest` on a synthetic history where the truth is known: buyers are senior people
/// at mid-size companies who ask for a demo; page views are noise. The shipped model ranks
/// them better than the naive one (docs/backtest/naive-model.yaml) — AUC and top-decile lift
/// say so — and the same history gives the same report twice, whatever the thread count.
@Suite("Backtest: two models replayed on the same history, joined with outcomes")
struct BacktestTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func scorer(_ path: String) throws -> Scorer {
        let file = root.appendingPathComponent(path).path
        return Scorer(model: try ScoringModel.parse(yaml: String(contentsOfFile: file, encoding: .utf8), file: file))
    }

    /// A seeded generator (SplitMix64), so the fixture is the same on every machine.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func history(leads: Int = 400) -> BacktestHistory {
        var rng = Seeded(state: 42)
        var h = BacktestHistory()
        let t0 = Timestamp.milliseconds("2026-10-01T09:00:00Z")!
        func time(_ ms: Int64) -> String { Timestamp.format(milliseconds: ms) }
        for i in 0..<leads {
            let id = "lead-\(String(format: "%020x", i))"
            let senior = Bool.random(using: &rng)
            let midSize = Bool.random(using: &rng)
            let demo = Double.random(in: 0..<1, using: &rng) < (senior && midSize ? 0.7 : 0.15)
            let views = Int.random(in: 0...8, using: &rng)
            let start = t0 + Int64(i) * 600_000
            let profile = LeadCaptured(leadID: id, email: "p\(i)@company\(i).example", jobTitle: senior ? "VP Sales" : "Sales Associate",
                                       company: "Company \(i)", employees: midSize ? 800 : 8, industry: "software", country: "GB", capturedAt: time(start))
            h.add(LeadEnriched(leadID: id, profile: profile, emailClass: .corporate, contactAvailable: true, company: nil, enrichedAt: time(start)),
                  eventID: "enriched-\(i)")
            for v in 0..<views {
                h.add(LeadActivity(leadID: id, type: .pageView, occurredAt: time(start + Int64(v + 1) * 60_000)), leadID: id, eventID: "view-\(i)-\(v)")
            }
            if demo { h.add(LeadActivity(leadID: id, type: .demoRequest, occurredAt: time(start + 3_600_000)), leadID: id, eventID: "demo-\(i)") }
            // The truth: fit and a demo request decide; page views do not.
            let p = (senior ? 0.3 : 0.05) + (midSize ? 0.2 : 0) + (demo ? 0.35 : 0)
            let outcomeAt = time(start + 86_400_000)
            if Double.random(in: 0..<1, using: &rng) < p {
                h.add(LeadOutcome(leadID: id, outcome: .accepted, occurredAt: outcomeAt))
                if Double.random(in: 0..<1, using: &rng) < 0.5 {
                    h.add(LeadOutcome(leadID: id, outcome: .won, amount: 1000, currency: "EUR", occurredAt: time(start + 30 * 86_400_000)))
                }
            } else if Double.random(in: 0..<1, using: &rng) < 0.5 {
                h.add(LeadOutcome(leadID: id, outcome: .rejected, reason: "not_a_fit", occurredAt: outcomeAt))
            }
            // After the decision point: a flood of demo requests that must not count.
            if i % 7 == 0 {
                h.add(LeadActivity(leadID: id, type: .demoRequest, occurredAt: time(start + 2 * 86_400_000)), leadID: id, eventID: "late-\(i)")
            }
        }
        return h
    }

    @Test("the shipped model ranks buyers better than the naive one: AUC, lift, precision; the changed MQLs come with their rules")
    func shippedBeatsNaive() throws {
        let shipped = try Self.scorer("deploy/scoring-model.yaml"), naive = try Self.scorer("docs/backtest/naive-model.yaml")
        let r = Backtest.run(Self.history(), baseline: naive, candidate: shipped, sweep: [40, 60, 80], generatedAt: "x")
        #expect(r.leads == 400)
        #expect(r.accepted > 50 && r.won > 20)
        let better = try #require(r.candidate.aucAccepted), worse = try #require(r.baseline.aucAccepted)
        print("[backtest] AUC accepted: shipped \(better), naive \(worse); won: \(r.candidate.aucWon ?? -1) vs \(r.baseline.aucWon ?? -1)")
        #expect(better > 0.7 && better > worse + 0.1)
        #expect(try #require(r.candidate.aucWon) > (r.baseline.aucWon ?? 1))
        #expect(r.candidate.deciles.count == 10 && r.candidate.deciles.map(\.leads).reduce(0, +) == 400)
        #expect(try #require(r.candidate.deciles.first?.liftAccepted) > 1.5, "the shipped model's top tenth holds the buyers")
        #expect(try #require(r.candidate.deciles.first?.liftAccepted) > (r.baseline.deciles.first?.liftAccepted ?? 9))
        #expect(try #require(r.candidate.precisionAccepted) > (r.baseline.precisionAccepted ?? 1))
        #expect(r.candidate.version == "2026-12-07.1" && r.baseline.version == "naive-1")
        #expect(r.changes.newMQLs + r.changes.droppedMQLs > 0)
        let example = try #require(r.changes.newExamples.first ?? r.changes.droppedExamples.first)
        #expect(!example.rules.isEmpty && example.baselineScore != example.candidateScore)
        #expect(r.thresholdSweep?.map(\.threshold) == [40, 60, 80])
        let sweep = try #require(r.thresholdSweep)
        #expect(sweep[0].candidate.mqls >= sweep[1].candidate.mqls && sweep[1].candidate.mqls >= sweep[2].candidate.mqls)
    }

    @Test("nothing after the first outcome counts: late demo requests do not make MQLs")
    func decisionPoint() throws {
        let shipped = try Self.scorer("deploy/scoring-model.yaml")
        var h = BacktestHistory()
        let id = "lead-00000000000000000001"
        let profile = LeadCaptured(leadID: id, email: "a@b.example", jobTitle: "Sales Associate", capturedAt: "2026-10-01T09:00:00Z")
        h.add(LeadEnriched(leadID: id, profile: profile, emailClass: .corporate, contactAvailable: true, company: nil, enrichedAt: "2026-10-01T09:00:00Z"), eventID: "e")
        h.add(LeadOutcome(leadID: id, outcome: .rejected, reason: "not_a_fit", occurredAt: "2026-10-02T09:00:00Z"))
        for k in 0..<3 { h.add(LeadActivity(leadID: id, type: .demoRequest, occurredAt: "2026-10-03T09:00:0\(k)Z"), leadID: id, eventID: "d\(k)") }
        let r = Backtest.run(h, baseline: shipped, candidate: shipped, generatedAt: "x")
        #expect(r.candidate.mqls == 0 && r.candidate.deciles.first?.maxScore ?? 99 < 60)
    }

    @Test("the same history gives the same report, byte for byte, on one thread or two")
    func reproducible() throws {
        let shipped = try Self.scorer("deploy/scoring-model.yaml"), naive = try Self.scorer("docs/backtest/naive-model.yaml")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let one = try encoder.encode(Backtest.run(Self.history(), baseline: naive, candidate: shipped, sweep: [50, 60], generatedAt: "x"))
        let two = try encoder.encode(Backtest.run(Self.history(), baseline: naive, candidate: shipped, sweep: [50, 60], parallelism: 2, generatedAt: "x"))
        #expect(one == two)
    }

    @Test("AUC: perfect, inverted, random ties")
    func auc() {
        #expect(Backtest.auc([1, 2, 3, 4], [false, false, true, true]) == 1)
        #expect(Backtest.auc([4, 3, 2, 1], [false, false, true, true]) == 0)
        #expect(Backtest.auc([1, 1, 1, 1], [false, true, false, true]) == 0.5)
        #expect(Backtest.auc([1, 2, 2, 3], [false, false, true, true]) == 0.875)
        #expect(Backtest.auc([1, 2], [true, true]) == nil)
    }
}
