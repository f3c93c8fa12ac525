import ArgumentParser
import AsyncHTTPClient
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelProviders
import FunnelRuntime
import Hummingbird
import Logging
import NIOCore

/// `funnel bench enrich`: funnel-enrich's per-lead work with the full e-mail lists, in
/// process (no broker): decode the captured event, `Enricher.enrich`, the provider hook,
/// encode the enriched event. Providers off (the e-mail lists alone; with the intent lists and
/// accounts.csv; and with 10^4 CRM accounts, whose ids are content-addressed), a company answer from the shared
/// cache, and a cache miss (the lead goes on `partial` at once). Then the provider path: a
/// local stand-in answering after `--latency-ms`, the re-enrichment loop resolving partial
/// leads with `--concurrency` calls in flight, while the stage path is measured again beside
/// it: a slow provider does not stall the partition.
struct EnrichBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrich",
        abstract: "funnel-enrich: msgs/s and CPU-s per 10^6 leads (providers off, cache hit, cache miss) and the provider path at a latency.")

    @Option(help: "Directory with the lists (default: $FUNNEL_CONFIG_DIR/data, else deploy/data).") var data: String?
    @Option(help: "Leads per stage measurement.") var leads = 200_000
    @Option(help: "Simulated provider latency in milliseconds.") var latencyMs = 200
    @Option(help: "Partial leads re-enriched through the slow provider.") var providerLeads = 2_000
    @Option(help: "Provider calls in flight (FUNNEL_ENRICH_CONCURRENCY).") var concurrency = 32

    func run() async throws {
        let directory = EmailListsBench.directory(data)
        let emails = try EmailListsBench.emails(directory)
        print("lists: \(emails.disposableDomains.count) disposable, \(emails.freeDomains.count) free, \(emails.rolePrefixes.count) role prefixes")

        // The provider stand-in: answers every company after the latency.
        let latency = latencyMs
        let router = Router()
        router.get("company") { _, _ -> Response in
            try await Task.sleep(for: .milliseconds(latency))
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"name":"Bench Corp","metrics":{"employees":420},"category":{"industry":"Software"}}"#)))
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var quiet = Logger(label: "bench-provider")
        quiet.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0); continuation.finish() }, logger: quiet)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        var port = 0
        for await p in ports { port = p }
        defer { server.cancel() }

        let provider = ProviderConfig(name: "bench", kind: .company, enabled: true,
                                      url: try URLTemplate("http://127.0.0.1:\(port)/company?domain={domain}", allowed: ["domain"]),
                                      timeoutMilliseconds: Int64(max(2000, latency * 4)), fields: ["name": "name", "employees": "metrics.employees", "industry": "category.industry"])
        let online = EnrichmentConfig(version: "bench", cacheTTLMilliseconds: 86_400_000, providers: [provider])
        let metrics = ProviderMetrics(MetricsRegistry())
        let cache = CompanyCache()
        let now = SystemProviderClock().now()
        let domains = (0..<10_000).map { "company\($0).example" }
        for domain in domains {
            cache.put(CompanyCacheRecord(domain: domain, provider: "bench", company: CompanyInfo(domain: domain, name: "Bench Corp", employees: 420),
                                         fetchedAt: now, expiresAt: now + 86_400_000))
        }
        let free = emails.freeDomains.sorted()
        func captured(_ i: Int, domain: String) -> ConsumerMessage {
            let email = i % 5 == 0 ? "p\(i)@\(free[i % free.count])" : "first.last\(i)@\(domain)"
            let lead = LeadCaptured(leadID: "lead-\(i)", email: email, firstName: "ada", lastName: "LOVELACE", jobTitle: "Head of Data",
                                    capturedAt: "2026-12-07T10:00:00Z")
            let event = CloudEvent(id: "in-\(i)", source: "bench", type: TopicCatalog.captured, time: lead.capturedAt, subject: lead.leadID, data: lead)
            return ConsumerMessage(topic: TopicCatalog.captured, partition: 0, offset: Int64(i), key: Array(lead.leadID.utf8),
                                   value: EventCoding.encode(event), timestampMilliseconds: 0)
        }
        let hitInputs = (0..<min(leads, 50_000)).map { captured($0, domain: domains[$0 % domains.count]) }
        let missInputs = (0..<min(leads, 50_000)).map { captured($0, domain: "unseen\($0).example") }
        let companies = CompanyDirectory([])
        // The intent lists and accounts funnel-enrich loads; and a CRM's 10^4 accounts beside them
        // (funnel.enrich.accounts.v1), a tenth of the corporate leads on one of their domains.
        func read(_ name: String) throws -> String { try EmailListsBench.file(directory, name) }
        let intents = try IntentDirectory.load(read: read)
        let fileAccounts = try AccountFile.parse(read("accounts.csv"), file: "accounts.csv")
        var book = AccountBook(file: fileAccounts)
        for i in 0..<10_000 {
            book.put(Account(id: "crm-\(i)", name: "CRM Account \(i) Holdings", domains: ["company\(i * 10).example"], owner: "rep-\(i % 40)"))
        }
        let fileOnly = AccountDirectory(fileAccounts), withCRM = book.directory()

        /// One stage pass over `leads` inputs: the per-lead work of funnel-enrich's handler.
        /// `reference`: with the intent lists and accounts (`nil`: the e-mail lists alone, as the
        /// bench measured before intents and accounts existed).
        func stagePass(_ stage: ProviderStage, _ inputs: [ConsumerMessage], reference accounts: AccountDirectory? = fileOnly) throws -> (rate: Double, cpuPerMillion: Double, statuses: [String: Int]) {
            let intents = accounts == nil ? IntentDirectory() : intents
            let fromCRM = (accounts?.accounts.count ?? 0) > fileAccounts.count
            let accounts = accounts ?? AccountDirectory()
            var statuses: [String: Int] = [:]
            let cpu0 = CPU.own(), t0 = ContinuousClock.now
            for i in 0..<leads {
                let message = inputs[i % inputs.count]
                let event = try StageIO.decode(LeadCaptured.self, message)
                let enriched = Enricher.enrich(event.data, emails: emails, companies: companies, intents: intents, accounts: accounts,
                                               at: event.data.capturedAt)
                let out = stage.output(enriched, leadID: event.subject, from: event.id, time: event.data.capturedAt, contentAddressed: fromCRM)
                if i % 997 == 0, let value = out.value, let decoded = try? JSONDecoder().decode(CloudEvent<LeadEnriched>.self, from: Data(value)) {
                    statuses[decoded.data.enrichment?.rawValue ?? "absent", default: 0] += 1
                }
            }
            let wall = (ContinuousClock.now - t0).seconds, cpu = CPU.own() - cpu0
            return (Double(leads) / wall, cpu / Double(leads) * 1e6, statuses)
        }
        func report(_ name: String, _ r: (rate: Double, cpuPerMillion: Double, statuses: [String: Int])) {
            let statuses = r.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print(name.padding(toLength: 48, withPad: " ", startingAt: 0)
                  + String(format: "%9.0f msgs/s  %7.1f CPU-s per 10^6 leads", r.rate, r.cpuPerMillion) + "   enrichment (sampled): " + statuses)
        }
        let offline = ProviderStage(config: .disabled, cache: nil, metrics: nil)
        let withCache = ProviderStage(config: online, cache: cache, metrics: metrics)
        report("stage, providers off, e-mail lists only", try stagePass(offline, hitInputs, reference: nil))
        report("stage, providers off (lists, intent, accounts)", try stagePass(offline, hitInputs))
        report("stage, providers off, + 10^4 CRM accounts", try stagePass(offline, hitInputs, reference: withCRM))
        report("stage, company from the shared cache", try stagePass(withCache, hitInputs))
        report("stage, cache miss (goes on partial)", try stagePass(withCache, missInputs))

        // The provider path: partial leads resolved through the slow stand-in.
        let producer = try KafkaProducer(configuration: KafkaConfiguration(brokers: "127.0.0.1:1", properties: ["log_level": "0"]), logger: quiet)
        let client = ProviderClient(config: provider, http: ProviderHTTP.client, environment: [:], metrics: metrics, logger: quiet)
        let reEnricher = ReEnricher(config: online, company: client, person: nil, cache: CompanyCache(), emails: emails, producer: producer,
                                    kafka: producer.configuration, metrics: metrics, logger: quiet, concurrency: concurrency)
        var partials: [CloudEvent<LeadEnriched>] = []
        for i in 0..<providerLeads {
            let message = captured(i, domain: "late\(i).example")
            let event = try StageIO.decode(LeadCaptured.self, message)
            let enriched = Enricher.enrich(event.data, emails: emails, companies: companies, at: event.data.capturedAt)
            let out = withCache.output(enriched, leadID: event.subject, from: event.id, time: event.data.capturedAt)
            partials.append(try JSONDecoder().decode(CloudEvent<LeadEnriched>.self, from: Data(out.value ?? [])))
        }
        partials = partials.filter { $0.data.enrichment == .partial }
        let limit = concurrency
        let work = partials
        let t0 = ContinuousClock.now
        // Detached: a task made here would run on the main actor, which the stage pass below keeps busy.
        let resolving = Task.detached {
            await withTaskGroup(of: Int.self) { group in
                var next = 0, running = 0, complete = 0
                while next < work.count || running > 0 {
                    while running < limit && next < work.count {
                        let event = work[next]
                        next += 1
                        running += 1
                        group.addTask { (await reEnricher.resolve(event))?.isEmpty == false ? 1 : 0 }
                    }
                    complete += await group.next() ?? 0
                    running -= 1
                }
                return complete
            }
        }
        // The stage beside it, on this task: its rate does not depend on the provider.
        let beside = try stagePass(withCache, missInputs)
        let complete = await resolving.value
        let providerWall = (ContinuousClock.now - t0).seconds
        report("stage, cache miss, provider path beside it*", beside)
        print(String(format: "provider path: %d partial leads re-enriched (%d complete) in %.1f s at %d ms latency, %d in flight: %.0f leads/s (bound: %.0f/s)",
                     work.count, complete, providerWall, latency, limit, Double(complete) / providerWall, Double(limit) * 1000 / Double(max(1, latency))))
        print("* the CPU-s of that line are the whole process's: the stage and the provider path beside it")
        await producer.close(timeout: .seconds(1))
    }
}
