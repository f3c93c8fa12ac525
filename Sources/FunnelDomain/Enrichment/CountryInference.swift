/// How enrichment found a lead's country (`country_source` of `funnel.lead.enriched.v1`).
public enum CountrySource: String, Codable, Sendable, CaseIterable {
    /// The lead came with it (the form, the API call or the import).
    case given
    /// From the phone number's international calling code (``Normalise/country(fromPhone:)``).
    case phone
    /// From company data: the operator's company file or a provider's company record.
    case company
    /// From the country-code top-level domain of the company's domain or a corporate e-mail
    /// address (``CountryFromDomain``).
    case domain
}

/// A country from a domain's country-code top-level domain: `acme.de` → DE, `acme.co.uk` → GB
/// (`uk` is the United Kingdom's ccTLD, though its ISO code is GB). One dictionary probe on the
/// last label; generic TLDs (`com`, `org`) and ``genericUseCCTLDs`` give nothing.
public enum CountryFromDomain {
    /// ccTLDs sold and used worldwide for what the letters spell, not for the country: `io`
    /// (tech), `co` (company), `ai`, `me`, `tv`, `fm`, `gg` (gaming), `ly` (bit.ly), … A domain
    /// under one says nothing about where the company is. Google's list of generic ccTLDs
    /// (ad as bz cc cd co dj fm io la me ms nu sc sr tv ws) plus others used the same way.
    public static let genericUseCCTLDs: Set<String> = [
        "ac", "ad", "ag", "ai", "as", "bz", "cc", "cd", "cf", "co", "cx", "dj", "fm", "ga", "gg", "gq", "im", "io",
        "la", "ly", "md", "me", "ml", "ms", "nu", "pw", "sc", "sh", "so", "sr", "st", "tk", "to", "tv", "vc", "vg", "ws",
    ]

    /// Lower-case ccTLD → ISO 3166-1 alpha-2 code, without the generic-use ones.
    static let byTLD: [String: String] = {
        var map: [String: String] = ["uk": "GB"]
        for code in ISO3166.all {
            let tld = code.lowercased()
            if !genericUseCCTLDs.contains(tld) { map[tld] = code }
        }
        return map
    }()

    /// The country of a lower-case domain's ccTLD, or nil (a generic TLD, a generic-use ccTLD,
    /// no dot).
    public static func country(of domain: String) -> String? {
        guard let dot = domain.utf8.lastIndex(of: UInt8(ascii: ".")) else { return nil }
        let tld = domain.utf8[domain.utf8.index(after: dot)...]
        guard tld.count == 2 else { return nil }
        return byTLD[String(Substring(tld))]
    }
}
