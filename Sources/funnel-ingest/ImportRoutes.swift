import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import HTTPTypes
import Hummingbird

/// `POST /v1/imports`: a CSV file of leads (`text/csv`), read as it streams in, so its size is
/// not bounded by memory. The first record is the header; columns map to lead fields by name
/// (see `LeadImportColumns`), changed with `?map=Column:field,…`; `?source=` and `?campaign=`
/// fill rows that have none. Every row is validated like `POST /v1/leads`; good rows are sent in
/// batches while the body is still arriving, and the answer comes when every accepted row is
/// acknowledged by Kafka: 200 with a report (rows, accepted, rejected, per-row errors with the
/// line and column). With an `Idempotency-Key`, event ids derive from the key and the line, so
/// importing the same file again (after a 503, say) creates no duplicates downstream.
extension IngestRoutes {
    /// Rows per batch sent to Kafka; at most two batches are in flight.
    static let importBatch = 1000
    /// Per-row errors listed in the report (all are counted).
    static let importErrorsListed = 1000
    /// Bytes per import (`FUNNEL_MAX_IMPORT_BYTES`, default 1 GiB); more is a 413.
    var maxImportBytes: Int {
        context.environment.raw["FUNNEL_MAX_IMPORT_BYTES"].flatMap(Int.init).map { max(1, $0) } ?? 1 << 30
    }

    /// The import's report, also sent with a 4xx/5xx that stops it part-way.
    struct ImportReport {
        var rows = 0
        var accepted = 0
        var rejected = 0
        var errors: [[String: Any]] = []
        var columns: LeadImportColumns?

        /// Records one row's errors: the row counts once, however many errors it has.
        mutating func reject(line: Int, _ rowErrors: [FieldError]) {
            rejected += 1
            for error in rowErrors { list(line: line, field: error.field, reason: error.reason) }
        }

        private mutating func list(line: Int, field: String, reason: String) {
            guard errors.count < IngestRoutes.importErrorsListed else { return }
            var entry: [String: Any] = ["line": line, "field": field, "reason": reason]
            if let columns, let index = columns.targets.firstIndex(where: { $0 == field }) { entry["column"] = columns.header[index] }
            errors.append(entry)
        }

        var json: [String: Any] {
            var object: [String: Any] = ["rows": rows, "accepted": accepted, "rejected": rejected, "errors": errors,
                                         "errors_truncated": rejected > errors.count]
            if let columns {
                object["columns"] = Dictionary(zip(columns.header, columns.targets).compactMap { name, target in target.map { (name, $0) } },
                                               uniquingKeysWith: { first, _ in first })
                object["ignored_columns"] = columns.ignored
            }
            return object
        }
    }

    func importCSV(_ request: Request) async -> Response {
        let labels = ["endpoint": "imports"]
        let key: APIKeyEntry
        switch admit(request.headers, scope: .leadsWrite, labels: labels) {
        case .success(let entry): key = entry
        case .failure(let reply): return reply.response
        }
        func reject(_ status: HTTPResponse.Status, _ error: FieldError) -> Response {
            rejection(status, [error], labels: labels).response
        }
        guard Self.mediaType(request.headers) == "text/csv" else {
            return reject(.unsupportedMediaType, FieldError(field: "Content-Type", reason: "must be text/csv"))
        }
        let idempotencyKey: String?
        switch Self.idempotencyKey(request.headers) {
        case .success(let value): idempotencyKey = value
        case .failure(let error): return reject(.badRequest, error)
        }
        let query = Self.formQuery(request.uri.query ?? "")
        var overrides: [String: String] = [:]
        for pair in (query["map"] ?? "").split(separator: ",") {
            // Split at the last colon: a column name may contain one ("Q1: Budget"), a field never does.
            let colon = pair.lastIndex(of: ":")
            let parts = colon.map { [pair[..<$0], pair[pair.index(after: $0)...]] }?.map { String($0).trimmingCharacters(in: .whitespaces) } ?? [String(pair)]
            guard parts.count == 2, !parts[0].isEmpty else {
                return reject(.badRequest, FieldError(field: "map", reason: "must be COLUMN:field pairs separated by commas, got \"\(pair)\""))
            }
            overrides[parts[0]] = parts[1]
        }
        let defaults = (source: query["source"], campaign: query["campaign"])

        var report = ImportReport()
        var reader = CSVReader()
        var batch: [ProducerMessage] = []
        var inFlight: [(task: Task<Void, Error>, count: Int)] = []
        var bytes = 0
        let eventSource = "funnel-ingest/" + key.source
        let now = idempotencyKey.map { firstSeen.time(for: "import\u{0}\(key.source)\u{0}\($0)") } ?? Timestamp.format(Date())

        /// Awaits the oldest batch in flight; its rows count as accepted once acknowledged.
        func settleOldest() async throws {
            let oldest = inFlight.removeFirst()
            try await oldest.task.value
            report.accepted += oldest.count
        }
        func send() async throws {
            guard !batch.isEmpty else { return }
            let messages = batch
            let context = self.context
            inFlight.append((Task { try await Self.deliver(messages, context: context) }, messages.count))
            batch.removeAll(keepingCapacity: true)
            if inFlight.count > 1 { try await settleOldest() }
        }
        func take(_ record: CSVReader.Record) throws(FieldError) {
            guard let columns = report.columns else {
                if let error = record.error { throw FieldError(field: "header", reason: error) }
                report.columns = try LeadImportColumns(header: record.fields, overrides: overrides)
                return
            }
            report.rows += 1
            if let error = record.error { report.reject(line: record.line, [FieldError(field: "row", reason: error)]); return }
            switch Self.lead(from: record.fields, columns: columns, defaults: defaults, countries: countries, now: now) {
            case .failure(let errors):
                report.reject(line: record.line, errors.errors)
            case .success(let lead):
                // The row's content is part of the id: the same file re-sent gives the same ids, a
                // different file under a reused key does not collide with it.
                let eventID = idempotencyKey.map { EventID.derive(["import", key.source, $0, String(record.line)] + record.fields) } ?? EventID.random()
                let event = CloudEvent(id: eventID, source: eventSource, type: TopicCatalog.captured, time: now, subject: lead.leadID, data: lead)
                batch.append(ProducerMessage(topic: TopicCatalog.captured, key: lead.leadID, value: EventCoding.encode(event)))
            }
        }
        func finish(_ status: HTTPResponse.Status, _ error: FieldError? = nil) async -> Response {
            // Batches already handed to Kafka settle (within the delivery timeout) and count if acknowledged.
            for entry in inFlight where (try? await entry.task.value) != nil { report.accepted += entry.count }
            inFlight.removeAll()
            context.metrics.increment("funnel_import_rows_total", help: "Imported CSV rows by result.", labels: ["result": "accepted"], by: Double(report.accepted))
            context.metrics.increment("funnel_import_rows_total", help: "Imported CSV rows by result.", labels: ["result": "rejected"], by: Double(report.rejected))
            var object = report.json
            if let error { object["errors"] = [["field": error.field, "reason": error.reason]] + report.errors }
            var response = Self.json(status, object)
            if status == .serviceUnavailable { response.headers[.retryAfter] = "5" }
            return response
        }

        do {
            for try await chunk in request.body {
                bytes += chunk.readableBytes
                guard bytes <= maxImportBytes else {
                    try await send()
                    while !inFlight.isEmpty { try await settleOldest() }
                    return await finish(.contentTooLarge, FieldError(field: "", reason: "body larger than \(maxImportBytes) bytes; rows before the limit were imported"))
                }
                var failure: FieldError?
                chunk.withUnsafeReadableBytes { buffer in
                    reader.feed(buffer) { record in
                        guard failure == nil else { return }
                        do throws(FieldError) { try take(record) } catch { failure = error }
                    }
                }
                if let failure { return await finish(.badRequest, failure) }
                if batch.count >= Self.importBatch { try await send() }
            }
            var failure: FieldError?
            reader.finish { record in
                do throws(FieldError) { try take(record) } catch { failure = failure ?? error }
            }
            if let failure { return await finish(.badRequest, failure) }
            try await send()
            while !inFlight.isEmpty { try await settleOldest() }
        } catch let error as KafkaError where error.kind == .messageTooLarge {
            return await finish(.contentTooLarge, FieldError(field: "", reason: "an event is larger than Kafka accepts after \(report.accepted) accepted rows; shorten the fields"))
        } catch let error as KafkaError {
            context.logger.error("import stopped: events not acknowledged", metadata: ["error": "\(error)", "accepted": "\(report.accepted)"])
            let retry = idempotencyKey == nil ? "retrying sends every row again (send an Idempotency-Key to make a retry safe)"
                                              : "retry with the same Idempotency-Key"
            return await finish(.serviceUnavailable, FieldError(field: "", reason: "events not acknowledged by Kafka; \(retry)"))
        } catch {
            // The body stream failed: the client went away or sent a broken body.
            context.logger.warning("import stopped: request body ended early", metadata: ["error": "\(error)", "accepted": "\(report.accepted)"])
            return await finish(.badRequest, FieldError(field: "", reason: "the request body ended early"))
        }
        if report.columns == nil { return await finish(.badRequest, FieldError(field: "", reason: "empty file: a header line is required")) }
        if report.rows == 0 { return await finish(.badRequest, FieldError(field: "", reason: "no rows after the header")) }
        context.metrics.increment("funnel_produced_total", help: "Messages produced and acknowledged.", labels: ["topic": TopicCatalog.captured], by: Double(report.accepted))
        return await finish(report.accepted == 0 ? .badRequest : .ok)
    }

    /// Query parameters by name (the first value of a name wins).
    static func formQuery(_ query: String) -> [String: String] {
        var values: [String: String] = [:]
        for (name, value) in formPairs(query) where values[name] == nil { values[name] = value }
        return values
    }

    /// `application/x-www-form-urlencoded` pairs, as HTML forms send them (query strings and
    /// form bodies): `+` is a space, `%XX` a byte; a name without `=` has the value "".
    static func formPairs(_ text: String) -> [(name: String, value: String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                .map { $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
    }

    /// One row as a lead, validated like a `POST /v1/leads` item.
    static func lead(from fields: [String], columns: LeadImportColumns, defaults: (source: String?, campaign: String?),
                     countries: CountryNames, now: String) -> Result<LeadCaptured, FieldErrors> {
        let values: [String: String]
        let attributes: [String: String]
        switch columns.values(of: fields) {
        case .failure(let error): return .failure(FieldErrors([error]))
        case .success(let found): (values, attributes) = found
        }
        var request = LeadRequest()
        for (name, path) in LeadRequest.textFields { request[keyPath: path] = values[name] }
        request.source = request.source ?? defaults.source
        request.campaign = request.campaign ?? defaults.campaign
        request.attributes = attributes.isEmpty ? nil : attributes
        var errors: [FieldError] = []
        if let text = values["employees"] {
            if let whole = Double(text.trimmingCharacters(in: .whitespaces)).flatMap(WholeNumber.init(exactly:)) { request.employees = whole }
            else { errors.append(FieldError(field: "employees", reason: "must be a whole number")) }
        }
        if let text = values["consent_email"] {
            if let flag = LeadImportColumns.flag(text) { request.consent = LeadCaptured.Consent(email: flag) }
            else { errors.append(FieldError(field: "consent_email", reason: "must be yes/no, true/false or 1/0")) }
        }
        switch request.captured(now: now, countries: countries) {
        case .success(let lead): return errors.isEmpty ? .success(lead) : .failure(FieldErrors(errors))
        case .failure(let more): return .failure(FieldErrors(errors + more.errors))
        }
    }
}
