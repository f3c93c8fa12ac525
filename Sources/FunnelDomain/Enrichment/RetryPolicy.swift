/// Retries of a provider call that failed with a 5xx, a 429 or a transport error: exponential
/// backoff from `baseMilliseconds`, capped at `maxMilliseconds`; a `Retry-After` header wins
/// (capped the same way).
public struct RetryPolicy: Sendable, Equatable {
    public var maxRetries: Int
    public var baseMilliseconds: Int64
    public var maxMilliseconds: Int64

    public init(maxRetries: Int = 2, baseMilliseconds: Int64 = 200, maxMilliseconds: Int64 = 5_000) {
        self.maxRetries = maxRetries; self.baseMilliseconds = baseMilliseconds; self.maxMilliseconds = maxMilliseconds
    }

    /// Whether an answer with this status is worth another try.
    public static func isRetryable(status: Int) -> Bool { status == 429 || (500...599).contains(status) }

    /// The wait before retry number `attempt` (1-based).
    public func delay(attempt: Int, retryAfterMilliseconds: Int64? = nil) -> Int64 {
        if let retryAfterMilliseconds { return min(max(0, retryAfterMilliseconds), maxMilliseconds) }
        let shift = min(attempt - 1, 30)
        return min(baseMilliseconds << Int64(shift), maxMilliseconds)
    }

    /// `Retry-After` in milliseconds: delay-seconds only (an HTTP date is rare from APIs and ignored).
    public static func retryAfter(_ header: String?) -> Int64? {
        guard let text = header?.trimmingWhitespace, let seconds = Int64(text), seconds >= 0 else { return nil }
        return seconds * 1000
    }
}

/// A token bucket: `ratePerSecond` tokens a second, at most `burst` saved. Time is passed in.
public struct TokenBucket: Sendable, Equatable {
    public let ratePerSecond: Double
    public let burst: Double
    private var tokens: Double
    private var last: Int64?

    public init(ratePerSecond: Double, burst: Int) {
        self.ratePerSecond = ratePerSecond
        self.burst = Double(max(1, burst))
        self.tokens = self.burst
    }

    /// Takes a token now, or says how long to wait (milliseconds) until one is there. A caller
    /// that waits takes its token in advance (tokens may go below zero), so waiters queue fairly.
    public mutating func reserve(now: Int64) -> Int64 {
        if let last { tokens = min(burst, tokens + Double(now - last) * ratePerSecond / 1000) }
        last = now
        tokens -= 1
        if tokens >= 0 { return 0 }
        return Int64((-tokens / ratePerSecond * 1000).rounded(.up))
    }
}
