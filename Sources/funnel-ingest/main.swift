import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-ingest: the public HTTP entry. Validates, assigns lead ids, and replies 202 only
/// after Kafka acknowledged every event of the request.
/// A request waits for Kafka's acknowledgement: without one within 10 s (librdkafka's default is
/// 300 s) the client gets 503 + Retry-After and retries. `KAFKA_MESSAGE_TIMEOUT_MS` overrides it.
/// The event endpoints are answered on the HTTP event loops by `EventRequestHandler`, without a
/// Swift task per request.
await ServiceMain.run(service: "funnel-ingest", defaultPort: 8080, producerDefaults: ["message.timeout.ms": "10000"]) { context, router in
    let keys = try APIKeyStore.load(configDirectory: context.environment.configDirectory, environment: context.environment.raw)
    if keys.entries.isEmpty {
        context.logger.warning("no API keys configured: every API request gets 401", metadata: [
            "file": "\(context.environment.configDirectory)/\(APIKeyStore.fileName)", "env": "\(APIKeyStore.environmentVariable)"])
    } else {
        // Sources and scopes only: never a key or a hash.
        context.logger.info("API keys loaded", metadata: ["keys": "\(keys.entries.count)",
            "sources": "\(Set(keys.entries.map(\.source)).sorted().joined(separator: ","))"])
    }
    let limiter = try RateLimiter.fromEnvironment(context.environment.raw)
    context.logger.info("rate limit per API key source", metadata: ["per_second": "\(limiter.rate)", "burst": "\(limiter.burst)"])
    let firstSeen = FirstSeenTimes(capacity: try context.environment.integer("FUNNEL_IDEMPOTENCY_KEYS", default: 100_000, in: 1...10_000_000))
    func data(_ name: String) throws -> String { try context.environment.readConfigFile("data/" + name) }
    let countries = try CountryNames(generated: data("country-names.tsv"), generatedFile: "data/country-names.tsv",
                                     aliases: data("country-aliases.tsv"), aliasesFile: "data/country-aliases.tsv")
    context.logger.info("country names loaded", metadata: ["names": "\(countries.count)"])
    let routes = IngestRoutes(context: context, keys: keys, limiter: limiter, firstSeen: firstSeen, countries: countries)
    routes.register(on: router)
    ErasureRoutes(routes: routes).register(on: router)
    context.connectionHandlers.add { EventRequestHandler(routes: routes) }
    try OpenAPIDocument.register(on: router, context: context, countries: countries)
    let signer = try TrackingRoutes.signer(environment: context.environment.raw)
    if signer == nil {
        context.logger.warning("no tracking secret (FUNNEL_TRACKING_SECRET): open, click and unsubscribe links answer 404")
    }
    TrackingRoutes(context: context, signer: signer, firstSeen: firstSeen).register(on: router)
    // Before taking requests: the times of the newest events written, so a client's retry after
    // a restart gets its first attempt's time (FirstSeenTimes). Without a broker, nothing.
    do {
        let perPartition = try context.environment.integer("FUNNEL_IDEMPOTENCY_RESTORE", default: 20_000, in: 0...10_000_000)
        let restored = try firstSeen.restore(configuration: context.environment.kafka, perPartition: perPartition)
        context.logger.info("first-seen times restored", metadata: ["events": "\(restored)", "per_partition": "\(perPartition)"])
    } catch let error as ConfigError {
        throw error
    } catch {
        context.logger.warning("first-seen times not restored: a retry after this restart gets a new time", metadata: ["error": "\(error)"])
    }
    context.health.setReady(true)
    return []
}
