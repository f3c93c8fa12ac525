import Foundation
@testable import FunnelStages
import FunnelRuntime
import Synchronization
import Testing

/// The mail sender's bound on what a crash can repeat, and its settings.
@Suite("Mail sender: the window of e-mails sent and not yet recorded")
struct MailSenderSetupTests {
    static let base = ["FUNNEL_SMTP_URL": "smtp://127.0.0.1:2525", "FUNNEL_MAIL_FROM": "Acme <hello@acme.example>",
                       "FUNNEL_PUBLIC_URL": "https://funnel.acme.example", "FUNNEL_TRACKING_SECRET": "0123456789abcdef0123456789abcdef"]

    final class Occupancy: Sendable {
        struct Counts { var inside = 0, most = 0, done = 0 }
        let counts = Mutex(Counts())
        func entered() { counts.withLock { $0.inside += 1; $0.most = max($0.most, $0.inside) } }
        func left() { counts.withLock { $0.inside -= 1; $0.done += 1 } }
    }

    @Test("200 senders through a window of 3: never more than 3 inside, every one gets in")
    func windowBounds() async {
        let window = SendWindow(limit: 3)
        let occupancy = Occupancy()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    await window.enter()
                    occupancy.entered()
                    await Task.yield()
                    occupancy.left()
                    window.leave()
                }
            }
        }
        let counts = occupancy.counts.withLock { $0 }
        #expect(counts.most <= 3 && counts.most >= 1)
        #expect(counts.done == 200 && counts.inside == 0)
        #expect(window.taken == 0)
    }

    @Test("FUNNEL_MAIL_UNRECORDED_MAX: default 16, a number in 1...1024, otherwise an error naming the variable")
    func setting() throws {
        #expect(try FollowupSetup(environment: Self.base).unrecordedLimit == 16)
        var one = Self.base
        one["FUNNEL_MAIL_UNRECORDED_MAX"] = "1"
        #expect(try FollowupSetup(environment: one).unrecordedLimit == 1)
        for bad in ["0", "many", "5000"] {
            var environment = Self.base
            environment["FUNNEL_MAIL_UNRECORDED_MAX"] = bad
            #expect { try FollowupSetup(environment: environment) } throws: {
                "\($0)".contains("FUNNEL_MAIL_UNRECORDED_MAX: '\(bad)' is not an integer in 1...1024")
            }
        }
    }
}
