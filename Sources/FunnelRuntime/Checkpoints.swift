import FunnelKafka
import Foundation
import Logging
import Synchronization

/// Writes a stateful stage's changelog once per changed key per checkpoint instead of once per
/// input (the record cache of Kafka Streams), and keeps state, outputs and offsets consistent.
///
/// Inputs are processed in epochs. For each epoch, in this order:
/// 1. its inputs are processed and their outputs sent;
/// 2. it is sealed every `FUNNEL_STATE_FLUSH_MS`, on revoke and on shutdown: the processor's
///    ``StageProcessor/checkpoint()`` returns the state writes of everything changed since the
///    previous seal (a snapshot: later inputs belong to the next epoch);
/// 3. once every output of its inputs is acknowledged, and the previous epoch's writes were
///    enqueued, its writes are enqueued: a restored store is never ahead of the outputs it
///    caused, and writes of one key keep their order;
/// 4. once its writes are acknowledged, each of its inputs is complete: the ``OffsetTracker``
///    stores offsets in partition order.
///
/// A crash loses at most the epochs not yet written: their inputs are re-read from the last
/// committed offset and re-processed from the last written state, which gives the same outputs
/// (ids derive from input ids). An output or write the broker never acknowledges stalls all
/// later epochs (offsets stop moving; the runner reports not ready), as it would stall that
/// input's partition without epochs.
final class Checkpoints: @unchecked Sendable {
    /// Inputs between two seals. Its fields are guarded by the owner's `lock`.
    final class Epoch: @unchecked Sendable {
        fileprivate var tickets: [OffsetTracker.Ticket] = []
        fileprivate var unacknowledgedOutputs = 0
        /// Set when sealed.
        fileprivate var writes: [ProducerMessage]?
        fileprivate var unacknowledgedWrites = 0
    }

    private let producer: KafkaProducer
    private let tracker: OffsetTracker
    /// Counts an acknowledged write (true) or reports a failed one (false).
    private let report: @Sendable (Result<DeliveryReport, KafkaError>, ProducerMessage) -> Bool

    /// Held while an input is processed and while the processor's changes are taken: an input
    /// and its state changes always land in the same epoch.
    private let processing = NSLock()
    private let lock = NSLock()
    private var open = Epoch()
    /// Sealed epochs whose writes are not enqueued yet, oldest first.
    private var sealed: [Epoch] = []
    /// A task is enqueuing writes that did not fit the local queue: later epochs wait for it.
    private var enqueuing = false

    init(producer: KafkaProducer, tracker: OffsetTracker,
         report: @escaping @Sendable (Result<DeliveryReport, KafkaError>, ProducerMessage) -> Bool) {
        self.producer = producer
        self.tracker = tracker
        self.report = report
    }

    /// Runs `body` (processing one input) in the open epoch; `body` calls `add` on it for an
    /// input that has outputs to wait for.
    func withOpenEpoch<R>(_ body: (Epoch) -> R) -> R {
        processing.lock()
        defer { processing.unlock() }
        lock.lock()
        let epoch = open
        lock.unlock()
        return body(epoch)
    }

    /// Adds an input to `epoch` (from `withOpenEpoch`): complete once its `outputs` and the
    /// epoch's writes are acknowledged.
    func add(_ ticket: OffsetTracker.Ticket, outputs: Int, to epoch: Epoch) {
        lock.lock()
        epoch.tickets.append(ticket)
        epoch.unacknowledgedOutputs += outputs
        lock.unlock()
    }

    /// One output of an input of `epoch` was acknowledged.
    func outputDelivered(_ epoch: Epoch) {
        lock.lock()
        epoch.unacknowledgedOutputs -= 1
        let ready = epoch.unacknowledgedOutputs == 0 && epoch.writes != nil
        lock.unlock()
        if ready { pump() }
    }

    /// Closes the open epoch with the state writes `changes` returns (called under the
    /// processing lock, so no input is half-processed) and starts the next one.
    func seal(_ changes: () -> [ProducerMessage]) {
        processing.lock()
        let writes = changes()
        lock.lock()
        let epoch = open
        let empty = epoch.tickets.isEmpty && writes.isEmpty
        if !empty {
            epoch.writes = writes
            sealed.append(epoch)
            open = Epoch()
        }
        lock.unlock()
        processing.unlock()
        if !empty { pump() }
    }

    /// Enqueues the writes of sealed epochs, oldest first, while their outputs are all
    /// acknowledged; completes the inputs of epochs without writes.
    private func pump() {
        var completed: [OffsetTracker.Ticket] = []
        var overflow: (Epoch, ArraySlice<ProducerMessage>)?
        lock.lock()
        while !enqueuing, let epoch = sealed.first, epoch.unacknowledgedOutputs == 0 {
            sealed.removeFirst()
            let writes = epoch.writes ?? []
            if writes.isEmpty {
                completed += epoch.tickets
                continue
            }
            epoch.unacknowledgedWrites = writes.count
            for (index, write) in writes.enumerated() {
                do throws(KafkaError) {
                    try producer.enqueue(write, onDelivery: onDelivery(write, epoch))
                } catch where error.kind == .queueFull {
                    // Never wait here (this may be the delivery thread, which frees the room).
                    enqueuing = true
                    overflow = (epoch, writes[index...])
                    break
                } catch {
                    _ = report(.failure(error), write) // not written: the epoch never completes
                }
            }
        }
        lock.unlock()
        for ticket in completed { tracker.delivered(ticket) }
        if let (epoch, rest) = overflow {
            Task { [self] in
                for write in rest {
                    do throws(KafkaError) {
                        try await producer.send(write, onDelivery: onDelivery(write, epoch))
                    } catch {
                        _ = report(.failure(error), write)
                    }
                }
                lock.withLock { enqueuing = false }
                pump()
            }
        }
    }

    private func onDelivery(_ write: ProducerMessage, _ epoch: Epoch) -> @Sendable (Result<DeliveryReport, KafkaError>) -> Void {
        { [self] outcome in
            guard report(outcome, write) else { return }
            lock.lock()
            epoch.unacknowledgedWrites -= 1
            let done = epoch.unacknowledgedWrites == 0 ? epoch.tickets : []
            lock.unlock()
            for ticket in done { tracker.delivered(ticket) }
        }
    }
}
