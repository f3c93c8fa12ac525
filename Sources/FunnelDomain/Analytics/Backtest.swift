import Dispatch

/// `funnel backtest`: the same history replayed through two scoring models with the pure
/// ``Scorer``, joined with what sales later said, side by side. The JSON field names are a
/// documented contract (README "Backtest").
///
/// Definitions:
/// - Each lead's inputs are replayed in event-time order up to its **decision point**: its
///   first sales outcome (inclusive), or its last event when it has none. Nothing after the
///   first outcome is used to predict it.
/// - The **score** of a lead is its primary total at the decision point; **MQL** is whether it
///   crossed the model's threshold at any event before (with the model's hysteresis), and
///   **time to MQL** runs from its first event to that crossing.
/// - Labels: **accepted** = an `accepted`, `meeting`, `proposal` or `won` outcome; **won** = `won`.
/// - **Deciles** rank leads by score (ties by lead id), decile 1 the top tenth; **lift** is a
///   decile's share of positives over the overall share. **AUC** is the Mann–Whitney
///   probability that a positive outranks a negative (ties count half).
public struct BacktestReport: Codable, Sendable, Equatable {
    public var generatedAt: String
    public var leads: Int
    public var accepted: Int
    public var won: Int
    public var baseline: ModelResult
    public var candidate: ModelResult
    public var changes: Changes
    public var thresholdSweep: [SweepRow]?

    enum CodingKeys: String, CodingKey {
        case generatedAt = "generated_at", leads, accepted, won, baseline, candidate, changes, thresholdSweep = "threshold_sweep"
    }

    public struct ModelResult: Codable, Sendable, Equatable {
        public var version: String
        public var mqlThreshold: Double
        public var mqls: Int
        public var mqlRate: Double?
        public var aucWon: Double?
        public var aucAccepted: Double?
        public var precisionAccepted: Double?
        public var recallAccepted: Double?
        public var precisionWon: Double?
        public var recallWon: Double?
        public var timeToMQL: FunnelReport.Durations
        public var deciles: [Decile]
        public var grades: [GradeRow]
        enum CodingKeys: String, CodingKey {
            case version, mqlThreshold = "mql_threshold", mqls, mqlRate = "mql_rate", aucWon = "auc_won", aucAccepted = "auc_accepted"
            case precisionAccepted = "precision_accepted", recallAccepted = "recall_accepted", precisionWon = "precision_won"
            case recallWon = "recall_won", timeToMQL = "time_to_mql", deciles, grades
        }
    }

    public struct Decile: Codable, Sendable, Equatable {
        public var decile: Int
        public var leads: Int
        public var minScore: Double
        public var maxScore: Double
        public var acceptedShare: Double
        public var wonShare: Double
        public var liftAccepted: Double?
        public var liftWon: Double?
        enum CodingKeys: String, CodingKey {
            case decile, leads, minScore = "min_score", maxScore = "max_score", acceptedShare = "accepted_share", wonShare = "won_share"
            case liftAccepted = "lift_accepted", liftWon = "lift_won"
        }
    }

    public struct GradeRow: Codable, Sendable, Equatable {
        public var grade: String
        public var leads: Int
        public var acceptedShare: Double
        public var wonShare: Double
        enum CodingKeys: String, CodingKey { case grade, leads, acceptedShare = "accepted_share", wonShare = "won_share" }
    }

    public struct Changes: Codable, Sendable, Equatable {
        /// MQL under the candidate, not under the baseline.
        public var newMQLs: Int
        /// MQL under the baseline, not under the candidate.
        public var droppedMQLs: Int
        public var newExamples: [Example]
        public var droppedExamples: [Example]
        enum CodingKeys: String, CodingKey {
            case newMQLs = "new_mqls", droppedMQLs = "dropped_mqls", newExamples = "new_examples", droppedExamples = "dropped_examples"
        }
    }

    public struct Example: Codable, Sendable, Equatable {
        public var leadID: String
        public var baselineScore: Double
        public var candidateScore: Double
        public var accepted: Bool
        public var won: Bool
        /// The rules whose points differ between the models at the decision point.
        public var rules: [RuleDifference]
        /// A model's disqualification at the decision point (no MQL whatever the score).
        public var baselineDisqualification: String?
        public var candidateDisqualification: String?
        enum CodingKeys: String, CodingKey {
            case leadID = "lead_id", baselineScore = "baseline_score", candidateScore = "candidate_score", accepted, won, rules
            case baselineDisqualification = "baseline_disqualification", candidateDisqualification = "candidate_disqualification"
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(leadID, forKey: .leadID); try c.encode(baselineScore, forKey: .baselineScore)
            try c.encode(candidateScore, forKey: .candidateScore); try c.encode(accepted, forKey: .accepted); try c.encode(won, forKey: .won)
            try c.encode(rules, forKey: .rules); try c.encode(baselineDisqualification, forKey: .baselineDisqualification)
            try c.encode(candidateDisqualification, forKey: .candidateDisqualification)
        }
    }

    public struct RuleDifference: Codable, Sendable, Equatable {
        public var rule: String
        public var baselinePoints: Double
        public var candidatePoints: Double
        enum CodingKeys: String, CodingKey { case rule, baselinePoints = "baseline_points", candidatePoints = "candidate_points" }
    }

    public struct SweepRow: Codable, Sendable, Equatable {
        public var threshold: Double
        public var baseline: Confusion
        public var candidate: Confusion
    }

    /// Leads at or above a threshold (by score at the decision point) against the labels.
    public struct Confusion: Codable, Sendable, Equatable {
        public var mqls: Int
        public var precisionAccepted: Double?
        public var recallAccepted: Double?
        public var precisionWon: Double?
        public var recallWon: Double?
        enum CodingKeys: String, CodingKey {
            case mqls, precisionAccepted = "precision_accepted", recallAccepted = "recall_accepted", precisionWon = "precision_won", recallWon = "recall_won"
        }
    }
}

/// The replay of one lead under one model.
struct LeadOutcomeUnderModel: Sendable {
    var score: Double
    var grade: String
    var mql: Bool
    var timeToMQL: Double?
}

public enum Backtest {
    /// Replays `history` through both models. `parallelism` splits the leads across threads
    /// (the result does not depend on it).
    /// `history` is consumed: pass it with `consume` and its inputs are sorted in place, not copied.
    public static func run(_ history: consuming BacktestHistory, baseline: Scorer, candidate: Scorer, sweep: [Double]? = nil,
                           examples: Int = 5, parallelism: Int = 1, generatedAt: String) -> BacktestReport {
        history.finishReading()
        let leads = history.leads.filter { !$0.inputs.isEmpty }
        let profiles = history.profiles
        history = BacktestHistory() // the leads live on in `leads` alone
        let b = replay(leads, profiles, baseline, parallelism: parallelism)
        let c = replay(leads, profiles, candidate, parallelism: parallelism)
        let accepted = leads.map(\.accepted), won = leads.map(\.won)
        let ids = leads.map(\.id)
        var newOnes: [Int] = [], dropped: [Int] = []
        for i in leads.indices where b[i].mql != c[i].mql { if c[i].mql { newOnes.append(i) } else { dropped.append(i) } }
        func example(_ i: Int) -> BacktestReport.Example {
            let (rb, rc) = (decisionResult(leads[i], profiles, baseline), decisionResult(leads[i], profiles, candidate))
            var points: [String: (Double, Double)] = [:]
            for r in rb.rules { points[r.rule, default: (0, 0)].0 += r.points }
            for r in rc.rules { points[r.rule, default: (0, 0)].1 += r.points }
            let rules = points.filter { $0.value.0 != $0.value.1 }.sorted { $0.key < $1.key }
                .map { BacktestReport.RuleDifference(rule: $0.key, baselinePoints: round($0.value.0), candidatePoints: round($0.value.1)) }
            return .init(leadID: leads[i].id, baselineScore: round(b[i].score), candidateScore: round(c[i].score),
                         accepted: leads[i].accepted, won: leads[i].won, rules: rules,
                         baselineDisqualification: rb.disqualification, candidateDisqualification: rc.disqualification)
        }
        // Examples: the most telling first (largest score change), then by lead id.
        func pick(_ list: [Int]) -> [BacktestReport.Example] {
            list.sorted { (abs(c[$0].score - b[$0].score), ids[$1]) > (abs(c[$1].score - b[$1].score), ids[$0]) }.prefix(examples).map(example)
        }
        return BacktestReport(
            generatedAt: generatedAt, leads: leads.count, accepted: accepted.filter { $0 }.count, won: won.filter { $0 }.count,
            baseline: result(b, baseline, ids: ids, accepted: accepted, won: won),
            candidate: result(c, candidate, ids: ids, accepted: accepted, won: won),
            changes: .init(newMQLs: newOnes.count, droppedMQLs: dropped.count, newExamples: pick(newOnes), droppedExamples: pick(dropped)),
            thresholdSweep: sweep.map { thresholds in
                thresholds.map { t in
                    BacktestReport.SweepRow(threshold: t, baseline: confusion(b.map { $0.score >= t }, accepted, won),
                                            candidate: confusion(c.map { $0.score >= t }, accepted, won))
                }
            })
    }

    static func round(_ v: Double) -> Double { (v * 100).rounded() / 100 }

    /// The replay of every lead, split across `parallelism` threads by index.
    static func replay(_ leads: [BacktestHistory.Lead], _ profiles: [ProfileFacts], _ scorer: Scorer, parallelism: Int) -> [LeadOutcomeUnderModel] {
        let n = leads.count
        let parts = max(1, min(parallelism, n))
        if parts == 1 { return leads.map { replay($0, profiles, scorer) } }
        let results = ResultSlots(count: n)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let range = (n * part / parts)..<(n * (part + 1) / parts)
            for i in range { results.set(i, replay(leads[i], profiles, scorer)) }
        }
        return results.values()
    }

    /// One lead under one model: its score at the decision point, MQL and time to MQL.
    static func replay(_ lead: BacktestHistory.Lead, _ profiles: [ProfileFacts], _ scorer: Scorer) -> LeadOutcomeUnderModel {
        var state = LeadScoreState()
        var mql = false
        var firstMQL: Int64?
        var last: ScoreResult?
        let start = lead.inputs[0].time
        for input in lead.inputs {
            let time = input.time
            if let cutoff = lead.firstOutcome, time > cutoff { break }
            apply(input, profiles, to: &state)
            let r = scorer.primary(state, at: time)
            mql = scorer.mql(total: r.total, disqualified: r.disqualification != nil, previous: mql)
            if mql && firstMQL == nil { firstMQL = time }
            last = r
        }
        guard let last else { return LeadOutcomeUnderModel(score: 0, grade: "D", mql: false, timeToMQL: nil) }
        return LeadOutcomeUnderModel(score: last.total, grade: last.grade, mql: firstMQL != nil,
                                     timeToMQL: firstMQL.map { Double($0 - start) / 1000 })
    }

    /// The full result (with rules) at the decision point, for examples.
    static func decisionResult(_ lead: BacktestHistory.Lead, _ profiles: [ProfileFacts], _ scorer: Scorer) -> ScoreResult {
        var state = LeadScoreState()
        var at = lead.inputs[0].time
        for input in lead.inputs {
            if let cutoff = lead.firstOutcome, input.time > cutoff { break }
            apply(input, profiles, to: &state)
            at = input.time
        }
        return scorer.primary(state, at: at)
    }

    /// One input into a lead's scoring state.
    @inline(__always)
    static func apply(_ input: BacktestHistory.Input, _ profiles: [ProfileFacts], to state: inout LeadScoreState) {
        if input.isProfile { state.apply(profile: profiles[Int(input.value)]) } else { state.apply(activity: input.activity) }
    }

    static func result(_ r: [LeadOutcomeUnderModel], _ scorer: Scorer, ids: [String], accepted: [Bool], won: [Bool]) -> BacktestReport.ModelResult {
        let n = r.count
        let mqls = r.filter(\.mql).count
        let flags = r.map(\.mql)
        let c = confusion(flags, accepted, won)
        // Deciles: by score, highest first; ties by lead id so the split is reproducible.
        let order = r.indices.sorted { (r[$0].score, ids[$1]) > (r[$1].score, ids[$0]) }
        let overallAccepted = share(accepted.filter { $0 }.count, n), overallWon = share(won.filter { $0 }.count, n)
        var deciles: [BacktestReport.Decile] = []
        if n > 0 {
            for d in 0..<10 {
                let slice = order[(n * d / 10)..<(n * (d + 1) / 10)]
                guard !slice.isEmpty else { continue }
                let a = share(slice.filter { accepted[$0] }.count, slice.count), w = share(slice.filter { won[$0] }.count, slice.count)
                deciles.append(.init(decile: d + 1, leads: slice.count, minScore: round(slice.map { r[$0].score }.min()!),
                                     maxScore: round(slice.map { r[$0].score }.max()!), acceptedShare: a, wonShare: w,
                                     liftAccepted: overallAccepted > 0 ? a / overallAccepted : nil, liftWon: overallWon > 0 ? w / overallWon : nil))
            }
        }
        let grades = Dictionary(grouping: r.indices, by: { r[$0].grade }).map { grade, members in
            BacktestReport.GradeRow(grade: grade, leads: members.count, acceptedShare: share(members.filter { accepted[$0] }.count, members.count),
                                    wonShare: share(members.filter { won[$0] }.count, members.count))
        }.sorted { $0.grade < $1.grade }
        return .init(version: scorer.model.version, mqlThreshold: scorer.model.mql.threshold, mqls: mqls,
                     mqlRate: n == 0 ? nil : Double(mqls) / Double(n),
                     aucWon: auc(r.map(\.score), won), aucAccepted: auc(r.map(\.score), accepted),
                     precisionAccepted: c.precisionAccepted, recallAccepted: c.recallAccepted, precisionWon: c.precisionWon, recallWon: c.recallWon,
                     timeToMQL: FunnelReport.durations("first event→mql", r.compactMap(\.timeToMQL)), deciles: deciles, grades: grades)
    }

    static func share(_ k: Int, _ n: Int) -> Double { n == 0 ? 0 : Double(k) / Double(n) }

    static func confusion(_ predicted: [Bool], _ accepted: [Bool], _ won: [Bool]) -> BacktestReport.Confusion {
        var p = 0, tpA = 0, tpW = 0
        for i in predicted.indices where predicted[i] {
            p += 1
            if accepted[i] { tpA += 1 }
            if won[i] { tpW += 1 }
        }
        let posA = accepted.filter { $0 }.count, posW = won.filter { $0 }.count
        return .init(mqls: p, precisionAccepted: p == 0 ? nil : Double(tpA) / Double(p), recallAccepted: posA == 0 ? nil : Double(tpA) / Double(posA),
                     precisionWon: p == 0 ? nil : Double(tpW) / Double(p), recallWon: posW == 0 ? nil : Double(tpW) / Double(posW))
    }

    /// ROC AUC by ranks (Mann–Whitney U), ties at their average rank; nil without both classes.
    public static func auc(_ scores: [Double], _ labels: [Bool]) -> Double? {
        let positives = labels.filter { $0 }.count, negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let averageRank = Double(i + j) / 2 + 1
            for k in i...j where labels[order[k]] { rankSum += averageRank }
            i = j + 1
        }
        let u = rankSum - Double(positives * (positives + 1)) / 2
        return u / Double(positives * negatives)
    }
}

/// Slots written by several threads at distinct indices (no two threads touch one slot).
final class ResultSlots: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<LeadOutcomeUnderModel>
    init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: LeadOutcomeUnderModel(score: 0, grade: "D", mql: false, timeToMQL: nil))
    }
    deinit { storage.deinitialize(); storage.deallocate() }
    func set(_ i: Int, _ value: LeadOutcomeUnderModel) { storage[i] = value }
    func values() -> [LeadOutcomeUnderModel] { Array(storage) }
}
