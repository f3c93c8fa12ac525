import Foundation
@testable import FunnelDomain
import Testing

/// The CRM's accounts (`funnel.enrich.accounts.v1`) beside the file's: record validation,
/// merging, and a matcher that depends only on the records, not on their arrival order.
@Suite struct AccountBookTests {
    static let file = AccountMatchingTests.accounts.accounts

    @Test("a CRM record replaces the file's row with its id; deleting it brings the row back")
    func crmReplacesFileRow() {
        var book = AccountBook(file: Self.file)
        let before = book.directory().match(emailDomain: "globex.example", companyDomain: nil, company: nil)
        #expect(before.account?.owner == "rep-grace")
        book.put(Account(id: "acc-0001", name: "Globex Logistics", domains: ["globex.example"], owner: "rep-new"))
        let after = book.directory().match(emailDomain: "globex.example", companyDomain: nil, company: nil)
        #expect(after.account?.owner == "rep-new" && after.account?.id == "acc-0001")
        #expect(book.counts.file == Self.file.count - 1 && book.counts.crm == 1)
        #expect(book.directory().accounts.count == Self.file.count)
        let removed = book.remove(id: "acc-0001"), again = book.remove(id: "acc-0001")
        #expect(removed && !again)
        #expect(book.directory().match(emailDomain: "globex.example", companyDomain: nil, company: nil).account?.owner == "rep-grace")
    }

    @Test("a new CRM account matches by domain and by name; the CRM wins a domain both claim")
    func crmAccountsMatch() {
        var book = AccountBook(file: Self.file)
        book.put(Account(id: "crm-9", name: "Initech Corporation", domains: ["initech.example"], owner: "rep-dana", employees: 4200))
        book.put(Account(id: "crm-1", name: "Vandelay Imports", domains: ["vandelay.example"], owner: "rep-crm"))
        let directory = book.directory()
        #expect(directory.match(emailDomain: "initech.example", companyDomain: nil, company: nil).account?.id == "crm-9")
        #expect(directory.match(emailDomain: nil, companyDomain: nil, company: "Initech Corp.").account?.id == "crm-9")
        // acc-0004 (the file) and crm-1 both list vandelay.example: the CRM's account wins the domain.
        #expect(directory.match(emailDomain: "vandelay.example", companyDomain: nil, company: nil).account?.id == "crm-1")
    }

    @Test("the matcher is the same whatever order the records arrived in")
    func orderIndependent() {
        let records = (0..<40).map { i in
            Account(id: "crm-\(i)", name: "Company \(i % 7) Holdings", domains: ["shared\(i % 5).example", "own\(i).example"], owner: "rep-\(i)",
                    employees: i % 3 == 0 ? 100 : nil)
        }
        var forward = AccountBook(file: Self.file), backward = AccountBook(file: Self.file)
        for r in records { forward.put(r) }
        for r in records.reversed() { backward.put(r) }
        let a = forward.directory(), b = backward.directory()
        for probe in (0..<5).map({ "shared\($0).example" }) + ["own7.example", "globex.example"] {
            #expect(a.match(emailDomain: probe, companyDomain: nil, company: nil) == b.match(emailDomain: probe, companyDomain: nil, company: nil), "\(probe)")
        }
        for name in ["Company 3 Holdings", "Company 3 Holdings Ltd", "Globex Logistics"] {
            #expect(a.match(emailDomain: nil, companyDomain: nil, company: name) == b.match(emailDomain: nil, companyDomain: nil, company: name), "\(name)")
        }
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var record: AccountRecord
        var field: String
        var testDescription: String { field }
    }

    static let invalid: [Invalid] = [
        Invalid(record: AccountRecord(id: "", name: "Initech", domains: []), field: "id"),
        Invalid(record: AccountRecord(id: "crm-1", name: "  ", domains: []), field: "name"),
        Invalid(record: AccountRecord(id: "crm-1", name: "&, .", domains: []), field: "name"),
        Invalid(record: AccountRecord(id: "crm-1", name: "Initech", domains: ["https://initech.example"]), field: "domains[0]"),
        Invalid(record: AccountRecord(id: "crm-1", name: "Initech", domains: ["initech.example", "initech.example"]), field: "domains[1]"),
        Invalid(record: AccountRecord(id: "crm-1", name: "Initech", domains: ["INITECH.example"]), field: "domains[0]"),
        Invalid(record: AccountRecord(id: "crm-1", name: "Initech", domains: [], employees: -1), field: "employees"),
        Invalid(record: AccountRecord(id: "crm-1", name: "Initech", domains: [], owner: ""), field: "owner"),
        Invalid(record: AccountRecord(id: "crm-1", name: "Initech\u{0}", domains: []), field: "name"),
        Invalid(record: AccountRecord(id: "crm-1", name: "Initech", domains: [], updatedAt: "yesterday"), field: "updated_at"),
        Invalid(record: AccountRecord(id: "crm-1", name: "Initech", domains: (0...100).map { "d\($0).example" }), field: "domains"),
    ]

    @Test("records that cannot identify an account are refused, naming the field", arguments: invalid)
    func invalidRecords(_ c: Invalid) {
        let errors = c.record.validate()
        #expect(errors.contains { $0.field == c.field }, "\(errors)")
    }

    @Test("the schema's example decodes as an AccountRecord event and validates")
    func schemaExample() throws {
        let root = #filePath.components(separatedBy: "/Tests/")[0]
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: root + "/schemas/examples/funnel.enrich.accounts.v1.json")))
        let event = try EventDecoder.decode(AccountRecord.self, from: bytes, expectedType: TopicCatalog.enrichAccounts).get()
        #expect(event.subject == event.data.id)
        #expect(event.data.account == Account(id: "crm-0042", name: "Initech Corporation", domains: ["initech.example", "initech-labs.example"],
                                              owner: "dana", tier: "strategic", industry: "software", employees: 4200))
        let valid = AccountRecord(id: "crm-1", name: "Initech", domains: ["initech.example"], owner: "rep-dana", tier: "Strategic",
                                  updatedAt: "2026-12-07T09:00:00Z")
        #expect(valid.validate().isEmpty)
        #expect(valid.account.tier == "strategic")
    }
}

/// The near-name index is only a filter: it must find exactly what comparing the query with
/// every name of its block (the definition) finds.
@Suite struct NearNameIndexTests {
    /// The definition: every account whose key shares the query's first three characters, within the length bound, at or above the threshold.
    static func bruteForce(_ accounts: [Account], _ query: String) -> (score: Double, ids: Set<String>) {
        let key = CompanyName(query).key
        guard key.count >= AccountDirectory.nearNameMinimumLength else { return (0, []) }
        var best = 0.0
        var ids: Set<String> = []
        for account in accounts {
            let other = CompanyName(account.name).key
            guard other.count >= AccountDirectory.nearNameMinimumLength, other.prefix(3) == key.prefix(3),
                  abs(other.count - key.count) <= other.count / 10 + 1 else { continue }
            let score = CompanyName.similarity(key, other)
            guard score >= AccountDirectory.nameThreshold else { continue }
            if score > best { best = score; ids = [account.id] } else if score == best { ids.insert(account.id) }
        }
        return (best, ids)
    }

    @Test("on 1,500 names from a small alphabet and 1,000 typo'd queries: the same matches as comparing every name")
    func sameAsComparingEveryName() {
        var seed: UInt64 = 0x5EED
        func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
        let letters = Array("abcdeilmnorst")
        func word(_ n: Int) -> String { String((0..<n).map { _ in letters[Int(next() % UInt64(letters.count))] }) }
        var names: [String] = []
        for _ in 0..<1500 { names.append(word(3) + word(Int(next() % 20) + 5)) }
        // Exact duplicates of keys under other ids, and names sharing prefixes, make ties and blocks.
        for i in 0..<100 { names.append(names[i * 7]) }
        let accounts = names.enumerated().map { Account(id: String(format: "a%05d", $0.offset), name: $0.element, domains: []) }
        let directory = AccountDirectory(accounts)
        var matched = 0
        for i in 0..<1000 {
            var chars = Array(names[Int(next() % UInt64(names.count))])
            switch i % 5 {
            case 0: chars[Int(next() % UInt64(chars.count))] = letters[Int(next() % UInt64(letters.count))]       // substitution
            case 1: chars.insert(letters[Int(next() % UInt64(letters.count))], at: Int(next() % UInt64(chars.count)))  // insertion
            case 2: chars.remove(at: Int(next() % UInt64(chars.count)))                                                 // deletion
            case 3: let p = Int(next() % UInt64(chars.count - 1)); chars.swapAt(p, p + 1)                               // transposition
            default: chars = Array(word(3) + word(Int(next() % 20) + 5))                                               // unrelated
            }
            let query = String(chars)
            let expected = Self.bruteForce(accounts, query)
            let found = directory.match(name: CompanyName(query))
            if expected.ids.isEmpty || CompanyName(query).key.count < AccountDirectory.nearNameMinimumLength {
                // Exact-name hits come first in match(name:); compare only the near-name outcome.
                if found.kind == .name, found.evidence?.hasPrefix("similar") == true { Issue.record("\(query): found \(found) but nothing is near") }
                continue
            }
            if found.evidence?.hasPrefix("similar") == true {
                matched += 1
                #expect(expected.ids.contains(found.account!.id), "\(query): \(found.account!.id) not in \(expected.ids)")
                #expect(found.confidence == (expected.score * 0.9 * 100).rounded() / 100)
            } else {
                // An exact name or acronym answered first: it must be at least as good as a near name.
                #expect(found.kind == .name && found.confidence >= 0.8, "\(query): near names \(expected.ids) missed")
            }
        }
        #expect(matched > 150)
    }
}

extension NearNameIndexTests {
    /// The textbook optimal-string-alignment table, whole (the oracle for the banded one).
    static func referenceSimilarity(_ x: [UInt32], _ y: [UInt32]) -> Double {
        let longest = max(x.count, y.count)
        guard longest > 0 else { return 1 }
        guard !x.isEmpty, !y.isEmpty else { return 0 }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return 1 - Double(d[x.count][y.count]) / Double(longest)
    }

    @Test("the distance agrees with the whole OSA table; the banded one wherever it matters (similarity ≥ the bound)")
    func bandedDistance() {
        var seed: UInt64 = 7
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 33) }
        let letters = Array("abcdeü")
        var checked = 0
        for _ in 0..<20_000 {
            let a = String((0..<(next() % 14 + 1)).map { _ in letters[next() % letters.count] })
            var b = Array(a)
            for _ in 0..<(next() % 3) {
                switch next() % 4 {
                case 0 where !b.isEmpty: b[next() % b.count] = letters[next() % letters.count]
                case 1: b.insert(letters[next() % letters.count], at: next() % (b.count + 1))
                case 2 where !b.isEmpty: b.remove(at: next() % b.count)
                case 3 where b.count > 1: let p = next() % (b.count - 1); b.swapAt(p, p + 1)
                default: break
                }
            }
            let x = a.unicodeScalars.map(\.value), y = String(b).unicodeScalars.map(\.value)
            let full = Self.referenceSimilarity(x, y)
            #expect(CompanyName.similarity(x, y) == full, "\(a) / \(String(b))")
            for bound in [0.5, 0.75, 0.9] {
                let banded = CompanyName.similarity(x, y, atLeast: bound)
                if full >= bound { #expect(banded == full, "\(a) / \(String(b)) at \(bound)"); checked += 1 }
                else { #expect(banded < bound, "\(a) / \(String(b)) at \(bound)") }
            }
        }
        #expect(checked > 10_000)
    }
}
