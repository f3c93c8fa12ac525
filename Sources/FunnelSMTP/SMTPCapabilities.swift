/// What the server announced in its EHLO reply.
struct SMTPCapabilities: Sendable, Equatable {
    var startTLS = false
    var pipelining = false
    var eightBitMIME = false
    /// Maximum message size (SIZE extension); `nil` when not announced or 0 (no limit).
    var maxSize: Int?
    /// AUTH mechanisms, upper-cased.
    var authMechanisms: Set<String> = []

    init() {}

    /// Parses the extension lines of an EHLO reply (the first line is the greeting text).
    init(ehloReply: SMTPReply) {
        for line in ehloReply.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map { $0.uppercased() }
            guard let keyword = words.first else { continue }
            switch keyword {
            case "STARTTLS": startTLS = true
            case "PIPELINING": pipelining = true
            case "8BITMIME": eightBitMIME = true
            case "SIZE":
                if words.count > 1, let size = Int(words[1]), size > 0 { maxSize = size }
            case "AUTH":
                authMechanisms.formUnion(words.dropFirst())
            default: break
            }
        }
    }
}
