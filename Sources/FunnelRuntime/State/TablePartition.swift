import FunnelDomain
import FunnelKafka

/// One partition of a stateful stage's table: the keys of input partition p (and changelog
/// partition p) with their values and timers, the keys changed since the last checkpoint, and
/// the partition's stream time. Handed to every ``KeyedProcessor`` call; only touched under the
/// stage's lock (calls are serial).
public final class TablePartition<Value: Sendable>: @unchecked Sendable {
    /// A key's value and timers.
    @usableFromInline
    struct Entry {
        @usableFromInline var value: Value?
        @usableFromInline var timers: [KeyTimer] = []
        @usableFromInline init(value: Value? = nil, timers: [KeyTimer] = []) {
            self.value = value
            self.timers = timers
        }
        @usableFromInline var isEmpty: Bool { value == nil && timers.isEmpty }
    }

    /// The partition number (of the inputs and of the changelog).
    public let number: Int32
    @usableFromInline var entries: [String: Entry] = [:]
    /// Keys changed since the last checkpoint (value or timers).
    @usableFromInline var changed: Set<String> = []
    var queue = TimerQueue()
    /// The newest event time the processor reported (ms), restored from the values.
    public internal(set) var streamTime: Int64 = 0
    let punctuationInterval: Int64?
    /// Calls the processor's punctuation (set by the stage).
    var punctuate: ((TablePartition<Value>, Int64) -> [ProducerMessage])?
    /// Outputs of a punctuation run inside ``advanceStreamTime(to:)``: emitted before the
    /// input's own outputs.
    @usableFromInline var punctuated: [ProducerMessage] = []

    init(number: Int32, punctuationInterval: Int64?) {
        self.number = number
        self.punctuationInterval = punctuationInterval
    }

    // MARK: Values

    /// Keys held: with a value, or with timers only.
    public var count: Int { entries.count }

    /// The value of `key`, if any.
    @inlinable
    public func value(of key: String) -> Value? { entries[key]?.value }

    /// Changes `key`'s value in place (nil: none; set nil to delete it) and marks the key changed.
    @inlinable
    public func update<R, E: Error>(_ key: String, _ body: (inout Value?) throws(E) -> R) throws(E) -> R {
        changed.insert(key)
        return try modify(key, body)
    }

    /// Changes `key`'s value in place without marking it changed: for a change that need not
    /// be written (or call ``markChanged(_:)`` once you know).
    @inlinable
    public func modify<R, E: Error>(_ key: String, _ body: (inout Value?) throws(E) -> R) throws(E) -> R {
        let result = try body(&entries[key, default: Entry()].value)
        if entries[key]?.isEmpty == true { entries[key] = nil }
        return result
    }

    /// Forgets `key` entirely: its value and its timers. The next checkpoint writes the
    /// deletion marker (a record without value or timers, which a restore treats as absent;
    /// Tansu drops real tombstones). For an erasure (GDPR Art. 17) or a closed key.
    public func erase(_ key: String) {
        entries[key] = nil
        changed.insert(key)
    }

    /// Marks `key` to be written at the next checkpoint.
    @inlinable
    public func markChanged(_ key: String) { changed.insert(key) }

    /// Every key with a value (unordered).
    public func forEach(_ body: (String, Value) throws -> Void) rethrows {
        for (key, entry) in entries { if let value = entry.value { try body(key, value) } }
    }

    // MARK: Timers

    /// Schedules (or moves) timer `id` of `key` at `due` (wall clock, ms since 1970). Part of
    /// the key's state: written with it, restored with it, fired by whoever owns the key.
    public func schedule(_ id: String, for key: String, at due: Int64) {
        var entry = entries[key] ?? Entry()
        entry.timers.removeAll { $0.id == id }
        entry.timers.append(KeyTimer(id: id, due: due))
        entries[key] = entry
        queue.push(due: due, key: key, id: id)
        changed.insert(key)
    }

    /// Cancels timer `id` of `key`; true if it was scheduled.
    @discardableResult
    public func cancel(_ id: String, for key: String) -> Bool {
        guard var entry = entries[key], let index = entry.timers.firstIndex(where: { $0.id == id }) else { return false }
        entry.timers.remove(at: index)
        entries[key] = entry.isEmpty ? nil : entry
        changed.insert(key)
        return true
    }

    /// The timers of `key`, in the order scheduled.
    public func timers(of key: String) -> [KeyTimer] { entries[key]?.timers ?? [] }

    /// Timers due at `now`, oldest first, each removed from its key (the key is marked changed).
    func takeDue(now: Int64) -> [FiredTimer] {
        var fired: [FiredTimer] = []
        while let next = queue.peek, next.due <= now {
            queue.pop()
            // Cancelled or moved timers stay in the queue until they come up: skip them.
            guard var entry = entries[next.key], let index = entry.timers.firstIndex(where: { $0.id == next.id && $0.due == next.due }) else { continue }
            entry.timers.remove(at: index)
            entries[next.key] = entry.isEmpty ? nil : entry
            changed.insert(next.key)
            fired.append(FiredTimer(key: next.key, id: next.id, due: next.due))
        }
        return fired
    }

    /// The earliest timer due (ms), if any is scheduled.
    var nextDue: Int64? {
        while let next = queue.peek {
            if entries[next.key]?.timers.contains(where: { $0.id == next.id && $0.due == next.due }) == true { return next.due }
            queue.pop()
        }
        return nil
    }

    // MARK: Stream time

    /// Moves the partition's stream time to `eventTime` if it is newer. When it crosses a
    /// multiple of the table's punctuation interval, the processor's
    /// ``KeyedProcessor/punctuate(_:at:)`` runs first (its outputs go out before the input's).
    public func advanceStreamTime(to eventTime: Int64) {
        defer { streamTime = max(streamTime, eventTime) }
        guard let interval = punctuationInterval, interval > 0, streamTime > 0,
              eventTime / interval > streamTime / interval, let punctuate else { return }
        punctuated += punctuate(self, eventTime / interval * interval)
    }

    // MARK: Changelog

    /// The changelog records of the keys changed since the last call, one per key.
    func takeChanges(topic: String, encode: (Value) -> [UInt8]) -> [ProducerMessage] {
        guard !changed.isEmpty else { return [] }
        defer { changed.removeAll(keepingCapacity: true) }
        return changed.map { key in
            let entry = entries[key]
            let bytes = TableRecord.encode(value: entry?.value.map(encode), timers: entry?.timers ?? [])
            return ProducerMessage(topic: topic, key: Array(key.utf8), value: bytes, partition: number)
        }
    }

    /// Applies one restored changelog record (the latest per key wins).
    func restore(key: String, record: TableRecord, decode: (ArraySlice<UInt8>) throws -> Value) throws {
        let value = try record.value.map(decode)
        let entry = Entry(value: value, timers: record.timers)
        entries[key] = entry.isEmpty ? nil : entry
        for timer in record.timers { queue.push(due: timer.due, key: key, id: timer.id) }
    }
}

/// A timer as a key's state holds it.
public struct KeyTimer: Sendable, Equatable {
    public var id: String
    /// Wall clock, ms since 1970.
    public var due: Int64
    public init(id: String, due: Int64) {
        self.id = id
        self.due = due
    }
}
