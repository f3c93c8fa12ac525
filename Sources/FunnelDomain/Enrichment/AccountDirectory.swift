/// Lead-to-account matching (LeanData style): the exact e-mail or company domain first, then the
/// normalised company name (``CompanyName``) — exactly, as an acronym, or above a similarity
/// threshold. Ties go to the account with more employees (the parent, usually), then the lower id.
public struct AccountDirectory: Sendable {
    public private(set) var accounts: [Account] = []
    private var byDomain: [String: Int] = [:]
    private var byKey: [String: [Int]] = [:]
    private var byAcronym: [String: [Int]] = [:]
    /// Keys long enough for a near-name match (``nearNameMinimumLength``), for ``NearNameIndex``;
    /// a candidate must share its first three characters with the query (its block).
    private var near = NearNameIndex(threshold: nameThreshold, entries: [])

    /// Similarity a near name needs (``CompanyName/similarity(_:_:)``), and the shortest key
    /// compared that way (short names are too easy to hit by accident: `Hooli` ≠ `Hooly`).
    public static let nameThreshold = 0.9
    public static let nearNameMinimumLength = 8

    public init(_ accounts: [Account] = []) {
        var nearEntries: [(key: String, id: Int)] = []
        for account in accounts {
            if let key = add(account), key.count >= Self.nearNameMinimumLength { nearEntries.append((key, self.accounts.count - 1)) }
        }
        near = NearNameIndex(threshold: Self.nameThreshold, entries: nearEntries)
    }

    public var isEmpty: Bool { accounts.isEmpty }

    /// Adds `account`; returns its name's key (nil when empty).
    private mutating func add(_ account: Account) -> String? {
        let index = accounts.count
        accounts.append(account)
        for domain in account.domains where byDomain[domain] == nil { byDomain[domain] = index }
        let name = CompanyName(account.name)
        let key = name.key
        guard !key.isEmpty else { return nil }
        byKey[key, default: []].append(index)
        if let acronym = name.acronym, acronym.count >= 3 { byAcronym[acronym, default: []].append(index) }
        return key
    }

    /// The best account for a lead: `emailDomain` only when the address is a company's (not
    /// free-mail or disposable: the caller decides), `companyDomain`, then `company`.
    public func match(emailDomain: String?, companyDomain: String?, company: String?) -> AccountMatch {
        guard !accounts.isEmpty else { return .none }
        for domain in [companyDomain, emailDomain].compactMap({ $0 }) {
            if let found = lookUp(domain: domain) { return found }
        }
        guard let company else { return .none }
        return match(name: CompanyName(company))
    }

    private func lookUp(domain: String) -> AccountMatch? {
        var rest = Substring(domain)
        var parent = false
        while let dot = rest.firstIndex(of: ".") {
            if let index = byDomain[String(rest)] {
                return AccountMatch(account: accounts[index], kind: .domain, confidence: parent ? 0.95 : 1,
                                    evidence: "domain " + rest)
            }
            rest = rest[rest.index(after: dot)...]
            parent = true
        }
        return nil
    }

    /// The name match alone (exact normalised name, acronym, near name).
    public func match(name: CompanyName) -> AccountMatch {
        let key = name.key
        guard !key.isEmpty else { return .none }
        if let found = best(byKey[key]) {
            return AccountMatch(account: found, kind: .name, confidence: 0.9, evidence: "name " + key)
        }
        // `IBM` for International Business Machines, or the other way round.
        if name.tokens.count == 1, (3...6).contains(key.count), let found = best(byAcronym[key]) {
            return AccountMatch(account: found, kind: .name, confidence: 0.8, evidence: "acronym " + key)
        }
        if let acronym = name.acronym, acronym.count >= 3, let found = best(byKey[acronym]) {
            return AccountMatch(account: found, kind: .name, confidence: 0.8, evidence: "acronym " + acronym)
        }
        guard key.count >= Self.nearNameMinimumLength else { return .none }
        let block = key.prefix(3)
        var bestScore = 0.0
        var candidates: [Int] = []
        let keyScalars = key.unicodeScalars.map(\.value)
        for entry in near.candidates(keyScalars) {
            let (other, index) = near.entries[entry]
            guard other.hasPrefix(block), abs(other.count - key.count) <= other.count / 10 + 1 else { continue }
            let score = CompanyName.similarity(keyScalars, near.scalars[entry], atLeast: Self.nameThreshold)
            guard score >= Self.nameThreshold else { continue }
            if score > bestScore { bestScore = score; candidates = [index] } else if score == bestScore { candidates.append(index) }
        }
        guard let found = best(candidates) else { return .none }
        return AccountMatch(account: found, kind: .name, confidence: (bestScore * 0.9 * 100).rounded() / 100,
                            evidence: "similar name " + key)
    }

    /// The tie-breaker: more employees, then the lower id.
    private func best(_ indices: [Int]?) -> Account? {
        guard let indices, !indices.isEmpty else { return nil }
        return indices.map { accounts[$0] }.min { a, b in
            (a.employees ?? -1) != (b.employees ?? -1) ? (a.employees ?? -1) > (b.employees ?? -1) : a.id < b.id
        }
    }
}
