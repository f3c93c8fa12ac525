import Foundation
import FunnelDomain
import FunnelKafka

/// What a stateful stage implements: per-key state in a table, durable timers and a
/// stream-time punctuation (goka's processor + group table, Kafka Streams' processor + state
/// store + punctuator, in this codebase's terms).
///
/// The runtime (``StatefulStage``) owns everything around it: the table's partitions for the
/// input partitions this replica owns, restored from the compacted changelog
/// `funnel.<service>.<store>.v1` on assign and dropped on revoke; one changelog record per
/// changed key per checkpoint, written after the outputs that the change caused were
/// acknowledged; input offsets stored after that; timers fired on the replica that owns the key.
///
/// Every call gets the ``TablePartition`` of the input's partition and returns the outputs.
/// Calls are serial (never two at once); the processor keeps no state of its own outside the
/// table, so a restart or a rebalance changes nothing it decides.
///
/// Rules that make a crash invisible downstream:
/// - outputs take ids derived from the input event id (or, for a timer, ``FiredTimer/eventID``);
/// - outputs hold only what the input and the state give (event times, never the wall clock);
/// - a re-delivered input that the state already reflects emits nothing (keep recent input ids
///   in the value, as the scorer and the router do).
public protocol KeyedProcessor: Sendable {
    associatedtype Value: Sendable

    /// The table's name and the topics co-partitioned with its changelog.
    var table: TableDefinition { get }

    /// The value's changelog form (the runtime adds the key's timers around it).
    func encode(_ value: Value) -> [UInt8]
    func decode(_ bytes: ArraySlice<UInt8>) throws -> Value

    /// One input of `partition`. Throwing sends the input to the dead-letter topic with the
    /// reason (state changes made before the throw are kept: change state last).
    func process(_ message: ConsumerMessage, in partition: TablePartition<Value>) throws(StageFailure) -> [ProducerMessage]

    /// A timer of `timer.key` fell due (wall clock). It is already removed from the key's
    /// timers; schedule it again to repeat.
    func fire(_ timer: FiredTimer, in partition: TablePartition<Value>) -> [ProducerMessage]

    /// The partition's stream time crossed a multiple of ``TableDefinition/punctuationInterval``
    /// (see ``TablePartition/advanceStreamTime(to:)``); `boundary` is that multiple.
    func punctuate(_ partition: TablePartition<Value>, at boundary: Int64) -> [ProducerMessage]

    /// The event time a restored value carries, to restore the partition's stream time
    /// (nil: none).
    func streamTime(of value: Value) -> Int64?
}

extension KeyedProcessor {
    public func fire(_ timer: FiredTimer, in partition: TablePartition<Value>) -> [ProducerMessage] { [] }
    public func punctuate(_ partition: TablePartition<Value>, at boundary: Int64) -> [ProducerMessage] { [] }
    public func streamTime(of value: Value) -> Int64? { nil }
}

/// A stateful stage's table: its changelog and the input topics partitioned like it.
public struct TableDefinition: Sendable {
    /// The service part of the changelog name (`route` in `funnel.route.leads.v1`).
    public var service: String
    /// The store part (`leads`).
    public var store: String
    /// Input topics keyed like the table: partition p of each of them and of the changelog
    /// hold the same keys. Checked at start (same partition counts), and the consumer uses the
    /// `range` assignor so one replica owns partition p of all of them.
    public var inputs: [String]
    /// Stream-time punctuation period in milliseconds (nil: none).
    public var punctuationInterval: Int64?

    public init(service: String, store: String, inputs: [String], punctuationInterval: Int64? = nil) {
        self.service = service
        self.store = store
        self.inputs = inputs
        self.punctuationInterval = punctuationInterval
    }

    /// `funnel.<service>.<store>.v1`.
    public var changelog: String { TopicCatalog.changelog(service: service, store: store) }
}

/// A timer that fell due, handed to ``KeyedProcessor/fire(_:in:)``.
public struct FiredTimer: Sendable, Equatable {
    public var key: String
    public var id: String
    /// When it was due (ms since 1970): the event time of what the firing emits.
    public var due: Int64
    /// The id to derive the firing's output ids from: the same for a re-fire after a crash.
    public var eventID: String { EventID.derive(key, "timer", id, String(due)) }

    public init(key: String, id: String, due: Int64) {
        self.key = key
        self.id = id
        self.due = due
    }
}

/// The wall clock timers are due against; tests inject a ``ManualClock``.
public protocol WallClock: Sendable {
    /// Milliseconds since 1970.
    func nowMilliseconds() -> Int64
}

/// The system's clock.
public struct SystemClock: WallClock {
    public init() {}
    public func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// A clock that moves only when told to (tests).
public final class ManualClock: WallClock {
    private let now: Locked<Int64>
    public init(_ start: Int64 = 0) { now = Locked(start) }
    public func nowMilliseconds() -> Int64 { now.value }
    public func set(_ milliseconds: Int64) { now.withLock { $0 = milliseconds } }
    public func advance(by milliseconds: Int64) { now.withLock { $0 += milliseconds } }
}
