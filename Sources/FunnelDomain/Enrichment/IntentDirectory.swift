/// Organisations that make a lead something other than a buyer, by domain and by company name
/// (`deploy/data/competitors.txt`, `analyst-firms.txt`, `partners.txt`; see ``IntentList``).
public struct IntentDirectory: Sendable {
    public var competitors: IntentList
    public var analystFirms: IntentList
    public var partners: IntentList

    public init(competitors: IntentList = IntentList(), analystFirms: IntentList = IntentList(),
                partners: IntentList = IntentList()) {
        self.competitors = competitors
        self.analystFirms = analystFirms
        self.partners = partners
    }

    /// The three lists as `deploy/data/` holds them: `read` returns a file's text by name;
    /// errors name `directory + file:line` (funnel-enrich passes `data/`).
    public static func load(directory: String = "", read: (String) throws -> String) throws -> IntentDirectory {
        func list(_ name: String) throws -> IntentList { try IntentList.parse(read(name), file: directory + name) }
        return IntentDirectory(competitors: try list("competitors.txt"), analystFirms: try list("analyst-firms.txt"),
                               partners: try list("partners.txt"))
    }
}

/// One list of organisations: registrable domains (a listed domain covers its subdomains) and
/// company names, compared in their normalised form (``CompanyName``: `Rival Funnel, Inc.` is
/// `Rival Funnel`).
public struct IntentList: Sendable, Equatable {
    public var domains: Set<String>
    /// Normalised names (``CompanyName/key``) → the name as listed.
    public var names: [String: String]

    public init(domains: Set<String> = [], names: [String] = []) {
        self.domains = domains
        self.names = [:]
        for name in names { self.names[CompanyName(name).key] = self.names[CompanyName(name).key] ?? name }
    }

    /// The listed domain `domain` is or is under, if any.
    public func domain(covering domain: String) -> String? {
        var rest = Substring(domain)
        while let dot = rest.firstIndex(of: ".") {
            if domains.contains(String(rest)) { return String(rest) }
            rest = rest[rest.index(after: dot)...]
        }
        return nil
    }

    /// The listed name `company` normalises to, if any.
    public func name(matching company: CompanyName) -> String? {
        company.key.isEmpty ? nil : names[company.key]
    }

    /// Reads a list: one entry a line, a domain (`rivalfunnel.example`) or a company name after
    /// `name:` (`name: Rival Funnel`); blank lines and `#` comments are ignored. A malformed
    /// line is a `file:line: reason` error.
    public static func parse(_ text: String, file: String) throws(ConfigFileError) -> IntentList {
        var domainLines: [String] = []
        var names: [String] = []
        var lineNumber = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }) {
            lineNumber += 1
            let line = raw.trimmingWhitespaceSubstring
            if line.isEmpty || line.hasPrefix("#") {
                domainLines.append("")
                continue
            }
            if line.lowercased().hasPrefix("name:") {
                let name = line.dropFirst(5).trimmingWhitespaceSubstring
                guard !name.isEmpty else { throw ConfigFileError(file: file, line: lineNumber, path: "", reason: "'name:' without a name") }
                guard name.count <= 200 else { throw ConfigFileError(file: file, line: lineNumber, path: "", reason: "a name is at most 200 characters") }
                guard !CompanyName(String(name)).key.isEmpty else {
                    throw ConfigFileError(file: file, line: lineNumber, path: "", reason: "'\(name)' has nothing left once legal suffixes and punctuation are removed")
                }
                names.append(String(name))
                domainLines.append("")
            } else {
                domainLines.append(String(line))
            }
        }
        // The domain lines keep their line numbers (the others are blank), so errors name the right line.
        let domains = try ReferenceList.domains(domainLines.joined(separator: "\n"), file: file)
        return IntentList(domains: domains, names: names)
    }
}
