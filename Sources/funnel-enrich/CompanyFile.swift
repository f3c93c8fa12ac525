import FunnelDomain
import FunnelRuntime

/// Reads the firmographic CSV (`domain,name,employees,industry,country,owner`).
public enum CompanyFile {
    public static func parse(_ text: String) throws -> [CompanyInfo] {
        var rows = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) } }
        guard let header = rows.first, header.first == "domain" else { throw ConfigError("companies.csv: first line must be the header starting with 'domain'") }
        rows.removeFirst()
        return try rows.enumerated().compactMap { index, row in
            if row.count == 1 && row[0].isEmpty { return nil }
            guard row.count == 6 else { throw ConfigError("companies.csv line \(index + 2): expected 6 columns, got \(row.count)") }
            func opt(_ s: String) -> String? { s.isEmpty ? nil : s }
            return CompanyInfo(domain: row[0].lowercased(), name: opt(row[1]), employees: Int(row[2]), industry: opt(row[3]),
                               country: opt(row[4]), owner: opt(row[5]))
        }
    }
}

import Foundation
