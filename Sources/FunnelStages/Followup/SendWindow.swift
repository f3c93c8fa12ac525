import Synchronization

/// The e-mails handed to the SMTP server whose sent-record the broker has not acknowledged yet:
/// exactly what a `kill -9` of funnel-followup can send twice. ``MailSender`` takes a place
/// before it sends and gives it back when the record is settled, so there are never more than
/// `limit` (`FUNNEL_MAIL_UNRECORDED_MAX`) — the duplicates a crash can cause, whatever the rate,
/// the connections or the broker's latency.
final class SendWindow: Sendable {
    private struct State {
        var free: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>
    let limit: Int

    init(limit: Int) {
        self.limit = max(1, limit)
        state = Mutex(State(free: self.limit))
    }

    /// Waits for a free place and takes it (in arrival order).
    func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.free > 0 && s.waiting.isEmpty { s.free -= 1; return true }
                s.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Gives a place back: to the longest waiter, or to the pool.
    func leave() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiting.isEmpty { s.free += 1; return nil }
            return s.waiting.removeFirst()
        }
        next?.resume()
    }

    /// Places taken now (for the gauge).
    var taken: Int { state.withLock { limit - $0.free } }
}
