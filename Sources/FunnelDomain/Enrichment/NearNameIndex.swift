/// Finds the normalised names within a similarity of a query without comparing it to every
/// name (a CRM holds 10^5 accounts, and names share words): a q-gram prefix filter (Ed-Join).
///
/// Two keys whose ``CompanyName/similarity(_:_:)`` is at least θ differ by at most
/// `d = ⌊len × (1 − θ) / θ⌋` edits for either key's length `len` (d ≤ (1 − θ)·max(len) and the
/// lengths differ by at most d). One edit (a transposition included) removes at most `q + 1` of a
/// key's distinct trigrams, so with every key's trigrams sorted in one global order (rarest first)
/// the first `(q + 1)·d + 1` of the query's and of a match's share a trigram. Only the names
/// holding one of the query's first trigrams are compared; rare trigrams have short lists.
/// Keys with too few distinct trigrams for the guarantee are always compared.
struct NearNameIndex: Sendable {
    static let q = 3
    let threshold: Double
    /// The indexed keys with what they stand for (the caller's id).
    private(set) var entries: [(key: String, id: Int)] = []
    /// How many entries hold each trigram (the global order: rarer first, then the value).
    private var frequency: [UInt64: Int32] = [:]
    private var postings: [UInt64: [Int32]] = [:]
    /// Entries the filter cannot promise anything about: compared with every query.
    private var unfiltered: [Int32] = []

    init(threshold: Double, entries: [(key: String, id: Int)]) {
        self.threshold = threshold
        self.entries = entries
        let grams = entries.map { Self.grams($0.key) }
        for set in grams { for g in set { frequency[g, default: 0] += 1 } }
        for (i, set) in grams.enumerated() {
            guard let prefix = prefix(set, length: entries[i].key.unicodeScalars.count) else { unfiltered.append(Int32(i)); continue }
            for g in prefix { postings[g, default: []].append(Int32(i)) }
        }
    }

    /// The entries that may be within the threshold of `key` (a superset; the caller verifies),
    /// each once, in index order.
    func candidates(_ key: String) -> [Int] {
        let set = Self.grams(key)
        guard let prefix = prefix(set, length: key.unicodeScalars.count) else { return Array(entries.indices) }
        var found = Set(unfiltered.map(Int.init))
        for g in prefix { for i in postings[g] ?? [] { found.insert(Int(i)) } }
        return found.sorted()
    }

    /// The edits a key of `length` can be from a match.
    func maxEdits(_ length: Int) -> Int { Int((Double(length) * (1 - threshold) / threshold + 1e-9).rounded(.down)) }

    /// The first `(q + 1)·d + 1` trigrams in the global order, or nil when the key has no more
    /// distinct trigrams than that (no promise).
    private func prefix(_ set: Set<UInt64>, length: Int) -> [UInt64]? {
        let size = (Self.q + 1) * maxEdits(length) + 1
        guard set.count >= size else { return nil }
        let sorted = set.sorted { a, b in
            let fa = frequency[a] ?? 0, fb = frequency[b] ?? 0
            return fa != fb ? fa < fb : a < b
        }
        return Array(sorted.prefix(size))
    }

    /// A key's distinct trigrams of Unicode scalars, each packed into 63 bits.
    static func grams(_ key: String) -> Set<UInt64> {
        let scalars = key.unicodeScalars.map { UInt64($0.value) }
        guard scalars.count >= q else { return [] }
        var set = Set<UInt64>(minimumCapacity: scalars.count)
        for i in 0...(scalars.count - q) { set.insert(scalars[i] << 42 | scalars[i + 1] << 21 | scalars[i + 2]) }
        return set
    }
}
