import ArgumentParser
import Foundation
import FunnelDomain
import FunnelDevKit
import FunnelRuntime

/// `funnel bench email-lists`: what the e-mail lists of `deploy/data/` cost funnel-enrich —
/// load time and memory at start, and classifications (and whole `Enricher.enrich` calls, with
/// the intent lists and accounts, with and without company names) per second with them. In-process, no broker: the stage's Kafka path is not part of it.
struct EmailListsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "email-lists",
        abstract: "funnel-enrich's e-mail lists: load time, memory, classifications/s and enrich calls/s.")

    @Option(help: "Directory with the lists (default: $FUNNEL_CONFIG_DIR/data, else deploy/data).") var data: String?
    @Option(help: "Addresses classified per measurement.") var addresses = 1_000_000
    @Option(help: "Rounds; the best of each is reported.") var rounds = 3

    func run() throws {
        let directory = Self.directory(data)
        let rssBefore = Self.residentKiB()
        let start = ContinuousClock.now
        let emails = try Self.emails(directory)
        let load = Self.seconds(ContinuousClock.now - start)
        let rssAfter = Self.residentKiB()
        // What funnel-enrich loads besides the e-mail lists (README "Enrichment").
        func read(_ name: String) throws -> String { try Self.file(directory, name) }
        let intents = try IntentDirectory.load(read: read)
        let accountFile = try AccountFile.parse(read("accounts.csv"), file: "accounts.csv")
        let accounts = AccountDirectory(accountFile)
        print("lists from \(directory): \(emails.disposableDomains.count) disposable, \(emails.freeDomains.count) free, \(emails.rolePrefixes.count) role prefixes")
        print("intent lists: \(intents.competitors.domains.count + intents.analystFirms.domains.count + intents.partners.domains.count) domains; \(accounts.accounts.count) accounts")
        print(String(format: "load and check: %.1f ms; resident memory +%.1f MiB", load * 1000, Double(rssAfter - rssBefore) / 1024))

        // A mix like a lead stream's: a quarter each free, disposable (half of them on a
        // subdomain, which walks the parent domains), role and corporate on a three-label domain.
        let free = emails.freeDomains.sorted(), disposable = emails.disposableDomains.sorted(), roles = emails.rolePrefixes.sorted()
        guard !free.isEmpty, !disposable.isEmpty, !roles.isEmpty else { throw ValidationError("a list is empty") }
        let sample = (0..<min(addresses, 100_000)).map { i -> String in
            switch i % 4 {
            case 0: return "person\(i)@\(free[i % free.count])"
            case 1: return i % 8 == 1 ? "x\(i)@mx\(i).\(disposable[i % disposable.count])" : "x\(i)@\(disposable[i % disposable.count])"
            case 2: return "\(roles[i % roles.count])@company\(i).example"
            default: return "first.last\(i)@eu.company\(i).example"
            }
        }
        var best = (classify: 0.0, enrich: 0.0, named: 0.0)
        var counts = [EmailClass: Int]()
        for _ in 1...rounds {
            var seen = [EmailClass: Int]()
            let t0 = ContinuousClock.now
            for i in 0..<addresses { seen[emails.classify(sample[i % sample.count]), default: 0] += 1 }
            best.classify = max(best.classify, Double(addresses) / Self.seconds(ContinuousClock.now - t0))
            counts = seen
            let companies = CompanyDirectory([])
            let enrichCalls = addresses / 10
            var contact = 0
            let t1 = ContinuousClock.now
            for i in 0..<enrichCalls {
                let lead = LeadCaptured(leadID: "l\(i)", email: sample[i % sample.count], firstName: "ada", lastName: "LOVELACE",
                                        jobTitle: "Head of Data", capturedAt: "2026-11-01T00:00:00Z")
                if Enricher.enrich(lead, emails: emails, companies: companies, intents: intents, accounts: accounts,
                                   at: "2026-11-01T00:00:00Z").contactAvailable { contact += 1 }
            }
            best.enrich = max(best.enrich, Double(enrichCalls) / Self.seconds(ContinuousClock.now - t1))
            precondition(contact > 0)
            // The same with a company name on every lead (free-mail addresses included), so the
            // account match reaches the name path: one in ten an account's name with a legal suffix,
            // the rest unknown names that share a block with one (near-name comparisons).
            var matched = 0
            let t2 = ContinuousClock.now
            for i in 0..<enrichCalls {
                let company = i % 10 == 0 ? "Globex Logistics Inc." : "Globex Freight \(i % 1000) GmbH"
                let lead = LeadCaptured(leadID: "l\(i)", email: sample[i % sample.count], firstName: "ada", lastName: "LOVELACE",
                                        jobTitle: "Head of Data", company: company, capturedAt: "2026-11-01T00:00:00Z")
                if Enricher.enrich(lead, emails: emails, companies: companies, intents: intents, accounts: accounts,
                                   at: "2026-11-01T00:00:00Z").accountID != nil { matched += 1 }
            }
            best.named = max(best.named, Double(enrichCalls) / Self.seconds(ContinuousClock.now - t2))
            precondition(matched >= enrichCalls / 10)
        }
        print("classes: " + EmailClass.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", "))
        print(String(format: "classify: %.2f M addresses/s   Enricher.enrich: %.0f k leads/s   with company names: %.0f k leads/s   (best of %d, one core)",
                     best.classify / 1e6, best.enrich / 1e3, best.named / 1e3, rounds))
        if crmAccounts > 0 { try crm(emails: emails, intents: intents, accounts: accountFile) }
    }

    @Option(name: .customLong("crm-accounts"), help: "CRM accounts (funnel.enrich.accounts.v1) to rebuild the matcher with and match against; 0 skips.")
    var crmAccounts = 100_000

    /// The CRM's accounts at scale: how long funnel-enrich's matcher takes to rebuild (once per
    /// `FUNNEL_ACCOUNTS_REFRESH_MS` while records arrive) and what matching against it costs.
    func crm(emails: EmailDirectory, intents: IntentDirectory, accounts file: [Account]) throws {
        // Names like a CRM's: two or three words of a small vocabulary, a legal suffix; every
        // account a domain of its own. Many share their first three letters (the near-name blocks).
        let words = ["Global", "United", "Advanced", "Apex", "Blue", "Summit", "North", "Pacific", "Atlas", "Quantum", "Vertex",
                     "Pioneer", "Silver", "Crown", "Delta", "Nova", "Prime", "Sterling", "Harbor", "Granite", "Logistics", "Systems",
                     "Software", "Analytics", "Health", "Energy", "Capital", "Foods", "Retail", "Media", "Labs", "Networks"]
        let suffixes = ["Inc.", "GmbH", "Ltd", "LLC", "S.A.", "AG", "BV", "Corp."]
        var rng = SplitMix64(seed: 42)
        func word() -> String { words[Int(rng.next() % UInt64(words.count))] }
        let records = (0..<crmAccounts).map { i in
            Account(id: "crm-\(i)", name: "\(word()) \(word())\(i % 3 == 0 ? " " + word() : "") \(i) \(suffixes[i % suffixes.count])",
                    domains: ["crm\(i).example"], owner: "rep-\(i % 50)", employees: i % 5000)
        }
        var book = AccountBook(file: file)
        for record in records { book.put(record) }
        var rebuild = Double.infinity
        var directory = AccountDirectory()
        for _ in 1...rounds {
            let t0 = ContinuousClock.now
            directory = book.directory()
            rebuild = min(rebuild, Self.seconds(ContinuousClock.now - t0))
        }
        let companies = CompanyDirectory([])
        let calls = 20_000
        var best = (domain: 0.0, name: 0.0)
        for _ in 1...rounds {
            var matched = 0
            let t1 = ContinuousClock.now
            for i in 0..<calls {
                let lead = LeadCaptured(leadID: "l\(i)", email: "ada\(i)@crm\((i * 7919) % crmAccounts).example", firstName: "Ada", capturedAt: "2026-11-01T00:00:00Z")
                if Enricher.enrich(lead, emails: emails, companies: companies, intents: intents, accounts: directory, at: lead.capturedAt).accountID != nil { matched += 1 }
            }
            best.domain = max(best.domain, Double(calls) / Self.seconds(ContinuousClock.now - t1))
            precondition(matched == calls)
            // Company names on free-mail addresses: a tenth an account's exact name, the rest
            // unknown names from the same vocabulary (near-name comparisons within their block).
            let t2 = ContinuousClock.now
            for i in 0..<calls {
                let company = i % 10 == 0 ? records[(i * 7919) % crmAccounts].name : "\(words[i % words.count]) \(words[(i / 7) % words.count]) Partners"
                let lead = LeadCaptured(leadID: "l\(i)", email: "ada\(i)@gmail.com", firstName: "Ada", company: company, capturedAt: "2026-11-01T00:00:00Z")
                _ = Enricher.enrich(lead, emails: emails, companies: companies, intents: intents, accounts: directory, at: lead.capturedAt)
            }
            best.name = max(best.name, Double(calls) / Self.seconds(ContinuousClock.now - t2))
        }
        print(String(format: "CRM accounts: %d (+%d from the file): matcher rebuilt in %.0f ms; Enricher.enrich by domain %.0f k leads/s, by company name %.1f k leads/s",
                     crmAccounts, file.count, rebuild * 1000, best.domain / 1e3, best.name / 1e3))
    }

    /// The text of `directory/name`, or an error naming it.
    static func file(_ directory: String, _ name: String) throws -> String {
        guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else {
            throw ValidationError("cannot read \(directory)/\(name)")
        }
        return text
    }

    /// `--data`, else `$FUNNEL_CONFIG_DIR/data`, else `deploy/data`.
    static func directory(_ data: String?) -> String {
        data ?? ((ProcessInfo.processInfo.environment["FUNNEL_CONFIG_DIR"] ?? ProjectPaths.configDirectory) + "/data")
    }

    /// The three lists of `directory`, read and checked as funnel-enrich reads them.
    static func emails(_ directory: String) throws -> EmailDirectory {
        func read(_ name: String) throws -> String { try file(directory, name) }
        return EmailDirectory(
            freeDomains: try ReferenceList.domains(read("free-email-domains.txt"), file: "free-email-domains.txt"),
            disposableDomains: try ReferenceList.domains(read("disposable-email-domains.txt"), file: "disposable-email-domains.txt"),
            rolePrefixes: try ReferenceList.localParts(read("role-prefixes.txt"), file: "role-prefixes.txt"))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// VmRSS of this process in KiB (Linux), 0 where /proc is not there.
    static func residentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
