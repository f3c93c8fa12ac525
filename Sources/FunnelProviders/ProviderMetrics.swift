import FunnelDomain
import FunnelRuntime

/// The provider metrics of funnel-enrich: calls by provider and outcome, retries, rate-limit
/// waits, breaker state (0 closed, 1 half-open, 2 open) and cache hits and misses.
public struct ProviderMetrics: Sendable {
    public let registry: MetricsRegistry
    private let hits: MetricsRegistry.Counter
    private let misses: MetricsRegistry.Counter
    /// `funnel_enrich_status_total{path="stage"}` by status, resolved once (one per lead).
    private let atStage: [EnrichmentStatus: MetricsRegistry.Counter]

    public init(_ registry: MetricsRegistry) {
        self.registry = registry
        hits = registry.counter("funnel_enrich_cache_hits_total", help: "Company look-ups answered by the shared cache (funnel.enrich.companies.v1).")
        atStage = Dictionary(uniqueKeysWithValues: [EnrichmentStatus.complete, .partial, .none].map { status in
            (status, registry.counter(Self.statusName, help: Self.statusHelp, labels: ["enrichment": status.rawValue, "path": "stage"]))
        })
        misses = registry.counter("funnel_enrich_cache_misses_total", help: "Company look-ups the shared cache could not answer (absent or expired).")
    }

    func call(provider: String, outcome: String) {
        registry.increment("funnel_provider_calls_total", help: "Provider look-ups by provider and outcome (found, not_found, timeout, unavailable, breaker_open, bad_answer, no_key).",
                           labels: ["provider": provider, "outcome": outcome])
    }

    func retry(provider: String) {
        registry.increment("funnel_provider_retries_total", help: "Provider calls retried after a 5xx, 429 or transport error.", labels: ["provider": provider])
    }

    func rateLimited(provider: String) {
        registry.increment("funnel_provider_rate_limited_total", help: "Provider calls that waited for the provider's rate limit.", labels: ["provider": provider])
    }

    func breakerState(provider: String, _ read: @escaping @Sendable () -> CircuitBreaker.State) {
        registry.gauge("funnel_provider_breaker_state", help: "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.", labels: ["provider": provider]) {
            switch read() { case .closed: 0; case .halfOpen: 1; case .open: 2 }
        }
    }

    public func cache(hit: Bool) { (hit ? hits : misses).increment() }

    static let statusName = "funnel_enrich_status_total"
    static let statusHelp = "Enriched events by enrichment status and path (stage, re-enrich)."

    public func enriched(_ status: EnrichmentStatus, stage: String) {
        if stage == "stage", let counter = atStage[status] { counter.increment(); return }
        registry.increment(Self.statusName, help: Self.statusHelp, labels: ["enrichment": status.rawValue, "path": stage])
    }
}
