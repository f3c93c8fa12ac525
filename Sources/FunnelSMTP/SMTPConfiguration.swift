/// How to reach and talk to an SMTP server.
///
/// Build one directly or from a URL with ``parse(url:rate:)``:
/// `smtp://[user:pass@]host[:port][?starttls=required|opportunistic|never&ca_file=PATH&connections=N&timeout=SECONDS&insecure_auth=true]`
/// or `smtps://…` (implicit TLS, default port 465).
public struct SMTPConfiguration: Sendable, CustomStringConvertible {
    /// Transport security towards the server.
    public enum Security: Sendable, Equatable {
        /// No TLS at all.
        case plain
        /// Upgrade with STARTTLS. When `required` is `false`, STARTTLS is used when the server
        /// offers it and the session stays unencrypted otherwise; when `true`, a server without
        /// STARTTLS is a ``SMTPError/Kind/configuration`` error and nothing is sent.
        case startTLS(required: Bool)
        /// Implicit TLS from the first byte ("smtps", usually port 465).
        case tls
    }

    /// Server host name or IP address.
    public var host: String
    /// Server TCP port.
    public var port: Int
    /// User name for AUTH; no authentication when `nil`.
    public var username: String?
    /// Password for AUTH. Never printed or logged.
    public var password: String?
    /// Transport security.
    public var security: Security
    /// Name sent in EHLO/HELO.
    public var heloName: String
    /// Size of the connection pool (maximum concurrent connections and transactions).
    public var maxConnections: Int
    /// Timeout for establishing the TCP connection (and the TLS handshake for ``Security/tls``).
    public var connectTimeout: Duration
    /// Time the server may take to answer a command before the connection is closed
    /// and the attempt fails with a transient timeout error.
    public var commandTimeout: Duration
    /// Messages per second towards the server, shared by all connections; `nil` means unlimited.
    public var ratePerSecond: Double?
    /// Attempts per message (the first try included) for transient failures.
    public var maxAttempts: Int
    /// Delay before the second attempt; doubled for each further attempt.
    public var initialBackoff: Duration
    /// Upper bound of the delay between attempts.
    public var maxBackoff: Duration
    /// PEM file with the CA certificates to trust instead of the system roots
    /// (tests, private relays).
    public var trustRootsFile: String?
    /// Allow AUTH over an unencrypted connection to a non-loopback host.
    public var allowInsecureAuth: Bool

    /// Creates a configuration; every parameter but `host` has a default.
    public init(
        host: String,
        port: Int? = nil,
        username: String? = nil,
        password: String? = nil,
        security: Security = .startTLS(required: false),
        heloName: String = "localhost",
        maxConnections: Int = 4,
        connectTimeout: Duration = .seconds(10),
        commandTimeout: Duration = .seconds(30),
        ratePerSecond: Double? = nil,
        maxAttempts: Int = 5,
        initialBackoff: Duration = .seconds(1),
        maxBackoff: Duration = .seconds(60),
        trustRootsFile: String? = nil,
        allowInsecureAuth: Bool = false
    ) {
        self.host = host
        self.port = port ?? (security == .tls ? 465 : 25)
        self.username = username
        self.password = password
        self.security = security
        self.heloName = heloName
        self.maxConnections = max(1, maxConnections)
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.ratePerSecond = ratePerSecond
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.trustRootsFile = trustRootsFile
        self.allowInsecureAuth = allowInsecureAuth
    }

    /// `true` when `host` is a loopback name or address (127.0.0.0/8, ::1, localhost).
    public var hostIsLoopback: Bool {
        let h = host.lowercased()
        return h == "localhost" || h == "::1" || h == "[::1]" || h.hasPrefix("127.")
            && h.split(separator: ".").count == 4 && h.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }

    /// Whether the client may authenticate over an unencrypted connection.
    var mayAuthenticateInPlaintext: Bool { allowInsecureAuth || hostIsLoopback }

    /// The host:port pair, for logs.
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// A one-line summary without the password.
    public var description: String {
        let scheme = security == .tls ? "smtps" : "smtp"
        let user = username.map { "\($0):***@" } ?? ""
        let tls: String
        switch security {
        case .plain: tls = "starttls=never"
        case .startTLS(let required): tls = required ? "starttls=required" : "starttls=opportunistic"
        case .tls: tls = "tls"
        }
        var out = "\(scheme)://\(user)\(endpoint) (\(tls), connections=\(maxConnections)"
        if let ratePerSecond { out += ", rate=\(ratePerSecond)/s" }
        if let trustRootsFile { out += ", ca_file=\(trustRootsFile)" }
        return out + ")"
    }
}

/// A configuration string (URL or rate) could not be understood. The message names the
/// setting and the part that is wrong and never contains the password.
public struct SMTPConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The setting that was being parsed, e.g. `FUNNEL_SMTP_URL`.
    public var setting: String
    /// The part of it that is wrong, e.g. `port`.
    public var part: String
    /// What is wrong.
    public var reason: String

    public init(setting: String, part: String, reason: String) {
        self.setting = setting
        self.part = part
        self.reason = reason
    }

    public var description: String { "\(setting): \(part): \(reason)" }
}

extension SMTPConfiguration {
    /// Parses `smtp://[user:pass@]host[:port][?query]` or `smtps://…`.
    ///
    /// - User and password are percent-decoded.
    /// - Default ports: 25 for `smtp`, 465 for `smtps`.
    /// - Query items: `starttls=required|opportunistic|never` (smtp only; default opportunistic),
    ///   `ca_file=PATH`, `connections=N`, `timeout=SECONDS` (command timeout; also caps the
    ///   connect timeout), `insecure_auth=true|false`.
    /// - `rate`: messages per second (`"10"`, `"0.5"`, `"10/s"`); `nil` or empty means unlimited.
    ///
    /// Credentials on an unencrypted (`starttls=never`) URL to a non-loopback host are refused
    /// unless `insecure_auth=true`.
    public static func parse(url: String, rate: String? = nil) throws(SMTPConfigurationError) -> SMTPConfiguration {
        func fail(_ part: String, _ reason: String) -> SMTPConfigurationError {
            SMTPConfigurationError(setting: "FUNNEL_SMTP_URL", part: part, reason: reason)
        }
        let trimmed = url.trimmingASCIIWhitespace()
        guard let schemeEnd = trimmed.firstRange(of: "://") else {
            throw fail("scheme", "expected smtp:// or smtps://")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        let implicitTLS: Bool
        switch scheme {
        case "smtp": implicitTLS = false
        case "smtps": implicitTLS = true
        default: throw fail("scheme", "'\(scheme.prefix(20))' is not smtp or smtps")
        }
        var rest = Substring(trimmed[schemeEnd.upperBound...])
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var authority = rest
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...] == "/" else { throw fail("path", "no path is allowed after the host") }
            authority = rest[..<slash]
        }

        var username: String?
        var password: String?
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            let user: Substring
            var pass: Substring?
            if let colon = userinfo.firstIndex(of: ":") {
                user = userinfo[..<colon]
                pass = userinfo[userinfo.index(after: colon)...]
            } else {
                user = userinfo
            }
            guard let decodedUser = percentDecode(user) else { throw fail("user", "bad percent-encoding") }
            guard !decodedUser.isEmpty else { throw fail("user", "empty user name") }
            username = decodedUser
            if let pass {
                guard let decodedPass = percentDecode(pass) else { throw fail("password", "bad percent-encoding") }
                password = decodedPass
            }
        }

        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("host", "unterminated IPv6 address") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("host", "unexpected text after IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else { throw fail("host", "missing host") }
        guard host.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "%" }) else {
            throw fail("host", "'\(host.prefix(64))' is not a valid host name")
        }
        var port = implicitTLS ? 465 : 25
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value), portText.allSatisfy(\.isASCIIDigit) else {
                throw fail("port", "'\(portText.prefix(20))' is not a port")
            }
            port = value
        }

        var config = SMTPConfiguration(
            host: String(host), port: port, username: username, password: password,
            security: implicitTLS ? .tls : .startTLS(required: false))

        var seen = Set<String>()
        for item in query.split(separator: "&") where !item.isEmpty {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(pair[0]).lowercased()
            guard pair.count == 2, let value = percentDecode(pair[1]) else {
                throw fail(key.isEmpty ? "query" : key, "expected \(key.isEmpty ? "name" : key)=value")
            }
            guard seen.insert(key).inserted else { throw fail(key, "given more than once") }
            switch key {
            case "starttls":
                guard !implicitTLS else { throw fail("starttls", "not applicable to smtps:// (TLS from the start)") }
                switch value.lowercased() {
                case "required": config.security = .startTLS(required: true)
                case "opportunistic": config.security = .startTLS(required: false)
                case "never": config.security = .plain
                default: throw fail("starttls", "'\(value.prefix(20))' is not required, opportunistic or never")
                }
            case "ca_file":
                guard !value.isEmpty else { throw fail("ca_file", "empty path") }
                config.trustRootsFile = value
            case "connections":
                guard let n = Int(value), (1...1000).contains(n) else {
                    throw fail("connections", "'\(value.prefix(20))' is not a number between 1 and 1000")
                }
                config.maxConnections = n
            case "timeout":
                guard let seconds = Double(value), seconds.isFinite, seconds > 0, seconds <= 86400 else {
                    throw fail("timeout", "'\(value.prefix(20))' is not a positive number of seconds")
                }
                let duration = Duration.milliseconds(Int64((seconds * 1000).rounded(.up)))
                config.commandTimeout = duration
                config.connectTimeout = min(config.connectTimeout, duration)
            case "insecure_auth":
                switch value.lowercased() {
                case "true", "1", "yes": config.allowInsecureAuth = true
                case "false", "0", "no": config.allowInsecureAuth = false
                default: throw fail("insecure_auth", "'\(value.prefix(20))' is not true or false")
                }
            default:
                throw fail("query", "unknown parameter '\(key.prefix(40))'")
            }
        }

        if config.username != nil, config.security == .plain, !config.mayAuthenticateInPlaintext {
            throw fail("starttls", "credentials over an unencrypted connection to a non-loopback host; use starttls or set insecure_auth=true")
        }

        if let rate {
            let text = rate.trimmingASCIIWhitespace()
            if !text.isEmpty {
                let number = text.hasSuffix("/s") ? String(text.dropLast(2)) : text
                guard let value = Double(number), value.isFinite, value > 0 else {
                    throw SMTPConfigurationError(setting: "FUNNEL_SMTP_RATE", part: "rate",
                                                 reason: "'\(text.prefix(20))' is not a positive number of messages per second")
                }
                config.ratePerSecond = value
            }
        }
        return config
    }
}

/// Decodes `%XX` escapes (UTF-8); `nil` when an escape is malformed or the result is not UTF-8.
func percentDecode(_ text: Substring) -> String? {
    var bytes: [UInt8] = []
    var utf8 = Array(text.utf8)[...]
    while let byte = utf8.popFirst() {
        if byte == UInt8(ascii: "%") {
            guard utf8.count >= 2, let hi = hexValue(utf8.popFirst()!), let lo = hexValue(utf8.popFirst()!) else { return nil }
            bytes.append(hi << 4 | lo)
        } else {
            bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !($0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r") }) else { return "" }
        let end = scalars.lastIndex(where: { !($0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r") })!
        return String(String.UnicodeScalarView(scalars[start...end]))
    }
}
