import Synchronization

/// The messages of a ``KafkaConsumer`` as an `AsyncSequence`.
///
/// Each `next()` returns from the batch already taken from librdkafka without suspending;
/// when the batch is used up it polls librdkafka for the next one on the consumer's queue.
/// There is no other buffer: unread messages stay in librdkafka, which bounds its prefetch
/// (`queued.max.messages.kbytes`). The sequence ends when the consumer closes or the
/// iterating task is cancelled; dropping the iterator closes the consumer (leaves the group).
public struct KafkaMessages: AsyncSequence, Sendable {
    public typealias Element = ConsumerMessage
    let consumer: KafkaConsumer

    public func makeAsyncIterator() -> Iterator { Iterator(consumer: consumer) }

    public struct Iterator: AsyncIteratorProtocol {
        @usableFromInline let state: IterationState
        @usableFromInline var batch: ConsumedBatch?
        @usableFromInline var index = 0

        init(consumer: KafkaConsumer) { state = IterationState(consumer: consumer) }

        /// Inlinable: a message from the batch in hand is returned in the caller, without an
        /// async call; only an exhausted batch goes to ``nextBatch()``.
        @inlinable
        public mutating func next() async throws -> ConsumerMessage? {
            if let batch, index < batch.count {
                defer { index += 1 }
                return ConsumerMessage(batch: batch, index: index)
            }
            return try await nextBatch()
        }

        @usableFromInline
        mutating func nextBatch() async throws -> ConsumerMessage? {
            guard let fresh = try await state.poll() else { return nil }
            batch = fresh
            index = 1
            return ConsumerMessage(batch: fresh, index: 0)
        }
    }
}

/// Owned by one iterator; its deinit (the loop was left) starts closing the consumer.
/// It makes no C calls itself: closing runs on the consumer's poll queue.
@usableFromInline
final class IterationState: Sendable {
    let consumer: KafkaConsumer
    init(consumer: KafkaConsumer) { self.consumer = consumer }
    deinit { consumer.closeInBackground() }

    func poll() async throws -> ConsumedBatch? {
        let cancelled = Flag()
        let consumer = self.consumer
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ConsumedBatch?, Error>) in
                consumer.pollQueue.async {
                    do { continuation.resume(returning: try consumer.pollBatch(cancelled: cancelled)) }
                    catch { continuation.resume(throwing: error) }
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}
