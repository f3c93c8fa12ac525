/// A message could not be rendered because a field is invalid. Descriptions name the field,
/// never the personal data in it.
public enum MailMessageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An e-mail address is malformed (reason given).
    case invalidAddress(String)
    /// A header value contains CR or LF (header injection) or another control character.
    case headerInjection(header: String)
    /// A header name is empty or contains characters not allowed in field names.
    case invalidHeaderName(String)
    /// An extra header would replace one the renderer writes itself (e.g. `From`).
    case reservedHeader(String)
    /// The Message-ID is not of the form `local@domain` in printable ASCII.
    case invalidMessageID
    /// The message has no recipients.
    case noRecipients
    /// A header line cannot be folded under the RFC 5322 limit of 998 characters.
    case headerTooLong(header: String)

    public var description: String {
        switch self {
        case .invalidAddress(let reason): "invalid e-mail address: \(reason)"
        case .headerInjection(let header): "header '\(header)': value contains CR, LF or another control character"
        case .invalidHeaderName(let name): "invalid header name '\(name.prefix(40))'"
        case .reservedHeader(let name): "header '\(name)' is written by the renderer and cannot be given as an extra header"
        case .invalidMessageID: "invalid Message-ID: expected local@domain in printable ASCII without angle brackets"
        case .noRecipients: "message has no recipients"
        case .headerTooLong(let header): "header '\(header)': a line would exceed 998 characters"
        }
    }
}

/// An e-mail address with an optional display name.
public struct MailAddress: Sendable, Hashable, CustomStringConvertible {
    /// The bare address, `local@domain`.
    public let address: String
    /// The display name, if any (any Unicode; encoded on rendering).
    public let displayName: String?

    /// Validates and creates an address: one `@`, non-empty local part and domain,
    /// printable ASCII without spaces, angle brackets or control characters; the display
    /// name must not contain CR, LF or other control characters.
    public init(_ address: String, displayName: String? = nil) throws(MailMessageError) {
        let bytes = Array(address.utf8)
        if bytes.contains(where: { $0 == 13 || $0 == 10 }) { throw .invalidAddress("contains CR or LF") }
        if bytes.contains(where: { $0 < 33 || $0 > 126 }) { throw .invalidAddress("contains spaces, control or non-ASCII characters") }
        if bytes.contains(where: { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: ",") }) {
            throw .invalidAddress("contains '<', '>' or ','")
        }
        let ats = bytes.filter { $0 == UInt8(ascii: "@") }.count
        guard ats == 1 else { throw .invalidAddress("must contain exactly one '@'") }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard !parts[0].isEmpty, !parts[1].isEmpty else { throw .invalidAddress("empty local part or domain") }
        guard bytes.count <= 254 else { throw .invalidAddress("longer than 254 characters") }
        if let displayName, displayName.unicodeScalars.contains(where: { $0.value < 32 || $0.value == 127 }) {
            throw .headerInjection(header: "display name")
        }
        self.address = address
        self.displayName = displayName.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The address (display name omitted, so this is safe to show in diagnostics only where the address itself is).
    public var description: String { address }
}

/// A nurture e-mail: plain text with an optional HTML alternative.
///
/// ``rendered()`` produces deterministic RFC 5322 bytes: the same message renders to the same
/// bytes every time (the MIME boundary is derived from ``messageID``, the date from ``date``).
public struct MailMessage: Sendable {
    /// Sender (`From` header and envelope sender).
    public var from: MailAddress { didSet { kept = nil } }
    /// Recipients (`To` header and envelope recipients).
    public var to: [MailAddress] { didSet { kept = nil } }
    /// Subject line (any Unicode; RFC 2047-encoded when not ASCII).
    public var subject: String { didSet { kept = nil } }
    /// Plain-text body.
    public var text: String { didSet { kept = nil } }
    /// Optional HTML body; when present the message is multipart/alternative.
    public var html: String? { didSet { kept = nil } }
    /// Message-ID without angle brackets, e.g. `"abc123@funnel.local"`.
    public var messageID: String { didSet { kept = nil } }
    /// Date header value as milliseconds since the Unix epoch (rendered in UTC).
    public var date: Int64 { didSet { kept = nil } }
    /// Further headers in order, e.g. `("List-Unsubscribe", "<https://…>")`.
    public var extraHeaders: [(name: String, value: String)] { didSet { kept = nil } }
    /// The bytes of ``render()``, until a field changes.
    private var kept: [UInt8]?

    /// Creates a message. Validation happens in ``rendered()``.
    public init(
        from: MailAddress,
        to: [MailAddress],
        subject: String,
        text: String,
        html: String? = nil,
        messageID: String,
        date: Int64,
        extraHeaders: [(name: String, value: String)] = []
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
        self.extraHeaders = extraHeaders
    }

    /// Headers that ``rendered()`` writes itself and that cannot be given in ``extraHeaders``.
    public static let reservedHeaderNames: Set<String> = [
        "date", "from", "to", "subject", "message-id", "mime-version",
        "content-type", "content-transfer-encoding", "bcc",
    ]

    /// Renders the message as RFC 5322 / MIME bytes with CRLF line endings.
    ///
    /// Throws ``MailMessageError`` for CR/LF in any header value (header injection), invalid
    /// header names, reserved extra headers, an invalid Message-ID or no recipients.
    public func rendered() throws(MailMessageError) -> [UInt8] {
        if let kept { return kept }
        return try renderFields()
    }

    /// Renders the message like ``rendered()`` and keeps the bytes in the value (until a field
    /// changes), so that a later ``rendered()``, e.g. in ``SMTPClient/send(_:)``, costs nothing:
    /// for a composer that checks the message renders before handing it on.
    @discardableResult
    public mutating func render() throws(MailMessageError) -> [UInt8] {
        let bytes = try rendered()
        kept = bytes
        return bytes
    }

    private func renderFields() throws(MailMessageError) -> [UInt8] {
        guard !to.isEmpty else { throw .noRecipients }
        try Self.validateMessageID(messageID)

        var out = MessageWriter()
        try out.header("Date", value: RFC5322Date.format(epochMilliseconds: date))
        try out.header("From", tokens: HeaderEncoding.addressTokens([from], header: "From"))
        try out.header("To", tokens: HeaderEncoding.addressTokens(to, header: "To"))
        try out.header("Subject", tokens: HeaderEncoding.unstructuredTokens(subject, header: "Subject", nameLength: 9))
        try out.header("Message-ID", value: "<\(messageID)>")
        for (name, value) in extraHeaders {
            try HeaderEncoding.validateName(name)
            if Self.reservedHeaderNames.contains(name.lowercased()) { throw .reservedHeader(name) }
            try out.header(name, tokens: HeaderEncoding.unstructuredTokens(value, header: name, nameLength: name.utf8.count + 2))
        }
        try out.header("MIME-Version", value: "1.0")

        if let html {
            let boundary = Self.boundary(for: messageID)
            try out.header("Content-Type", tokens: ["multipart/alternative;", "boundary=\"\(boundary)\""])
            out.line("")
            out.line("This is a multi-part message in MIME format.")
            out.line("")
            out.line("--\(boundary)")
            out.part(contentType: "text/plain; charset=UTF-8", body: text)
            out.line("--\(boundary)")
            out.part(contentType: "text/html; charset=UTF-8", body: html)
            out.line("--\(boundary)--")
        } else {
            try out.header("Content-Type", value: "text/plain; charset=UTF-8")
            try out.header("Content-Transfer-Encoding", value: "quoted-printable")
            out.line("")
            out.bytes += QuotedPrintable.encode(text)
        }
        return out.bytes
    }

    /// The multipart boundary for a message: derived from the Message-ID only. It contains
    /// `=_`, which cannot occur in quoted-printable content, so it never collides with a body.
    static func boundary(for messageID: String) -> String {
        let bytes = Array(messageID.utf8)
        func fnv1a(_ seed: UInt64) -> UInt64 {
            var hash: UInt64 = seed
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01B3
            }
            return hash
        }
        let a = fnv1a(0xcbf2_9ce4_8422_2325), b = fnv1a(0x84222325_cbf29ce4)
        return "=_funnel_" + hex(a) + hex(b)
    }

    private static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    static func validateMessageID(_ id: String) throws(MailMessageError) {
        let bytes = Array(id.utf8)
        guard !bytes.isEmpty, bytes.count <= 900,
              bytes.allSatisfy({ $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }),
              bytes.filter({ $0 == UInt8(ascii: "@") }).count == 1,
              bytes.first != UInt8(ascii: "@"), bytes.last != UInt8(ascii: "@")
        else {
            if id.utf8.contains(where: { $0 == 13 || $0 == 10 }) { throw .headerInjection(header: "Message-ID") }
            throw .invalidMessageID
        }
    }
}

/// Accumulates the rendered message.
struct MessageWriter {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(2048) }

    mutating func line(_ text: String) {
        bytes += text.utf8
        bytes += [13, 10]
    }

    mutating func header(_ name: String, value: String) throws(MailMessageError) {
        if value.utf8.contains(where: { $0 < 32 || $0 == 127 }) { throw .headerInjection(header: name) }
        line("\(name): \(value)")
    }

    /// Writes `name: ` and the tokens separated by single spaces, folding (CRLF + space)
    /// before a token that would take the line past 78 characters.
    mutating func header(_ name: String, tokens: [String]) throws(MailMessageError) {
        var current = "\(name):"
        var currentLength = current.utf8.count
        var tokensOnLine = 0
        for token in tokens {
            let length = token.utf8.count
            if tokensOnLine > 0 && currentLength + 1 + length > 78 {
                if currentLength > 998 { throw .headerTooLong(header: name) }
                line(current)
                current = ""
                currentLength = 0
                tokensOnLine = 0
            }
            current += " " + token
            currentLength += 1 + length
            tokensOnLine += 1
        }
        if currentLength > 998 { throw .headerTooLong(header: name) }
        line(current)
    }

    mutating func part(contentType: String, body: String) {
        line("Content-Type: \(contentType)")
        line("Content-Transfer-Encoding: quoted-printable")
        line("")
        bytes += QuotedPrintable.encode(body)
    }
}

/// RFC 2047 / RFC 5322 header value encoding.
enum HeaderEncoding {
    /// Characters allowed in a field name: printable ASCII except ':' (RFC 5322 3.6.8).
    static func validateName(_ name: String) throws(MailMessageError) {
        guard !name.isEmpty, name.utf8.count <= 76,
              name.utf8.allSatisfy({ $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: ":") })
        else { throw .invalidHeaderName(name) }
    }

    static func checkInjection(_ value: String, header: String) throws(MailMessageError) {
        if value.unicodeScalars.contains(where: { $0.value < 32 && $0 != "\t" || $0.value == 127 }) {
            throw .headerInjection(header: header)
        }
    }

    static func isPlainASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 32 && $0 < 127 || $0 == 9 }
    }

    /// Tokens for an unstructured value (Subject, extra headers). ASCII text is split at spaces
    /// (so folding happens only at existing whitespace); other text becomes a run of
    /// `=?UTF-8?B?…?=` encoded-words, each short enough for its line.
    static func unstructuredTokens(_ value: String, header: String, nameLength: Int) throws(MailMessageError) -> [String] {
        try checkInjection(value, header: header)
        if isPlainASCII(value) && !value.contains("=?") {
            return value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        }
        return encodedWords(value, firstLineUsed: nameLength + 1)
    }

    /// `=?UTF-8?B?…?=` words for `text`, never splitting a character's UTF-8 bytes. The first
    /// word fits after `firstLineUsed` characters, the others after a folding space, all ≤ 78.
    static func encodedWords(_ text: String, firstLineUsed: Int) -> [String] {
        func maxBytes(forLineUsed used: Int) -> Int {
            let base64Chars = min(60, max(4, (78 - used - 12) / 4 * 4))  // 12 = "=?UTF-8?B?" + "?="; words ≤ 75
            return base64Chars / 4 * 3
        }
        var words: [String] = []
        var chunk: [UInt8] = []
        var limit = maxBytes(forLineUsed: firstLineUsed)
        for scalar in text.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            if chunk.count + encoded.count > limit, !chunk.isEmpty {
                words.append("=?UTF-8?B?" + Base64.encode(chunk) + "?=")
                chunk = []
                limit = maxBytes(forLineUsed: 1)
            }
            chunk += encoded
        }
        if !chunk.isEmpty || words.isEmpty {
            words.append("=?UTF-8?B?" + Base64.encode(chunk) + "?=")
        }
        return words
    }

    /// Tokens for an address list: `Name <a@b>,` pieces; names with specials are quoted,
    /// non-ASCII names are encoded-words.
    static func addressTokens(_ addresses: [MailAddress], header: String) throws(MailMessageError) -> [String] {
        var tokens: [String] = []
        for (index, address) in addresses.enumerated() {
            let isLast = index == addresses.count - 1
            var pieces: [String] = []
            if let name = address.displayName {
                try checkInjection(name, header: header)
                if isPlainASCII(name) && !name.contains("=?") {
                    let isAtomText = name.utf8.allSatisfy { byte in
                        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                            || Array("!#$%&'*+-/=?^_`{|}~ ".utf8).contains(byte)
                    }
                    if isAtomText {
                        pieces += name.split(separator: " ").map(String.init)
                    } else {
                        var quoted = "\""
                        for ch in name {
                            if ch == "\"" || ch == "\\" { quoted.append("\\") }
                            quoted.append(ch)
                        }
                        pieces.append(quoted + "\"")
                    }
                } else {
                    pieces += encodedWords(name, firstLineUsed: 1)
                }
                pieces.append("<\(address.address)>")
            } else {
                pieces.append(address.address)
            }
            if !isLast { pieces[pieces.count - 1] += "," }
            tokens += pieces
        }
        return tokens
    }
}

/// Quoted-printable (RFC 2045) with CRLF line breaks and lines of at most 76 characters.
enum QuotedPrintable {
    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func encode(_ text: String) -> [UInt8] {
        var text = text
        return text.withUTF8 { encode(bytes: $0) }
    }

    /// One pass over the bytes, no per-line arrays: lines end at CRLF, CR or LF; a trailing
    /// line break adds no empty line.
    static func encode(bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 8 + 8)
        let count = bytes.count
        var start = 0
        while true {
            var end = start
            while end < count && bytes[end] != 10 && bytes[end] != 13 { end += 1 }
            encodeLine(bytes, start, end, into: &out)
            guard end < count else { break }
            // Skip the break (CRLF counts once).
            start = bytes[end] == 13 && end + 1 < count && bytes[end + 1] == 10 ? end + 2 : end + 1
            if start == count { break }
        }
        return out
    }

    private static func encodeLine(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into out: inout [UInt8]) {
        var length = 0
        var index = start
        while index < end {
            let byte = bytes[index]
            let isLast = index == end - 1
            let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "="))
                || ((byte == 32 || byte == 9) && !isLast)
            let width = literal ? 1 : 3
            // Keep room for a soft break "=" unless this is the line's last piece.
            let limit = isLast ? 76 : 75
            if length + width > limit {
                out.append(UInt8(ascii: "=")); out.append(13); out.append(10)
                length = 0
            }
            if literal {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "=")); out.append(hexDigits[Int(byte >> 4)]); out.append(hexDigits[Int(byte & 0x0F)])
            }
            length += width
            index += 1
        }
        out.append(13); out.append(10)
    }
}

/// Standard base64 (RFC 4648) with padding.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = input.count - i
        if rest == 1 {
            let n = UInt32(input[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// RFC 5322 date-time in UTC, e.g. `Mon, 07 Dec 2026 06:26:39 +0000`.
enum RFC5322Date {
    private static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(epochMilliseconds ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let dayNumber = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - dayNumber * 86400
        let (year, month, day) = civil(fromDays: dayNumber)
        let weekday = days[Int(((dayNumber % 7) + 7) % 7)]
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(weekday), \(two(day)) \(months[Int(month) - 1]) \(year) \(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60)) +0000"
    }

    /// Howard Hinnant's days-to-civil algorithm.
    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
