import Synchronization

/// A value behind a lock that closures can capture and share between threads: the project's
/// one lock idiom is `Mutex`; this is a `Mutex` in a class, for values held by reference
/// (captured by escaping closures, stored in Sendable structs).
public final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let mutex = Mutex(())

    public init(_ value: Value) { stored = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try mutex.withLock { _ in try body(&stored) }
    }

    public var value: Value { withLock { $0 } }
}
