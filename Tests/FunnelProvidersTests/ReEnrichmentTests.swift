import AsyncHTTPClient
import Foundation
import FunnelDevKit
import FunnelDomain
import FunnelKafka
@testable import FunnelProviders
import FunnelRuntime
import FunnelTestSupport
import Logging
import Synchronization
import Testing

/// The late half of enrichment: a `partial` lead is re-enriched when the provider answers
/// (after an outage too), the answer lands in the shared cache, and another replica's stage
/// answers the same domain from the cache without calling the provider.
@Suite(.serialized, .timeLimit(.minutes(4))) struct ReEnrichmentTests {
    static let emails = EmailDirectory(freeDomains: ["gmail.com"], disposableDomains: ["mailinator.com"], rolePrefixes: ["info"])

    static func config(_ standIn: ProviderStandIn, person: Bool = false) throws -> EnrichmentConfig {
        let company = ProviderConfig(name: "stand-in", kind: .company, enabled: true,
                                     url: try URLTemplate(standIn.baseURL + "/company?domain={domain}", allowed: ["domain"]),
                                     retries: RetryPolicy(maxRetries: 0), breaker: BreakerPolicy(failureThreshold: 2, coolDownMilliseconds: 10_000),
                                     fields: ["name": "name", "employees": "metrics.employees"])
        let personProvider = ProviderConfig(name: "people", kind: .person, enabled: true,
                                            url: try URLTemplate(standIn.baseURL + "/person?l={last_name}&d={domain}", allowed: URLTemplate.variables(.person)),
                                            retries: RetryPolicy(maxRetries: 0), fields: ["email": "person.email"])
        return EnrichmentConfig(version: "t", cacheTTLMilliseconds: 3_600_000, providers: person ? [personProvider] : [company])
    }

    struct Replica {
        let cache: CompanyCache
        let stage: ProviderStage
        let reEnricher: ReEnricher
        let metrics: MetricsRegistry
    }

    static func replica(_ config: EnrichmentConfig, clock: TestClock, producer: KafkaProducer, kafka: KafkaConfiguration,
                        giveUpAfter: Int64 = 86_400_000) -> Replica {
        let registry = MetricsRegistry()
        let metrics = ProviderMetrics(registry)
        let cache = CompanyCache(clock: clock)
        func client(_ kind: ProviderConfig.Kind) -> ProviderClient? {
            config.provider(kind).map { ProviderClient(config: $0, http: HTTPClient.shared, environment: [:], clock: clock, metrics: metrics, logger: Logger(label: "t")) }
        }
        let reEnricher = ReEnricher(config: config, company: client(.company), person: client(.person), cache: cache, emails: emails,
                                    producer: producer, kafka: kafka, metrics: metrics, clock: clock, logger: Logger(label: "t"),
                                    giveUpAfterMilliseconds: giveUpAfter)
        return Replica(cache: cache, stage: ProviderStage(config: config, cache: cache, metrics: metrics), reEnricher: reEnricher, metrics: registry)
    }

    static func captured(_ email: String, id: String, company: String? = nil, domain: String? = nil, last: String? = "Lovelace") -> CloudEvent<LeadCaptured> {
        let lead = LeadCaptured(leadID: "lead-" + id, email: email, firstName: "Ada", lastName: last, company: company, companyDomain: domain,
                                capturedAt: "2026-12-07T10:00:00Z")
        return CloudEvent(id: "captured-" + id, source: "test", type: TopicCatalog.captured, time: lead.capturedAt, subject: lead.leadID, data: lead)
    }

    /// The stage's output for a captured event, decoded.
    static func atStage(_ replica: Replica, _ event: CloudEvent<LeadCaptured>) throws -> (message: ProducerMessage, event: CloudEvent<LeadEnriched>) {
        let enriched = Enricher.enrich(event.data, emails: emails, companies: CompanyDirectory([]), at: event.data.capturedAt)
        let message = replica.stage.output(enriched, leadID: event.subject, from: event.id, time: event.data.capturedAt)
        return (message, try decode(message))
    }

    static func decode(_ message: ProducerMessage) throws -> CloudEvent<LeadEnriched> {
        try JSONDecoder().decode(CloudEvent<LeadEnriched>.self, from: Data(message.value ?? []))
    }

    static let offlineKafka = KafkaConfiguration(brokers: "127.0.0.1:1", properties: ["log_level": "0"])

    /// A producer nothing is sent through (`resolve` only builds the outputs).
    static func idleProducer() throws -> KafkaProducer {
        var quiet = Logger(label: "idle-producer")
        quiet.logLevel = .critical
        return try KafkaProducer(configuration: offlineKafka, logger: quiet)
    }

    @Test func aPartialLeadIsReEnrichedWhenTheProviderRecoversAndAReplayGivesTheSameEvent() async throws {
        let standIn = try await ProviderStandIn.start(.failing(status: 503, times: 3, then: .ok(#"{"name":"Acme","metrics":{"employees":250}}"#)))
        let clock = TestClock()
        let producer = try Self.idleProducer()
        let replica = Self.replica(try Self.config(standIn), clock: clock, producer: producer, kafka: Self.offlineKafka)
        // The stage never waits: a miss goes on at once as partial.
        let (_, partial) = try Self.atStage(replica, Self.captured("ada@acme.io", id: "1"))
        #expect(partial.data.enrichment == .partial)
        #expect(standIn.requests == 0)

        // Down three times (the breaker opens and a probe fails), then up.
        let outputs = try #require(await replica.reEnricher.resolve(partial))
        #expect(standIn.requests == 4)
        #expect(outputs.map(\.topic) == [TopicCatalog.enrichCompanies, TopicCatalog.enriched])
        let record = try #require(CompanyCacheRecord.decode(outputs[0].value ?? []))
        #expect(record.company?.name == "Acme" && String(decoding: outputs[0].key ?? [], as: UTF8.self) == "acme.io")
        let reEnriched = try Self.decode(outputs[1])
        #expect(reEnriched.data.enrichment == .complete)
        #expect(reEnriched.data.company?.employees == 250 && reEnriched.data.companySource == "stand-in")
        #expect(reEnriched.id != partial.id && reEnriched.subject == "lead-1")
        #expect(clock.sleeps.contains(10_000)) // waited for the breaker's cool-down, not in a busy loop

        // A replay of the partial event (after a kill -9) finds the answer in the cache: same id, same bytes.
        let replay = try #require(await replica.reEnricher.resolve(partial))
        #expect(replay.count == 1 && replay[0].value == outputs[1].value)
        #expect(standIn.requests == 4)
        // And a new lead of the same company is complete at the stage.
        let (_, next) = try Self.atStage(replica, Self.captured("bob@acme.io", id: "2"))
        #expect(next.data.enrichment == .complete && next.data.company?.name == "Acme")
        #expect(replica.metrics.value("funnel_enrich_cache_hits_total") == 2)
        await standIn.stop()
    }

    @Test func aProviderDownForLongerThanTheGiveUpWindowLeavesTheLeadPartial() async throws {
        let standIn = try await ProviderStandIn.start(.failing(status: 500, times: 1_000_000, then: .notFound))
        let clock = TestClock()
        let producer = try Self.idleProducer()
        let replica = Self.replica(try Self.config(standIn), clock: clock, producer: producer, kafka: Self.offlineKafka, giveUpAfter: 120_000)
        var (_, partial) = try Self.atStage(replica, Self.captured("ada@acme.io", id: "3"))
        partial.data.enrichedAt = Timestamp.format(milliseconds: clock.now())
        let outputs = await replica.reEnricher.resolve(partial)
        #expect(outputs?.isEmpty == true)
        #expect(replica.metrics.value("funnel_provider_given_up_total") == 1)
        #expect(standIn.requests < 20) // waited out the breaker instead of hammering the provider
        await standIn.stop()
    }

    @Test func findContactInfoThroughThePersonProvider() async throws {
        let standIn = try await ProviderStandIn.start(.ok(#"{"person":{"email":"ada.lovelace@acme.io"}}"#))
        let clock = TestClock()
        let producer = try Self.idleProducer()
        let replica = Self.replica(try Self.config(standIn, person: true), clock: clock, producer: producer, kafka: Self.offlineKafka)
        let (_, partial) = try Self.atStage(replica, Self.captured("x@mailinator.com", id: "4", company: "Acme", domain: "acme.io"))
        #expect(partial.data.enrichment == .partial && !partial.data.contactAvailable)
        let outputs = try #require(await replica.reEnricher.resolve(partial))
        let found = try Self.decode(try #require(outputs.last))
        #expect(found.data.contactAvailable && found.data.contactSource == "people")
        #expect(found.data.profile.email == "ada.lovelace@acme.io" && found.data.emailClass == .corporate)

        // Not found: complete, still no contact info (the router keeps it captured).
        standIn.set(.notFound)
        let (_, other) = try Self.atStage(replica, Self.captured("y@mailinator.com", id: "5", company: "Acme", domain: "acme.io", last: "Byron"))
        let none = try Self.decode(try #require(await replica.reEnricher.resolve(other)?.last))
        #expect(none.data.enrichment == .complete && !none.data.contactAvailable && none.data.contactSource == nil)
        await standIn.stop()
    }

    @Test func aReplicaSeesTheAnswersAnotherReplicaWroteToTheCacheTopic() async throws {
        try await withLocalBroker { broker in
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap))
            _ = try await admin.createTopics([TopicSpecification(name: TopicCatalog.enrichCompanies, partitions: 3,
                                                                 configs: ["cleanup.policy": "compact"])])
            let standIn = try await ProviderStandIn.start(.ok(#"{"name":"Acme","metrics":{"employees":250}}"#))
            let kafka = testConfiguration(broker)
            let producer = try KafkaProducer(configuration: kafka)
            let clock = TestClock()
            let config = try Self.config(standIn)
            let a = Self.replica(config, clock: clock, producer: producer, kafka: kafka)
            let b = Self.replica(config, clock: clock, producer: producer, kafka: kafka)
            // An answer written before B starts is restored; one written after is followed.
            let (_, first) = try Self.atStage(a, Self.captured("ada@acme.io", id: "6"))
            #expect(await a.reEnricher.deliver(try #require(await a.reEnricher.resolve(first))))
            let health = HealthState()
            let follower = Task { try await b.cache.view(configuration: kafka, health: health, logger: Logger(label: "t")).run() }
            try await within(30, "B's cache restored") { while health.states["enrich-cache"] != true { try await Task.sleep(for: .milliseconds(20)) } }
            #expect(b.cache.fresh("acme.io") != nil) // read at start
            let (_, second) = try Self.atStage(a, Self.captured("ada@globex.io", id: "7"))
            #expect(await a.reEnricher.deliver(try #require(await a.reEnricher.resolve(second))))
            try await within(30, "B follows globex.io") { while b.cache.fresh("globex.io") == nil { try await Task.sleep(for: .milliseconds(20)) } }
            // B's stage answers both from the cache: complete, and no call to the provider.
            let calls = standIn.requests
            for (id, email) in [("8", "eve@acme.io"), ("9", "eve@globex.io")] {
                let (_, event) = try Self.atStage(b, Self.captured(email, id: id))
                #expect(event.data.enrichment == .complete && event.data.company?.name == "Acme")
            }
            #expect(standIn.requests == calls)
            follower.cancel()
            _ = await follower.result
            await producer.close()
            await standIn.stop()
        }
    }
}
