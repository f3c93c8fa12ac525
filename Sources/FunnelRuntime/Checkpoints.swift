import FunnelKafka
import Foundation
import Logging
import Synchronization

/// Writes a stateful stage's changelog once per changed key per checkpoint instead of once per
/// input (the record cache of Kafka Streams), and keeps state, outputs and offsets consistent.
///
/// Inputs are processed in epochs, one chain of epochs per partition number (a store partition:
/// partition p of every input topic, co-partitioned with changelog partition p). For each epoch,
/// in this order:
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
/// (ids derive from input ids). An output the broker does not acknowledge stops its partition's
/// chain: no more writes or offsets for it (the runner reports not ready) until the partition
/// is revoked or the process restarts, when it is re-read from the last committed offset.
final class Checkpoints: @unchecked Sendable {
    /// Inputs of one partition between two seals. Its fields are guarded by the owner's `lock`.
    final class Epoch: @unchecked Sendable {
        fileprivate let chain: Chain
        fileprivate var tickets: [OffsetTracker.Ticket] = []
        fileprivate var unacknowledgedOutputs = 0
        /// Set when sealed; emptied once enqueued.
        fileprivate var writes: [ProducerMessage]?
        fileprivate var unacknowledgedWrites = 0
        fileprivate init(_ chain: Chain) { self.chain = chain }
    }

    /// The epochs of one partition, oldest first. Guarded by the owner's `lock`.
    fileprivate final class Chain: @unchecked Sendable {
        let partition: Int32
        var open: Epoch!
        /// Sealed epochs whose writes are not enqueued yet, oldest first.
        var sealed: [Epoch] = []
        /// A task is enqueuing writes that did not fit the local queue: later epochs wait.
        var enqueuing = false
        /// An output or write was not acknowledged: the chain's epochs never complete.
        var failed = false
        /// The partition was revoked: writes not yet enqueued are dropped (the new owner
        /// restores from what was written and re-reads the inputs whose offsets were not stored).
        var revoked = false
        init(_ partition: Int32) {
            self.partition = partition
            open = Epoch(self)
        }
    }

    private let producer: KafkaProducer
    private let tracker: OffsetTracker
    private let logger: Logger
    /// Counts an acknowledged write (true) or reports a failed one (false); gets the topic.
    private let report: @Sendable (Result<DeliveryReport, KafkaError>, String) -> Bool

    /// Held while an input is processed and while the processor's changes are taken: an input
    /// and its state changes always land in the same epoch.
    private let processing = Mutex(())
    /// Guards `chains` and every chain's and epoch's fields.
    private let lock = Mutex(())
    private var chains: [Int32: Chain] = [:]

    init(producer: KafkaProducer, tracker: OffsetTracker, logger: Logger,
         report: @escaping @Sendable (Result<DeliveryReport, KafkaError>, String) -> Bool) {
        self.producer = producer
        self.tracker = tracker
        self.logger = logger
        self.report = report
    }

    private func chain(_ partition: Int32) -> Chain {
        if let chain = chains[partition] { return chain }
        let chain = Chain(partition)
        chains[partition] = chain
        return chain
    }

    /// Runs `body` (processing one input of `partition`) in that partition's open epoch; `body`
    /// calls ``add(_:outputs:to:)`` for the input unless it was skipped.
    func withOpenEpoch<R>(partition: Int32, _ body: (Epoch) -> R) -> R {
        processing.withLock { _ in
            let epoch = lock.withLock { _ in chain(partition).open! }
            return body(epoch)
        }
    }

    /// Adds an input to `epoch`: complete once its `outputs` and the epoch's writes are acknowledged.
    func add(_ ticket: OffsetTracker.Ticket, outputs: Int, to epoch: Epoch) {
        lock.withLock { _ in
            epoch.tickets.append(ticket)
            epoch.unacknowledgedOutputs += outputs
        }
    }

    /// Adds outputs that belong to no input (a timer's firing) to `epoch`.
    func add(outputs: Int, to epoch: Epoch) {
        lock.withLock { _ in epoch.unacknowledgedOutputs += outputs }
    }

    /// One output of an input of `epoch` was acknowledged (`acknowledged`) or failed.
    func outputSettled(_ epoch: Epoch, acknowledged: Bool) {
        let ready = lock.withLock { _ in
            if !acknowledged { fail(epoch.chain) }
            epoch.unacknowledgedOutputs -= 1
            return epoch.unacknowledgedOutputs == 0 && epoch.writes != nil
        }
        if ready { pump(epoch.chain) }
    }

    /// Closes every partition's open epoch with its state writes from `changes` (called under
    /// the processing lock, so no input is half-processed) and starts the next ones.
    func seal(_ changes: () -> [Int32: [ProducerMessage]]) {
        let toPump: [Chain] = processing.withLock { _ in
          let writes = changes()
          return lock.withLock { _ in
            var toPump: [Chain] = []
            for (partition, dropped) in writes where chains[partition] == nil && !dropped.isEmpty {
            // Changes only come from inputs, which open their partition's chain: not expected.
            logger.error("state writes for a partition without inputs dropped", metadata: ["partition": "\(partition)", "writes": "\(dropped.count)"])
        }
        for (partition, chain) in chains {
            let epoch = chain.open!
            let epochWrites = writes[partition] ?? []
            guard !epoch.tickets.isEmpty || !epochWrites.isEmpty || epoch.unacknowledgedOutputs > 0 else { continue }
            epoch.writes = epochWrites
            chain.open = Epoch(chain)
            if !chain.failed {
                chain.sealed.append(epoch)
                toPump.append(chain)
            }
            }
            return toPump
          }
        }
        for chain in toPump { pump(chain) }
    }

    /// The partitions were revoked: their chains end. Writes not enqueued yet are dropped and
    /// their inputs never complete (the tracker has forgotten them); new inputs start new chains.
    func revoke(_ partitions: Set<Int32>) {
        lock.withLock { _ in
            for partition in partitions {
                if let chain = chains.removeValue(forKey: partition) {
                    chain.revoked = true
                    chain.sealed.removeAll()
                    chain.open = nil // an epoch refers to its chain: no cycle left behind
                }
            }
        }
    }

    /// Marks a chain failed (under `lock`): its sealed epochs are dropped, later ones too.
    private func fail(_ chain: Chain) {
        chain.failed = true
        chain.sealed.removeAll()
    }

    /// Enqueues the writes of `chain`'s sealed epochs, oldest first, while their outputs are all
    /// acknowledged; completes the inputs of epochs without writes.
    private func pump(_ chain: Chain) {
        let (completed, overflow) = lock.withLock { _ -> ([OffsetTracker.Ticket], (Epoch, ArraySlice<ProducerMessage>)?) in
        var completed: [OffsetTracker.Ticket] = []
        var overflow: (Epoch, ArraySlice<ProducerMessage>)?
        while !chain.enqueuing, !chain.failed, !chain.revoked, let epoch = chain.sealed.first, epoch.unacknowledgedOutputs == 0 {
            chain.sealed.removeFirst()
            let writes = epoch.writes ?? []
            epoch.writes = []
            if writes.isEmpty {
                completed += epoch.tickets
                continue
            }
            epoch.unacknowledgedWrites = writes.count
            writing: for (index, write) in writes.enumerated() {
                switch enqueue(write, of: epoch) {
                case .enqueued: continue
                case .failed: break writing
                case .full:
                    // Never wait here (this may be the delivery thread, which frees the room).
                    chain.enqueuing = true
                    overflow = (epoch, writes[index...])
                    break writing
                }
            }
        }
        return (completed, overflow)
        }
        for ticket in completed { tracker.delivered(ticket) }
        if let (epoch, rest) = overflow {
            Task { [self] in
                var rest = rest[...]
                // Each write is enqueued under the lock, so none goes out after a revoke or failure.
                while let write = rest.first {
                    let attempt = lock.withLock { _ in chain.revoked || chain.failed ? .failed : enqueue(write, of: epoch) }
                    switch attempt {
                    case .enqueued: rest = rest.dropFirst()
                    case .full: await producer.waitForRoom()
                    case .failed: rest = []
                    }
                }
                lock.withLock { _ in chain.enqueuing = false }
                pump(chain)
            }
        }
    }

    private enum Enqueued { case enqueued, full, failed }

    /// Enqueues one of `epoch`'s writes (under `lock`). A failure other than a full local queue
    /// is reported and fails the chain (the loop over the rest stops there: it is failed).
    private func enqueue(_ write: ProducerMessage, of epoch: Epoch) -> Enqueued {
        do throws(KafkaError) {
            try producer.enqueue(write, onDelivery: onDelivery(write.topic, epoch))
            return .enqueued
        } catch where error.kind == .queueFull {
            return .full
        } catch {
            _ = report(.failure(error), write.topic)
            fail(epoch.chain)
            return .failed
        }
    }

    private func onDelivery(_ topic: String, _ epoch: Epoch) -> @Sendable (Result<DeliveryReport, KafkaError>) -> Void {
        { [self] outcome in
            guard report(outcome, topic) else {
                lock.withLock { _ in fail(epoch.chain) }
                return
            }
            let done = lock.withLock { _ in
                epoch.unacknowledgedWrites -= 1
                return epoch.unacknowledgedWrites == 0 && !epoch.chain.failed ? epoch.tickets : []
            }
            for ticket in done { tracker.delivered(ticket) }
        }
    }
}
