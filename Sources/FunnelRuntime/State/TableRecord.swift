import FunnelDomain

/// A changelog record of a stateful stage's table: a key's value and timers.
///
/// A key without timers is written as the value's own bytes (what `funnel.score.leads.v1`
/// always held). A key with timers, or one that was deleted, is written as an envelope:
/// the byte `0xF7`, a flags byte (bit 0: a value follows), the timers (count, then id and due
/// per timer), then the value's bytes. A value's encoding must therefore never start with
/// `0xF7` (the project's encodings start with a small format version). Deleted keys get an
/// envelope without value, not a tombstone: Tansu never delivers tombstones to a reader.
public struct TableRecord: Sendable, Equatable {
    public static let envelopeMarker: UInt8 = 0xF7

    public var value: ArraySlice<UInt8>?
    public var timers: [KeyTimer]

    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func encode(value: [UInt8]?, timers: [KeyTimer]) -> [UInt8] {
        if let value, timers.isEmpty {
            precondition(value.first != envelopeMarker, "a table value's encoding must not start with 0xF7")
            return value
        }
        var w = ByteWriter()
        w.byte(envelopeMarker)
        w.byte(value == nil ? 0 : 1)
        w.varint(UInt64(timers.count))
        for timer in timers {
            w.string(timer.id)
            w.varint(UInt64(bitPattern: timer.due))
        }
        if let value { w.bytes += value }
        return w.bytes
    }

    public init(value: ArraySlice<UInt8>?, timers: [KeyTimer]) {
        self.value = value
        self.timers = timers
    }

    public init(decoding bytes: [UInt8]) throws(DecodingError) {
        guard bytes.first == Self.envelopeMarker else {
            self.init(value: bytes[...], timers: [])
            return
        }
        var r = ByteReader(bytes)
        _ = r.byte()
        guard let flags = r.byte(), let count = r.varint(), count <= 10_000 else { throw DecodingError(description: "truncated table record header") }
        var timers: [KeyTimer] = []
        for _ in 0..<count {
            guard let id = r.string(), let due = r.varint() else { throw DecodingError(description: "truncated timer") }
            timers.append(KeyTimer(id: id, due: Int64(bitPattern: due)))
        }
        self.init(value: flags & 1 != 0 ? bytes[r.index...] : nil, timers: timers)
    }
}

/// A min-heap of timers by due time (cancelled ones are skipped when they come up).
struct TimerQueue {
    struct Item {
        var due: Int64
        var key: String
        var id: String
    }
    private var heap: [Item] = []

    var count: Int { heap.count }
    var peek: Item? { heap.first }

    mutating func push(due: Int64, key: String, id: String) {
        heap.append(Item(due: due, key: key, id: id))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> Item? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].due < heap[smallest].due { smallest = left }
            if right < heap.count && heap[right].due < heap[smallest].due { smallest = right }
            guard smallest != parent else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
