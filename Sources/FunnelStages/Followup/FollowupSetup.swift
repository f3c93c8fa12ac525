import Foundation
import FunnelDomain
import FunnelRuntime
import FunnelSMTP

/// funnel-followup's environment, checked at start (each error names its variable):
/// `FUNNEL_SMTP_URL` (`smtp://[user:pass@]host:port`, `smtps://…`, `?starttls=required`),
/// `FUNNEL_SMTP_RATE` (messages/s towards the server), `FUNNEL_SMTP_CONNECTIONS` (the pool size,
/// also the e-mails in flight at once; default 4, or the URL's `?connections=`),
/// `FUNNEL_MAIL_UNRECORDED_MAX` (e-mails sent whose sent-record is not acknowledged yet: what a
/// crash can repeat; default 16), `FUNNEL_MAIL_FROM` (`Name <address>` or
/// an address), `FUNNEL_PUBLIC_URL` (where recipients reach funnel-ingest: the base of tracking
/// and unsubscribe links), the tracking secret shared with funnel-ingest and
/// `FUNNEL_ERASURE_SALT` (the key of the salted hash kept of an erased address; default: derived
/// from the tracking secret — set it explicitly in production and never change it).
public struct FollowupSetup: Sendable {
    public var smtp: SMTPConfiguration
    /// `FUNNEL_MAIL_UNRECORDED_MAX`: the most e-mails handed to the server and not yet recorded.
    public var unrecordedLimit = FollowupSetup.defaultUnrecordedLimit
    /// Enough that a broker's acknowledgement latency (~10 ms) does not slow 4 connections down.
    public static let defaultUnrecordedLimit = 16
    public var from: MailAddress
    public var links: TrackingLinks
    /// The HMAC key of ``Erasure/addressHash(_:salt:)``.
    public var erasureSalt: [UInt8]

    public init(environment: [String: String]) throws {
        guard let url = environment["FUNNEL_SMTP_URL"], !url.isEmpty else {
            throw ConfigError("FUNNEL_SMTP_URL: not set (e.g. smtp://mail.example.com:587?starttls=required; `funnel dev` starts a local sink)")
        }
        do { smtp = try SMTPConfiguration.parse(url: url, rate: environment["FUNNEL_SMTP_RATE"].flatMap { $0.isEmpty ? nil : $0 }) } catch {
            throw ConfigError("\(error)")
        }
        if let text = environment["FUNNEL_SMTP_CONNECTIONS"], !text.isEmpty {
            guard let n = Int(text), (1...64).contains(n) else { throw ConfigError("FUNNEL_SMTP_CONNECTIONS: '\(text)' is not an integer in 1...64") }
            smtp.maxConnections = n
        }
        if let text = environment["FUNNEL_MAIL_UNRECORDED_MAX"], !text.isEmpty {
            guard let n = Int(text), (1...1024).contains(n) else { throw ConfigError("FUNNEL_MAIL_UNRECORDED_MAX: '\(text)' is not an integer in 1...1024") }
            unrecordedLimit = n
        }
        guard let fromText = environment["FUNNEL_MAIL_FROM"], !fromText.isEmpty else {
            throw ConfigError("FUNNEL_MAIL_FROM: not set (e.g. \"Acme Marketing <hello@acme.example>\")")
        }
        from = try Self.address(fromText)
        guard let publicURL = environment["FUNNEL_PUBLIC_URL"], let parsed = URL(string: publicURL),
              ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw ConfigError("FUNNEL_PUBLIC_URL: \(environment["FUNNEL_PUBLIC_URL"].map { "'\($0)' is not an http(s) URL" } ?? "not set") (where recipients reach funnel-ingest, e.g. https://funnel.acme.example)")
        }
        guard let signer = try TrackingSecrets.signer(environment: environment) else {
            throw ConfigError("FUNNEL_TRACKING_SECRET: not set (the same secret as funnel-ingest's; e-mails need signed tracking and unsubscribe links)")
        }
        links = TrackingLinks(baseURL: publicURL, signer: signer)
        if let salt = environment["FUNNEL_ERASURE_SALT"], !salt.isEmpty {
            guard salt.utf8.count >= 16 else { throw ConfigError("FUNNEL_ERASURE_SALT: at least 16 characters") }
            erasureSalt = Array(salt.utf8)
        } else {
            let secret = environment["FUNNEL_TRACKING_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
                ?? environment["FUNNEL_TRACKING_SECRET_FILE"].flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
            erasureSalt = Array("funnel-erasure:".utf8) + Array(secret.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        }
    }

    /// `Name <address>` or `address`.
    static func address(_ text: String) throws -> MailAddress {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var name: String?, address = trimmed
        if let open = trimmed.lastIndex(of: "<"), trimmed.hasSuffix(">") {
            address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            let n = trimmed[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            name = n.isEmpty ? nil : n
        }
        guard Check.isEmail(address) else { throw ConfigError("FUNNEL_MAIL_FROM: '\(address)' is not an e-mail address") }
        do { return try MailAddress(address, displayName: name) } catch { throw ConfigError("FUNNEL_MAIL_FROM: \(error)") }
    }
}
