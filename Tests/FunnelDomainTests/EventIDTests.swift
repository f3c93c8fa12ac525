import Foundation
import FunnelDomain
import Testing

@Suite("Event ids")
struct EventIDTests {
    /// The formatting `derive` had before it wrote its digits by hand: ids must not change
    /// between versions (lead ids and output ids are derived, and downstream de-duplicates on them).
    func reference(_ parts: [String]) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x8422_2325_cbf2_9ce4 ^ 0x9e37_79b9_7f4a_7c15
        for (index, part) in parts.enumerated() {
            for byte in part.utf8 {
                a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
                b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
                b = (b << 7) | (b >> 57)
            }
            a = (a ^ UInt64(0x1f &+ index)) &* 0x0000_0100_0000_01b3
            b = (b ^ UInt64(0x1f &+ index)) &* 0x0000_0100_0000_01b3
        }
        func hex(_ v: UInt64) -> String { let d = String(v, radix: 16); return String(repeating: "0", count: 16 - d.count) + d }
        return hex(a) + hex(b)
    }

    @Test("derived ids are the same as before, digit for digit")
    func derivedStable() {
        let inputs: [[String]] = [["lead", "ada@example.com"], [""], ["a", "bc"], ["ab", "c"], ["é✓", "0"], (0..<50).map(String.init)]
        for parts in inputs { #expect(EventID.derive(parts) == reference(parts)) }
        #expect(EventID.lead(forContact: "ada@example.com") == "lead-" + reference(["lead", "ada@example.com"]).prefix(20))
    }

    @Test("random ids are version-4 UUIDs, lower-case, and do not repeat (across several refills of the pool)")
    func randomIDs() throws {
        let pattern = try Regex("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        var seen = Set<String>()
        for _ in 0..<2_000 {
            let id = EventID.random()
            #expect(id.wholeMatch(of: pattern) != nil, "\(id)")
            seen.insert(id)
        }
        #expect(seen.count == 2_000)
    }
}
