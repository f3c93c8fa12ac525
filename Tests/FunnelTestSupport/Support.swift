import Foundation
import FunnelKafka
import FunnelDevKit
import Synchronization

/// Client settings for tests: short session timeout so group joins take about a second.
public func testConfiguration(_ broker: LocalBroker, _ extra: [String: String] = [:]) -> KafkaConfiguration {
    var config = KafkaConfiguration(brokers: broker.bootstrap, properties: [
        "session.timeout.ms": "2000",
        "heartbeat.interval.ms": "200",
        "topic.metadata.refresh.interval.ms": "1000",
        "log_level": "3",
    ])
    for (key, value) in extra { config[key] = value }
    return config
}

/// The environment of a Funnel process a test starts as a child: this process's, the broker, a
/// short group session (rebalances in about a second), its HTTP port and config directory, and
/// `FUNNEL_PARENT_PID` (it exits if the test runner dies).
public func serviceEnvironment(_ broker: LocalBroker, port: Int, configDirectory: String, _ extra: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment["KAFKA_BROKERS"] = broker.bootstrap
    environment["KAFKA_SESSION_TIMEOUT_MS"] = "2000"
    environment["KAFKA_HEARTBEAT_INTERVAL_MS"] = "200"
    environment["FUNNEL_HTTP_PORT"] = String(port)
    environment["FUNNEL_CONFIG_DIR"] = configDirectory
    environment["FUNNEL_PARENT_PID"] = String(getpid())
    for (key, value) in extra { environment[key] = value }
    return environment
}

public func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

/// Creates `name`; throws unless the broker created it (a name left over from another run fails).
public func createTopic(_ broker: LocalBroker, _ name: String, partitions: Int = 1) async throws {
    let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap))
    let outcome = try await admin.createTopics([TopicSpecification(name: name, partitions: partitions)])
    guard outcome[name] == .created else { throw TopicNotCreated(name: name, outcome: "\(String(describing: outcome[name]))") }
}

public struct TopicNotCreated: Error, CustomStringConvertible {
    public let name: String
    public let outcome: String
    public var description: String { "topic \(name) not created: \(outcome)" }
}

public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public init(what: String) { self.what = what }
    public var description: String { "timed out waiting for \(what)" }
}

/// Fails (instead of hanging) if `body` does not finish within `seconds`. A guard, not a
/// synchronisation: the awaited condition is an event.
public func within<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// Collects values from any thread and lets a test await a condition on them.
public final class Collector<Value: Sendable>: Sendable {
    private struct Waiter {
        let id: UUID
        let predicate: @Sendable ([Value]) -> Bool
        let continuation: CheckedContinuation<Void, Never>
    }
    private struct State {
        public var values: [Value] = []
        var waiters: [Waiter] = []
    }
    private let state = Mutex(State())

    public init() {}

    public func append(_ value: Value) {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.values.append(value)
            let done = s.waiters.filter { $0.predicate(s.values) }
            s.waiters.removeAll { $0.predicate(s.values) }
            return done.map(\.continuation)
        }
        for c in ready { c.resume() }
    }

    public var values: [Value] { state.withLock { $0.values } }

    /// Waits until `predicate(values)` holds, or the task is cancelled (then returns at once,
    /// so a timed-out ``within(_:_:_:)`` never hangs on it).
    public func wait(until predicate: @escaping @Sendable ([Value]) -> Bool) async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { s -> Bool in
                    if predicate(s.values) || Task.isCancelled { return true }
                    s.waiters.append(Waiter(id: id, predicate: predicate, continuation: continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
    }

    public func wait(count: Int) async { await wait { $0.count >= count } }
}


extension ChildProcess {
    /// Waits for the child to exit, like ``ChildProcess/waitUntilExit()``, but a cancelled test
    /// (its time limit struck) kills the command (SIGKILL to the command itself, then TERM to its
    /// watchdog) so the wait ends: a hung child fails its test instead of hanging the whole run.
    public func exitStatus() async -> Int32 {
        await withTaskCancellationHandler {
            await waitUntilExit()
        } onCancel: {
            if let command = commandPID { kill(command, SIGKILL) }
            signal(SIGTERM)
        }
    }
}
