/// The bytes of a key or value: either a Swift array, or a slice of the one buffer into
/// which the consumer copied a whole polled batch.
///
/// Consuming a batch costs one allocation, not two per message, and a consumed message's
/// bytes can be handed to ``KafkaProducer`` (``ProducerMessage/init(topic:keyBytes:valueBytes:headers:partition:timestampMilliseconds:)``)
/// without another copy. Memory is released when the last message of the batch is.
public struct KafkaBytes: Sendable, Hashable {
    enum Storage: Sendable {
        case array([UInt8])
        case batch(ConsumedBatch, offset: Int, count: Int)
    }
    let storage: Storage

    public init(_ bytes: [UInt8]) { storage = .array(bytes) }

    init(batch: ConsumedBatch, offset: Int, count: Int) {
        storage = .batch(batch, offset: offset, count: count)
    }

    public var count: Int {
        switch storage {
        case .array(let bytes): bytes.count
        case .batch(_, _, let count): count
        }
    }

    /// Calls `body` with the bytes, without copying them.
    @inline(__always)
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .array(let bytes):
            return try bytes.withUnsafeBytes(body)
        case .batch(let batch, let offset, let count):
            defer { withExtendedLifetime(batch) {} }
            return try body(UnsafeRawBufferPointer(start: batch.base + offset, count: count))
        }
    }

    /// A copy as an array (no copy if it is one already).
    public var array: [UInt8] {
        switch storage {
        case .array(let bytes): bytes
        case .batch: withUnsafeBytes { Array($0) }
        }
    }

    public static func == (lhs: KafkaBytes, rhs: KafkaBytes) -> Bool {
        lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in a.elementsEqual(b) } }
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
