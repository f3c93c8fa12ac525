import AsyncHTTPClient
import FunnelDomain
import FunnelRuntime
import ServiceLifecycle

/// funnel-enrich's provider wiring from `deploy/enrichment.yaml`: the stage's hook, and, when a
/// provider is enabled, the cache follower and the re-enrichment loop. With every provider
/// disabled (the shipped file) nothing here touches the network.
public struct ProviderSetup: Sendable {
    public let config: EnrichmentConfig
    public let stage: ProviderStage
    public let services: [any Service]

    public init(context: ServiceContext, emails: EmailDirectory) throws {
        let env = context.environment
        let config: EnrichmentConfig
        if let text = try? env.readConfigFile(EnrichmentConfig.fileName) {
            config = try EnrichmentConfig.parse(yaml: text)
        } else {
            context.logger.warning("no enrichment.yaml in the config directory: providers disabled")
            config = .disabled
        }
        for provider in config.providers where provider.enabled {
            if let key = provider.apiKey, (env.raw[key.env] ?? "").isEmpty {
                throw ConfigError("\(EnrichmentConfig.fileName): providers.\(provider.name).api_key: environment variable \(key.env) is not set")
            }
        }
        self.config = config
        guard !config.isOffline else {
            stage = ProviderStage(config: config, cache: nil, metrics: nil)
            services = []
            context.logger.info("providers disabled", metadata: ["enrichment_version": "\(config.version)"])
            return
        }
        let metrics = ProviderMetrics(context.metrics)
        let cache = CompanyCache()
        let http = ProviderHTTP.client
        func client(_ kind: ProviderConfig.Kind) -> ProviderClient? {
            config.provider(kind).map { ProviderClient(config: $0, http: http, environment: env.raw, metrics: metrics, logger: context.logger) }
        }
        let reEnricher = ReEnricher(config: config, company: client(.company), person: client(.person), cache: cache, emails: emails,
                                    producer: context.producer, kafka: env.kafka, metrics: metrics, logger: context.logger,
                                    concurrency: try env.integer("FUNNEL_ENRICH_CONCURRENCY", default: 32, in: 1...1024))
        stage = ProviderStage(config: config, cache: cache, metrics: metrics)
        services = [cache.view(configuration: env.kafka, health: context.health, logger: context.logger), reEnricher]
        context.logger.info("providers enabled", metadata: [
            "enrichment_version": "\(config.version)",
            "providers": "\(config.providers.filter(\.enabled).map { "\($0.name) (\($0.kind.rawValue))" })"])
    }
}
