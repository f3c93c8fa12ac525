import Foundation
import FunnelDomain
import Synchronization

/// The time of the first request under each `Idempotency-Key` (and of each tracking token's
/// first hit), so that a retry re-uses it: event ids derive from the key, and an id must always
/// carry the same bytes — a retry after a 503 whose events had in fact been written (the
/// acknowledgement was lost in a broker outage) would otherwise write the same ids with a new
/// `captured_at`/`time`.
///
/// Bounded: the oldest entries go first beyond `capacity` (`FUNNEL_IDEMPOTENCY_KEYS`, default
/// 100,000, about 15 MB), and entries older than `retention` (24 h) are not used. Held in
/// memory, and restored at start from the newest events ingest wrote (``restore(eventID:time:)``,
/// by event id): a retry that reaches this ingest after a restart finds its first attempt's
/// time when that attempt's first event was written. A retry that reaches another replica
/// still gets a new time (the README's "Idempotency-Key" section says so).
final class FirstSeenTimes: Sendable {
    private struct State {
        var times: [String: (time: String, at: Int64)] = [:]
        var order: [String] = []
        var head = 0
        /// Event id → time of the events read back at start.
        var restored: [String: String] = [:]
    }
    private let state = Mutex(State())
    let capacity: Int
    let retention: Int64
    private let clock: @Sendable () -> Int64

    init(capacity: Int = 100_000, retentionSeconds: Int64 = 86_400,
         clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.capacity = max(1, capacity)
        self.retention = retentionSeconds * 1000
        self.clock = clock
    }

    /// Records the time of an event read back at start (its id derives from a key).
    func restore(eventID: String, time: String) {
        state.withLock { $0.restored[eventID] = time }
    }

    var restoredCount: Int { state.withLock { $0.restored.count } }

    /// The time recorded for `key`, or the time of the first of `events` (the ids its first
    /// attempt produced) that was read back at start, or now (formatted as events carry it);
    /// recorded for later.
    func time(for key: String, events: () -> [String] = { [] }) -> String {
        let now = clock()
        return state.withLock { s in
            if let known = s.times[key], now - known.at <= retention { return known.time }
            var time = Timestamp.format(milliseconds: now)
            if !s.restored.isEmpty {
                for id in events() { if let first = s.restored[id] { time = first; break } }
            }
            if s.times.updateValue((time, now), forKey: key) == nil { s.order.append(key) }
            // Evict the oldest beyond capacity (the order array is compacted when half is dead).
            while s.times.count > capacity, s.head < s.order.count {
                s.times[s.order[s.head]] = nil
                s.head += 1
            }
            if s.head > 1024 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            return time
        }
    }

    var count: Int { state.withLock { $0.times.count } }
}
