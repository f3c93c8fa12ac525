/// A token bucket shared by all connections of a client: at most `rate` messages per second,
/// with a bucket of `burst` tokens. Implemented as a reservation schedule (GCRA), so waiting
/// callers are served in arrival order without polling.
actor RateLimiter {
    private let interval: Duration
    private let burstAllowance: Duration
    private var nextFree: ContinuousClock.Instant

    init(ratePerSecond: Double, burst: Int = 1) {
        let nanos = max(1.0, 1_000_000_000.0 / ratePerSecond)
        interval = .nanoseconds(Int64(nanos.rounded()))
        burstAllowance = interval * max(0, burst - 1)
        nextFree = .now
    }

    /// Reserves one token and returns the instant at which it may be used.
    private func reserve() -> ContinuousClock.Instant {
        let now = ContinuousClock.now
        let slot = max(now - burstAllowance, nextFree)
        nextFree = slot + interval
        return max(slot, now)
    }

    /// Waits until a token is available. Returns early (without error) when the task is cancelled.
    nonisolated func acquire() async {
        let slot = await reserve()
        if slot > .now {
            try? await Task.sleep(until: slot, clock: .continuous)
        }
    }
}
