import Foundation

/// Time for the provider client's waits (backoff, rate limit, breaker cool-down): tests pass
/// a clock that records the waits and advances at once, so nothing sleeps in a test. The HTTP
/// timeout itself is real time (async-http-client's deadline).
public protocol ProviderClock: Sendable {
    /// Milliseconds since 1970.
    func now() -> Int64
    func sleep(milliseconds: Int64) async throws
}

public struct SystemProviderClock: ProviderClock {
    public init() {}
    public func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
    public func sleep(milliseconds: Int64) async throws {
        if milliseconds > 0 { try await Task.sleep(for: .milliseconds(milliseconds)) }
    }
}
