import Crypto
import Foundation
import FunnelRuntime

/// What an API key may do. `admin` implies every other scope.
enum Scope: String, CaseIterable, Sendable {
    case leadsWrite = "leads:write"
    case activitiesWrite = "activities:write"
    case outcomesWrite = "outcomes:write"
    case admin = "admin"
}

/// One configured key: the source it belongs to, its scopes and the SHA-256 of the key.
/// The key itself is never stored.
struct APIKeyEntry: Sendable {
    let source: String
    let scopes: Set<Scope>
    let hash: [UInt8] // 32 bytes

    func allows(_ scope: Scope) -> Bool { scopes.contains(.admin) || scopes.contains(scope) }
}

/// The API keys of `funnel-ingest`, from `$FUNNEL_CONFIG_DIR/api-keys.txt` and `FUNNEL_API_KEYS`.
///
/// One entry per line (file) or per `;`/newline-separated item (environment):
///
///     <source> <scope>[,<scope>…] sha256:<64 hex digits>
///
/// `source` is 1–63 of `a-z 0-9 . _ -` starting with a letter or digit (it becomes part of the
/// CloudEvent `source` URI-reference). Blank lines and `#` comments are ignored.
///
/// Keys are 256-bit random values (see `funnel keys create`), so a plain SHA-256 is enough:
/// a slow KDF only helps against guessing low-entropy secrets such as passwords, and nobody
/// can enumerate 2^256 candidates however fast the hash is. A fast hash also keeps
/// authentication at about a microsecond per request.
struct APIKeyStore: Sendable {
    static let fileName = "api-keys.txt"
    static let environmentVariable = "FUNNEL_API_KEYS"

    let entries: [APIKeyEntry]

    /// Finds the entry for a presented key. Every configured hash is compared in constant time
    /// and all of them are always compared, so the timing says nothing about which one matched.
    func entry(forKey key: String) -> APIKeyEntry? {
        let digest = Array(SHA256.hash(data: Data(key.utf8)))
        var match: Int = -1
        for (index, entry) in entries.enumerated() {
            var difference: UInt8 = 0
            for i in 0..<32 { difference |= entry.hash[i] ^ digest[i] }
            // Branch-free select: keeps the first match.
            let isMatch = difference == 0 && match < 0
            match = isMatch ? index : match
        }
        return match >= 0 ? entries[match] : nil
    }

    // MARK: loading

    struct ParseError: Error, CustomStringConvertible {
        let location: String // "deploy/api-keys.txt:3" or "FUNNEL_API_KEYS entry 2"
        let reason: String
        var description: String { "\(location): \(reason)" }
    }

    /// Loads the key file (if present) and the environment variable (if set).
    static func load(configDirectory: String, environment: [String: String]) throws -> APIKeyStore {
        var entries: [APIKeyEntry] = []
        let path = configDirectory + "/" + fileName
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError("cannot read \(path) (FUNNEL_CONFIG_DIR=\(configDirectory))")
            }
            entries += try parse(text, separators: ["\n"]) { "\(path):\($0)" }
        }
        if let value = environment[environmentVariable] {
            entries += try parse(value, separators: ["\n", ";"]) { "\(environmentVariable) entry \($0)" }
        }
        var seen: [String: String] = [:]
        for entry in entries {
            let hex = entry.hash.map { String(format: "%02x", $0) }.joined()
            if let other = seen[hex] {
                throw ConfigError("the same API key hash is configured twice (sources \"\(other)\" and \"\(entry.source)\")")
            }
            seen[hex] = entry.source
        }
        return APIKeyStore(entries: entries)
    }

    /// Parses entries; `location(n)` names entry `n` (1-based line number for files).
    static func parse(_ text: String, separators: Set<Character>, location: (Int) -> String) throws(ParseError) -> [APIKeyEntry] {
        var entries: [APIKeyEntry] = []
        let items = text.split(omittingEmptySubsequences: false, whereSeparator: { separators.contains($0) })
        for (offset, raw) in items.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            do { entries.append(try parseEntry(line)) } catch let reason {
                throw ParseError(location: location(offset + 1), reason: reason.description)
            }
        }
        return entries
    }

    struct EntryError: Error, CustomStringConvertible { let description: String }

    static let format = "expected `<source> <scope>[,<scope>…] sha256:<64 hex digits>`"

    static func parseEntry(_ line: String) throws(EntryError) -> APIKeyEntry {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 3 else { throw EntryError(description: "\(fields.count) fields, \(format)") }
        let source = fields[0]
        guard isValidSource(source) else {
            throw EntryError(description: "source \"\(source)\" must be 1-63 of a-z 0-9 . _ - starting with a letter or digit")
        }
        var scopes = Set<Scope>()
        for name in fields[1].split(separator: ",", omittingEmptySubsequences: false) {
            guard let scope = Scope(rawValue: String(name)) else {
                throw EntryError(description: "unknown scope \"\(name)\" (known: \(Scope.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            scopes.insert(scope)
        }
        let hashField = fields[2]
        guard hashField.hasPrefix("sha256:") else {
            throw EntryError(description: "the third field must be the key's hash `sha256:<64 hex digits>` (never the key itself)")
        }
        guard let hash = hexBytes(hashField.dropFirst("sha256:".count)), hash.count == 32 else {
            throw EntryError(description: "the hash must be 64 hex digits after `sha256:`")
        }
        return APIKeyEntry(source: source, scopes: scopes, hash: hash)
    }

    static func isValidSource(_ s: String) -> Bool {
        guard (1...63).contains(s.utf8.count), let first = s.utf8.first else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        return alnum(first) && s.utf8.allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    static func hexBytes(_ hex: Substring) -> [UInt8]? {
        guard hex.utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = nibble(high), let l = nibble(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        return bytes
    }
}
