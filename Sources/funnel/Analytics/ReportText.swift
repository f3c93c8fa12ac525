import Foundation
import FunnelDomain

/// The terminal form of a ``FunnelReport``: aligned tables, one section per question.
enum ReportText {
    static func render(_ r: FunnelReport) -> String {
        var out = "Funnel report — \(r.leads) leads"
        out += r.window.first.map { " first seen \($0.prefix(10))" } ?? ""
        out += r.window.last.map { " … \($0.prefix(10))" } ?? ""
        if r.window.since != nil || r.window.until != nil {
            out += " (window: \(r.window.since ?? "…") to \(r.window.until ?? "…"))"
        }
        out += "\n\n"
        out += table("Stages (reached: any order; in order: captured → identified → mql → sal → sql → customer)",
                     ["stage", "reached", "of previous", "of captured", "in order", "of previous", "of captured"],
                     r.stages.map { [$0.stage.rawValue, "\($0.leads)", pct($0.fromPrevious), pct($0.fromCaptured),
                                     "\($0.leadsInOrder)", pct($0.inOrderFromPrevious), pct($0.inOrderFromCaptured)] })
        out += table("Time to convert", ["conversion", "leads", "median", "p90"],
                     r.timeToConvert.map { [$0.stage, "\($0.count)", duration($0.medianS), duration($0.p90S)] })
        out += table("Time in stage (visits that ended)", ["stage", "visits", "median", "p90"],
                     r.timeInStage.map { [$0.stage, "\($0.count)", duration($0.medianS), duration($0.p90S)] })
        out += table("Leakage: where leads leave", ["to", "from", "reason", "leads", "share"],
                     r.leakage.prefix(15).map { [$0.to, $0.from ?? "-", $0.reason, "\($0.leads)", pct($0.share)] })
        out += breakdown("By source (first touch)", "source", r.bySource)
        out += breakdown("By campaign (first touch)", "campaign", r.byCampaign)
        out += breakdown("Capture cohorts (ISO week)", "week", r.cohorts)
        out += table("Owners", ["owner", "assigned", "accepted", "rate", "time to accept (median)", "p90", "SLA breaches", "customers"],
                     r.owners.map { [$0.owner, "\($0.assigned)", "\($0.accepted)", pct($0.acceptRate), duration($0.medianTimeToAcceptS),
                                     duration($0.p90TimeToAcceptS), "\($0.slaBreaches)", "\($0.customers)"] })
        return out
    }

    static func breakdown(_ title: String, _ name: String, _ rows: [FunnelReport.Breakdown]) -> String {
        let shown = rows.prefix(20)
        var text = table(title, [name, "leads", "mql", "sal", "sql", "customer", "mql rate", "won rate", "revenue won"],
                         shown.map { [$0.key, "\($0.leads)", "\($0.mql)", "\($0.sal)", "\($0.sql)", "\($0.customer)",
                                      pct($0.mqlRate), pct($0.customerRate), money($0.won)] })
        if rows.count > shown.count { text.insert(contentsOf: "  … and \(rows.count - shown.count) more (see --json)\n", at: text.index(before: text.endIndex)) }
        return text
    }

    static func table(_ title: String, _ header: [String], _ rows: [[String]]) -> String {
        guard !rows.isEmpty else { return "\(title): none\n\n" }
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            "  " + cells.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c == 0 || c == 2 && header[c] == "reason" ? cell + pad : pad + cell
            }.joined(separator: "  ") + "\n"
        }
        return title + "\n" + line(header) + rows.map(line).joined() + "\n"
    }

    static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f %%", 100 * $0) } ?? "-" }

    static func money(_ won: [FunnelReport.Money]) -> String {
        won.isEmpty ? "-" : won.map { String(format: "%.0f", $0.amount) + " " + $0.currency }.joined(separator: ", ")
    }

    /// 42 s, 7.5 min, 3.2 h, 4.1 days.
    static func duration(_ s: Double?) -> String {
        guard let s else { return "-" }
        switch s {
        case ..<60: return String(format: "%.0f s", s)
        case ..<3_600: return String(format: "%.1f min", s / 60)
        case ..<86_400: return String(format: "%.1f h", s / 3_600)
        default: return String(format: "%.1f days", s / 86_400)
        }
    }
}
