import Foundation
import FunnelDomain
import FunnelRuntime
import FunnelDevKit

/// Realistic synthetic traffic for `funnel dev`: leads (mostly ordinary, some hot, some
/// competitors, students, disposable addresses and malformed records), behaviour, and sales
/// outcomes for leads that became MQLs (about 7 in 10 take a meeting, 3 a proposal, 1 wins),
/// and recipients who open (30 %) and click (10 %) the follow-up e-mails delivered to the local
/// sink, through their real tracking links: the loop from e-mail back to the score.
struct DemoGenerator {
    let pipeline: LocalPipeline
    let board: StageBoard
    let rate: Double
    private var port: Int { pipeline.ports["funnel-ingest"]! }
    private var auth: [String: String] { pipeline.authorization }

    static let firstNames = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Ken", "Radia", "Linus", "Margaret", "Tim", "Hedy"]
    static let lastNames = ["Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Thompson", "Perlman", "Torvalds", "Hamilton"]
    static let titles = ["VP Sales", "Head of Marketing", "Director of Operations", "CTO", "Marketing Manager", "Product Manager",
                         "Sales Manager", "Analyst", "Engineer", "Consultant", "Coordinator", "Specialist", "Account Executive"]
    static let corporate = ["acme-software.example", "globex.example", "initech.example", "umbrella.example", "hooli.example",
                            "tinyshop.example", "vandelay.example", "northwind.example", "contoso.example", "fabrikam.example"]
    static let industries = ["software", "saas", "fintech", "e-commerce", "logistics", "retail", "manufacturing", "education"]
    static let countries = ["DE", "FR", "GB", "NL", "US", "CA", "ES", "IT", "BR", "IN"]

    func run() async {
        var rng = SystemRandomNumberGenerator()
        var sequence = 0
        var outcomesDue: [(lead: String, step: Int)] = []
        var mailRead = 0
        let tick = 0.5
        var carry = 0.0
        var due = ContinuousClock.now
        while !Task.isCancelled {
            due += .seconds(tick)
            carry += rate * tick
            let count = Int(carry)
            carry -= Double(count)
            var leads: [[String: Any]] = []
            var activities: [[String: Any]] = []
            for _ in 0..<count {
                sequence += 1
                let (lead, extra) = makeLead(sequence, &rng)
                leads.append(lead)
                activities += extra
            }
            // Malformed records go one per request (a batch is accepted or rejected as a whole for now).
            let malformed = leads.filter { ($0["email"] as? String).map { !$0.contains("@") || $0.hasSuffix("@example.com") } ?? true }
            let good = leads.filter { ($0["email"] as? String).map { $0.contains("@") && !$0.hasSuffix("@example.com") } ?? false }
            for bad in malformed { _ = try? await HTTPProbe.post(port: port, path: "/v1/leads", json: JSONSerialization.data(withJSONObject: bad), headers: auth) }
            if !good.isEmpty { _ = try? await HTTPProbe.post(port: port, path: "/v1/leads", json: JSONSerialization.data(withJSONObject: good), headers: auth) }
            if !activities.isEmpty { _ = try? await HTTPProbe.post(port: port, path: "/v1/activities", json: JSONSerialization.data(withJSONObject: activities), headers: auth) }

            // Sales works the new MQLs: accepted → meeting → proposal → won / lost.
            outcomesDue += board.newMQLs.withLock { l -> [String] in defer { l.removeAll() }; return l }.map { ($0, 0) }
            var next: [(lead: String, step: Int)] = []
            var outcomes: [[String: Any]] = []
            for (lead, step) in outcomesDue {
                let roll = Double.random(in: 0..<1, using: &rng)
                switch step {
                case 0: outcomes.append(["lead_id": lead, "outcome": roll < 0.85 ? "accepted" : "rejected", "reason": "demo"]); if roll < 0.85 { next.append((lead, 1)) }
                case 1: if roll < 0.8 { outcomes.append(["lead_id": lead, "outcome": "meeting"]); next.append((lead, 2)) } else { outcomes.append(["lead_id": lead, "outcome": "lost", "reason": "no response"]) }
                case 2: if roll < 0.45 { outcomes.append(["lead_id": lead, "outcome": "proposal"]); next.append((lead, 3)) } else { outcomes.append(["lead_id": lead, "outcome": "lost", "reason": "no budget"]) }
                default: outcomes.append(roll < 0.35 ? ["lead_id": lead, "outcome": "won", "amount": 12000, "currency": "EUR"] : ["lead_id": lead, "outcome": "lost", "reason": "competitor chosen"])
                }
            }
            outcomesDue = next
            if !outcomes.isEmpty { _ = try? await HTTPProbe.post(port: port, path: "/v1/outcomes", json: JSONSerialization.data(withJSONObject: outcomes), headers: auth) }
            mailRead = await readMail(from: mailRead, &rng)
            try? await Task.sleep(until: due) // keeps the rate whatever the requests took
        }
    }

    /// The recipients of new mail in the sink: some open it (the pixel), fewer click a link.
    /// Returns how many messages are read so far.
    func readMail(from read: Int, _ rng: inout SystemRandomNumberGenerator) async -> Int {
        let names = pipeline.smtp.deliveredFileNames()
        guard names.count > read, let dir = pipeline.smtp.maildirNew else { return read }
        for name in names[read...] {
            guard let bytes = FileManager.default.contents(atPath: dir + "/" + name) else { continue }
            let mail = DeliveredMail(Array(bytes))
            let roll = Double.random(in: 0..<1, using: &rng)
            if roll < 0.3, let pixel = mail.paths("/t/o/").first { _ = try? await HTTPProbe.get(port: port, path: pixel) }
            if roll < 0.1, let click = mail.paths("/t/c/").randomElement(using: &rng) { _ = try? await HTTPProbe.get(port: port, path: click) }
        }
        return names.count
    }

    /// One lead and the behaviour that comes with it.
    func makeLead(_ n: Int, _ rng: inout SystemRandomNumberGenerator) -> ([String: Any], [[String: Any]]) {
        let first = Self.firstNames.randomElement(using: &rng)!, last = Self.lastNames.randomElement(using: &rng)!
        let local = "\(first.lowercased()).\(last.lowercased())\(n)"
        let kind = Double.random(in: 0..<1, using: &rng)
        var lead: [String: Any] = ["first_name": first, "last_name": last, "country": Self.countries.randomElement(using: &rng)!,
                                   "source": ["webinar", "ads", "organic", "csv-import"].randomElement(using: &rng)!,
                                   "campaign": "demo-\(n % 5)", "consent": ["email": Bool.random(using: &rng)]]
        var title = Self.titles.randomElement(using: &rng)!
        switch kind {
        case ..<0.03: lead["email"] = "\(local)@rivalfunnel.example"
        case ..<0.08: lead["email"] = "\(local)@gmail.com"; title = "Student"
        case ..<0.12: lead["email"] = "\(local)@mailinator.com"
        case ..<0.15: lead["country"] = "Germany"; lead["email"] = n % 2 == 0 ? "not-an-address" : "\(local)@example.com" // malformed
        case ..<0.35: lead["email"] = "\(local)@\(["gmail.com", "outlook.com", "gmx.de"].randomElement(using: &rng)!)"
        default:
            let domain = Self.corporate.randomElement(using: &rng)!
            lead["email"] = "\(local)@\(domain)"
            lead["industry"] = Self.industries.randomElement(using: &rng)!
            lead["employees"] = [12, 60, 150, 400, 900, 2500].randomElement(using: &rng)!
        }
        lead["job_title"] = title
        var activities: [[String: Any]] = []
        if let email = lead["email"] as? String, email.contains("@") {
            let engagement = Double.random(in: 0..<1, using: &rng)
            if engagement < 0.5 { activities.append(["email": email, "type": "page_view", "url": "https://example.com/blog"]) }
            if engagement < 0.2 { activities.append(["email": email, "type": "pricing_page_view", "url": "https://example.com/pricing"]) }
            if engagement < 0.12 { activities.append(["email": email, "type": "webinar_attended"]) }
            if engagement < 0.07 { activities.append(["email": email, "type": "demo_request", "url": "https://example.com/demo"]) }
            if engagement > 0.97 { activities.append(["email": email, "type": "careers_page_view", "url": "https://example.com/careers"]) }
        }
        return (lead, activities)
    }
}
