import FunnelKafka
import Synchronization

/// Commits an input only after every output it caused was acknowledged, in partition order.
///
/// The runner calls ``begin(_:outputs:)`` for each input in the order consumed; delivery
/// reports call ``delivered(_:)``. When the oldest inputs of a partition are complete, the
/// next offset is stored on the consumer (committed by librdkafka).
///
/// Constant work per call however many inputs are in flight: each partition keeps its
/// pending inputs in arrays with a moving head, and a ticket points at its partition's
/// ledger, so a delivery finds its input by a binary search without hashing anything.
public final class OffsetTracker: Sendable {
    /// The inputs of one partition not yet stored, oldest first (offsets ascending).
    /// Only touched under the tracker's lock.
    final class Ledger: @unchecked Sendable {
        let partition: TopicPartition
        var offsets: [Int64] = []
        var remaining: [Int] = []
        var head = 0
        /// Whether `offsets` ascend (the normal case, searched by bisection). librdkafka can
        /// hand out lower offsets without a revoke (e.g. `auto.offset.reset` after the log was
        /// truncated); until the ledger empties, inputs are then found by a linear scan.
        var ascending = true
        /// Set when the partition was revoked: late delivery reports for it are ignored.
        var forgotten = false
        init(_ partition: TopicPartition) { self.partition = partition }

        var pending: Int { offsets.count - head }

        /// Pops completed inputs from the head; the next offset to store, if the head moved.
        func drain() -> Int64? {
            var next: Int64?
            while head < offsets.count && remaining[head] <= 0 {
                next = offsets[head] + 1
                head += 1
            }
            if head == offsets.count {
                offsets.removeAll(keepingCapacity: true)
                remaining.removeAll(keepingCapacity: true)
                head = 0
                ascending = true
            } else if head > 4096 && head * 2 > offsets.count {
                offsets.removeFirst(head)
                remaining.removeFirst(head)
                head = 0
            }
            return next
        }

        func append(_ offset: Int64, outputs: Int) {
            if let last = offsets.last, offset <= last { ascending = false }
            offsets.append(offset)
            remaining.append(outputs)
        }

        /// The pending input with this offset (the oldest one still waiting, if re-read).
        func index(of offset: Int64) -> Int? {
            guard ascending else {
                return (head..<offsets.count).first { offsets[$0] == offset && remaining[$0] > 0 }
            }
            var low = head, high = offsets.count
            while low < high {
                let mid = (low + high) / 2
                if offsets[mid] < offset { low = mid + 1 } else { high = mid }
            }
            return low < offsets.count && offsets[low] == offset ? low : nil
        }
    }

    private struct State {
        var ledgers: [TopicPartition: Ledger] = [:]
        /// Consecutive inputs mostly share a partition: checked before hashing.
        var last: Ledger?
    }
    private let state = Mutex(State())
    private let store: @Sendable (TopicPartition, Int64) -> Void

    /// - Parameter store: receives a partition and the next offset to read (store it on the consumer).
    public init(store: @escaping @Sendable (TopicPartition, Int64) -> Void) {
        self.store = store
    }

    /// A handle passed to the delivery callbacks of one input's outputs.
    public struct Ticket: Sendable {
        let ledger: Ledger
        let offset: Int64
    }

    /// Registers an input with `outputs` outputs still to be acknowledged.
    public func begin(_ message: ConsumerMessage, outputs: Int) -> Ticket {
        let partition = message.partition, offset = message.offset
        let (ticket, ready) = state.withLock { s -> (Ticket, Int64?) in
            let ledger: Ledger
            if let last = s.last, last.partition.partition == partition, last.partition.topic == message.topic {
                ledger = last
            } else {
                let tp = message.topicPartition
                if let known = s.ledgers[tp] { ledger = known } else {
                    ledger = Ledger(tp)
                    s.ledgers[tp] = ledger
                }
                s.last = ledger
            }
            ledger.append(offset, outputs: outputs)
            return (Ticket(ledger: ledger, offset: offset), outputs == 0 ? ledger.drain() : nil)
        }
        if let ready { store(ticket.ledger.partition, ready) }
        return ticket
    }

    /// One output of `ticket`'s input was acknowledged.
    public func delivered(_ ticket: Ticket) {
        let ledger = ticket.ledger
        let ready = state.withLock { _ -> Int64? in
            guard !ledger.forgotten, let index = ledger.index(of: ticket.offset) else { return nil }
            ledger.remaining[index] -= 1
            return index == ledger.head ? ledger.drain() : nil
        }
        if let ready { store(ledger.partition, ready) }
    }

    /// Forgets partitions that were revoked (their inputs will be re-read by the new owner).
    public func forget(_ partitions: [TopicPartition]) {
        state.withLock { s in
            for p in partitions {
                s.ledgers.removeValue(forKey: p)?.forgotten = true
            }
            if let last = s.last, last.forgotten { s.last = nil }
        }
    }

    /// Inputs not yet complete (for readiness and tests).
    public var inFlight: Int { state.withLock { $0.ledgers.values.reduce(0) { $0 + $1.pending } } }
}
