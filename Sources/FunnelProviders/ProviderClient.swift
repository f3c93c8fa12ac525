import AsyncHTTPClient
import FunnelDomain
import Logging
import NIOCore
import FunnelRuntime
import Synchronization

/// One provider of `deploy/enrichment.yaml` over HTTP: a GET of the expanded URL template with
/// the API key (from the environment variable the file names) in a header, a timeout per
/// attempt, retries with backoff on 5xx/429/transport errors (`Retry-After` honoured), a
/// per-provider rate limit and a circuit breaker. Never throws: every failure is a
/// ``ProviderFailure`` and is counted in `funnel_provider_calls_total{provider,outcome}`.
public final class ProviderClient: Sendable {
    public let config: ProviderConfig
    private let http: HTTPClient
    private let apiKey: String?
    private let clock: any ProviderClock
    private let metrics: ProviderMetrics
    private let logger: Logger
    private let breaker: Locked<CircuitBreaker>
    private let bucket: Mutex<TokenBucket?>

    /// - Parameter environment: where the API key's variable is read (the process environment).
    public init(config: ProviderConfig, http: HTTPClient, environment: [String: String], clock: any ProviderClock = SystemProviderClock(),
                metrics: ProviderMetrics, logger: Logger) {
        self.config = config
        self.http = http
        self.apiKey = config.apiKey.flatMap { environment[$0.env] }.flatMap { $0.isEmpty ? nil : $0 }
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.breaker = Locked(CircuitBreaker(policy: config.breaker))
        self.bucket = Mutex(config.ratePerSecond.map { TokenBucket(ratePerSecond: $0, burst: config.burst) })
        metrics.breakerState(provider: config.name) { [breaker] in breaker.withLock { $0.state } }
    }

    /// The breaker's state now (tests, metrics).
    public var breakerState: CircuitBreaker.State { breaker.withLock { $0.state } }

    /// When an open breaker lets the next probe through (milliseconds since 1970; 0 when closed).
    public var breakerOpenUntil: Int64 { breaker.withLock { $0.state == .closed ? 0 : $0.openUntil } }

    /// Whether the API key the file names is set (a provider without it is not called).
    public var hasKey: Bool { config.apiKey == nil || apiKey != nil }

    /// Looks `values` up (the URL template's variables). Retries inside; one breaker outcome per look-up.
    public func lookup(_ values: [String: String]) async -> ProviderAnswer {
        let answer = await lookupUncounted(values)
        let outcome: String = switch answer {
        case .found: "found"
        case .notFound: "not_found"
        case .failed(let failure): failure.rawValue
        }
        metrics.call(provider: config.name, outcome: outcome)
        return answer
    }

    private func lookupUncounted(_ values: [String: String]) async -> ProviderAnswer {
        guard hasKey else { return .failed(.noKey) }
        guard let url = config.url.expand(values) else { return .failed(.badAnswer) }
        guard breaker.withLock({ $0.allow(now: clock.now()) }) else { return .failed(.breakerOpen) }
        var attempt = 0
        while true {
            attempt += 1
            let wait = bucket.withLock { bucket -> Int64 in bucket == nil ? 0 : bucket!.reserve(now: clock.now()) }
            if wait > 0 {
                metrics.rateLimited(provider: config.name)
                do { try await clock.sleep(milliseconds: wait) } catch { return finish(.failed(.unavailable)) }
            }
            let result = await attemptOnce(url)
            switch result {
            case .answer(let answer):
                return finish(answer)
            case .retry(let failure, let retryAfter):
                guard attempt <= config.retries.maxRetries else { return finish(.failed(failure)) }
                metrics.retry(provider: config.name)
                do { try await clock.sleep(milliseconds: config.retries.delay(attempt: attempt, retryAfterMilliseconds: retryAfter)) }
                catch { return finish(.failed(failure)) }
            }
        }
    }

    /// Updates the breaker: answers (found, not found) close it, failures count towards opening it.
    private func finish(_ answer: ProviderAnswer) -> ProviderAnswer {
        let now = clock.now()
        breaker.withLock { breaker in
            switch answer {
            case .failed(.badAnswer), .found, .notFound: breaker.recordSuccess() // the provider is up
            case .failed: breaker.recordFailure(now: now)
            }
        }
        return answer
    }

    private enum Attempt {
        case answer(ProviderAnswer)
        case retry(ProviderFailure, retryAfter: Int64?)
    }

    private func attemptOnce(_ url: String) async -> Attempt {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "funnel-enrich")
        if let key = config.apiKey, let apiKey { request.headers.add(name: key.header, value: key.prefix + apiKey) }
        do {
            // No logger for the client: its debug logs carry the URL (an e-mail address or a name).
            let response = try await http.execute(request, timeout: .milliseconds(config.timeoutMilliseconds))
            let status = Int(response.status.code)
            if RetryPolicy.isRetryable(status: status) {
                return .retry(.unavailable, retryAfter: RetryPolicy.retryAfter(response.headers.first(name: "Retry-After")))
            }
            if config.notFoundStatuses.contains(status) { return .answer(.notFound) }
            guard (200...299).contains(status) else {
                // No URL or body in the log: they carry the lead's e-mail or name.
                logger.warning("provider refused the request", metadata: ["provider": "\(config.name)", "status": "\(status)"])
                return .answer(.failed(.badAnswer))
            }
            let body = try await response.body.collect(upTo: 1 << 20)
            guard let fields = FieldMapping.extract(Array(buffer: body), mapping: config.fields) else { return .answer(.failed(.badAnswer)) }
            return .answer(fields.isEmpty ? .notFound : .found(fields))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .retry(.timeout, retryAfter: nil)
        } catch {
            return .retry(.unavailable, retryAfter: nil)
        }
    }
}
