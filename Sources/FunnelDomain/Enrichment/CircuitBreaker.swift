/// When to stop calling a provider that keeps failing.
public struct BreakerPolicy: Sendable, Equatable {
    /// Consecutive failures that open the breaker.
    public var failureThreshold: Int
    /// How long it stays open before one probe call is let through (half-open).
    public var coolDownMilliseconds: Int64
    public init(failureThreshold: Int = 5, coolDownMilliseconds: Int64 = 30_000) {
        self.failureThreshold = failureThreshold; self.coolDownMilliseconds = coolDownMilliseconds
    }
}

/// A circuit breaker as a value: closed → (N consecutive failures) → open → (cool-down) →
/// half-open, where one probe call is allowed; its success closes it, its failure opens it
/// again for another cool-down. Time is passed in (milliseconds), so tests drive it with a
/// clock of their own.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: String, Sendable { case closed, open, halfOpen = "half_open" }

    public let policy: BreakerPolicy
    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0
    /// When the open breaker lets a probe through.
    public private(set) var openUntil: Int64 = 0
    private var probeInFlight = false

    public init(policy: BreakerPolicy) { self.policy = policy }

    /// Whether a call may be made now; in half-open, only the first caller gets the probe.
    public mutating func allow(now: Int64) -> Bool {
        switch state {
        case .closed: return true
        case .open:
            guard now >= openUntil else { return false }
            state = .halfOpen
            probeInFlight = true
            return true
        case .halfOpen:
            if probeInFlight { return false }
            probeInFlight = true
            return true
        }
    }

    public mutating func recordSuccess() {
        state = .closed
        consecutiveFailures = 0
        probeInFlight = false
    }

    public mutating func recordFailure(now: Int64) {
        consecutiveFailures += 1
        probeInFlight = false
        if state == .halfOpen || consecutiveFailures >= policy.failureThreshold {
            state = .open
            openUntil = now + policy.coolDownMilliseconds
        }
    }
}
