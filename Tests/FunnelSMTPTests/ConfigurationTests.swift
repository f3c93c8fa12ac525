@testable import FunnelSMTP
import Testing

@Suite("SMTPConfiguration parsing")
struct ConfigurationTests {
    @Test func plainURLWithDefaults() throws {
        let c = try SMTPConfiguration.parse(url: "smtp://mail.example.com")
        #expect(c.host == "mail.example.com")
        #expect(c.port == 25)
        #expect(c.security == .startTLS(required: false))
        #expect(c.username == nil && c.password == nil)
        #expect(c.maxConnections == 4)
        #expect(c.connectTimeout == .seconds(10))
        #expect(c.commandTimeout == .seconds(30))
        #expect(c.maxAttempts == 5)
        #expect(c.initialBackoff == .seconds(1) && c.maxBackoff == .seconds(60))
        #expect(c.ratePerSecond == nil)
        #expect(c.allowInsecureAuth == false)
        #expect(c.heloName == "localhost")
    }

    @Test func smtpsWithCredentialsAndQuery() throws {
        let c = try SMTPConfiguration.parse(
            url: "smtps://us%40er:p%3Ass%2Fw0rd@relay.example.com?ca_file=/tmp/ca.pem&connections=8&timeout=2.5",
            rate: "12.5")
        #expect(c.security == .tls)
        #expect(c.port == 465)
        #expect(c.username == "us@er")
        #expect(c.password == "p:ss/w0rd")
        #expect(c.trustRootsFile == "/tmp/ca.pem")
        #expect(c.maxConnections == 8)
        #expect(c.commandTimeout == .milliseconds(2500))
        #expect(c.connectTimeout == .milliseconds(2500))
        #expect(c.ratePerSecond == 12.5)
        #expect(!c.description.contains("p:ss") && !c.description.contains("w0rd"))
        #expect(c.description.contains("***"))
    }

    @Test func starttlsModesAndPorts() throws {
        #expect(try SMTPConfiguration.parse(url: "smtp://h:587?starttls=required").security == .startTLS(required: true))
        #expect(try SMTPConfiguration.parse(url: "smtp://h:587?starttls=opportunistic").security == .startTLS(required: false))
        #expect(try SMTPConfiguration.parse(url: "smtp://h:2525/?starttls=never").security == .plain)
        #expect(try SMTPConfiguration.parse(url: "smtp://h:2525").port == 2525)
        #expect(try SMTPConfiguration.parse(url: "smtp://[::1]:2525").host == "::1")
        #expect(try SMTPConfiguration.parse(url: "SMTP://h", rate: "5/s").ratePerSecond == 5)
    }

    @Test func insecureAuthRules() throws {
        // Loopback may authenticate in plaintext.
        let local = try SMTPConfiguration.parse(url: "smtp://u:secret@127.0.0.1:2525?starttls=never")
        #expect(local.mayAuthenticateInPlaintext)
        #expect(try SMTPConfiguration.parse(url: "smtp://u:secret@localhost?starttls=never").hostIsLoopback)
        // Remote needs insecure_auth=true.
        #expect(throws: SMTPConfigurationError.self) {
            try SMTPConfiguration.parse(url: "smtp://u:secret@mail.example.com?starttls=never")
        }
        let remote = try SMTPConfiguration.parse(url: "smtp://u:secret@mail.example.com?starttls=never&insecure_auth=true")
        #expect(remote.allowInsecureAuth)
    }

    @Test(arguments: [
        ("http://h", "FUNNEL_SMTP_URL: scheme: 'http' is not smtp or smtps"),
        ("mail.example.com", "FUNNEL_SMTP_URL: scheme: expected smtp:// or smtps://"),
        ("smtp://h:99999", "FUNNEL_SMTP_URL: port: '99999' is not a port"),
        ("smtp://h:abc", "FUNNEL_SMTP_URL: port: 'abc' is not a port"),
        ("smtp://:25", "FUNNEL_SMTP_URL: host: missing host"),
        ("smtp://u:pw@", "FUNNEL_SMTP_URL: host: missing host"),
        ("smtp://h?starttls=maybe", "FUNNEL_SMTP_URL: starttls: 'maybe' is not required, opportunistic or never"),
        ("smtps://h?starttls=required", "FUNNEL_SMTP_URL: starttls: not applicable to smtps:// (TLS from the start)"),
        ("smtp://h?connections=0", "FUNNEL_SMTP_URL: connections: '0' is not a number between 1 and 1000"),
        ("smtp://h?timeout=-1", "FUNNEL_SMTP_URL: timeout: '-1' is not a positive number of seconds"),
        ("smtp://h?foo=1", "FUNNEL_SMTP_URL: query: unknown parameter 'foo'"),
        ("smtp://h/path", "FUNNEL_SMTP_URL: path: no path is allowed after the host"),
    ])
    func errors(url: String, message: String) {
        #expect(throws: SMTPConfigurationError.self) { try SMTPConfiguration.parse(url: url) }
        do {
            _ = try SMTPConfiguration.parse(url: url)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func errorsNeverContainThePassword() {
        let urls = ["smtp://user:hunter2@h:99999", "smtp://user:hunter2@h?starttls=bogus",
                    "smtp://user:hunter2%zz@h", "smtp://user:hunter2@mail.example.com?starttls=never"]
        for url in urls {
            do {
                _ = try SMTPConfiguration.parse(url: url)
                Issue.record("expected an error for a bad URL")
            } catch {
                #expect(!error.description.contains("hunter2"))
            }
        }
    }

    @Test func badRate() {
        do {
            _ = try SMTPConfiguration.parse(url: "smtp://h", rate: "fast")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "FUNNEL_SMTP_RATE: rate: 'fast' is not a positive number of messages per second")
        }
    }

    @Test func errorDescriptions() {
        let e = SMTPError(kind: .permanent, code: 550, enhancedCode: "5.1.1", phase: .rcpt, message: "no such user")
        #expect(e.description == "SMTP permanent error in rcpt: 550 5.1.1 no such user")
        #expect(e.isPermanent && !e.isTransient)
        let reply = SMTPReply(code: 451, lines: ["4.7.1 try later"])
        let t = SMTPError(reply: reply, phase: .rcpt)
        #expect(t.kind == .transient && t.enhancedCode == "4.7.1" && t.message == "try later")
        #expect(SMTPError(reply: SMTPReply(code: 535, lines: ["5.7.8 nope"]), phase: .auth).kind == .configuration)
    }

    @Test func capabilities() {
        let caps = SMTPCapabilities(ehloReply: SMTPReply(code: 250, lines: [
            "mx.example", "PIPELINING", "SIZE 1000", "STARTTLS", "AUTH LOGIN PLAIN", "8BITMIME", "HELP"]))
        #expect(caps.pipelining && caps.startTLS && caps.eightBitMIME)
        #expect(caps.maxSize == 1000)
        #expect(caps.authMechanisms == ["LOGIN", "PLAIN"])
    }
}
