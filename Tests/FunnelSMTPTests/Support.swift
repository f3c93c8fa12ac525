import Foundation
import FunnelSMTP
import FunnelDevKit
import Testing

/// Paths and helpers shared by the tests.
enum TestSupport {
    /// A fresh empty temporary directory.
    static func tempDir(_ label: String = "smtp") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("funnel-smtp-tests")
            .appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Starts a sink storing into a fresh maildir, with stats.
    static func startSink(_ configure: (inout LocalSMTPSink.Options) -> Void = { _ in }) async throws -> (LocalSMTPSink, URL) {
        let dir = try tempDir("sink")
        var options = LocalSMTPSink.Options(maildir: dir.appendingPathComponent("maildir").path,
                                            statsFile: dir.appendingPathComponent("stats.json").path)
        configure(&options)
        let sink = try await LocalSMTPSink.start(options: options)
        return (sink, dir)
    }

    /// A client configuration for a local sink with small timeouts and backoff.
    static func configuration(port: Int, host: String = "127.0.0.1",
                              security: SMTPConfiguration.Security = .plain) -> SMTPConfiguration {
        var config = SMTPConfiguration(host: host, port: port, security: security)
        config.connectTimeout = .seconds(5)
        config.commandTimeout = .seconds(10)
        config.initialBackoff = .milliseconds(10)
        config.maxBackoff = .milliseconds(50)
        return config
    }

    /// Generates a self-signed certificate for localhost / 127.0.0.1 with the openssl CLI.
    static func makeCertificate(in dir: URL) throws -> (cert: String, key: String) {
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                             "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                             "-addext", "basicConstraints=critical,CA:TRUE"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl failed")
        return (cert, key)
    }

    static func message(to recipient: String = "lead@example.com", id: String = "msg-1@funnel.local",
                        subject: String = "Welcome to Funnel", html: String? = "<p>Hello <b>there</b></p>") throws -> MailMessage {
        MailMessage(
            from: try MailAddress("nurture@funnel.local", displayName: "Funnel Team"),
            to: [try MailAddress(recipient, displayName: "Lead")],
            subject: subject,
            text: "Hello there,\n.leading dot line\nBye\n",
            html: html,
            messageID: id,
            date: 1_765_000_000_000,
            extraHeaders: [("List-Unsubscribe", "<https://funnel.local/u/abc>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")])
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
