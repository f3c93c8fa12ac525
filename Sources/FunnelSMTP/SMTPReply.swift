/// One (possibly multi-line) SMTP server reply.
struct SMTPReply: Sendable, Equatable {
    /// The three-digit reply code.
    var code: Int
    /// The text of each line, without the code and separator.
    var lines: [String]

    var isPositiveCompletion: Bool { (200..<300).contains(code) }
    var isPositiveIntermediate: Bool { (300..<400).contains(code) }

    /// All lines joined with a space.
    var text: String { lines.joined(separator: " ") }

    /// The RFC 3463 enhanced status code at the start of the first line, if any (e.g. "5.1.1").
    var enhancedCode: String? {
        guard let first = lines.first else { return nil }
        let token = first.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let cls = parts.first, cls.count == 1, ["2", "4", "5"].contains(cls),
              parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCIIDigit) })
        else { return nil }
        return token
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
