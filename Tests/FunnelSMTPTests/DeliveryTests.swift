import Foundation
import Logging
@testable import FunnelSMTP
import FunnelDevKit
import Testing

@Suite("Delivery against the local aiosmtpd sink", .timeLimit(.minutes(3)))
struct DeliveryTests {
    @Test func plainSendLandsInMaildir() async throws {
        let (sink, _) = try await TestSupport.startSink()
        defer { sink.stop() }
        let client = SMTPClient(configuration: TestSupport.configuration(port: sink.port))
        let message = try TestSupport.message()
        let delivery = try await client.send(message)
        await client.shutdown()
        #expect(delivery.code == 250)
        #expect(delivery.attempts == 1)
        #expect(delivery.reusedConnection == false)

        let delivered = sink.deliveredMessages()
        try #require(delivered.count == 1)
        // The stored message is exactly what we rendered: dot-stuffing was undone by the server.
        #expect(delivered[0] == (try message.rendered()))
        let text = TestSupport.text(delivered[0])
        #expect(text.contains("From: Funnel Team <nurture@funnel.local>\r\n"))
        #expect(text.contains("To: Lead <lead@example.com>\r\n"))
        #expect(text.contains("Subject: Welcome to Funnel\r\n"))
        #expect(text.contains("Message-ID: <msg-1@funnel.local>\r\n"))
        #expect(text.contains("List-Unsubscribe: <https://funnel.local/u/abc>\r\n"))
        #expect(text.contains("Content-Type: text/plain; charset=UTF-8"))
        #expect(text.contains("Content-Type: text/html; charset=UTF-8"))
        #expect(text.contains("\r\n.leading dot line\r\n"))
    }

    @Test(arguments: [true, false])
    func connectionIsReusedWithAndWithoutPipelining(pipelining: Bool) async throws {
        let (sink, _) = try await TestSupport.startSink { $0.pipelining = pipelining }
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port)
        config.maxConnections = 1
        let client = SMTPClient(configuration: config)
        let first = try await client.send(try TestSupport.message(id: "a@funnel.local"))
        let second = try await client.send(try TestSupport.message(id: "b@funnel.local", html: nil))
        await client.shutdown()
        sink.stop()
        #expect(!first.reusedConnection)
        #expect(second.reusedConnection)
        #expect(sink.deliveredMessages().count == 2)
        #expect(sink.stats()?.connections == 1)
    }

    @Test func startTLSWithSelfSignedCertificate() async throws {
        let dir = try TestSupport.tempDir("tls")
        let (cert, key) = try TestSupport.makeCertificate(in: dir)
        let (sink, _) = try await TestSupport.startSink {
            $0.tlsCertificate = cert
            $0.tlsKey = key
            $0.requireStartTLS = true
            $0.auth = "funnel:s3cret"
        }
        defer { sink.stop() }
        let config = try SMTPConfiguration.parse(
            url: "smtp://funnel:s3cret@localhost:\(sink.port)?starttls=required&ca_file=\(cert)&timeout=10")
        let client = SMTPClient(configuration: config)
        try await client.probe()
        let delivery = try await client.send(try TestSupport.message())
        await client.shutdown()
        #expect(delivery.code == 250)
        #expect(sink.deliveredMessages().count == 1)
    }

    @Test func implicitTLS() async throws {
        let dir = try TestSupport.tempDir("smtps")
        let (cert, key) = try TestSupport.makeCertificate(in: dir)
        let (sink, _) = try await TestSupport.startSink {
            $0.tlsCertificate = cert
            $0.tlsKey = key
            $0.extraArguments = ["--smtps"]
        }
        defer { sink.stop() }
        let config = try SMTPConfiguration.parse(url: "smtps://localhost:\(sink.port)?ca_file=\(cert)")
        #expect(config.security == .tls)
        let client = SMTPClient(configuration: config)
        #expect(try await client.send(try TestSupport.message()).code == 250)
        await client.shutdown()
        #expect(sink.deliveredMessages().count == 1)
    }

    @Test func untrustedCertificateFailsWithoutSending() async throws {
        let dir = try TestSupport.tempDir("tls-untrusted")
        let (cert, key) = try TestSupport.makeCertificate(in: dir)
        let (sink, _) = try await TestSupport.startSink { $0.tlsCertificate = cert; $0.tlsKey = key }
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port, host: "localhost", security: .startTLS(required: true))
        config.maxAttempts = 1  // system roots do not trust the test certificate
        let client = SMTPClient(configuration: config)
        let error = await #expect(throws: SMTPError.self) { try await client.send(try TestSupport.message()) }
        await client.shutdown()
        #expect(error?.phase == .starttls)
        #expect(error?.kind == .transient)
        #expect(error?.message.contains("TLS") == true, "\(String(describing: error))")
        #expect(sink.deliveredMessages().isEmpty)
    }

    @Test func startTLSRequiredButNotOffered() async throws {
        let (sink, _) = try await TestSupport.startSink()
        defer { sink.stop() }
        let config = try SMTPConfiguration.parse(url: "smtp://127.0.0.1:\(sink.port)?starttls=required")
        let client = SMTPClient(configuration: config)
        let error = await #expect(throws: SMTPError.self) { try await client.send(try TestSupport.message()) }
        await client.shutdown()
        #expect(error?.kind == .configuration)
        #expect(error?.phase == .starttls)
        sink.stop()
        #expect(sink.deliveredMessages().isEmpty)
        #expect(sink.stats()?.connections == 1, "configuration errors are not retried")
    }

    @Test func authWithSpecialCharacters() async throws {
        // With the loopback host AUTH over plaintext is allowed; the sink offers PLAIN and LOGIN.
        let (sink, _) = try await TestSupport.startSink { $0.auth = "funnel:p@ss w0rd"; $0.authInsecure = true }
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port)
        config.username = "funnel"
        config.password = "p@ss w0rd"
        let client = SMTPClient(configuration: config)
        #expect(try await client.send(try TestSupport.message()).code == 250)
        await client.shutdown()
        #expect(sink.deliveredMessages().count == 1)
    }

    @Test(arguments: ["PLAIN", "LOGIN"])
    func authMechanism(mechanism: String) async throws {
        // The sink offers only `mechanism`; the client must use it.
        let (sink, _) = try await TestSupport.startSink {
            $0.auth = "funnel:secret"; $0.authInsecure = true
            $0.authExclude = [mechanism == "PLAIN" ? "LOGIN" : "PLAIN"]
        }
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port)
        config.username = "funnel"
        config.password = "secret"
        let client = SMTPClient(configuration: config)
        #expect(try await client.send(try TestSupport.message()).code == 250)
        await client.shutdown()
        sink.stop()
        #expect(sink.stats()?.auth_failures == 0)
        #expect(sink.deliveredMessages().count == 1)
    }

    @Test func wrongPasswordIsAConfigurationError() async throws {
        let (sink, _) = try await TestSupport.startSink { $0.auth = "funnel:right"; $0.authInsecure = true }
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port)
        config.username = "funnel"
        config.password = "wrong-password"
        let client = SMTPClient(configuration: config)
        let error = await #expect(throws: SMTPError.self) { try await client.send(try TestSupport.message()) }
        await client.shutdown()
        #expect(error?.kind == .configuration)
        #expect(error?.code == 535)
        #expect(error?.phase == .auth)
        #expect(!(error?.description.contains("wrong-password") ?? true))
        sink.stop()
        #expect(sink.deliveredMessages().isEmpty)
        #expect(sink.stats()?.auth_failures == 1)
    }

    @Test func insecureAuthToRemoteHostIsRefused() async throws {
        // Not loopback by name: a LAN-style address would be refused before any credentials are sent.
        var config = SMTPConfiguration(host: "10.255.255.1", port: 25, username: "u", password: "p", security: .plain)
        #expect(!config.mayAuthenticateInPlaintext)
        config.allowInsecureAuth = true
        #expect(config.mayAuthenticateInPlaintext)
    }

    @Test func permanentRejectionIsNotRetried() async throws {
        let (sink, _) = try await TestSupport.startSink { $0.fail = ["bounce@=550"] }
        defer { sink.stop() }
        let client = SMTPClient(configuration: TestSupport.configuration(port: sink.port))
        let error = await #expect(throws: SMTPError.self) {
            try await client.send(try TestSupport.message(to: "bounce@example.com"))
        }
        #expect(error?.kind == .permanent)
        #expect(error?.code == 550)
        #expect(error?.enhancedCode == "5.1.1")
        #expect(error?.phase == .rcpt)
        // The connection survives (RSET) and is reused for the next message.
        let ok = try await client.send(try TestSupport.message(to: "fine@example.com", id: "m2@funnel.local"))
        #expect(ok.reusedConnection)
        await client.shutdown()
        sink.stop()
        let stats = try #require(sink.stats())
        #expect(stats.rcpt_attempts == 2, "one attempt for the bounce, one for the good message")
        #expect(stats.messages == 1)
        #expect(sink.deliveredMessages().count == 1)
    }

    @Test func transientFailureIsRetried() async throws {
        let (sink, _) = try await TestSupport.startSink { $0.fail = ["later@=451:2"] }
        defer { sink.stop() }
        let client = SMTPClient(configuration: TestSupport.configuration(port: sink.port))
        let delivery = try await client.send(try TestSupport.message(to: "later@example.com"))
        await client.shutdown()
        #expect(delivery.attempts == 3)
        #expect(delivery.code == 250)
        sink.stop()
        #expect(sink.deliveredMessages().count == 1)
        #expect(sink.stats()?.by_code["451"] == 2)
    }

    @Test func transientFailureGivesUpAfterMaxAttempts() async throws {
        let (sink, _) = try await TestSupport.startSink { $0.fail = ["later@=451"] }
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port)
        config.maxAttempts = 3
        let client = SMTPClient(configuration: config)
        let error = await #expect(throws: SMTPError.self) { try await client.send(try TestSupport.message(to: "later@example.com")) }
        await client.shutdown()
        #expect(error?.isTransient == true)
        #expect(error?.code == 451)
        sink.stop()
        #expect(sink.stats()?.rcpt_attempts == 3)
    }

    @Test func stalledServerTimesOut() async throws {
        let (sink, _) = try await TestSupport.startSink { $0.stall = ["stall@"] }
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port)
        config.commandTimeout = .milliseconds(500)
        config.maxAttempts = 2
        let client = SMTPClient(configuration: config)
        let error = await #expect(throws: SMTPError.self) { try await client.send(try TestSupport.message(to: "stall@example.com")) }
        #expect(error?.kind == .transient)
        #expect(error?.code == nil)
        #expect(error?.message.contains("timed out") == true)
        // The client stays usable.
        #expect(try await client.send(try TestSupport.message(to: "ok@example.com")).code == 250)
        await client.shutdown()
        #expect(sink.deliveredMessages().count == 1)
    }

    @Test func poolOf4Delivers200ConcurrentMessages() async throws {
        let (sink, _) = try await TestSupport.startSink()
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port)
        config.maxConnections = 4
        let client = SMTPClient(configuration: config)
        let results = try await withThrowingTaskGroup(of: SMTPDelivery.self) { group in
            for i in 0..<200 {
                group.addTask { try await client.send(try TestSupport.message(to: "lead\(i)@example.com", id: "pool-\(i)@funnel.local")) }
            }
            var all: [SMTPDelivery] = []
            for try await result in group { all.append(result) }
            return all
        }
        await client.shutdown()
        sink.stop()
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0.code == 250 && $0.attempts == 1 })
        #expect(results.filter { $0.reusedConnection }.count >= 196)
        let stats = try #require(sink.stats())
        #expect(stats.connections <= 4)
        #expect(stats.max_active <= 4)
        #expect(stats.messages == 200)
        let delivered = sink.deliveredMessages()
        #expect(delivered.count == 200)
        let ids = Set(delivered.compactMap { bytes -> String? in
            let text = TestSupport.text(bytes)
            guard let range = text.range(of: "Message-ID: <") else { return nil }
            return String(text[range.upperBound...].prefix { $0 != ">" })
        })
        #expect(ids.count == 200)
    }

    @Test func rateLimitIsShared() async throws {
        let (sink, _) = try await TestSupport.startSink { $0.maildir = nil }
        defer { sink.stop() }
        var config = TestSupport.configuration(port: sink.port)
        config.ratePerSecond = 1000
        let client = SMTPClient(configuration: config)
        for i in 0..<5 { _ = try await client.send(try TestSupport.message(id: "r\(i)@funnel.local")) }
        await client.shutdown()
        sink.stop()
        #expect(sink.stats()?.messages == 5)
    }

    @Test func probeSucceedsAgainstLiveSink() async throws {
        let (sink, _) = try await TestSupport.startSink()
        defer { sink.stop() }
        let client = SMTPClient(configuration: TestSupport.configuration(port: sink.port))
        try await client.probe()
        try await client.probe()
        await client.shutdown()
        sink.stop()
        #expect(sink.stats()?.connections == 1)
    }

    @Test func probeFailsAgainstClosedPort() async throws {
        let port = try LocalSMTPSink.freePort()
        let client = SMTPClient(configuration: TestSupport.configuration(port: port))
        let error = await #expect(throws: SMTPError.self) { try await client.probe() }
        await client.shutdown()
        #expect(error?.kind == .transient)
        #expect(error?.phase == .connect)
    }

    @Test func sendAfterShutdownFails() async throws {
        let client = SMTPClient(configuration: TestSupport.configuration(port: 9))
        await client.shutdown()
        await #expect(throws: SMTPError.self) { try await client.send(try TestSupport.message()) }
    }
}
