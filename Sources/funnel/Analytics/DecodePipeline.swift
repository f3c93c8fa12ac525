import Dispatch
import Foundation
import Synchronization

/// Records read in batches, decoded on all cores and folded in record order on a thread of
/// its own, so that reading, decoding and folding overlap (folding a batch while the next is
/// decoded). A batch keeps its records in one buffer: no allocation per record.
final class DecodePipeline<State: Sendable, Decoded: Sendable>: @unchecked Sendable {
    private let topics: [String]
    private let decode: @Sendable (UnsafeRawBufferPointer, String) -> Decoded?
    private let cores: Int
    private var current: RecordBatch
    /// Decoded batches waiting to be folded (nil: the end), and free batches to reuse.
    private let handoff = BoundedQueue<(RecordBatch, DecodedSlots<Decoded>)?>(capacity: 2)
    private let free = Mutex<[RecordBatch]>([])
    private let folded = DispatchSemaphore(value: 0)
    private var result: (State, Int)?

    /// `topics`: the topic of a record is given as its index here.
    init(topics: [String], initial: State, progress: ProgressCounter,
         decode: @escaping @Sendable (UnsafeRawBufferPointer, String) -> Decoded?,
         fold: @escaping @Sendable (inout State, Decoded) -> Void) {
        self.topics = topics
        self.decode = decode
        cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        current = RecordBatch()
        Thread.detachNewThread { [self] in
            var state = initial
            var rejected = 0
            while let item = handoff.take() {
                let (batch, slots) = item
                for i in 0..<batch.count {
                    if let decoded = slots[i] { fold(&state, decoded) } else { rejected += 1 }
                    progress.tick()
                }
                batch.reset()
                free.withLock { $0.append(batch) }
            }
            result = (state, rejected)
            folded.signal()
        }
    }

    /// Adds one record (copied) of `topics[topic]`.
    func add(topic: Int, _ bytes: UnsafeRawBufferPointer) {
        current.append(topic: topic, bytes)
        if current.isFull { submit() }
    }

    /// Decodes the current batch on all cores (in slices finer than the cores, so the fold
    /// thread's share of a core does not hold a slice back) and hands it to the fold thread.
    private func submit() {
        let batch = current
        guard batch.count > 0 else { return }
        let slots = DecodedSlots<Decoded>(count: batch.count)
        let parts = min(batch.count, cores * 8)
        let topics = topics, decode = decode
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            for i in (batch.count * part / parts)..<(batch.count * (part + 1) / parts) {
                slots[i] = batch.withRecord(i) { topic, bytes in decode(bytes, topics[topic]) }
            }
        }
        handoff.put((batch, slots))
        current = free.withLock { $0.popLast() } ?? RecordBatch()
    }

    /// Decodes what is left, waits for the fold, and returns the state and how many records
    /// did not decode.
    func finish() -> (State, Int) {
        submit()
        handoff.put(nil)
        folded.wait()
        return result!
    }
}

/// Records in one contiguous buffer, with their topic indices and end offsets.
final class RecordBatch: @unchecked Sendable {
    /// Records in a batch, and the bytes after which a batch is decoded anyway.
    static let maxRecords = 16_384
    static let maxBytes = 16 << 20

    private var bytes: [UInt8] = []
    private var ends: [Int] = []
    private var topics: [Int] = []

    init() {
        bytes.reserveCapacity(Self.maxBytes + (1 << 20))
        ends.reserveCapacity(Self.maxRecords)
        topics.reserveCapacity(Self.maxRecords)
    }

    var count: Int { ends.count }
    var isFull: Bool { ends.count >= Self.maxRecords || bytes.count >= Self.maxBytes }

    func append(topic: Int, _ record: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: record)
        ends.append(bytes.count)
        topics.append(topic)
    }

    /// Calls `body` with record `i`'s topic index and bytes (read concurrently; no appends meanwhile).
    func withRecord<R>(_ i: Int, _ body: (Int, UnsafeRawBufferPointer) -> R) -> R {
        let start = i == 0 ? 0 : ends[i - 1]
        return bytes.withUnsafeBytes { body(topics[i], UnsafeRawBufferPointer(rebasing: $0[start..<ends[i]])) }
    }

    func reset() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        topics.removeAll(keepingCapacity: true)
    }
}

/// A first-in first-out queue between two threads that blocks the producer when `capacity`
/// items wait, and the consumer when none does.
final class BoundedQueue<T>: @unchecked Sendable {
    private var items: [T] = []
    private let lock = NSCondition()
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func put(_ item: T) {
        lock.lock()
        while items.count >= capacity { lock.wait() }
        items.append(item)
        lock.broadcast()
        lock.unlock()
    }

    func take() -> T {
        lock.lock()
        while items.isEmpty { lock.wait() }
        let item = items.removeFirst()
        lock.broadcast()
        lock.unlock()
        return item
    }
}
