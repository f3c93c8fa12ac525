@testable import FunnelDomain
import Testing

/// Lead-to-account matching: domains first, then normalised names, acronyms and near names;
/// near misses stay unmatched. The accounts are the committed `deploy/data/accounts.csv`.
@Suite struct AccountMatchingTests {
    static let accounts: AccountDirectory = {
        do { return AccountDirectory(try AccountFile.parse(EmailListsTests.text("accounts.csv"), file: "accounts.csv")) }
        catch { fatalError("deploy/data/accounts.csv does not load: \(error)") }
    }()

    @Test("the committed file loads: quoted names with commas, several domains in one field")
    func committedFile() throws {
        let all = Self.accounts.accounts
        #expect(all.count == 7)
        #expect(all.first { $0.id == "acc-0001" }?.name == "Globex Logistics, Inc.")
        #expect(all.first { $0.id == "acc-0002" }?.domains == ["acme-software.example", "acme-software.de.example"])
        #expect(all.first { $0.id == "acc-0001" }?.owner == "rep-grace")
        #expect(all.first { $0.id == "acc-0006" }?.owner == nil)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var email: String? = nil
        var companyDomain: String? = nil
        var company: String? = nil
        var account: String?
        var kind: AccountMatchKind
        var confidence: ClosedRange<Double>
        var testDescription: String { "\(email ?? company ?? companyDomain ?? "-") → \(account ?? "none")" }
    }

    static let cases: [Case] = [
        // domains: the e-mail's, a subdomain's parent, the company's
        Case(email: "ada@globex.example", account: "acc-0001", kind: .domain, confidence: 1...1),
        Case(email: "ada@eu.globex.example", account: "acc-0001", kind: .domain, confidence: 0.95...0.95),
        Case(email: "ada@acme-software.de.example", account: "acc-0002", kind: .domain, confidence: 1...1),
        Case(companyDomain: "vandelay.example", company: "Something Else", account: "acc-0004", kind: .domain, confidence: 1...1),
        // the domain wins over a name that points elsewhere
        Case(email: "ada@globex.example", company: "Umbrella Retail", account: "acc-0001", kind: .domain, confidence: 1...1),
        // legal suffixes, case, punctuation, & and "and", a leading "The"
        Case(company: "Globex Logistics", account: "acc-0001", kind: .name, confidence: 0.9...0.9),
        Case(company: "GLOBEX LOGISTICS LLC", account: "acc-0001", kind: .name, confidence: 0.9...0.9),
        Case(company: "Globex-Logistics Corp.", account: "acc-0001", kind: .name, confidence: 0.9...0.9),
        Case(company: "Acme Software", account: "acc-0002", kind: .name, confidence: 0.9...0.9),
        Case(company: "AcmeSoftware Inc", account: "acc-0002", kind: .name, confidence: 0.9...0.9),
        Case(company: "Smith and Sons", account: "acc-0005", kind: .name, confidence: 0.9...0.9),
        Case(company: "Smith & Sons Limited", account: "acc-0005", kind: .name, confidence: 0.9...0.9),
        Case(company: "Umbrella Retail SA", account: "acc-0006", kind: .name, confidence: 0.9...0.9),
        Case(company: "The Vandelay Industries", account: "acc-0004", kind: .name, confidence: 0.9...0.9),
        Case(company: "Müller Maschinenbau", account: "acc-0007", kind: .name, confidence: 0.9...0.9),
        // acronyms, both ways
        Case(company: "IBM", account: "acc-0003", kind: .name, confidence: 0.8...0.8),
        Case(company: "I.B.M.", account: "acc-0003", kind: .name, confidence: 0.8...0.8),
        // near names (a typo) above the threshold, below an exact name's confidence
        Case(company: "Vandelay Industires", account: "acc-0004", kind: .name, confidence: 0.8...0.89),
        Case(company: "Globex Logisitcs Inc", account: "acc-0001", kind: .name, confidence: 0.8...0.89),
        // near misses that must not match
        Case(company: "Acme Hardware", account: nil, kind: .none, confidence: 0...0),
        Case(company: "Umbrella Insurance", account: nil, kind: .none, confidence: 0...0),
        Case(company: "Smith & Jones", account: nil, kind: .none, confidence: 0...0),
        Case(company: "Globex", account: nil, kind: .none, confidence: 0...0),
        Case(company: "IBS", account: nil, kind: .none, confidence: 0...0),
        Case(company: "International Business Services", account: nil, kind: .none, confidence: 0...0),
        Case(company: "Müller Bau", account: nil, kind: .none, confidence: 0...0),
        Case(email: "ada@globex.example.org", account: nil, kind: .none, confidence: 0...0),
        Case(email: "ada@notglobex.example", account: nil, kind: .none, confidence: 0...0),
    ]

    @Test("domains, names, acronyms, near names; near misses stay unmatched", arguments: cases)
    func matching(_ c: Case) {
        let found = Self.accounts.match(emailDomain: c.email.flatMap { $0.split(separator: "@").last.map(String.init) },
                                        companyDomain: c.companyDomain, company: c.company)
        #expect(found.account?.id == c.account)
        #expect(found.kind == c.kind)
        #expect(c.confidence.contains(found.confidence), "confidence \(found.confidence)")
    }

    @Test("company names normalise: suffixes, punctuation, & and 'and', acronyms")
    func names() {
        #expect(CompanyName("Acme Software, Inc.").key == "acmesoftware")
        #expect(CompanyName("ACME software GmbH & Co. KG").key == "acmesoftware")
        #expect(CompanyName("The Smith & Sons Ltd").tokens == ["smith", "sons"])
        #expect(CompanyName("Nestlé S.A.").key == "nestlé")
        #expect(CompanyName("O'Reilly Media").key == "oreillymedia")
        #expect(CompanyName("Inc.").key == "inc") // nothing but a suffix: kept rather than emptied
        #expect(CompanyName("Bank of America Corporation").acronym == "ba")
        #expect(CompanyName("International Business Machines Corp").acronym == "ibm")
        #expect(CompanyName("Globex").acronym == nil)
        #expect(CompanyName.similarity("vandelayindustires", "vandelayindustries") > 0.94)
        #expect(CompanyName.similarity("acmehardware", "acmesoftware") < 0.7)
    }

    @Test("ties go to the account with more employees, then the lower id")
    func tieBreak() {
        let directory = AccountDirectory([
            Account(id: "b", name: "Acme Corp", domains: [], employees: 10),
            Account(id: "c", name: "ACME Inc.", domains: [], employees: 5000),
            Account(id: "a", name: "Acme", domains: [], employees: 5000),
        ])
        #expect(directory.match(emailDomain: nil, companyDomain: nil, company: "acme").account?.id == "a")
    }

    @Test("the enricher matches a company address, never a free-mail domain, and carries owner and tier")
    func enricher() {
        let emails = EmailDirectory(freeDomains: ["gmail.com"], disposableDomains: [], rolePrefixes: ["info"])
        let accounts = AccountDirectory([Account(id: "a1", name: "Gmail Fans", domains: ["gmail.com"], owner: "rep-x", tier: "smb")]
                                        + Self.accounts.accounts)
        func enrich(_ lead: LeadCaptured) -> LeadEnriched {
            Enricher.enrich(lead, emails: emails, companies: CompanyDirectory([]), accounts: accounts, at: "2026-12-07T10:00:00Z")
        }
        let free = enrich(LeadCaptured(leadID: "l", email: "ada@gmail.com", capturedAt: "2026-12-07T10:00:00Z"))
        #expect(free.match == AccountMatchKind.none && free.accountID == nil && free.matchConfidence == 0)
        let globex = enrich(LeadCaptured(leadID: "l", email: "info@globex.example", capturedAt: "2026-12-07T10:00:00Z"))
        #expect(globex.accountID == "acc-0001" && globex.accountOwner == "rep-grace" && globex.match == .domain)
        #expect(globex.profile.attributes?["account_tier"] == "enterprise")
        #expect(globex.profile.employees == 1200 && globex.profile.industry == "logistics")
        // Given values win over the account's.
        let given = enrich(LeadCaptured(leadID: "l", email: "ada@gmail.com", company: "Globex Logistics", employees: 7,
                                        attributes: ["account_tier": "vip"], capturedAt: "2026-12-07T10:00:00Z"))
        #expect(given.accountID == "acc-0001" && given.match == .name && given.profile.employees == 7)
        #expect(given.profile.attributes?["account_tier"] == "vip")
        // No accounts configured: nothing said about a match.
        let none = Enricher.enrich(LeadCaptured(leadID: "l", email: "ada@globex.example", capturedAt: "2026-12-07T10:00:00Z"),
                                   emails: emails, companies: CompanyDirectory([]), at: "2026-12-07T10:00:00Z")
        #expect(none.match == nil && none.accountID == nil)
    }

    @Test("a bad accounts file stops the process with file:line: column: reason")
    func fileErrors() {
        func error(_ text: String) -> String? {
            do { _ = try AccountFile.parse(text, file: "data/accounts.csv"); return nil } catch { return error.description }
        }
        let header = "id,name,domains,owner,tier,industry,employees\n"
        #expect(error("") == "data/accounts.csv: the file is empty (it needs the header id,name,domains,owner,tier,industry,employees)")
        #expect(error("id,name,domains,owner_email\n") == "data/accounts.csv:1: unknown column 'owner_email' (columns: id, name, domains, owner, tier, industry, employees)")
        #expect(error("id,name\n") == "data/accounts.csv:1: the header has no 'domains' column")
        #expect(error(header + "a1,Acme,acme.example,,,,\na1,Other,other.example,,,,\n") == "data/accounts.csv:3: id: 'a1' is used on line 2 already")
        #expect(error(header + "a1,Acme,acme,,,,\n") == "data/accounts.csv:2: domains: 'acme' is not a domain name (needs a dot, e.g. example.com)")
        #expect(error(header + "a1,Acme,acme.example,,,,\na2,Other,\"x.example ACME.example\",,,,\n") == "data/accounts.csv:3: domains: 'acme.example' belongs to the account on line 2 already")
        #expect(error(header + "a1,Acme,acme.example,,,,many\n") == "data/accounts.csv:2: employees: 'many' is not a whole number >= 0")
        #expect(error(header + "a1,Acme,acme.example,,,\n") == "data/accounts.csv:2: expected 7 columns, found 6")
        #expect(error(header + "a1,,acme.example,,,,\n") == "data/accounts.csv:2: name: must not be empty")
        #expect(error(header + "\"a1,Acme,acme.example,,,,\n")?.hasPrefix("data/accounts.csv:2: unterminated quoted field") == true)
        // Columns in another order, a multi-line quoted name, domains split by ';'.
        let reordered = try? AccountFile.parse("name,id,domains\n\"Acme\nSoftware\",a1,a.example;b.example\nGlobex,a2,\n", file: "x")
        #expect(reordered?.map(\.id) == ["a1", "a2"])
        #expect(reordered?.first?.domains == ["a.example", "b.example"])
        #expect(reordered?.last?.domains == [])
    }
}
