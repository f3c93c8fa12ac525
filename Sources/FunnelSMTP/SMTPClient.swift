import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The outcome of a successful ``SMTPClient/send(_:)``.
public struct SMTPDelivery: Sendable, Equatable {
    /// The server's final reply code to the message data (2xx).
    public var code: Int
    /// The enhanced status code of that reply, if any (e.g. `"2.0.0"`).
    public var enhancedCode: String?
    /// The server's reply text (often contains a queue id).
    public var text: String
    /// How many attempts were used (1 when the first one succeeded).
    public var attempts: Int
    /// Whether the successful attempt ran on an already open (pooled) connection.
    public var reusedConnection: Bool

    /// Creates a value (for test doubles of code that uses ``SMTPClient``).
    public init(code: Int, enhancedCode: String?, text: String, attempts: Int, reusedConnection: Bool) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.text = text
        self.attempts = attempts
        self.reusedConnection = reusedConnection
    }
}

/// An SMTP client with a connection pool, retries with exponential backoff and rate limiting.
///
/// ```swift
/// let config = try SMTPConfiguration.parse(url: "smtp://user:pass@relay.example:587?starttls=required")
/// let client = SMTPClient(configuration: config)
/// let delivery = try await client.send(message)
/// await client.shutdown()
/// ```
///
/// Many `send` calls may run concurrently: at most ``SMTPConfiguration/maxConnections``
/// transactions run at once, each on its own connection; further callers wait for a free one.
/// Call ``shutdown()`` before dropping the client.
public final class SMTPClient: Sendable {
    /// The configuration in use.
    public let configuration: SMTPConfiguration
    private let pool: ConnectionPool
    private let rateLimiter: RateLimiter?
    private let logger: Logger

    /// Creates a client. No connection is opened until the first ``send(_:)`` or ``probe()``.
    ///
    /// - Parameters:
    ///   - configuration: Server, credentials, pool size, timeouts, retry and rate settings.
    ///   - eventLoopGroup: Where the connections run; the shared NIO singleton by default.
    ///   - logger: Receives connection-level events (host:port, phases, codes; never addresses,
    ///     credentials or bodies).
    public init(
        configuration: SMTPConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "funnel.smtp")
    ) {
        var logger = logger
        logger[metadataKey: "smtp.server"] = "\(configuration.endpoint)"
        self.configuration = configuration
        self.logger = logger
        self.pool = ConnectionPool(
            configuration: configuration,
            tlsContext: Self.makeTLSContext(configuration),
            group: eventLoopGroup,
            logger: logger)
        self.rateLimiter = configuration.ratePerSecond.map { RateLimiter(ratePerSecond: $0) }
    }

    /// Sends one message (one SMTP transaction on one pooled connection).
    ///
    /// Transient failures (4xx, connection loss, timeouts) are retried with exponential backoff
    /// up to ``SMTPConfiguration/maxAttempts``; then the last error is thrown. Permanent (5xx)
    /// and configuration errors are thrown at once.
    public func send(_ message: MailMessage) async throws(SMTPError) -> SMTPDelivery {
        let rendered: [UInt8]
        do {
            rendered = try message.rendered()
        } catch {
            throw SMTPError(kind: .permanent, phase: .render, message: "message cannot be rendered: \(error)")
        }
        let body = dataBody(rendered)
        let from = message.from.address
        let recipients = message.to.map(\.address)

        var attempt = 0
        var staleRetried = false
        while true {
            attempt += 1
            await rateLimiter?.acquire()
            let error: SMTPError
            var reused = false
            do {
                let lease = try await pool.lease()
                reused = lease.reused
                do {
                    let reply = try await lease.connection.sendTransaction(
                        from: from, recipients: recipients, body: body, size: rendered.count)
                    await pool.release(lease.connection)
                    if attempt > 1 {
                        logger.info("SMTP message accepted after retry", metadata: ["smtp.attempts": "\(attempt)"])
                    }
                    return SMTPDelivery(code: reply.code, enhancedCode: reply.enhancedCode, text: reply.text,
                                        attempts: attempt, reusedConnection: lease.reused)
                } catch let failure {
                    await pool.release(lease.connection)
                    error = failure
                }
            } catch let failure {
                error = failure
            }

            guard error.isTransient else {
                logger.warning("SMTP send failed", metadata: metadata(for: error, attempt: attempt))
                throw error
            }
            // A pooled connection the server had silently dropped: retry once at no cost.
            if reused && error.isConnectionLoss && error.phase == .mail && !staleRetried {
                staleRetried = true
                attempt -= 1
                continue
            }
            guard attempt < configuration.maxAttempts else {
                logger.warning("SMTP send failed; giving up", metadata: metadata(for: error, attempt: attempt))
                throw error
            }
            logger.notice("SMTP transient failure; retrying", metadata: metadata(for: error, attempt: attempt))
            let lastError = error
            do {
                try await Task.sleep(for: backoff(afterAttempt: attempt))
            } catch {
                throw lastError  // cancelled while waiting
            }
        }
    }

    /// Opens (or reuses) a connection and sends NOOP: a readiness check.
    /// Throws a transient error in phase `connect` when the server cannot be reached.
    public func probe() async throws(SMTPError) {
        var triedFresh = false
        while true {
            let lease = try await pool.lease()
            do {
                try await lease.connection.noop()
                await pool.release(lease.connection)
                return
            } catch {
                await pool.release(lease.connection)
                if lease.reused && !triedFresh {
                    triedFresh = true
                    continue
                }
                throw error
            }
        }
    }

    /// Closes all connections (QUIT on idle ones; busy ones when their transaction ends).
    /// Later calls to ``send(_:)`` and ``probe()`` fail.
    public func shutdown() async {
        await pool.shutdown()
    }

    /// Delay before attempt `attempt + 1`: initial × 2^(attempt−1), capped, with ±25 % jitter.
    func backoff(afterAttempt attempt: Int) -> Duration {
        let base = configuration.initialBackoff * (1 << min(attempt - 1, 30))
        let capped = min(base, configuration.maxBackoff)
        return capped * Double.random(in: 0.75...1.25)
    }

    private func metadata(for error: SMTPError, attempt: Int) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "smtp.phase": "\(error.phase.rawValue)",
            "smtp.kind": "\(error.kind.rawValue)",
            "smtp.attempts": "\(attempt)",
        ]
        if let code = error.code { metadata["smtp.code"] = "\(code)" }
        if let enhanced = error.enhancedCode { metadata["smtp.enhanced_code"] = "\(enhanced)" }
        return metadata
    }

    private static func makeTLSContext(_ configuration: SMTPConfiguration) -> Result<NIOSSLContext?, SMTPError> {
        if configuration.security == .plain { return .success(nil) }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let file = configuration.trustRootsFile {
            tls.trustRoots = .file(file)
        }
        do {
            return .success(try NIOSSLContext(configuration: tls))
        } catch {
            return .failure(SMTPError(kind: .configuration, phase: .connect,
                                      message: "cannot set up TLS (trust roots \(configuration.trustRootsFile ?? "system")): \(error)"))
        }
    }
}
