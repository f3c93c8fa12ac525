import Crypto
import Foundation

/// What a link in a follow-up e-mail stands for: an open (the tracking pixel), a click on a
/// link to `url`, or a one-click unsubscribe. Carried, signed, inside the link itself.
public struct TrackingToken: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case open = "o", click = "c", unsubscribe = "u"
    }

    public var kind: Kind
    public var leadID: String
    /// Unix seconds after which the link answers 410 Gone.
    public var expires: Int64
    /// Where a click link redirects to (http or https); nil for the others.
    public var url: String?
    /// What sent the e-mail (e.g. `nurture-default/intro`); recorded on the activity.
    public var campaign: String?

    public init(kind: Kind, leadID: String, expires: Int64, url: String? = nil, campaign: String? = nil) {
        self.kind = kind
        self.leadID = leadID
        self.expires = expires
        self.url = url
        self.campaign = campaign
    }

    /// The activity a valid token records.
    public var activityType: ActivityType {
        switch kind {
        case .open: .emailOpen
        case .click: .emailClick
        case .unsubscribe: .unsubscribe
        }
    }

    /// The activity event a valid token records at `time` (the campaign as an attribute).
    public func activity(at time: String) -> LeadActivity {
        LeadActivity(leadID: leadID, type: activityType, url: url, occurredAt: time, source: "funnel-ingest",
                     attributes: campaign.map { ["campaign": $0] })
    }
}

/// Signs and verifies tracking tokens with HMAC-SHA256, so a link cannot be forged or altered
/// (a click link is not an open redirect: its target is inside the signature).
///
/// A token is `base64url(payload) "." base64url(mac)` where the payload is
/// `v1 LF kind LF lead_id LF expires LF campaign LF url`. Several secrets may verify (key
/// rotation: `FUNNEL_TRACKING_SECRET` signs, `FUNNEL_TRACKING_SECRET_PREVIOUS` still verifies).
public struct TrackingSigner: Sendable {
    public enum Verification: Equatable, Sendable {
        case valid(TrackingToken)
        /// Signed by us but past its expiry: 410.
        case expired(TrackingToken)
        /// Malformed, altered or signed with another secret: 404.
        case forged
    }

    public enum SigningError: Error, Equatable, CustomStringConvertible {
        case invalidField(String, String)
        public var description: String {
            switch self { case .invalidField(let field, let reason): "\(field): \(reason)" }
        }
    }

    /// The longest token text, in bytes.
    public static let maximumTokenLength = 4096

    /// The shortest secret accepted, in bytes.
    public static let minimumSecretLength = 32

    /// The secrets as keys, the signing one first.
    private let keys: [Key]
    /// `SymmetricKey` is an immutable value that CryptoKit does not declare `Sendable`.
    private struct Key: @unchecked Sendable { let key: SymmetricKey }

    /// - Parameter secrets: the signing secret first, then older ones that still verify.
    public init(secrets: [String]) throws(SigningError) {
        guard !secrets.isEmpty else { throw .invalidField("secret", "none given") }
        for secret in secrets where secret.utf8.count < Self.minimumSecretLength {
            throw .invalidField("secret", "must be at least \(Self.minimumSecretLength) bytes (e.g. `openssl rand -hex 32`)")
        }
        self.keys = secrets.map { Key(key: SymmetricKey(data: Data($0.utf8))) }
    }

    /// The token text for a link.
    public func sign(_ token: TrackingToken) throws(SigningError) -> String {
        for (field, value) in [("lead_id", token.leadID), ("campaign", token.campaign ?? ""), ("url", token.url ?? "")]
        where value.contains(where: { $0.isNewline }) {
            throw .invalidField(field, "must not contain a line break")
        }
        if token.leadID.isEmpty { throw .invalidField("lead_id", "is required") }
        // The checks of the activity the link records (LeadActivity.validate), so every signed link can be recorded.
        if let error = token.activity(at: "1970-01-01T00:00:00Z").validate().first {
            throw .invalidField(error.field == "attributes.campaign" ? "campaign" : error.field, error.reason)
        }
        if token.kind == .click {
            guard let url = token.url, let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", components.host?.isEmpty == false else {
                throw .invalidField("url", "a click link needs an absolute http(s) URL")
            }
        } else if token.url != nil {
            throw .invalidField("url", "only click links carry a URL")
        }
        let payload = Data(["v1", token.kind.rawValue, token.leadID, String(token.expires), token.campaign ?? "", token.url ?? ""]
            .joined(separator: "\n").utf8)
        let mac = Data(HMAC<SHA256>.authenticationCode(for: payload, using: keys[0].key))
        let text = Self.base64url(payload) + "." + Self.base64url(mac)
        guard text.utf8.count <= Self.maximumTokenLength else { throw .invalidField("url", "the link would be longer than \(Self.maximumTokenLength) bytes") }
        return text
    }

    /// Checks a token's signature and expiry at `now` (Unix seconds).
    public func verify(_ text: Substring, now: Int64) -> Verification {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard text.utf8.count <= Self.maximumTokenLength, parts.count == 2,
              let payload = Self.unbase64url(parts[0]), let mac = Self.unbase64url(parts[1]),
              // One text per token: base64 ignores the unused bits of the last character, so
              // only the canonical spelling is accepted (the event id derives from the text).
              Self.base64url(payload) == parts[0], Self.base64url(mac) == parts[1],
              keys.contains(where: { HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: $0.key) }) else {
            return .forged
        }
        let fields = String(decoding: payload, as: UTF8.self).split(separator: "\n", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "v1", let kind = TrackingToken.Kind(rawValue: String(fields[1])),
              let expires = Int64(fields[3]), !fields[2].isEmpty else {
            return .forged
        }
        let token = TrackingToken(kind: kind, leadID: String(fields[2]), expires: expires,
                                  url: fields[5].isEmpty ? nil : String(fields[5]),
                                  campaign: fields[4].isEmpty ? nil : String(fields[4]))
        return now > expires ? .expired(token) : .valid(token)
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Base64url without padding (RFC 4648 §5), byte by byte (the Foundation round trip with
    /// three `replacingOccurrences` was most of the cost of signing a link).
    static func base64url(_ data: Data) -> String {
        let bytes = [UInt8](data)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The inverse of ``base64url(_:)``; nil for any character outside the alphabet or a length
    /// no encoding has.
    static func unbase64url(_ text: Substring) -> Data? {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var buffer: UInt32 = 0, bits = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case 0x41...0x5A: v = UInt32(c - 0x41)
            case 0x61...0x7A: v = UInt32(c - 0x61 + 26)
            case 0x30...0x39: v = UInt32(c - 0x30 + 52)
            case 0x2D: v = 62
            case 0x5F: v = 63
            default: return nil
            }
            buffer = buffer << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
                buffer &= (1 << UInt32(bits)) - 1
            }
        }
        if text.utf8.count % 4 == 1 { return nil }
        return Data(out)
    }
}

/// The links a follow-up e-mail carries, pointing at funnel-ingest's public base URL.
public struct TrackingLinks: Sendable {
    public let baseURL: String
    public let signer: TrackingSigner

    public init(baseURL: String, signer: TrackingSigner) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.signer = signer
    }

    /// The 1×1 open pixel: `GET /t/o/{token}`.
    public func openPixel(leadID: String, campaign: String?, expires: Int64) throws(TrackingSigner.SigningError) -> String {
        baseURL + "/t/o/" + (try signer.sign(TrackingToken(kind: .open, leadID: leadID, expires: expires, campaign: campaign)))
    }

    /// A tracked link to `url`: `GET /t/c/{token}` redirects there.
    public func click(leadID: String, url: String, campaign: String?, expires: Int64) throws(TrackingSigner.SigningError) -> String {
        baseURL + "/t/c/" + (try signer.sign(TrackingToken(kind: .click, leadID: leadID, expires: expires, url: url, campaign: campaign)))
    }

    /// The one-click unsubscribe URL and the two headers RFC 8058 asks for.
    public func unsubscribe(leadID: String, campaign: String?, expires: Int64) throws(TrackingSigner.SigningError)
        -> (url: String, headers: [(name: String, value: String)]) {
        let url = baseURL + "/u/" + (try signer.sign(TrackingToken(kind: .unsubscribe, leadID: leadID, expires: expires, campaign: campaign)))
        return (url, [("List-Unsubscribe", "<\(url)>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")])
    }
}
