import FunnelKafka
import Synchronization

/// Commits an input only after every output it caused was acknowledged, in partition order.
///
/// The runner calls ``begin(_:outputs:)`` for each input in the order consumed; delivery
/// reports call ``delivered(_:)``. When the oldest inputs of a partition are complete, the
/// next offset is stored on the consumer (committed by librdkafka).
public final class OffsetTracker: Sendable {
    private struct Pending {
        var offset: Int64
        var remaining: Int
    }
    private let state = Mutex<[TopicPartition: [Pending]]>([:])
    private let store: @Sendable ([TopicPartition: Int64]) -> Void

    public init(store: @escaping @Sendable ([TopicPartition: Int64]) -> Void) {
        self.store = store
    }

    /// A handle passed to the delivery callbacks of one input's outputs.
    public struct Ticket: Sendable {
        let partition: TopicPartition
        let offset: Int64
    }

    /// Registers an input with `outputs` outputs still to be acknowledged.
    public func begin(_ message: ConsumerMessage, outputs: Int) -> Ticket {
        let ticket = Ticket(partition: message.topicPartition, offset: message.offset)
        let ready = state.withLock { pending -> Int64? in
            pending[ticket.partition, default: []].append(Pending(offset: ticket.offset, remaining: outputs))
            return outputs == 0 ? Self.drain(&pending, ticket.partition) : nil
        }
        if let ready { store([ticket.partition: ready]) }
        return ticket
    }

    /// One output of `ticket`'s input was acknowledged.
    public func delivered(_ ticket: Ticket) {
        let ready = state.withLock { pending -> Int64? in
            guard var list = pending[ticket.partition],
                  let index = list.firstIndex(where: { $0.offset == ticket.offset }) else { return nil }
            list[index].remaining -= 1
            pending[ticket.partition] = list
            return Self.drain(&pending, ticket.partition)
        }
        if let ready { store([ticket.partition: ready]) }
    }

    /// Forgets partitions that were revoked (their inputs will be re-read by the new owner).
    public func forget(_ partitions: [TopicPartition]) {
        state.withLock { pending in for p in partitions { pending[p] = nil } }
    }

    /// Inputs not yet complete (for readiness and tests).
    public var inFlight: Int { state.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Pops completed inputs from the head; returns the next offset to store, if any moved.
    private static func drain(_ pending: inout [TopicPartition: [Pending]], _ partition: TopicPartition) -> Int64? {
        guard var list = pending[partition] else { return nil }
        var next: Int64?
        while let first = list.first, first.remaining <= 0 {
            next = first.offset + 1
            list.removeFirst()
        }
        pending[partition] = list
        return next
    }
}
