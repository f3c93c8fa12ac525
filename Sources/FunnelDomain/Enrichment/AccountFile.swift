/// Reads the accounts file (`deploy/data/accounts.csv`): a header with the columns `id`, `name`,
/// `domains`, `owner`, `tier`, `industry`, `employees` (any order, each once; others are
/// errors), then one account a row, RFC 4180 quoting (``CSVReader``). `domains` holds one or
/// more domains separated by spaces, `;` or `,` (quote the field for commas). Every problem is a
/// `file:line: column: reason` error, so a bad edit stops funnel-enrich at start.
public enum AccountFile {
    public static let columns = ["id", "name", "domains", "owner", "tier", "industry", "employees"]

    public static func parse(_ text: String, file: String) throws(ConfigFileError) -> [Account] {
        var records: [CSVReader.Record] = []
        var reader = CSVReader()
        reader.feed(text.utf8) { records.append($0) }
        reader.finish { records.append($0) }
        guard let header = records.first else {
            throw ConfigFileError(file: file, line: nil, path: "", reason: "the file is empty (it needs the header \(columns.joined(separator: ",")))")
        }
        if let error = header.error { throw ConfigFileError(file: file, line: header.line, path: "", reason: error) }
        var position: [String: Int] = [:]
        for (i, raw) in header.fields.enumerated() {
            let name = raw.trimmingWhitespace.lowercased()
            guard columns.contains(name) else {
                throw ConfigFileError(file: file, line: header.line, path: "", reason: "unknown column '\(raw)' (columns: \(columns.joined(separator: ", ")))")
            }
            guard position[name] == nil else { throw ConfigFileError(file: file, line: header.line, path: "", reason: "column '\(name)' twice") }
            position[name] = i
        }
        for required in ["id", "name", "domains"] where position[required] == nil {
            throw ConfigFileError(file: file, line: header.line, path: "", reason: "the header has no '\(required)' column")
        }
        var accounts: [Account] = []
        var ids: [String: Int] = [:]
        var domainLines: [String: Int] = [:]
        for record in records.dropFirst() {
            func fail(_ column: String, _ reason: String) -> ConfigFileError {
                ConfigFileError(file: file, line: record.line, path: column, reason: reason)
            }
            if let error = record.error { throw fail("", error) }
            guard record.fields.count == header.fields.count else {
                throw fail("", "expected \(header.fields.count) columns, found \(record.fields.count)")
            }
            func value(_ column: String) -> String? {
                guard let i = position[column] else { return nil }
                let text = record.fields[i].trimmingWhitespace
                return text.isEmpty ? nil : text
            }
            guard let id = value("id") else { throw fail("id", "must not be empty") }
            if let first = ids[id] { throw fail("id", "'\(id)' is used on line \(first) already") }
            ids[id] = record.line
            guard let name = value("name") else { throw fail("name", "must not be empty") }
            if let problem = Account.nameProblem(name) { throw fail("name", problem) }
            var domains: [String] = []
            for entry in (value("domains") ?? "").split(whereSeparator: { $0 == " " || $0 == ";" || $0 == "," }) {
                let domain = entry.lowercased()
                if let problem = ReferenceList.domainProblem(domain) { throw fail("domains", problem) }
                if let first = domainLines[domain] { throw fail("domains", "'\(domain)' belongs to the account on line \(first) already") }
                domainLines[domain] = record.line
                domains.append(domain)
            }
            var employees: Int?
            if let text = value("employees") {
                guard let n = Int(text), n >= 0 else { throw fail("employees", "'\(text)' is not a whole number >= 0") }
                employees = n
            }
            accounts.append(Account(id: id, name: name, domains: domains, owner: value("owner"), tier: value("tier")?.lowercased(),
                                    industry: value("industry")?.lowercased(), employees: employees))
        }
        return accounts
    }
}
