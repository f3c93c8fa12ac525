/// Readers of the line-oriented reference lists in `deploy/data/` (one entry a line; blank lines
/// and lines starting with `#` are ignored). Pure: the process reads the text, these check it.
/// A malformed line is a `file:line: reason` error, so a bad edit stops the process at start.
public enum ReferenceList {
    /// Domain names (`mailinator.com`): at least two dot-separated labels of ASCII letters,
    /// digits and inner hyphens, each 1–63 characters, 253 at most in all. Upper case is folded.
    public static func domains(_ text: String, file: String) throws(ConfigFileError) -> Set<String> {
        try entries(text, file: file, problem: domainProblem)
    }

    /// What is wrong with a (lower-case) domain name as the lists hold them, or nil.
    public static func domainProblem(_ entry: String) -> String? {
        guard entry.utf8.count <= 253 else { return "a domain name is at most 253 characters" }
        let labels = entry.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return "'\(entry)' is not a domain name (needs a dot, e.g. example.com)" }
        for label in labels {
            if let reason = labelProblem(label) { return "'\(entry)': \(reason)" }
        }
        return nil
    }

    /// Local parts of addresses (`info`, `customer-care`): ASCII letters, digits and `.`, `_`,
    /// `+`, `-`, starting with a letter or digit. Upper case is folded.
    public static func localParts(_ text: String, file: String) throws(ConfigFileError) -> Set<String> {
        try entries(text, file: file) { entry in
            guard entry.utf8.count <= 64 else { return "a local part is at most 64 characters" }
            guard let first = entry.utf8.first, isAlphanumeric(first) else {
                return "'\(entry)' must start with a letter or digit"
            }
            guard entry.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_")
                || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) else {
                return "'\(entry)' is not a local part (letters, digits, '.', '_', '+', '-')"
            }
            return nil
        }
    }

    private static func entries(_ text: String, file: String,
                                problem: (String) -> String?) throws(ConfigFileError) -> Set<String> {
        var result = Set<String>()
        var lineNumber = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }) {
            lineNumber += 1
            let line = raw.trimmingWhitespaceSubstring
            if line.isEmpty || line.hasPrefix("#") { continue }
            let entry = line.lowercased()
            if entry.contains(where: { $0.isWhitespace }) {
                throw ConfigFileError(file: file, line: lineNumber, path: "", reason: "one entry per line, found '\(line)'")
            }
            if let reason = problem(entry) {
                throw ConfigFileError(file: file, line: lineNumber, path: "", reason: reason)
            }
            result.insert(entry)
        }
        return result
    }

    private static func labelProblem(_ label: Substring) -> String? {
        guard !label.isEmpty else { return "empty label (two dots, or a leading or trailing dot)" }
        guard label.utf8.count <= 63 else { return "a label is at most 63 characters" }
        guard label.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") }) else {
            return "only letters, digits and '-' are allowed in a label (IDNs in punycode, xn--…)"
        }
        guard label.first != "-", label.last != "-" else { return "a label cannot start or end with '-'" }
        return nil
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

extension Substring {
    var trimmingWhitespaceSubstring: Substring {
        var s = self
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return s
    }
}
