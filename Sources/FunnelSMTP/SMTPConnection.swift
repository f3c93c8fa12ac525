import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One SMTP session on one NIO channel: connect, greeting, EHLO, optional STARTTLS, optional
/// AUTH, then any number of mail transactions until ``quit()``.
///
/// Not public: ``SMTPClient`` pools these. All methods are `async` and must not be called
/// concurrently on the same connection (the pool leases a connection to one caller at a time).
final class SMTPConnection: Sendable {
    private let channel: any Channel
    private let configuration: SMTPConfiguration
    private let tlsContext: NIOSSLContext?
    private let logger: Logger
    private let brokenFlag = Atomic<Bool>(false)
    private let failureRecord: TransportFailureRecord
    private let state: Mutex<(capabilities: SMTPCapabilities, tls: Bool)>

    /// Sequential number, for logs.
    let id: Int

    /// Extensions the server announced after the last EHLO.
    var capabilities: SMTPCapabilities { state.withLock { $0.capabilities } }
    /// Whether the session is encrypted (smtps or after STARTTLS).
    var isEncrypted: Bool { state.withLock { $0.tls } }

    /// `false` once the connection failed, timed out, was closed or is in an unknown state.
    var isUsable: Bool { !brokenFlag.load(ordering: .relaxed) && channel.isActive }

    private init(channel: any Channel, configuration: SMTPConfiguration, tlsContext: NIOSSLContext?,
                 failureRecord: TransportFailureRecord, logger: Logger, id: Int, tls: Bool) {
        self.channel = channel
        self.failureRecord = failureRecord
        self.configuration = configuration
        self.tlsContext = tlsContext
        self.logger = logger
        self.id = id
        self.state = Mutex((SMTPCapabilities(), tls))
    }

    // MARK: - Establishing

    /// Connects and runs greeting, EHLO, STARTTLS and AUTH as configured.
    static func connect(
        configuration: SMTPConfiguration,
        tlsContext: NIOSSLContext?,
        group: any EventLoopGroup,
        logger: Logger,
        id: Int
    ) async throws(SMTPError) -> SMTPConnection {
        let commandTimeout = TimeAmount(configuration.commandTimeout)
        let implicitTLS = configuration.security == .tls
        let serverHostname = Self.sniHostname(configuration.host)
        if implicitTLS && tlsContext == nil {
            throw SMTPError(kind: .configuration, phase: .connect, message: "TLS context unavailable")
        }
        let failureRecord = TransportFailureRecord()
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if implicitTLS, let tlsContext {
                        try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
                    }
                    try sync.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    try sync.addHandler(SMTPClientHandler(commandTimeout: commandTimeout, record: failureRecord))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw SMTPError(kind: .transient, phase: .connect,
                            message: "cannot connect to \(configuration.endpoint): \(Self.describe(error))")
        }
        var logger = logger
        logger[metadataKey: "smtp.connection"] = "\(id)"
        let connection = SMTPConnection(channel: channel, configuration: configuration, tlsContext: tlsContext,
                                        failureRecord: failureRecord, logger: logger, id: id, tls: implicitTLS)
        do {
            try await connection.handshake()
        } catch {
            connection.close()
            throw error
        }
        logger.debug("SMTP connection ready", metadata: ["smtp.tls": "\(connection.isEncrypted)"])
        return connection
    }

    private func handshake() async throws(SMTPError) {
        let greeting = try await exchange(nil, phase: configuration.security == .tls ? .connect : .greeting)
        guard greeting.code == 220 else {
            throw SMTPError(reply: greeting, phase: .greeting)
        }
        try await ehlo()

        switch configuration.security {
        case .plain, .tls:
            break
        case .startTLS(let required):
            if capabilities.startTLS {
                try await startTLS()
                do {
                    try await ehlo()
                } catch where error.code == nil {
                    // The TLS handshake runs with the first command after STARTTLS.
                    var error = error
                    error.phase = .starttls
                    throw error
                }
            } else if required {
                await quit()
                throw SMTPError(kind: .configuration, phase: .starttls,
                                message: "STARTTLS is required but \(configuration.endpoint) does not offer it")
            } else {
                logger.notice("SMTP server does not offer STARTTLS; continuing unencrypted",
                              metadata: ["smtp.server": "\(configuration.endpoint)"])
            }
        }

        if let username = configuration.username {
            try await authenticate(username: username, password: configuration.password ?? "")
        }
    }

    private func ehlo() async throws(SMTPError) {
        let reply = try await exchange(command("EHLO \(configuration.heloName)"), phase: .ehlo)
        if reply.code == 250 {
            let capabilities = SMTPCapabilities(ehloReply: reply)
            state.withLock { $0.capabilities = capabilities }
            return
        }
        if reply.code == 500 || reply.code == 502 {
            // Old server without ESMTP.
            let helo = try await exchange(command("HELO \(configuration.heloName)"), phase: .ehlo)
            guard helo.code == 250 else { throw SMTPError(reply: helo, phase: .ehlo) }
            state.withLock { $0.capabilities = SMTPCapabilities() }
            return
        }
        throw SMTPError(reply: reply, phase: .ehlo)
    }

    private func startTLS() async throws(SMTPError) {
        let reply = try await exchange(command("STARTTLS"), phase: .starttls)
        guard reply.code == 220 else { throw SMTPError(reply: reply, phase: .starttls) }
        guard let context = tlsContext else {
            throw SMTPError(kind: .configuration, phase: .starttls, message: "TLS context unavailable")
        }
        let serverHostname = Self.sniHostname(configuration.host)
        let channel = self.channel
        do {
            try await channel.eventLoop.submit {
                let handler = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
            }.get()
        } catch {
            markBroken()
            throw SMTPError(kind: .transient, phase: .starttls, message: "cannot start TLS: \(Self.describe(error))")
        }
        state.withLock { $0.tls = true }
        logger.debug("SMTP STARTTLS done")
    }

    private func authenticate(username: String, password: String) async throws(SMTPError) {
        guard isEncrypted || configuration.mayAuthenticateInPlaintext else {
            await quit()
            throw SMTPError(kind: .configuration, phase: .auth,
                            message: "refusing to send credentials over an unencrypted connection to \(configuration.endpoint) (enable STARTTLS or allowInsecureAuth)")
        }
        let mechanisms = capabilities.authMechanisms
        if mechanisms.contains("PLAIN") {
            let token = Base64.encode(Array("\0\(username)\0\(password)".utf8))
            let reply = try await exchange(command("AUTH PLAIN \(token)"), phase: .auth)
            guard reply.code == 235 else { throw authFailure(reply) }
        } else if mechanisms.contains("LOGIN") {
            let start = try await exchange(command("AUTH LOGIN"), phase: .auth)
            guard start.code == 334 else { throw authFailure(start) }
            let user = try await exchange(command(Base64.encode(Array(username.utf8))), phase: .auth)
            guard user.code == 334 else { throw authFailure(user) }
            let pass = try await exchange(command(Base64.encode(Array(password.utf8))), phase: .auth)
            guard pass.code == 235 else { throw authFailure(pass) }
        } else if mechanisms.isEmpty {
            await quit()
            throw SMTPError(kind: .configuration, phase: .auth,
                            message: "credentials configured but the server does not offer AUTH\(isEncrypted ? "" : " on an unencrypted connection")")
        } else {
            await quit()
            throw SMTPError(kind: .configuration, phase: .auth,
                            message: "no supported AUTH mechanism (server offers \(mechanisms.sorted().joined(separator: " ")); PLAIN and LOGIN are supported)")
        }
        logger.debug("SMTP authenticated")
    }

    private func authFailure(_ reply: SMTPReply) -> SMTPError {
        // 535 (bad credentials), 534/538 (mechanism/encryption) are configuration problems; 4xx transient.
        let error = SMTPError(reply: reply, phase: .auth)
        if error.kind != .transient { markBroken() }
        return error
    }

    // MARK: - Transactions

    /// Runs MAIL FROM, RCPT TO for each recipient and DATA with `body` (already dot-stuffed and
    /// terminated with `CRLF.CRLF`). Returns the server's final reply to the data.
    ///
    /// On a negative reply the transaction is reset (RSET) so that the connection stays usable.
    func sendTransaction(from: String, recipients: [String], body: ByteBuffer, size: Int) async throws(SMTPError) -> SMTPReply {
        let capabilities = self.capabilities
        if let limit = capabilities.maxSize, size > limit {
            throw SMTPError(kind: .permanent, phase: .mail,
                            message: "message size \(size) exceeds the server's limit of \(limit) bytes")
        }
        let mailCommand = "MAIL FROM:<\(from)>" + (capabilities.maxSize != nil ? " SIZE=\(size)" : "")

        if capabilities.pipelining {
            var buffer = channel.allocator.buffer(capacity: 64 + recipients.count * 48)
            buffer.writeString(mailCommand + "\r\n")
            for recipient in recipients { buffer.writeString("RCPT TO:<\(recipient)>\r\n") }
            buffer.writeString("DATA\r\n")
            let replies = try await exchange(buffer, count: recipients.count + 2, phase: .mail)
            let mailReply = replies[0]
            let rcptReplies = replies[1...recipients.count]
            let dataReply = replies[recipients.count + 1]

            var failure: SMTPError?
            if !mailReply.isPositiveCompletion {
                failure = SMTPError(reply: mailReply, phase: .mail)
            } else if let bad = rcptReplies.first(where: { !$0.isPositiveCompletion }) {
                failure = SMTPError(reply: bad, phase: .rcpt)
            } else if dataReply.code != 354 {
                failure = SMTPError(reply: dataReply, phase: .data)
            }
            if let failure {
                if dataReply.code == 354 {
                    // Some recipients were refused but the server wants the data: we deliver all
                    // or nothing, so abandon this connection instead of sending the message.
                    markBroken()
                    close()
                } else {
                    await resetAfterFailure(failure)
                }
                throw failure
            }
        } else {
            let mailReply = try await exchange(command(mailCommand), phase: .mail)
            guard mailReply.isPositiveCompletion else {
                let failure = SMTPError(reply: mailReply, phase: .mail)
                await resetAfterFailure(failure)
                throw failure
            }
            for recipient in recipients {
                let reply = try await exchange(command("RCPT TO:<\(recipient)>"), phase: .rcpt)
                guard reply.isPositiveCompletion else {
                    let failure = SMTPError(reply: reply, phase: .rcpt)
                    await resetAfterFailure(failure)
                    throw failure
                }
            }
            let dataReply = try await exchange(command("DATA"), phase: .data)
            guard dataReply.code == 354 else {
                let failure = SMTPError(reply: dataReply, phase: .data)
                await resetAfterFailure(failure)
                throw failure
            }
        }

        let final = try await exchange(body, phase: .data)
        guard final.isPositiveCompletion else {
            let failure = SMTPError(reply: final, phase: .data)
            // After the end of data the transaction is over; no RSET needed, unless the server quits.
            if final.code == 421 { markBroken(); close() }
            throw failure
        }
        return final
    }

    private func resetAfterFailure(_ failure: SMTPError) async {
        if failure.code == 421 || !isUsable {
            markBroken()
            close()
            return
        }
        do {
            let reply = try await exchange(command("RSET"), phase: .rset)
            if reply.code != 250 { markBroken(); close() }
        } catch {
            markBroken()
            close()
        }
    }

    /// NOOP, for readiness checks and to validate an idle connection.
    func noop() async throws(SMTPError) {
        let reply = try await exchange(command("NOOP"), phase: .noop)
        guard reply.code == 250 else {
            markBroken()
            throw SMTPError(reply: reply, phase: .noop)
        }
    }

    /// Sends QUIT (best effort, bounded by the command timeout) and closes the channel.
    func quit() async {
        if isUsable {
            _ = try? await exchange(command("QUIT"), phase: .quit)
        }
        markBroken()
        close()
    }

    /// Closes the channel without QUIT.
    func close() {
        markBroken()
        channel.close(promise: nil)
    }

    func markBroken() {
        brokenFlag.store(true, ordering: .relaxed)
    }

    // MARK: - Plumbing

    private func command(_ text: String) -> ByteBuffer {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count + 2)
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    private func exchange(_ bytes: ByteBuffer?, phase: SMTPError.Phase) async throws(SMTPError) -> SMTPReply {
        try await exchange(bytes, count: 1, phase: phase)[0]
    }

    /// Writes `bytes` and waits for `count` replies; transport failures mark the connection broken.
    private func exchange(_ bytes: ByteBuffer?, count: Int, phase: SMTPError.Phase) async throws(SMTPError) -> [SMTPReply] {
        let loop = channel.eventLoop
        let promises = (0..<count).map { _ in loop.makePromise(of: SMTPReply.self) }
        let writePromise = loop.makePromise(of: Void.self)
        writePromise.futureResult.whenFailure { error in
            // The write never reached the handler (channel already closed): fail the replies too.
            for promise in promises { promise.fail(error) }
        }
        channel.writeAndFlush(SMTPOutbound(bytes: bytes ?? ByteBuffer(), replies: promises), promise: writePromise)
        // One await for the whole batch: fewer thread hops than awaiting each reply.
        let batch: EventLoopFuture<[SMTPReply]> = count == 1
            ? promises[0].futureResult.map { [$0] }
            : EventLoopFuture.whenAllSucceed(promises.map(\.futureResult), on: loop)
        let replies: [SMTPReply]
        do {
            replies = try await batch.get()
        } catch {
            markBroken()
            close()
            throw transportError(error, phase: phase)
        }
        for reply in replies {
            logger.trace("SMTP reply", metadata: ["smtp.phase": "\(phase.rawValue)", "smtp.code": "\(reply.code)"])
            if reply.code == 421 { markBroken() }
        }
        return replies
    }

    private func transportError(_ error: any Error, phase: SMTPError.Phase) -> SMTPError {
        // Prefer the first failure the channel saw (a TLS error rather than the close it caused).
        let error: any Error = failureRecord.first ?? error
        let message: String
        switch error {
        case SMTPTransportError.timeout:
            message = "timed out after \(configuration.commandTimeout) waiting for the server (\(configuration.endpoint))"
        case SMTPTransportError.closed, ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed, ChannelError.eof:
            message = "connection to \(configuration.endpoint) closed"
        case SMTPTransportError.tls(let text):
            message = "TLS failure with \(configuration.endpoint): \(text)"
        case SMTPTransportError.io(let text):
            message = "I/O error with \(configuration.endpoint): \(text)"
        case SMTPTransportError.protocolViolation(let text):
            message = "protocol error from \(configuration.endpoint): \(text)"
        default:
            message = "\(Self.describe(error)) (\(configuration.endpoint))"
        }
        var smtpError = SMTPError(kind: .transient, phase: phase, message: message)
        switch error {
        case SMTPTransportError.closed, ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed, ChannelError.eof:
            smtpError.isConnectionLoss = true
        default:
            break
        }
        return smtpError
    }

    static func describe(_ error: any Error) -> String {
        String(describing: error).prefix(300).description
    }

    /// The SNI / certificate host name: `nil` for IP addresses (not allowed in SNI).
    static func sniHostname(_ host: String) -> String? {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.contains(":") { return nil }
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4 && parts.allSatisfy({ UInt8($0) != nil }) { return nil }
        return bare
    }
}

/// Dot-stuffs a rendered message for DATA and appends the `CRLF.CRLF` terminator.
func dataBody(_ message: [UInt8], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
    var buffer = allocator.buffer(capacity: message.count + message.count / 64 + 8)
    var lineStart = true
    var chunkStart = 0
    for (index, byte) in message.enumerated() {
        if lineStart && byte == UInt8(ascii: ".") {
            buffer.writeBytes(message[chunkStart..<index])
            buffer.writeInteger(UInt8(ascii: "."))
            chunkStart = index
        }
        lineStart = byte == UInt8(ascii: "\n")
    }
    buffer.writeBytes(message[chunkStart...])
    if !message.isEmpty && !(message.count >= 2 && message[message.count - 2] == 13 && message[message.count - 1] == 10) {
        buffer.writeStaticString("\r\n")
    }
    buffer.writeStaticString(".\r\n")
    return buffer
}
