extension FunnelReport {
    /// The report of `history` for leads first seen in `[since, until)` (ms; nil: open).
    public static func make(_ history: FunnelHistory, since: Int64? = nil, until: Int64? = nil, generatedAt: String) -> FunnelReport {
        var history = history
        history.sortSteps()
        var builder = Builder(history: history)
        for lead in history.leads {
            guard let first = lead.steps.first else { continue }
            if let since, first.at < since { continue }
            if let until, first.at >= until { continue }
            builder.add(lead)
        }
        return builder.report(window: Window(since: since.map { Timestamp.format(milliseconds: $0) },
                                             until: until.map { Timestamp.format(milliseconds: $0) },
                                             first: builder.firstAt.map { Timestamp.format(milliseconds: $0) },
                                             last: builder.lastAt.map { Timestamp.format(milliseconds: $0) }),
                              generatedAt: generatedAt)
    }

    /// Percentile `p` (0…1) of sorted `values`, interpolating between the closest ranks.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = p * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down)), upper = Int(rank.rounded(.up))
        let value = sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - Double(lower))
        return (value * 1000).rounded() / 1000 // durations are milliseconds apart: no digits beyond those

    }

    static func durations(_ name: String, _ values: [Double]) -> Durations {
        let sorted = values.sorted()
        var counts = [Int](repeating: 0, count: bucketEdges.count)
        var b = 0
        for v in sorted {
            while let edge = bucketEdges[b].0, v > edge { b += 1 }
            counts[b] += 1
        }
        return Durations(stage: name, count: sorted.count, medianS: percentile(sorted, 0.5), p90S: percentile(sorted, 0.9),
                         histogram: zip(bucketEdges, counts).map { Bucket(leS: $0.0.0, label: $0.0.1, count: $0.1) })
    }

    /// A reason with its numbers replaced by `N` (so one reason is one row).
    static func normalise(_ reason: String) -> String {
        var out = ""
        out.reserveCapacity(reason.utf8.count)
        var inNumber = false
        for c in reason.unicodeScalars {
            if ("0"..."9").contains(c) || (inNumber && c == ".") {
                if !inNumber { out.append("N") }
                inNumber = true
            } else {
                inNumber = false
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// ISO 8601 week (`2026-W49`) of a time in ms since the epoch, in UTC.
    public static func isoWeek(_ ms: Int64) -> String {
        let day = Int(ms.floorDivided(by: 86_400_000))
        let weekday = ((day + 3) % 7 + 7) % 7          // Monday 0 (1970-01-01 was a Thursday)
        let thursday = day - weekday + 3
        let (year, yearStart) = civilYear(thursday)
        let week = (thursday - yearStart) / 7 + 1
        return "\(year)-W\(week < 10 ? "0" : "")\(week)"
    }

    /// The year of a day number (days since 1970-01-01) and the day number of its 1 January.
    static func civilYear(_ day: Int) -> (Int, Int) {
        // Howard Hinnant's civil_from_days, year part.
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, daysFromCivil(year, 1, 1))
    }

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Accumulates the cohort's leads.
    struct Builder {
        let history: FunnelHistory
        var captured = 0
        var reached = [Int](repeating: 0, count: Stage.allCases.count)
        var inOrder = [Int](repeating: 0, count: FunnelReport.path.count)
        var timeInStage = [[Double]](repeating: [], count: Stage.allCases.count)
        var timeToConvert = [[Double]](repeating: [], count: FunnelReport.conversions.count)
        var leakage: [LeakKey: Int] = [:]
        var sources: [Int32: Tally] = [:], campaigns: [Int32: Tally] = [:], cohorts: [String: Tally] = [:]
        var owners: [Int32: OwnerTally] = [:]
        var firstAt: Int64?, lastAt: Int64?

        init(history: FunnelHistory) { self.history = history }

        struct LeakKey: Hashable { var to: String; var from: Stage?; var reason: String }
        struct Tally {
            var leads = 0, mql = 0, sal = 0, sql = 0, customer = 0
            var won: [Int32: (amount: Double, deals: Int)] = [:]
        }
        struct OwnerTally {
            var assigned = 0, accepted = 0, breaches = 0, customers = 0
            var toAccept: [Double] = []
        }

        static let stageIndex: [Stage: Int] = Dictionary(uniqueKeysWithValues: Stage.allCases.enumerated().map { ($1, $0) })

        mutating func add(_ lead: FunnelHistory.Lead) {
            let steps = lead.steps
            captured += 1
            firstAt = min(firstAt ?? steps[0].at, steps[0].at)
            lastAt = max(lastAt ?? steps[steps.count - 1].at, steps[steps.count - 1].at)
            // First entry time of each stage; the lead's first event counts as its capture.
            var firstEntry = [Int64?](repeating: nil, count: Stage.allCases.count)
            firstEntry[Self.stageIndex[.captured]!] = steps[0].at
            for s in steps {
                let i = Self.stageIndex[s.to]!
                if firstEntry[i] == nil { firstEntry[i] = s.at }
            }
            for i in firstEntry.indices where firstEntry[i] != nil { reached[i] += 1 }
            var previous: Int64? = nil
            for (k, stage) in FunnelReport.path.enumerated() {
                guard let at = firstEntry[Self.stageIndex[stage]!], previous.map({ at >= $0 }) ?? true else { break }
                inOrder[k] += 1
                previous = at
            }
            // Time in stage: each visit with an exit.
            for (n, s) in steps.enumerated() where n + 1 < steps.count {
                timeInStage[Self.stageIndex[s.to]!].append(Double(steps[n + 1].at - s.at) / 1000)
            }
            // Time to convert: first entry of A to the first entry of B after it.
            for (k, (a, b)) in FunnelReport.conversions.enumerated() {
                guard let start = firstEntry[Self.stageIndex[a]!],
                      let end = steps.first(where: { $0.to == b && $0.at >= start })?.at else { continue }
                timeToConvert[k].append(Double(end - start) / 1000)
            }
            // Leakage: once per (to, from, reason).
            var leaks: Set<LeakKey> = []
            for s in steps where s.to == .disqualified || s.to == .lost || s.to == .nurture {
                let reason = history.string(s.reason) ?? ""
                let to = s.to == .nurture && reason.hasPrefix("rejected by sales") ? "rejected" : s.to.rawValue
                leaks.insert(LeakKey(to: to, from: s.from, reason: FunnelReport.normalise(reason)))
            }
            for key in leaks { leakage[key, default: 0] += 1 }
            // Breakdowns.
            func reachedStage(_ s: Stage) -> Bool { firstEntry[Self.stageIndex[s]!] != nil }
            func tally(_ t: inout Tally) {
                t.leads += 1
                if reachedStage(.mql) { t.mql += 1 }
                if reachedStage(.sal) { t.sal += 1 }
                if reachedStage(.sql) { t.sql += 1 }
                if reachedStage(.customer) { t.customer += 1 }
                for w in lead.won { t.won[w.currency, default: (0, 0)].amount += w.amount; t.won[w.currency, default: (0, 0)].deals += 1 }
            }
            tally(&sources[lead.source, default: Tally()])
            tally(&campaigns[lead.campaign, default: Tally()])
            tally(&cohorts[FunnelReport.isoWeek(steps[0].at), default: Tally()])
            // Owners: who got the lead at mql, who took it to sal.
            var assignedTo: Set<Int32> = [], acceptedBy: Set<Int32> = []
            for s in steps where s.owner >= 0 {
                if s.to == .mql { assignedTo.insert(s.owner) }
                if s.to == .sal {
                    acceptedBy.insert(s.owner)
                    if s.secondsToAccept >= 0 { owners[s.owner, default: OwnerTally()].toAccept.append(Double(s.secondsToAccept)) }
                }
            }
            for o in assignedTo { owners[o, default: OwnerTally()].assigned += 1 }
            for o in acceptedBy { owners[o, default: OwnerTally()].accepted += 1 }
            if reachedStage(.customer), let owner = steps.last(where: { $0.to == .customer && $0.owner >= 0 })?.owner {
                owners[owner, default: OwnerTally()].customers += 1
            }
            for r in lead.slaReminders { owners[r.owner, default: OwnerTally()].breaches += 1 }
        }

        func rate(_ n: Int, _ of: Int) -> Double? { of == 0 ? nil : Double(n) / Double(of) }

        func breakdown(_ key: String, _ t: Tally) -> Breakdown {
            Breakdown(key: key, leads: t.leads, mql: t.mql, sal: t.sal, sql: t.sql, customer: t.customer,
                      mqlRate: rate(t.mql, t.leads), customerRate: rate(t.customer, t.leads),
                      won: t.won.map { Money(currency: history.string($0.key) ?? "?", amount: $0.value.amount, deals: $0.value.deals) }
                          .sorted { $0.currency < $1.currency })
        }

        func report(window: Window, generatedAt: String) -> FunnelReport {
            let capturedIndex = Self.stageIndex[.captured]!
            let stages = FunnelReport.path.enumerated().map { k, stage in
                let i = Self.stageIndex[stage]!
                let previous = k == 0 ? nil : Self.stageIndex[FunnelReport.path[k - 1]]!
                return StageRow(stage: stage, leads: reached[i],
                                fromPrevious: previous.flatMap { rate(reached[i], reached[$0]) },
                                fromCaptured: rate(reached[i], reached[capturedIndex]),
                                leadsInOrder: inOrder[k],
                                inOrderFromPrevious: k == 0 ? nil : rate(inOrder[k], inOrder[k - 1]),
                                inOrderFromCaptured: rate(inOrder[k], inOrder[0]))
            }
            let byCount: (Breakdown, Breakdown) -> Bool = { ($0.leads, $1.key) > ($1.leads, $0.key) }
            return FunnelReport(
                generatedAt: generatedAt, window: window, leads: captured, stages: stages,
                timeInStage: Stage.allCases.enumerated().compactMap { i, stage in
                    timeInStage[i].isEmpty && !FunnelReport.path.contains(stage) ? nil : FunnelReport.durations(stage.rawValue, timeInStage[i])
                },
                timeToConvert: FunnelReport.conversions.enumerated().map { k, c in
                    FunnelReport.durations("\(c.0.rawValue)→\(c.1.rawValue)", timeToConvert[k])
                },
                leakage: leakage.map { LeakageRow(to: $0.key.to, from: $0.key.from?.rawValue, reason: $0.key.reason, leads: $0.value,
                                                  share: rate($0.value, captured) ?? 0) }
                    .sorted { ($0.leads, $1.to, $1.reason) > ($1.leads, $0.to, $0.reason) },
                bySource: sources.map { breakdown(history.string($0.key) ?? "(none)", $0.value) }.sorted(by: byCount),
                byCampaign: campaigns.map { breakdown(history.string($0.key) ?? "(none)", $0.value) }.sorted(by: byCount),
                cohorts: cohorts.map { breakdown($0.key, $0.value) }.sorted { $0.key < $1.key },
                owners: owners.map { o, t in
                    let sorted = t.toAccept.sorted()
                    return OwnerRow(owner: history.string(o) ?? "?", assigned: t.assigned, accepted: t.accepted,
                                    acceptRate: rate(t.accepted, t.assigned), medianTimeToAcceptS: FunnelReport.percentile(sorted, 0.5),
                                    p90TimeToAcceptS: FunnelReport.percentile(sorted, 0.9), slaBreaches: t.breaches, customers: t.customers)
                }.sorted { ($0.assigned, $1.owner) > ($1.assigned, $0.owner) })
        }
    }
}

extension Int64 {
    func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
