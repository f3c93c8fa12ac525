import FunnelRuntime
import Synchronization

/// A token bucket per API key source: `rate` requests per second on average, bursts up to
/// `burst`. Configured by `FUNNEL_RATE_LIMIT` (requests/s per source, default 1000) and
/// `FUNNEL_RATE_BURST` (default twice the rate).
final class RateLimiter: Sendable {
    let rate: Double
    let burst: Double
    private struct Bucket { var tokens: Double; var updated: ContinuousClock.Instant }
    private let buckets = Mutex<[String: Bucket]>([:])

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    static func fromEnvironment(_ env: [String: String]) throws -> RateLimiter {
        func number(_ name: String) throws -> Double? {
            guard let text = env[name] else { return nil }
            guard let value = Double(text), value > 0, value.isFinite else { throw ConfigError("\(name)=\(text): must be a positive number") }
            return value
        }
        let rate = try number("FUNNEL_RATE_LIMIT") ?? 1000
        return RateLimiter(rate: rate, burst: try number("FUNNEL_RATE_BURST") ?? max(1, 2 * rate))
    }

    /// Takes a token for `source`; when there is none, how many seconds until there is.
    func take(_ source: String, now: ContinuousClock.Instant = .now) -> Double? {
        buckets.withLock { all in
            var bucket = all[source] ?? Bucket(tokens: burst, updated: now)
            let elapsed = Double((now - bucket.updated).components.attoseconds) / 1e18 + Double((now - bucket.updated).components.seconds)
            bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
            bucket.updated = now
            defer { all[source] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
    }
}
