/// An error from talking to an SMTP server.
///
/// The ``kind`` tells the caller what to do about it:
/// - ``Kind/transient``: try again later (4xx replies, connection loss, timeouts, TLS handshake problems).
/// - ``Kind/permanent``: the server refused this message for good (5xx reply to MAIL, RCPT or DATA).
/// - ``Kind/configuration``: the client or account setup is wrong (STARTTLS required but not offered,
///   authentication refused, AUTH over an unencrypted connection, …); retrying will not help.
///
/// The description contains the phase, codes and the server's reply text; it never contains
/// credentials or message bodies.
public struct SMTPError: Error, Sendable, CustomStringConvertible, Equatable {
    /// How the failure should be treated by the caller.
    public enum Kind: String, Sendable, Equatable {
        /// Worth retrying later.
        case transient
        /// The server rejected the message for good.
        case permanent
        /// The setup is wrong; retrying will not help.
        case configuration
    }

    /// The step of the SMTP dialogue in which the failure happened.
    public enum Phase: String, Sendable, Equatable {
        /// Rendering the message (before any network traffic).
        case render
        case connect, greeting, ehlo, starttls, auth, mail, rcpt, data, quit, noop, rset
    }

    /// How the failure should be treated.
    public var kind: Kind
    /// The SMTP reply code, when the failure was a server reply.
    public var code: Int?
    /// The RFC 3463 enhanced status code of the reply (e.g. `"5.1.1"`), when the server sent one.
    public var enhancedCode: String?
    /// Where in the dialogue the failure happened.
    public var phase: Phase
    /// The server's reply text (without code), or a description of the local failure.
    public var message: String
    /// The connection was found closed (not a timeout): a pooled connection may have gone stale.
    var isConnectionLoss = false

    /// Creates an error value.
    public init(kind: Kind, code: Int? = nil, enhancedCode: String? = nil, phase: Phase, message: String) {
        self.kind = kind
        self.code = code
        self.enhancedCode = enhancedCode
        self.phase = phase
        self.message = message
    }

    /// `true` for ``Kind/permanent`` errors: the message will never be accepted as is.
    public var isPermanent: Bool { kind == .permanent }
    /// `true` for ``Kind/transient`` errors: a later attempt may succeed.
    public var isTransient: Bool { kind == .transient }

    public var description: String {
        var out = "SMTP \(kind.rawValue) error in \(phase.rawValue)"
        if let code {
            out += ": \(code)"
            if let enhancedCode { out += " \(enhancedCode)" }
        }
        let text = message.count > 300 ? String(message.prefix(300)) + "…" : message
        if !text.isEmpty { out += (code == nil ? ": " : " ") + text }
        return out
    }
}

extension SMTPError {
    /// Classifies a negative server reply for `phase`.
    init(reply: SMTPReply, phase: Phase) {
        let kind: Kind
        switch reply.code {
        case 400..<500:
            kind = .transient
        case 500..<600:
            switch phase {
            case .mail, .rcpt, .data:
                kind = .permanent
            case .auth, .ehlo, .starttls:
                kind = .configuration
            case .greeting, .connect:
                // 554 greeting: the server does not want us right now (blocklists, load); retry later.
                kind = .transient
            case .quit, .noop, .rset:
                kind = .transient
            case .render:
                kind = .permanent
            }
        default:
            // 1xx/2xx/3xx where something else was expected: protocol confusion, the
            // connection is discarded and the attempt may be retried.
            kind = .transient
        }
        let enhanced = reply.enhancedCode
        var text = reply.text
        if let enhanced, text.hasPrefix(enhanced) {
            text = String(text.dropFirst(enhanced.count)).trimmingASCIIWhitespace()
        }
        self.init(kind: kind, code: reply.code, enhancedCode: enhanced, phase: phase, message: text)
    }
}
