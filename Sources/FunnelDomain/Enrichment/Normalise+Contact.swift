extension Normalise {
    /// The countries (ISO 3166-1 alpha-2) an E.164 number's calling code belongs to, or nil when
    /// the number is not international or its code is not one Funnel knows. `+1` is split by
    /// area code: Canada's are `CA`, the Caribbean's are unknown (nil), the rest `US`.
    public static func countries(forPhone phone: String) -> Set<String>? {
        guard phone.hasPrefix("+") else { return nil }
        let digits = phone.dropFirst()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        if digits.hasPrefix("1") {
            guard digits.count == 11 else { return nil }
            let area = String(digits.dropFirst().prefix(3))
            if canadianAreaCodes.contains(area) { return ["CA"] }
            if caribbeanAreaCodes.contains(area) { return nil }
            return ["US"]
        }
        for length in (1...3).reversed() where digits.count > length {
            if let found = countriesByCallingCode[String(digits.prefix(length))] { return found }
        }
        return nil
    }

    /// The country of an E.164 number when it names exactly one (`+4930…` → `DE`), else nil.
    public static func country(fromPhone phone: String?) -> String? {
        guard let phone, let found = countries(forPhone: phone), found.count == 1 else { return nil }
        return found.first
    }

    static let countriesByCallingCode: [String: Set<String>] = {
        var map: [String: Set<String>] = [:]
        for (country, code) in callingCodes where code != "1" { map[code, default: []].insert(country) }
        return map
    }()

    /// North American area codes of Canada (CRTC) and of the Caribbean members of the plan.
    static let canadianAreaCodes: Set<String> = [
        "204", "226", "236", "249", "250", "257", "263", "289", "306", "343", "354", "365", "367", "368", "382", "403", "416",
        "418", "428", "431", "437", "438", "450", "460", "468", "474", "506", "514", "519", "548", "579", "581", "584", "587",
        "604", "613", "639", "647", "672", "683", "705", "709", "742", "753", "778", "780", "782", "807", "819", "825", "867",
        "873", "879", "902", "905",
    ]
    static let caribbeanAreaCodes: Set<String> = [
        "242", "246", "264", "268", "284", "340", "345", "441", "473", "649", "658", "664", "670", "671", "684", "721", "758",
        "767", "784", "787", "809", "829", "849", "868", "869", "876", "939",
    ]

    /// The company's domain from a website address: `https://www.Acme.example/about?x` →
    /// `acme.example`. Nil when it has no host with a dot.
    public static func domain(fromWebsite website: String?) -> String? {
        guard var rest = text(website).map({ Substring($0.lowercased()) }) else { return nil }
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if let end = rest.firstIndex(where: { "/?#".contains($0) }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if let colon = rest.firstIndex(of: ":") { rest = rest[..<colon] }
        if rest.last == "." { rest = rest.dropLast() }
        if rest.hasPrefix("www."), rest.dropFirst(4).contains(".") { rest = rest.dropFirst(4) }
        let host = String(rest)
        return ReferenceList.domainProblem(host) == nil ? host : nil
    }
}
