import Foundation
import FunnelDomain
import Testing

@Suite("Derived event ids")
struct EventIDTests {
    /// Ids must not change between versions: lead ids and output ids are derived, and
    /// downstream de-duplicates on them. These were computed by the version before `derive`
    /// wrote its hex digits by hand (with `String(_:radix:)`).
    static let golden: [([String], String)] = [
        (["lead", "ada@example.com"], "e874a87593a01bc37a4582b74ed87d5f"),
        ([""], "af63d24c8601db8e0b29e6471626346a"),
        (["a", "bc"], "cb31a2381b29f762cb070f788234efc7"),
        (["ab", "c"], "0ab1242f87ef13ec726e8c09d21de4a6"),
        (["é✓", "0"], "4765ae9e25935979c9305f340e6a532d"),
    ]

    @Test("derived ids are the same as before, digit for digit (leading zeros included)")
    func derivedStable() {
        for (parts, id) in Self.golden { #expect(EventID.derive(parts) == id, "\(parts)") }
        #expect(EventID.lead(forContact: "ada@example.com") == "lead-e874a87593a01bc37a45")
    }
}
