import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// The late half of "hold until enrichment": funnel-enrich's second consumer group
/// (`funnel-enrich-providers`) reads `funnel.lead.enriched.v1`, and for each `partial` event
/// calls the providers (retrying while they are down, until `giveUpAfter`), writes the company
/// answer to the shared cache topic, then emits the re-enriched event (`complete`). The
/// partial event is the durable request: its offset is stored only after the cache record and
/// the re-enriched event were acknowledged, so a `kill -9` at any moment re-reads it, and the
/// re-enriched event's id derives from the partial event's id and its content.
public final class ReEnricher: Service, Sendable {
    public static let group = "funnel-enrich-providers"

    let config: EnrichmentConfig
    let company: ProviderClient?
    let person: ProviderClient?
    let cache: CompanyCache
    let emails: EmailDirectory
    let producer: KafkaProducer
    let kafka: KafkaConfiguration
    let metrics: ProviderMetrics
    let clock: any ProviderClock
    let logger: Logger
    /// Partial events resolved at once (provider calls in flight).
    let concurrency: Int
    /// After this long (from the partial event's enrichment time) a provider still failing is
    /// given up on: the lead stays `partial`.
    let giveUpAfterMilliseconds: Int64
    /// Company look-ups in flight by domain.
    private let inFlight = Mutex<[String: Task<CompanyCacheRecord?, Never>]>([:])

    public init(config: EnrichmentConfig, company: ProviderClient?, person: ProviderClient?, cache: CompanyCache, emails: EmailDirectory,
                producer: KafkaProducer, kafka: KafkaConfiguration, metrics: ProviderMetrics, clock: any ProviderClock = SystemProviderClock(),
                logger: Logger, concurrency: Int = 32, giveUpAfterMilliseconds: Int64 = 86_400_000) {
        self.config = config; self.company = company; self.person = person; self.cache = cache; self.emails = emails
        self.producer = producer; self.kafka = kafka; self.metrics = metrics; self.clock = clock; self.logger = logger
        self.concurrency = max(1, concurrency); self.giveUpAfterMilliseconds = giveUpAfterMilliseconds
    }

    public func run() async throws {
        let trackerBox = Locked<OffsetTracker?>(nil)
        let consumer = try KafkaConsumer(configuration: kafka, groupID: Self.group, topics: [TopicCatalog.enriched], logger: logger) { event, _ in
            if case .revoked(let partitions) = event { trackerBox.value?.forget(partitions) }
        }
        let tracker = OffsetTracker { partition, next in try? consumer.storeOffset(next: next, for: partition) }
        trackerBox.withLock { $0 = tracker }
        let concurrency = self.concurrency
        metrics.registry.gauge("funnel_consumer_lag", help: "Messages behind the end of the assigned partitions.", labels: ["stage": Self.group]) {
            Double(consumer.lag())
        }
        let loop = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var running = 0
                for try await message in consumer.messages {
                    if Task.isCancelled { break }
                    let ticket = tracker.begin(message, outputs: 1)
                    guard let event = try? StageIO.decode(LeadEnriched.self, message), event.data.enrichment == .partial else {
                        tracker.delivered(ticket)
                        continue
                    }
                    if running >= concurrency { try await group.next(); running -= 1 }
                    running += 1
                    group.addTask { [self] in
                        // Cancelled (shutdown) before its outputs were acknowledged: the offset
                        // stays unstored and the partial event is read again.
                        guard let outputs = await resolve(event), await deliver(outputs) else { return }
                        tracker.delivered(ticket)
                    }
                }
                group.cancelAll()
            }
        }
        logger.info("re-enrichment started", metadata: ["group": "\(Self.group)", "concurrency": "\(concurrency)"])
        // Cancellation (a test, the group) or graceful shutdown ends the loop.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler { try await loop.value } onGracefulShutdown: { loop.cancel() }
        } onCancel: { loop.cancel() }
        await consumer.close()
    }

    /// The cache record (if a provider was called) and the re-enriched event for a partial
    /// event; none when a provider was given up on; nil when the task was cancelled first.
    public func resolve(_ event: CloudEvent<LeadEnriched>) async -> [ProducerMessage]? {
        var lead = event.data
        var outputs: [ProducerMessage] = []
        let since = Timestamp.milliseconds(lead.enrichedAt) ?? clock.now()
        // When the answers were fetched, later than the partial event: funnel-score keeps the
        // newest profile by `enriched_at`. A cached company answer keeps its fetch time, so a
        // replay that finds it yields the same bytes.
        var answeredAt = since + 1
        if let domain = ProviderEnrichment.companyQuery(lead, config: config), let company {
            if let record = cache.fresh(domain) {
                metrics.cache(hit: true)
                answeredAt = max(answeredAt, record.fetchedAt)
                lead = ProviderEnrichment.apply(company: record, to: lead)
            } else {
                metrics.cache(hit: false)
                guard let record = await companyRecord(domain, company, since: since) else { return Task.isCancelled ? nil : [] }
                answeredAt = max(answeredAt, record.fetchedAt)
                outputs.append(CompanyCache.message(record))
                lead = ProviderEnrichment.apply(company: record, to: lead)
            }
        }
        if let query = ProviderEnrichment.personQuery(lead, config: config), let person {
            guard let answer = await answer(person, query, since: since) else { return Task.isCancelled ? nil : [] }
            answeredAt = max(answeredAt, clock.now())
            lead = ProviderEnrichment.apply(person: answer, provider: person.config.name, to: lead, emails: emails)
        }
        lead.enrichment = .complete
        lead.enrichedAt = Timestamp.format(milliseconds: answeredAt)
        metrics.enriched(.complete, stage: "re-enrich")
        outputs.append(EnrichedOutput.message(lead, leadID: event.subject, from: event.id, purpose: "re-enriched",
                                              time: lead.enrichedAt, contentAddressed: true))
        return outputs
    }

    /// The company answer for `domain`, put in the cache; concurrent look-ups of one domain
    /// share one provider call. Nil when given up (or cancelled).
    func companyRecord(_ domain: String, _ client: ProviderClient, since: Int64) async -> CompanyCacheRecord? {
        let call = inFlight.withLock { calls -> Task<CompanyCacheRecord?, Never> in
            if let running = calls[domain] { return running }
            let task = Task { [self] () -> CompanyCacheRecord? in
                defer { _ = inFlight.withLock { $0.removeValue(forKey: domain) } }
                guard let answer = await answer(client, ["domain": domain], since: since),
                      let record = CompanyCacheRecord.from(answer, domain: domain, provider: client.config.name,
                                                           now: clock.now(), ttl: config.cacheTTLMilliseconds) else { return nil }
                cache.put(record)
                return record
            }
            calls[domain] = task
            return task
        }
        return await withTaskCancellationHandler { await call.value } onCancel: { call.cancel() }
    }

    /// The provider's answer, calling again while it fails (after its breaker's cool-down, or
    /// a growing pause); nil when it gave no answer within `giveUpAfter` or cannot answer at all.
    func answer(_ client: ProviderClient, _ values: [String: String], since: Int64) async -> ProviderAnswer? {
        var pause: Int64 = 1000
        while !Task.isCancelled {
            let answer = await client.lookup(values)
            switch answer {
            case .found, .notFound: return answer
            case .failed(.badAnswer), .failed(.noKey): return nil // no retry helps: the lead stays partial
            case .failed: break
            }
            guard clock.now() - since < giveUpAfterMilliseconds else {
                metrics.registry.increment("funnel_provider_given_up_total", help: "Partial leads whose provider never answered within the give-up window.",
                                           labels: ["provider": client.config.name])
                return nil
            }
            let wait = max(pause, client.breakerOpenUntil - clock.now())
            pause = min(pause * 2, max(1000, client.config.breaker.coolDownMilliseconds))
            do { try await clock.sleep(milliseconds: wait) } catch { return nil }
        }
        return nil
    }

    /// Sends the cache record first, then the event; again until acknowledged. False when
    /// cancelled before every output was acknowledged.
    func deliver(_ outputs: [ProducerMessage]) async -> Bool {
        for output in outputs {
            var delivered = false
            while !delivered {
                if Task.isCancelled { return false }
                do {
                    try await producer.sendAndAwait(output)
                    delivered = true
                } catch {
                    logger.error("re-enrichment output not delivered", metadata: ["topic": "\(output.topic)", "error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        return true
    }
}
