import Foundation

/// How the columns of an imported CSV file map to lead fields: by the header's names (common
/// spellings understood, e.g. `E-mail`, `Job Title`, `Company Size`), changed per import with
/// `Column:field` overrides. `attributes.NAME` (or an override to it) keeps a column as a custom
/// attribute; `-` ignores one. Other columns are ignored and reported.
public struct LeadImportColumns: Sendable, Equatable {
    /// The lead fields a column can fill (the names of `POST /v1/leads`).
    public static let fields = ["email", "first_name", "last_name", "job_title", "company", "company_domain", "employees",
                                "industry", "country", "phone", "source", "campaign", "consent_email"]

    /// Header spellings (lower-cased, `_`/`-`/spaces removed) of each field.
    static let aliases: [String: String] = {
        var map: [String: String] = [:]
        let spellings: [String: [String]] = [
            "email": ["email", "emailaddress", "mail", "workemail", "businessemail"],
            "first_name": ["firstname", "givenname", "forename", "first"],
            "last_name": ["lastname", "surname", "familyname", "last"],
            "job_title": ["jobtitle", "title", "position", "role"],
            "company": ["company", "companyname", "organization", "organisation", "account", "accountname"],
            "company_domain": ["companydomain", "domain", "website", "companywebsite"],
            "employees": ["employees", "companysize", "employeecount", "numberofemployees", "headcount"],
            "industry": ["industry", "sector"],
            "country": ["country", "countrycode"],
            "phone": ["phone", "phonenumber", "mobile", "telephone", "tel"],
            "source": ["source", "leadsource"],
            "campaign": ["campaign", "utmcampaign"],
            "consent_email": ["consentemail", "emailconsent", "emailoptin", "optin", "marketingconsent"],
        ]
        for (field, names) in spellings { for name in names { map[name] = field } }
        return map
    }()

    static func squeeze(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.filter { !" _-.\t".unicodeScalars.contains($0) })
    }

    /// Per column: the field it fills (`attributes.NAME` for an attribute), or nil when ignored.
    public let targets: [String?]
    /// Header names of the ignored columns, in file order.
    public var ignored: [String] { zip(header, targets).filter { $0.1 == nil }.map(\.0) }
    public let header: [String]

    /// - Parameters:
    ///   - header: the first record of the file.
    ///   - overrides: `column name → field` (or `attributes.NAME`, or `-` to ignore).
    public init(header: [String], overrides: [String: String] = [:]) throws(FieldError) {
        let names = header.map { $0.trimmingCharacters(in: .whitespaces) }
        for (column, target) in overrides.sorted(by: { $0.key < $1.key }) {
            guard names.contains(column) else { throw FieldError(field: "map", reason: "no column named \"\(column)\"") }
            guard target == "-" || Self.fields.contains(target) || Self.attributeName(target) != nil else {
                throw FieldError(field: "map", reason: "\"\(target)\" is not a lead field (\(Self.fields.joined(separator: ", ")), attributes.NAME or -)")
            }
        }
        var targets: [String?] = []
        for trimmed in names {
            if let target = overrides[trimmed] { targets.append(target == "-" ? nil : target) }
            else if Self.attributeName(trimmed) != nil { targets.append(trimmed) }
            else { targets.append(Self.aliases[Self.squeeze(trimmed)]) }
        }
        var seen: [String: String] = [:]
        for (name, target) in zip(header, targets) {
            guard let target else { continue }
            if let first = seen[target] { throw FieldError(field: "header", reason: "columns \"\(first)\" and \"\(name)\" both map to \(target)") }
            seen[target] = name
        }
        guard seen["email"] != nil || seen["phone"] != nil else {
            throw FieldError(field: "header", reason: "no e-mail or phone column (header: \(header.prefix(20).joined(separator: ", ")); map one with map=COLUMN:email)")
        }
        self.header = header
        self.targets = targets
    }

    static func attributeName(_ target: String) -> String? {
        guard target.hasPrefix("attributes."), target.count > "attributes.".count else { return nil }
        return String(target.dropFirst("attributes.".count))
    }

    /// A record's values by field, and its attributes; empty cells are left out.
    public func values(of fields: [String]) -> Result<(fields: [String: String], attributes: [String: String]), FieldError> {
        guard fields.count == header.count else {
            return .failure(FieldError(field: "row", reason: "has \(fields.count) fields, the header has \(header.count)"))
        }
        var values: [String: String] = [:]
        var attributes: [String: String] = [:]
        for (value, target) in zip(fields, targets) {
            // Blank cells (spaces and tabs only) are left out; a byte scan, not Foundation trimming, on this hot path.
            guard let target, value.utf8.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
            if let name = Self.attributeName(target) { attributes[name] = value } else { values[target] = value }
        }
        return .success((values, attributes))
    }

    /// `yes`/`no`, `true`/`false`, `1`/`0`, `y`/`n` (any case) as a consent flag.
    public static func flag(_ text: String) -> Bool? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "yes", "true", "1", "y": true
        case "no", "false", "0", "n": false
        default: nil
        }
    }
}
