import AsyncHTTPClient
import Foundation
import FunnelDomain
import FunnelProviders
import FunnelRuntime
import Logging
import Testing

/// The provider client against a local stand-in: answers, timeout, retries, 429 with
/// Retry-After, rate limit, and the breaker's open / half-open / close. Waits go through a
/// test clock (recorded, never slept); the timeout is the one real wait (a slow stand-in).
@Suite(.serialized, .timeLimit(.minutes(3))) struct ProviderClientTests {
    static let companyBody = #"{"name":"Acme","metrics":{"employees":250},"category":{"industry":"Software"},"geo":{"countryCode":"de"}}"#

    static func provider(_ standIn: ProviderStandIn, timeout: Int64 = 2000, retries: Int = 2, failures: Int = 5,
                         rate: Double? = nil) -> ProviderConfig {
        ProviderConfig(name: "stand-in", kind: .company, enabled: true,
                       url: try! URLTemplate(standIn.baseURL + "/company?domain={domain}", allowed: ["domain"]),
                       apiKey: .init(env: "STAND_IN_KEY"), timeoutMilliseconds: timeout, ratePerSecond: rate, burst: 1,
                       retries: RetryPolicy(maxRetries: retries, baseMilliseconds: 100, maxMilliseconds: 5000),
                       breaker: BreakerPolicy(failureThreshold: failures, coolDownMilliseconds: 10_000),
                       fields: ["name": "name", "employees": "metrics.employees", "industry": "category.industry", "country": "geo.countryCode"])
    }

    static func client(_ config: ProviderConfig, clock: TestClock, metrics: MetricsRegistry = MetricsRegistry()) -> ProviderClient {
        ProviderClient(config: config, http: HTTPClient.shared, environment: ["STAND_IN_KEY": "k-123"], clock: clock,
                       metrics: ProviderMetrics(metrics), logger: Logger(label: "test"))
    }

    @Test func aFoundAnswerIsMappedAndTheKeyComesFromTheEnvironment() async throws {
        let standIn = try await ProviderStandIn.start(.ok(Self.companyBody))
        let metrics = MetricsRegistry()
        let client = Self.client(Self.provider(standIn), clock: TestClock(), metrics: metrics)
        let answer = await client.lookup(["domain": "acme.io"])
        #expect(answer == .found(["name": "Acme", "employees": "250", "industry": "Software", "country": "de"]))
        #expect(standIn.lastAuthorization == "Bearer k-123")
        #expect(metrics.value("funnel_provider_calls_total", labels: ["provider": "stand-in", "outcome": "found"]) == 1)
        standIn.set(.notFound)
        #expect(await client.lookup(["domain": "nobody.io"]) == .notFound)
        await standIn.stop()
    }

    @Test func aSlowProviderTimesOut() async throws {
        let standIn = try await ProviderStandIn.start(.slow(seconds: 3, body: Self.companyBody))
        let metrics = MetricsRegistry()
        let client = Self.client(Self.provider(standIn, timeout: 150, retries: 0), clock: TestClock(), metrics: metrics)
        #expect(await client.lookup(["domain": "acme.io"]) == .failed(.timeout))
        #expect(metrics.value("funnel_provider_calls_total", labels: ["outcome": "timeout"]) == 1)
        await standIn.stop()
    }

    @Test func fiveHundredsAreRetriedWithBackoff() async throws {
        let standIn = try await ProviderStandIn.start(.failing(status: 503, times: 2, then: .ok(Self.companyBody)))
        let clock = TestClock()
        let metrics = MetricsRegistry()
        let client = Self.client(Self.provider(standIn, retries: 2), clock: clock, metrics: metrics)
        let answer = await client.lookup(["domain": "acme.io"])
        #expect(answer.isAnswer)
        #expect(standIn.requests == 3)
        #expect(clock.sleeps == [100, 200])
        #expect(metrics.value("funnel_provider_retries_total") == 2)
        await standIn.stop()
    }

    @Test func retriesRunOutIntoUnavailable() async throws {
        let standIn = try await ProviderStandIn.start(.failing(status: 500, times: 10, then: .ok(Self.companyBody)))
        let client = Self.client(Self.provider(standIn, retries: 1), clock: TestClock())
        #expect(await client.lookup(["domain": "acme.io"]) == .failed(.unavailable))
        #expect(standIn.requests == 2)
        await standIn.stop()
    }

    @Test func rateLimitedAnswersHonourRetryAfter() async throws {
        let standIn = try await ProviderStandIn.start(.failing(status: 429, times: 1, retryAfter: 3, then: .ok(Self.companyBody)))
        let clock = TestClock()
        let client = Self.client(Self.provider(standIn), clock: clock)
        #expect(await client.lookup(["domain": "acme.io"]).isAnswer)
        #expect(clock.sleeps == [3000])
        await standIn.stop()
    }

    @Test func theClientKeepsToTheProvidersRateLimit() async throws {
        let standIn = try await ProviderStandIn.start(.ok(Self.companyBody))
        let clock = TestClock()
        let client = Self.client(Self.provider(standIn, rate: 2), clock: clock)
        for _ in 0..<3 { _ = await client.lookup(["domain": "acme.io"]) }
        #expect(clock.sleeps == [500, 500])
        await standIn.stop()
    }

    @Test func theBreakerOpensHalfOpensAndCloses() async throws {
        let standIn = try await ProviderStandIn.start(.failing(status: 500, times: 1000, then: .ok(Self.companyBody)))
        let clock = TestClock()
        let metrics = MetricsRegistry()
        let client = Self.client(Self.provider(standIn, retries: 0, failures: 2), clock: clock, metrics: metrics)
        #expect(await client.lookup(["domain": "a.io"]) == .failed(.unavailable))
        #expect(client.breakerState == .closed)
        #expect(await client.lookup(["domain": "a.io"]) == .failed(.unavailable))
        #expect(client.breakerState == .open)
        #expect(metrics.exposition().contains(#"funnel_provider_breaker_state{provider="stand-in"} 2"#))
        // Open: no request reaches the provider.
        #expect(await client.lookup(["domain": "a.io"]) == .failed(.breakerOpen))
        #expect(standIn.requests == 2)
        // After the cool-down one probe goes through; it fails: open again.
        clock.advance(10_000)
        #expect(await client.lookup(["domain": "a.io"]) == .failed(.unavailable))
        #expect(standIn.requests == 3 && client.breakerState == .open)
        #expect(await client.lookup(["domain": "a.io"]) == .failed(.breakerOpen))
        // The provider recovers; the next probe closes the breaker.
        standIn.set(.ok(Self.companyBody))
        clock.advance(10_000)
        #expect(await client.lookup(["domain": "a.io"]).isAnswer)
        #expect(client.breakerState == .closed)
        #expect(metrics.value("funnel_provider_calls_total", labels: ["outcome": "breaker_open"]) == 2)
        await standIn.stop()
    }

    @Test func aMissingKeyIsNoCall() async throws {
        let standIn = try await ProviderStandIn.start(.ok(Self.companyBody))
        let client = ProviderClient(config: Self.provider(standIn), http: HTTPClient.shared, environment: [:], clock: TestClock(),
                                    metrics: ProviderMetrics(MetricsRegistry()), logger: Logger(label: "test"))
        #expect(await client.lookup(["domain": "acme.io"]) == .failed(.noKey))
        #expect(standIn.requests == 0)
        await standIn.stop()
    }
}
