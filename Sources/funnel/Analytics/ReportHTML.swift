import Foundation
import FunnelDomain

/// One self-contained HTML page for a ``FunnelReport``: no scripts from anywhere, no fonts, no
/// CDN; charts are inline SVG. Readable on a phone (one column, SVGs scale with the width) and
/// printable (no backgrounds needed, sections do not break across pages). `refresh` adds a
/// meta refresh for the live page of `--serve`.
enum ReportHTML {
    static func render(_ r: FunnelReport, refresh: Int? = nil) -> String {
        var body = ""
        body += "<header><h1>Funnel report</h1><p class=\"meta\">\(r.leads) leads"
        if let first = r.window.first, let last = r.window.last { body += " · events \(e(String(first.prefix(10)))) to \(e(String(last.prefix(10))))" }
        if r.window.since != nil || r.window.until != nil { body += " · window \(e(r.window.since ?? "…")) to \(e(r.window.until ?? "…"))" }
        body += " · generated \(e(r.generatedAt))</p></header>\n"
        body += section("funnel", "The funnel", funnelChart(r) + stageTable(r))
        body += section("conversion-by-source", "Conversion by source (first touch)", sourceChart(r.bySource) + breakdownTable("source", r.bySource))
        body += section("time-to-convert", "Time to convert", durationsTable("conversion", r.timeToConvert) + histograms(r.timeToConvert))
        body += section("time-in-stage", "Time in stage", durationsTable("stage", r.timeInStage) + histograms(r.timeInStage.filter { $0.count > 0 }))
        body += section("leakage", "Where leads leave", leakageChart(r.leakage) + leakageTable(r.leakage))
        body += section("cohorts", "Capture cohorts (ISO week)", cohortTable(r.cohorts))
        body += section("campaigns", "By campaign (first touch)", breakdownTable("campaign", r.byCampaign))
        body += section("owners", "Owners", ownerTable(r.owners))
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        \(refresh.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? "")
        <title>Funnel report · \(r.leads) leads</title>
        <style>\(css)</style></head>
        <body>\(body)<footer>Definitions: README, “Funnel report”. JSON: <code>funnel report --json</code>.</footer></body></html>

        """
    }

    static let css = """
    :root{--ink:#1d2330;--muted:#5b6475;--bar:#3563c9;--bar2:#94b0ec;--leak:#c9503a;--line:#d9dde5}
    *{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--ink);margin:0 auto;max-width:980px;padding:16px}
    h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
    .meta,footer{color:var(--muted);font-size:.9em}section{break-inside:avoid;page-break-inside:avoid}
    table{border-collapse:collapse;width:100%;margin:.6em 0;font-variant-numeric:tabular-nums}
    th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
    th:first-child,td:first-child,td.text{text-align:left;white-space:normal}
    .scroll{overflow-x:auto}svg{width:100%;height:auto;display:block}svg text{font:12px system-ui,sans-serif;fill:var(--ink)}
    .hist{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
    .hist figure{margin:0}.hist figcaption{font-size:.85em;color:var(--muted)}
    @media print{body{max-width:none;font-size:11pt}.scroll{overflow:visible}}
    """

    static func e(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func section(_ id: String, _ title: String, _ content: String) -> String {
        "<section id=\"\(id)\"><h2>\(e(title))</h2>\n\(content)</section>\n"
    }

    static func pct(_ v: Double?) -> String { ReportText.pct(v) }
    static func n(_ v: Double) -> String { String(format: "%.1f", v) }

    static func table(_ id: String, _ header: [String], _ rows: [[String]], textColumns: Set<Int> = [0]) -> String {
        guard !rows.isEmpty else { return "<p class=\"meta\">none</p>\n" }
        var t = "<div class=\"scroll\"><table id=\"\(id)\"><thead><tr>" + header.map { "<th>\(e($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in rows {
            t += "<tr>" + row.enumerated().map { c, cell in textColumns.contains(c) && c > 0 ? "<td class=\"text\">\(e(cell))</td>" : "<td>\(e(cell))</td>" }.joined() + "</tr>\n"
        }
        return t + "</tbody></table></div>\n"
    }

    // MARK: Charts

    /// Horizontal bars: one per stage, the width its share of the captured leads.
    static func funnelChart(_ r: FunnelReport) -> String {
        let top = Double(max(r.stages.first?.leads ?? 0, 1))
        let rowHeight = 34.0, labelWidth = 110.0, width = 640.0
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(rowHeight * Double(r.stages.count) + 8))\" role=\"img\" aria-label=\"The funnel: leads per stage\">"
        for (i, s) in r.stages.enumerated() {
            let y = Double(i) * rowHeight + 4
            let w = max(1, (width - labelWidth - 150) * Double(s.leads) / top)
            let x = labelWidth + (width - labelWidth - 150 - w) / 2
            svg += "<text x=\"0\" y=\"\(n(y + 20))\">\(e(s.stage.rawValue))</text>"
            svg += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(w))\" height=\"\(Int(rowHeight - 8))\" fill=\"var(--bar)\" rx=\"3\"/>"
            svg += "<text x=\"\(n(width - 145))\" y=\"\(n(y + 20))\">\(s.leads) · \(e(pct(s.fromPrevious)))</text>"
        }
        return svg + "</svg>\n"
    }

    static func stageTable(_ r: FunnelReport) -> String {
        table("stages", ["stage", "reached", "of previous", "of captured", "in order", "of previous (in order)", "of captured (in order)"],
              r.stages.map { [$0.stage.rawValue, "\($0.leads)", pct($0.fromPrevious), pct($0.fromCaptured), "\($0.leadsInOrder)",
                              pct($0.inOrderFromPrevious), pct($0.inOrderFromCaptured)] })
    }

    /// Paired bars per source: the MQL rate and the won rate.
    static func sourceChart(_ rows: [FunnelReport.Breakdown]) -> String {
        let shown = Array(rows.prefix(12))
        guard !shown.isEmpty else { return "" }
        let rowHeight = 30.0, labelWidth = 130.0, width = 640.0, barArea = width - labelWidth - 70
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(rowHeight * Double(shown.count) + 24))\" role=\"img\" aria-label=\"MQL and won rate by source\">"
        svg += "<rect x=\"\(Int(labelWidth))\" y=\"2\" width=\"10\" height=\"10\" fill=\"var(--bar)\"/><text x=\"\(Int(labelWidth) + 14)\" y=\"11\">mql rate</text>"
        svg += "<rect x=\"\(Int(labelWidth) + 90)\" y=\"2\" width=\"10\" height=\"10\" fill=\"var(--bar2)\"/><text x=\"\(Int(labelWidth) + 104)\" y=\"11\">won rate</text>"
        for (i, row) in shown.enumerated() {
            let y = Double(i) * rowHeight + 20
            let mql = row.mqlRate ?? 0, won = row.customerRate ?? 0
            svg += "<text x=\"0\" y=\"\(n(y + 17))\">\(e(String(row.key.prefix(18))))</text>"
            svg += "<rect x=\"\(Int(labelWidth))\" y=\"\(n(y + 3))\" width=\"\(n(max(1, barArea * mql)))\" height=\"10\" fill=\"var(--bar)\"/>"
            svg += "<rect x=\"\(Int(labelWidth))\" y=\"\(n(y + 14))\" width=\"\(n(max(1, barArea * won)))\" height=\"10\" fill=\"var(--bar2)\"/>"
            svg += "<text x=\"\(n(labelWidth + barArea * mql + 4))\" y=\"\(n(y + 12))\">\(e(pct(row.mqlRate)))</text>"
        }
        return svg + "</svg>\n"
    }

    static func breakdownTable(_ name: String, _ rows: [FunnelReport.Breakdown]) -> String {
        table("by-\(name)", [name, "leads", "mql", "sal", "sql", "customer", "mql rate", "won rate", "revenue won"],
              rows.prefix(50).map { [$0.key, "\($0.leads)", "\($0.mql)", "\($0.sal)", "\($0.sql)", "\($0.customer)", pct($0.mqlRate),
                                     pct($0.customerRate), ReportText.money($0.won)] })
    }

    static func durationsTable(_ name: String, _ rows: [FunnelReport.Durations]) -> String {
        table("\(name)-durations", [name, "count", "median", "p90"],
              rows.map { [$0.stage, "\($0.count)", ReportText.duration($0.medianS), ReportText.duration($0.p90S)] })
    }

    /// Axis labels of the duration buckets (``FunnelReport/bucketEdges``), short enough for a phone.
    static let shortLabels = ["1m", "10m", "1h", "6h", "1d", "3d", "7d", "30d", ">30d"]

    /// One small bar chart per row: how many durations fall in each bucket.
    static func histograms(_ rows: [FunnelReport.Durations]) -> String {
        var html = "<div class=\"hist\">"
        for row in rows where row.count > 0 {
            let top = Double(max(row.histogram.map(\.count).max() ?? 1, 1))
            let width = 300.0, height = 120.0, barWidth = width / Double(row.histogram.count)
            var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height + 30))\" role=\"img\" aria-label=\"\(e(row.stage)) distribution\">"
            for (i, b) in row.histogram.enumerated() {
                let h = height * Double(b.count) / top
                let x = Double(i) * barWidth
                svg += "<rect x=\"\(n(x + 2))\" y=\"\(n(height - h))\" width=\"\(n(barWidth - 4))\" height=\"\(n(h))\" fill=\"var(--bar)\"><title>\(e(b.label)): \(b.count)</title></rect>"
                if b.count > 0 { svg += "<text x=\"\(n(x + barWidth / 2))\" y=\"\(n(max(12, height - h - 3)))\" text-anchor=\"middle\">\(b.count)</text>" }
                svg += "<text x=\"\(n(x + barWidth / 2))\" y=\"\(n(height + 14))\" text-anchor=\"middle\" font-size=\"9\">\(i < shortLabels.count ? shortLabels[i] : "")</text>"
            }
            svg += "</svg>"
            html += "<figure>\(svg)<figcaption>\(e(row.stage)): \(row.count), median \(ReportText.duration(row.medianS)), p90 \(ReportText.duration(row.p90S))</figcaption></figure>"
        }
        return html + "</div>\n"
    }

    static func leakageChart(_ rows: [FunnelReport.LeakageRow]) -> String {
        let shown = Array(rows.prefix(10))
        guard let top = shown.map(\.leads).max(), top > 0 else { return "" }
        let rowHeight = 26.0, width = 640.0, labelWidth = 300.0
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(rowHeight * Double(shown.count) + 6))\" role=\"img\" aria-label=\"Leakage reasons\">"
        for (i, row) in shown.enumerated() {
            let y = Double(i) * rowHeight + 3
            let w = max(1, (width - labelWidth - 50) * Double(row.leads) / Double(top))
            svg += "<text x=\"0\" y=\"\(n(y + 15))\">\(e(row.to)): \(e(String(row.reason.prefix(40))))</text>"
            svg += "<rect x=\"\(Int(labelWidth))\" y=\"\(n(y + 3))\" width=\"\(n(w))\" height=\"16\" fill=\"var(--leak)\"/>"
            svg += "<text x=\"\(n(labelWidth + w + 4))\" y=\"\(n(y + 15))\">\(row.leads)</text>"
        }
        return svg + "</svg>\n"
    }

    static func leakageTable(_ rows: [FunnelReport.LeakageRow]) -> String {
        table("leakage-table", ["to", "from", "reason", "leads", "share of captured"],
              rows.prefix(50).map { [$0.to, $0.from ?? "-", $0.reason, "\($0.leads)", pct($0.share)] }, textColumns: [0, 1, 2])
    }

    /// The cohort table, each rate cell shaded by its value.
    static func cohortTable(_ rows: [FunnelReport.Breakdown]) -> String {
        guard !rows.isEmpty else { return "<p class=\"meta\">none</p>\n" }
        func shade(_ v: Double?) -> String {
            guard let v else { return "<td>-</td>" }
            return "<td style=\"background:rgba(53,99,201,\(String(format: "%.2f", min(1, v) * 0.6)))\">\(e(pct(v)))</td>"
        }
        var t = "<div class=\"scroll\"><table id=\"cohort-table\"><thead><tr><th>week</th><th>leads</th><th>mql</th><th>sal</th><th>sql</th><th>customer</th><th>mql rate</th><th>won rate</th><th>revenue won</th></tr></thead><tbody>\n"
        for r in rows {
            t += "<tr><td>\(e(r.key))</td><td>\(r.leads)</td><td>\(r.mql)</td><td>\(r.sal)</td><td>\(r.sql)</td><td>\(r.customer)</td>"
            t += shade(r.mqlRate) + shade(r.customerRate) + "<td>\(e(ReportText.money(r.won)))</td></tr>\n"
        }
        return t + "</tbody></table></div>\n"
    }

    static func ownerTable(_ rows: [FunnelReport.OwnerRow]) -> String {
        table("owner-table", ["owner", "assigned", "accepted", "accept rate", "time to accept (median)", "p90", "SLA breaches", "customers"],
              rows.map { [$0.owner, "\($0.assigned)", "\($0.accepted)", pct($0.acceptRate), ReportText.duration($0.medianTimeToAcceptS),
                          ReportText.duration($0.p90TimeToAcceptS), "\($0.slaBreaches)", "\($0.customers)"] })
    }
}
