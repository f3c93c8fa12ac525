/// Collapses repeated client log lines: while a broker is down librdkafka reports the same
/// "Connection refused" on every retry (funnel-score once wrote 3,647 such lines in 9 s). A line
/// is logged at most once per `window` seconds; the next time it is logged it says how many
/// repeats were left out (`suppressed_repeats`).
struct RepeatFilter {
    let window: Double
    private var seen: [String: (loggedAt: Double, suppressed: Int)] = [:]

    init(window: Double = 30) { self.window = window }

    /// Whether to log `key` at `now` (seconds), and how many of its repeats were suppressed
    /// since it was last logged.
    mutating func admit(_ key: String, now: Double) -> (log: Bool, suppressed: Int) {
        if var entry = seen[key], now - entry.loggedAt < window {
            entry.suppressed += 1
            seen[key] = entry
            return (false, 0)
        }
        let suppressed = seen[key]?.suppressed ?? 0
        if seen.count >= 256 { // bounded: forget what is out of the window, or everything
            seen = seen.filter { now - $0.value.loggedAt < window }
            if seen.count >= 256 { seen.removeAll() }
        }
        seen[key] = (now, 0)
        return (true, suppressed)
    }
}
