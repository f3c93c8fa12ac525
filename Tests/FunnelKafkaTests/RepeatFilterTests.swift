@testable import FunnelKafka
import Testing

/// Repeated client log lines: once per window, with the count of what was left out.
@Suite("Repeated client log lines")
struct RepeatFilterTests {
    @Test("a line repeated every 10 ms for 65 s is logged 3 times, the later ones with their suppressed counts; other lines are independent")
    func collapses() {
        var filter = RepeatFilter(window: 30)
        var logged: [Int] = []
        var others = 0
        for step in 0..<6500 { // every 10 ms for 65 s
            let t = Double(step) / 100
            let (log, suppressed) = filter.admit("Connection refused", now: t)
            if log { logged.append(suppressed) }
            if filter.admit("another line \(step / 100)", now: t).log { others += 1 } // a new line each second
        }
        #expect(logged == [0, 2999, 2999]) // at 0 s, 30 s and 60 s
        #expect(others == 65)
    }
}
