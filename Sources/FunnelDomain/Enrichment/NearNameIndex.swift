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
///
/// A near name must also start with the query's first three characters (its block, as
/// ``AccountDirectory`` defines a near name), so the trigram lists and their order are per block.
struct NearNameIndex: Sendable {
    static let q = 3
    let threshold: Double
    /// The indexed keys with what they stand for (the caller's id) and their Unicode scalars.
    private(set) var entries: [(key: String, id: Int)] = []
    private(set) var scalars: [[UInt32]] = []
    /// How many entries of a block hold each trigram (the block's order: rarer first, then the value).
    private var frequency: [BlockGram: Int32] = [:]
    private var postings: [BlockGram: [Int32]] = [:]
    /// Entries the filter cannot promise anything about, by block: compared with every query of their block.
    private var unfiltered: [UInt64: [Int32]] = [:]

    struct BlockGram: Hashable, Sendable {
        var block: UInt64
        var gram: UInt64
    }

    init(threshold: Double, entries: [(key: String, id: Int)]) {
        self.threshold = threshold
        self.entries = entries
        let scalars = entries.map { $0.key.unicodeScalars.map(\.value) }
        self.scalars = scalars
        let grams = scalars.map(Self.grams)
        let blocks = scalars.map(Self.block)
        for (set, block) in zip(grams, blocks) { for g in set { frequency[BlockGram(block: block, gram: g), default: 0] += 1 } }
        for (i, set) in grams.enumerated() {
            guard let prefix = prefix(set, block: blocks[i], length: scalars[i].count) else {
                unfiltered[blocks[i], default: []].append(Int32(i))
                continue
            }
            for g in prefix { postings[BlockGram(block: blocks[i], gram: g), default: []].append(Int32(i)) }
        }
    }

    /// The entries of the key's block that may be within the threshold (a superset; the caller
    /// verifies), each once, in index order. `key`: its Unicode scalar values.
    func candidates(_ key: [UInt32]) -> [Int] {
        let set = Self.grams(key)
        let block = Self.block(key)
        guard let prefix = prefix(set, block: block, length: key.count) else {
            return scalars.indices.filter { Self.block(scalars[$0]) == block }
        }
        var found = Set((unfiltered[block] ?? []).map(Int.init))
        for g in prefix { for i in postings[BlockGram(block: block, gram: g)] ?? [] { found.insert(Int(i)) } }
        return found.sorted()
    }

    /// The first three Unicode scalars of a key, packed (shorter keys: what there is).
    static func block(_ key: [UInt32]) -> UInt64 {
        var packed: UInt64 = 0
        for scalar in key.prefix(3) { packed = packed << 21 | UInt64(scalar) }
        return packed
    }

    /// The edits a key of `length` can be from a match.
    func maxEdits(_ length: Int) -> Int { Int((Double(length) * (1 - threshold) / threshold + 1e-9).rounded(.down)) }

    /// The first `(q + 1)·d + 1` trigrams in the global order, or nil when the key has no more
    /// distinct trigrams than that (no promise).
    private func prefix(_ set: Set<UInt64>, block: UInt64, length: Int) -> [UInt64]? {
        let size = (Self.q + 1) * maxEdits(length) + 1
        guard set.count >= size else { return nil }
        let sorted = set.map { (frequency: frequency[BlockGram(block: block, gram: $0)] ?? 0, gram: $0) }.sorted { a, b in
            a.frequency != b.frequency ? a.frequency < b.frequency : a.gram < b.gram
        }
        return sorted.prefix(size).map(\.gram)
    }

    /// A key's distinct trigrams of Unicode scalars, each packed into 63 bits.
    static func grams(_ key: [UInt32]) -> Set<UInt64> {
        guard key.count >= q else { return [] }
        var set = Set<UInt64>(minimumCapacity: key.count)
        for i in 0...(key.count - q) { set.insert(UInt64(key[i]) << 42 | UInt64(key[i + 1]) << 21 | UInt64(key[i + 2])) }
        return set
    }
}
