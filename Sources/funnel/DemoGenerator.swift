import Foundation
import FunnelDomain
import FunnelRuntime
import FunnelDevKit

/// Realistic synthetic traffic for `funnel dev`: leads (mostly ordinary, some hot, some
/// competitors, students, disposable addresses and malformed records), behaviour, and sales
/// outcomes for leads that became MQLs, and recipients who open (30 %) and click (10 %) the follow-up e-mails delivered to the local
/// sink, through their real tracking links: the loop from e-mail back to the score.
///
/// Sales outcomes depend on each lead's hidden propensity — its fit (seniority, company size,
/// industry) and interest (demo request, webinar, pricing page), with noise — so `funnel dev`
/// shows a funnel worth reading and `funnel backtest` can tell a good model from a bad one.
/// Requests are chunked to the ingest's batch limit; a refused request (not the malformed
/// records sent on purpose) is counted on the board and shown in the progress line.
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

    /// Items per request (the ingest refuses more than FUNNEL_MAX_BATCH, 1,000 by default, with a 413).
    static let batchSize = 500

    /// Posts `items` in batches; counts what the ingest refused.
    func post(_ path: String, _ items: [[String: Any]]) async {
        for start in stride(from: 0, to: items.count, by: Self.batchSize) {
            let chunk = Array(items[start..<min(start + Self.batchSize, items.count)])
            let status = (try? await HTTPProbe.post(port: port, path: path, json: JSONSerialization.data(withJSONObject: chunk), headers: auth))?.status ?? 0
            if !(200..<300).contains(status) { board.refused(status) }
        }
    }

    func run() async {
        var rng = SystemRandomNumberGenerator()
        var sequence = 0
        var propensity: [String: Double] = [:]
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
                let (lead, extra, p) = makeLead(sequence, &rng)
                if let email = lead["email"] as? String { propensity[EventID.lead(forContact: EmailAddress.identity(email.lowercased()))] = p }
                leads.append(lead)
                activities += extra
            }
            // Malformed records go one per request (a batch is accepted or rejected as a whole for now).
            let malformed = leads.filter { ($0["email"] as? String).map { !$0.contains("@") || $0.hasSuffix("@example.com") } ?? true }
            let good = leads.filter { ($0["email"] as? String).map { $0.contains("@") && !$0.hasSuffix("@example.com") } ?? false }
            for bad in malformed { _ = try? await HTTPProbe.post(port: port, path: "/v1/leads", json: JSONSerialization.data(withJSONObject: bad), headers: auth) }
            await post("/v1/leads", good)
            await post("/v1/activities", activities)

            // Sales works the new MQLs: accepted → meeting → proposal → won / lost.
            outcomesDue += board.newMQLs.withLock { l -> [String] in defer { l.removeAll() }; return l }.map { ($0, 0) }
            var next: [(lead: String, step: Int)] = []
            var outcomes: [[String: Any]] = []
            for (lead, step) in outcomesDue {
                let roll = Double.random(in: 0..<1, using: &rng)
                let p = propensity[lead] ?? 0.3 // a lead of an earlier run: average
                switch step {
                case 0:
                    let accepted = roll < 0.3 + 0.65 * p
                    outcomes.append(["lead_id": lead, "outcome": accepted ? "accepted" : "rejected", "reason": accepted ? "demo" : "not_a_fit"])
                    if accepted { next.append((lead, 1)) }
                case 1: if roll < 0.4 + 0.5 * p { outcomes.append(["lead_id": lead, "outcome": "meeting"]); next.append((lead, 2)) } else { outcomes.append(["lead_id": lead, "outcome": "lost", "reason": "no response"]) }
                case 2: if roll < 0.25 + 0.5 * p { outcomes.append(["lead_id": lead, "outcome": "proposal"]); next.append((lead, 3)) } else { outcomes.append(["lead_id": lead, "outcome": "lost", "reason": "no budget"]) }
                default:
                    if roll < 0.15 + 0.6 * p {
                        outcomes.append(["lead_id": lead, "outcome": "won", "amount": [6000, 12000, 24000, 48000].randomElement(using: &rng)!, "currency": "EUR"])
                    } else {
                        outcomes.append(["lead_id": lead, "outcome": "lost", "reason": "competitor chosen"])
                    }
                }
                if step > 0 && next.last?.lead != lead { propensity[lead] = nil } // closed: forget it
            }
            outcomesDue = next
            await post("/v1/outcomes", outcomes)
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

    /// One lead, the behaviour that comes with it, and its hidden propensity to buy (0…1).
    func makeLead(_ n: Int, _ rng: inout SystemRandomNumberGenerator) -> ([String: Any], [[String: Any]], Double) {
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
        case ..<0.15: lead["country"] = "Atlantis"; lead["email"] = n % 2 == 0 ? "not-an-address" : "\(local)@example.com" // malformed
        case ..<0.35: lead["email"] = "\(local)@\(["gmail.com", "outlook.com", "gmx.de"].randomElement(using: &rng)!)"
        default:
            let domain = Self.corporate.randomElement(using: &rng)!
            lead["email"] = "\(local)@\(domain)"
            lead["industry"] = Self.industries.randomElement(using: &rng)!
            lead["employees"] = [12, 60, 150, 400, 900, 2500].randomElement(using: &rng)!
        }
        lead["job_title"] = title
        var activities: [[String: Any]] = []
        var interest = 0.0
        if let email = lead["email"] as? String, email.contains("@") {
            let engagement = Double.random(in: 0..<1, using: &rng)
            if engagement < 0.5 { activities.append(["email": email, "type": "page_view", "url": "https://example.com/blog"]) }
            if engagement < 0.2 { activities.append(["email": email, "type": "pricing_page_view", "url": "https://example.com/pricing"]); interest += 0.1 }
            if engagement < 0.12 { activities.append(["email": email, "type": "webinar_attended"]); interest += 0.2 }
            if engagement < 0.07 { activities.append(["email": email, "type": "demo_request", "url": "https://example.com/demo"]); interest += 0.4 }
            if engagement > 0.97 { activities.append(["email": email, "type": "careers_page_view", "url": "https://example.com/careers"]); interest -= 0.3 }
        }
        let senior = ["VP Sales", "Head of Marketing", "Director of Operations", "CTO"].contains(title)
        var fit = senior ? 0.5 : title.hasSuffix("Manager") ? 0.25 : 0.05
        if let employees = lead["employees"] as? Int { fit += (200...5000).contains(employees) ? 0.25 : employees >= 50 ? 0.1 : 0 }
        if let industry = lead["industry"] as? String, ["software", "saas", "fintech", "e-commerce", "logistics"].contains(industry) { fit += 0.1 }
        let p = min(0.95, max(0.02, 0.6 * fit + 0.6 * interest + Double.random(in: -0.1...0.1, using: &rng)))
        return (lead, activities, p)
    }
}
