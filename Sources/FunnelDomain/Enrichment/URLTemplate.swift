import Foundation

/// A provider URL with `{variable}` placeholders (`https://api.example.com/v2/companies/find?domain={domain}`),
/// checked when the file is read; values are percent-encoded when it is expanded.
public struct URLTemplate: Sendable, Equatable {
    public let text: String
    /// The variables the template uses, in order.
    public let variables: [String]

    /// What each kind of provider may ask for.
    public static func variables(_ kind: ProviderConfig.Kind) -> Set<String> {
        switch kind {
        case .company: ["domain"]
        case .person: ["email", "first_name", "last_name", "company", "domain"]
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(_ text: String, allowed: Set<String>) throws(Invalid) {
        guard text.hasPrefix("http://") || text.hasPrefix("https://") else {
            throw Invalid(description: "must start with http:// or https://")
        }
        var names: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { throw Invalid(description: "a '{' without '}'") }
            let name = String(rest[rest.index(after: open)..<close])
            guard allowed.contains(name) else {
                throw Invalid(description: "unknown variable {\(name)} (known: \(allowed.sorted().map { "{\($0)}" }.joined(separator: ", ")))")
            }
            names.append(name)
            rest = rest[rest.index(after: close)...]
        }
        guard !names.isEmpty else { throw Invalid(description: "uses no variable: every lead would get the same answer") }
        self.text = text
        self.variables = names
    }

    /// The URL with each variable's value percent-encoded; nil when a variable has no value.
    public func expand(_ values: [String: String]) -> String? {
        var out = text
        for name in Set(variables) {
            guard let value = values[name], !value.isEmpty else { return nil }
            out = out.replacingOccurrences(of: "{\(name)}", with: Self.encode(value))
        }
        return out
    }

    /// RFC 3986 unreserved characters stay, everything else is percent-encoded.
    static func encode(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80 && (c.isLetter || c.isNumber || "-._~".contains(c)) { out.append(c) } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
