import ArgumentParser
import Crypto
import Foundation
import FunnelRuntime
import FunnelDevKit

/// `funnel import FILE.csv`: streams a CSV file of leads to funnel-ingest's `POST /v1/imports`
/// with a progress bar, retries on 503/429 under the same Idempotency-Key (so a retry never
/// duplicates a lead), and prints the report: rows, accepted, rejected, the first errors.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import leads from a CSV file through funnel-ingest, with progress and a summary.",
        discussion: """
            The first line is the header. Columns map to lead fields by name (email, first_name, last_name, \
            job_title, company, company_domain, employees, industry, country, phone, source, campaign, \
            consent_email; common spellings such as "E-mail" or "Job Title" are understood; attributes.NAME \
            keeps a custom attribute). Exit status: 0 all rows imported, 2 some rows rejected, 1 failed.
            """)

    @Argument(help: "The CSV file (UTF-8).") var file: String
    @Option(help: "funnel-ingest's base URL (plain HTTP; or FUNNEL_INGEST_URL).") var url: String?
    @Option(help: "API key with leads:write (or FUNNEL_API_KEY).") var key: String?
    @Option(name: .customLong("map"), help: "COLUMN:field, e.g. \"Work Email:email\" or \"Plan:attributes.plan\" or \"Notes:-\" (repeatable).")
    var maps: [String] = []
    @Option(help: "Lead source for rows without one.") var source: String?
    @Option(help: "Campaign for rows without one.") var campaign: String?
    @Option(help: "Idempotency-Key (default: derived from the file's content and these options, so importing the same file twice adds nothing).")
    var idempotencyKey: String?
    @Option(help: "Retries after 503 or 429.") var retries = 5
    @Option(help: "Rejected rows to list.") var showErrors = 20
    @Flag(help: "Print the server's report as JSON instead of the summary.") var json = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let key = key ?? environment["FUNNEL_API_KEY"], !key.isEmpty else {
            throw ValidationError("an API key with leads:write is needed: --key KEY or FUNNEL_API_KEY (create one with `funnel keys create --source NAME --scope leads:write`)")
        }
        let base = url ?? environment["FUNNEL_INGEST_URL"] ?? "http://127.0.0.1:8080"
        guard let components = URLComponents(string: base), let host = components.host, !host.isEmpty else {
            throw ValidationError("--url: not a URL: \(base)")
        }
        guard components.scheme == "http" else {
            throw ValidationError("--url: funnel import speaks plain HTTP; through TLS use curl: curl --data-binary @\(file) -H 'Content-Type: text/csv' -H 'Authorization: Bearer $KEY' \(base)/v1/imports")
        }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file), let size = (attributes[.size] as? NSNumber)?.int64Value else {
            throw ValidationError("cannot read \(file)")
        }
        var query: [URLQueryItem] = []
        if !maps.isEmpty { query.append(URLQueryItem(name: "map", value: maps.joined(separator: ","))) }
        if let source { query.append(URLQueryItem(name: "source", value: source)) }
        if let campaign { query.append(URLQueryItem(name: "campaign", value: campaign)) }
        var path = URLComponents()
        path.path = (components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path) + "/v1/imports"
        path.queryItems = query.isEmpty ? nil : query
        // funnel-ingest reads `+` in a query as a space (as forms send it): a literal plus is %2B.
        path.percentEncodedQuery = path.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        let idempotency = try idempotencyKey ?? Self.contentKey(file: file, options: path.string ?? "")

        let progress = ProgressBar(total: size, label: (file as NSString).lastPathComponent)
        let start = ContinuousClock.now
        var attempt = 0
        var reply: (status: Int, headers: [String: String], body: String)
        while true {
            attempt += 1
            progress.restart()
            let wait: Int
            do {
                reply = try await HTTPProbe.upload(host: host, port: components.port ?? 80, path: path.string ?? "/v1/imports",
                                                   headers: ["Content-Type": "text/csv", "Authorization": "Bearer \(key)", "Idempotency-Key": idempotency],
                                                   file: file, progress: { progress.update($0) })
                progress.end()
                guard reply.status == 503 || reply.status == 429, attempt <= retries else { break }
                wait = Int(reply.headers["retry-after"] ?? "") ?? 5
                FileHandle.standardError.write(Data("funnel import: \(reply.status) from funnel-ingest; retrying in \(wait) s (attempt \(attempt + 1) of \(retries + 1), same Idempotency-Key)\n".utf8))
            } catch {
                // A refused or broken connection (an ingest restart, say): the same key makes a retry safe.
                progress.end()
                guard attempt <= retries else { throw error }
                wait = min(30, 1 << attempt)
                FileHandle.standardError.write(Data("funnel import: \(error); retrying in \(wait) s (attempt \(attempt + 1) of \(retries + 1), same Idempotency-Key)\n".utf8))
            }
            try await Task.sleep(for: .seconds(wait))
        }
        let elapsed = (ContinuousClock.now - start).seconds
        if json { print(reply.body); throw ExitCode(Self.exitStatus(reply)) }
        guard let report = (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8))) as? [String: Any] else {
            throw ValidationError("funnel-ingest answered \(reply.status) without a report: \(reply.body.prefix(300))")
        }
        print(Self.summary(report, status: reply.status, file: file, elapsed: elapsed, showErrors: showErrors))
        throw ExitCode(Self.exitStatus(reply))
    }

    static func exitStatus(_ reply: (status: Int, headers: [String: String], body: String)) -> Int32 {
        guard reply.status == 200 else { return 1 }
        let report = (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8))) as? [String: Any]
        return (report?["rejected"] as? Int ?? 0) > 0 ? 2 : 0
    }

    /// A key that is the same for the same file content and options.
    static func contentKey(file: String, options: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw ValidationError("cannot read \(file)") }
        defer { try? handle.close() }
        var hash = SHA256()
        hash.update(data: Data(options.utf8))
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
        return "import-" + hash.finalize().prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    static func summary(_ report: [String: Any], status: Int, file: String, elapsed: Double, showErrors: Int) -> String {
        let rows = report["rows"] as? Int ?? 0, accepted = report["accepted"] as? Int ?? 0, rejected = report["rejected"] as? Int ?? 0
        var lines: [String] = []
        let verdict = status == 200 ? "imported" : "import stopped (HTTP \(status))"
        lines.append(String(format: "%@ %@: %@ rows, %@ accepted, %@ rejected in %.1f s (%@ rows/s)", verdict, file,
                            group(rows), group(accepted), group(rejected), elapsed, group(Int(Double(rows) / max(elapsed, 0.001)))))
        if let columns = report["columns"] as? [String: String], !columns.isEmpty {
            lines.append("columns: " + columns.sorted { $0.key < $1.key }.map { "\($0.key) → \($0.value)" }.joined(separator: ", "))
        }
        if let ignored = report["ignored_columns"] as? [String], !ignored.isEmpty { lines.append("ignored columns: " + ignored.joined(separator: ", ")) }
        let errors = report["errors"] as? [[String: Any]] ?? []
        if !errors.isEmpty {
            lines.append(errors.count > showErrors || report["errors_truncated"] as? Bool == true ? "first errors:" : "errors:")
            for error in errors.prefix(showErrors) {
                var place = (error["line"] as? Int).map { "line \($0)" } ?? "file"
                if let column = error["column"] as? String { place += ", column \"\(column)\"" }
                let field = (error["field"] as? String).map { $0.isEmpty ? "" : " (\($0))" } ?? ""
                lines.append("  \(place)\(field): \(error["reason"] as? String ?? "?")")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func group(_ n: Int) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.groupingSeparator = ","
        return formatter.string(from: NSNumber(value: n)) ?? String(n)
    }
}

/// A progress bar on stderr (a line every 10 % when stderr is not a terminal).
final class ProgressBar: Sendable {
    let total: Int64
    let label: String
    let terminal = isatty(2) == 1
    private let state = Locked((start: ContinuousClock.now, lastDraw: ContinuousClock.now - .seconds(1), lastTenth: -1))

    init(total: Int64, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    func restart() { state.withLock { $0 = (ContinuousClock.now, ContinuousClock.now - .seconds(1), -1) } }

    func update(_ sent: Int64) {
        let line: String? = state.withLock { s in
            let now = ContinuousClock.now
            let fraction = Double(sent) / Double(total)
            let tenth = Int(fraction * 10)
            if terminal { guard now - s.lastDraw >= .milliseconds(100) || sent == total else { return nil } }
            else { guard tenth > s.lastTenth else { return nil } }
            s.lastDraw = now
            s.lastTenth = tenth
            let elapsed = (now - s.start).seconds
            let rate = Double(sent) / max(elapsed, 0.001) / 1_048_576
            let eta = rate > 0 ? Double(total - sent) / 1_048_576 / rate : 0
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            return String(format: "%@ [%@] %3.0f%% %.1f/%.1f MiB %.1f MiB/s eta %.0f s", label, bar, fraction * 100,
                          Double(sent) / 1_048_576, Double(total) / 1_048_576, rate, eta)
        }
        guard let line else { return }
        FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    /// Ends the bar's line; the server is then still acknowledging the last rows.
    func end() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
