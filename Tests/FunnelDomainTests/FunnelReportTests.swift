import Foundation
import Testing
@testable import FunnelDomain

/// `funnel report`'s numbers on a hand-computed fixture (Tests/Fixtures/report-fixture.jsonl:
/// nine leads over two ISO weeks, a won deal, an SLA reminder, one event delivered twice and
/// one out of order). Every expected number below was worked out by hand from the fixture.
@Suite("Funnel report: conversions, times, leakage, breakdowns, cohorts, owners")
struct FunnelReportTests {
    static let fixturePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/report-fixture.jsonl").path

    static func history() throws -> FunnelHistory {
        var history = FunnelHistory()
        let text = try String(contentsOfFile: fixturePath, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let bytes = Array(line.utf8)
            let type = try #require((try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])?["type"] as? String)
            let added = bytes.withUnsafeBytes { history.add(json: $0, topic: type) }
            #expect(added, "\(line.prefix(80))")
        }
        return history
    }

    static let t0 = Timestamp.milliseconds("2026-11-02T00:00:00Z")!

    @Test("reach and conversion per stage, any-stage and in order")
    func stages() throws {
        let r = FunnelReport.make(try Self.history(), generatedAt: "2026-12-07T00:00:00Z")
        #expect(r.leads == 9)
        #expect(r.stages.map(\.stage) == [.captured, .identified, .mql, .sal, .sql, .customer])
        #expect(r.stages.map(\.leads) == [9, 6, 6, 4, 2, 1])
        #expect(r.stages.map(\.leadsInOrder) == [9, 6, 5, 3, 2, 1])
        let fromPrevious: [Double?] = [nil, 6.0 / 9, 1, 4.0 / 6, 0.5, 0.5]
        let fromCaptured: [Double?] = [1, 6.0 / 9, 6.0 / 9, 4.0 / 9, 2.0 / 9, 1.0 / 9]
        let inOrderFromPrevious: [Double?] = [nil, 6.0 / 9, 5.0 / 6, 3.0 / 5, 2.0 / 3, 0.5]
        #expect(r.stages.map(\.fromPrevious) == fromPrevious)
        #expect(r.stages.map(\.fromCaptured) == fromCaptured)
        #expect(r.stages.map(\.inOrderFromPrevious) == inOrderFromPrevious)
        #expect(r.window.first == "2026-11-02T00:00:00.000Z" && r.window.last == "2026-11-10T18:00:00.000Z")
    }

    @Test("time in stage and time to convert: count, median, p90, histogram")
    func times() throws {
        let r = FunnelReport.make(try Self.history(), generatedAt: "x")
        func row(_ rows: [FunnelReport.Durations], _ name: String) -> FunnelReport.Durations? { rows.first { $0.stage == name } }
        let captured = try #require(row(r.timeInStage, "captured"))
        #expect(captured.count == 8 && captured.medianS == 0 && captured.p90S == 7920)
        #expect(captured.histogram.map(\.count) == [6, 0, 1, 1, 0, 0, 0, 0, 0])
        let identified = try #require(row(r.timeInStage, "identified"))
        #expect(identified.count == 6 && identified.medianS == 3600 && identified.p90S == 10800)
        let mql = try #require(row(r.timeInStage, "mql"))
        #expect(mql.count == 5 && mql.medianS == 14400 && mql.p90S == 30240)
        let sal = try #require(row(r.timeInStage, "sal"))
        #expect(sal.count == 2 && sal.medianS == 86400 && sal.p90S == 86400)
        let sql = try #require(row(r.timeInStage, "sql"))
        #expect(sql.count == 2 && sql.medianS == 212400 && sql.p90S == 244080)
        #expect(row(r.timeInStage, "nurture")?.count == 1 && row(r.timeInStage, "nurture")?.medianS == 115200)
        #expect(row(r.timeInStage, "customer")?.count == 0 && row(r.timeInStage, "customer")?.medianS == nil)
        #expect(row(r.timeInStage, "lost") == nil, "side stages without a visit that ended are left out")

        #expect(r.timeToConvert.map(\.stage) == ["captured→mql", "mql→sal", "sal→sql", "sql→customer"])
        #expect(r.timeToConvert.map(\.count) == [6, 4, 2, 1])
        #expect(r.timeToConvert.map(\.medianS) == [10800, 10800, 86400, 172800])
        #expect(r.timeToConvert.map(\.p90S) == [66600, 29520, 86400, 172800])
        #expect(r.timeToConvert[0].histogram.map(\.count) == [0, 0, 1, 4, 0, 1, 0, 0, 0])
    }

    @Test("leakage: where leads leave, with normalised reasons and their share of the cohort")
    func leakage() throws {
        let r = FunnelReport.make(try Self.history(), generatedAt: "x")
        let expected: [FunnelReport.LeakageRow] = [
            .init(to: "nurture", from: "identified", reason: "score N below N: nurture", leads: 2, share: 2.0 / 9),
            .init(to: "disqualified", from: "captured", reason: "competitor domain", leads: 1, share: 1.0 / 9),
            .init(to: "lost", from: "sql", reason: "closed lost: no_budget", leads: 1, share: 1.0 / 9),
            .init(to: "rejected", from: "mql", reason: "rejected by sales: bad_timing", leads: 1, share: 1.0 / 9),
        ]
        #expect(r.leakage == expected)
    }

    @Test("breakdowns by first-touch source and campaign, capture cohorts (ISO weeks), revenue won")
    func breakdowns() throws {
        let r = FunnelReport.make(try Self.history(), generatedAt: "x")
        let eur = [FunnelReport.Money(currency: "EUR", amount: 1000, deals: 1)]
        #expect(r.bySource == [
            .init(key: "webform", leads: 4, mql: 2, sal: 1, sql: 0, customer: 0, mqlRate: 0.5, customerRate: 0, won: []),
            .init(key: "webinar", leads: 4, mql: 3, sal: 2, sql: 2, customer: 1, mqlRate: 0.75, customerRate: 0.25, won: eur),
            .init(key: "(none)", leads: 1, mql: 1, sal: 1, sql: 0, customer: 0, mqlRate: 1, customerRate: 0, won: []),
        ])
        #expect(r.byCampaign.map(\.key) == ["(none)", "q4"] && r.byCampaign.map(\.leads) == [5, 4] && r.byCampaign[1].won == eur)
        #expect(r.cohorts == [
            .init(key: "2026-W45", leads: 5, mql: 4, sal: 3, sql: 2, customer: 1, mqlRate: 0.8, customerRate: 0.2, won: eur),
            .init(key: "2026-W46", leads: 4, mql: 2, sal: 1, sql: 0, customer: 0, mqlRate: 0.5, customerRate: 0, won: []),
        ])
    }

    @Test("owners: assigned, accepted, time to accept, SLA breaches, customers")
    func owners() throws {
        let r = FunnelReport.make(try Self.history(), generatedAt: "x")
        #expect(r.owners == [
            .init(owner: "rep-ada", assigned: 4, accepted: 2, acceptRate: 0.5, medianTimeToAcceptS: 5400, p90TimeToAcceptS: 6840,
                  slaBreaches: 1, customers: 1),
            .init(owner: "rep-bo", assigned: 2, accepted: 2, acceptRate: 1, medianTimeToAcceptS: 25200, p90TimeToAcceptS: 33840,
                  slaBreaches: 0, customers: 0),
        ])
    }

    @Test("the window selects leads by capture time; the JSON has the documented field names")
    func windowAndJSON() throws {
        let r = FunnelReport.make(try Self.history(), since: Self.t0 + 168 * 3_600_000, generatedAt: "x")
        #expect(r.leads == 4 && r.stages.map(\.leads) == [4, 2, 2, 1, 0, 0])
        #expect(r.window.since == "2026-11-09T00:00:00.000Z" && r.window.until == nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try #require(try JSONSerialization.jsonObject(with: encoder.encode(r)) as? [String: Any])
        #expect(Set(json.keys) == ["generated_at", "window", "leads", "stages", "time_in_stage", "time_to_convert", "leakage",
                                   "by_source", "by_campaign", "cohorts", "owners"])
        let stage = try #require((json["stages"] as? [[String: Any]])?.first)
        #expect(Set(stage.keys).isSuperset(of: ["stage", "leads", "from_previous", "from_captured"]))
        let time = try #require((json["time_in_stage"] as? [[String: Any]])?.first)
        #expect(Set(time.keys).isSuperset(of: ["stage", "median_s", "p90_s"]))
    }

    @Test("ISO weeks at year boundaries")
    func isoWeeks() {
        func week(_ t: String) -> String { FunnelReport.isoWeek(Timestamp.milliseconds(t)!) }
        #expect(week("2026-11-02T00:00:00Z") == "2026-W45")
        #expect(week("2026-01-01T12:00:00Z") == "2026-W01")   // a Thursday
        #expect(week("2027-01-01T12:00:00Z") == "2026-W53")   // a Friday: week 53 of 2026
        #expect(week("2024-12-30T00:00:00Z") == "2025-W01")   // a Monday in 2025's first week
        #expect(week("2021-01-03T23:59:59Z") == "2020-W53")
    }
}
