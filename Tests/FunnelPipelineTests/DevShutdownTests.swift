import Foundation
import FunnelDomain
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C in a terminal signals the whole foreground process group. `funnel dev`'s children
/// run in process groups of their own, so only `funnel dev` gets it and stops them in order:
/// the services (deliver, commit, leave the group), then the broker.
@Suite("funnel dev: Ctrl-C stops the services before the broker", .serialized, .timeLimit(.minutes(3)))
struct DevShutdownTests {
    @Test("SIGINT to funnel dev's process group: every service stops cleanly, none retries a dead broker")
    func ctrlC() async throws {
        let logs = NSTemporaryDirectory() + "funnel-dev-ctrlc-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let output = logs + "/funnel-dev.txt"
        var env = ProcessInfo.processInfo.environment
        env["FUNNEL_BIN_DIR"] = PipelineEndToEndTests.binDirectory
        let dev = try ChildProcess(name: "funnel dev", executable: PipelineEndToEndTests.binDirectory + "/funnel",
                                   arguments: ["dev", "--rate", "20", "--logs", logs, "--ingest-port", String(try Network.freePort())],
                                   environment: env, outputPath: output)
        // Running when the demo's first progress line is out (its leads flowing through every stage).
        try await within(90, "funnel dev to run") {
            while !((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("| followup") {
                guard dev.isRunning else { throw TimedOut(what: "funnel dev exited early: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")") }
                try await Task.sleep(for: .milliseconds(300)) // polling its output
            }
        }
        // What a terminal does on Ctrl-C: SIGINT to the foreground process group (here: funnel
        // dev's own group, which its watchdog leads).
        kill(-dev.pid, SIGINT)
        let status = await dev.exitStatus()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 0 || status == 130, "funnel dev exit status \(status): \(text.suffix(2000))")
        #expect(text.contains("The funnel after"), "the summary is printed")
        for service in LocalPipeline.services {
            let log = (try? String(contentsOfFile: logs + "/\(service).log", encoding: .utf8)) ?? ""
            #expect(log.contains("\"message\":\"stopped\""), "\(service) did not stop gracefully")
            let refused = log.split(separator: "\n").filter { $0.contains("Connection refused") }.count
            #expect(refused == 0, "\(service) logged \(refused) connection-refused lines: the broker died first")
        }
    }
}
