import ArgumentParser
import Crypto
import Foundation

/// `funnel keys create`: a new API key for `funnel-ingest`, shown once, and the line that
/// configures it (only the key's SHA-256 is ever stored).
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API keys of funnel-ingest.", subcommands: [Create.self])

    static let scopes = ["leads:write", "activities:write", "outcomes:write", "admin"]

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key: prints the key once and the line to add to deploy/api-keys.txt.")

        @Option(help: "The source the key belongs to (1-63 of a-z 0-9 . _ -); recorded on every event it produces.")
        var source: String
        @Option(name: .customLong("scope"), help: "A scope: leads:write, activities:write, outcomes:write or admin (repeatable).")
        var scopes: [String] = []
        @Flag(help: "Print one JSON object (key, line, source, scopes) instead of the instructions.")
        var json = false

        func validate() throws {
            guard (1...63).contains(source.utf8.count), let first = source.utf8.first,
                  Self.alnum(first), source.utf8.allSatisfy({ Self.alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
                throw ValidationError("--source must be 1-63 of a-z 0-9 . _ - starting with a letter or digit")
            }
            guard !scopes.isEmpty else { throw ValidationError("give at least one --scope (\(Keys.scopes.joined(separator: ", ")))") }
            for scope in scopes where !Keys.scopes.contains(scope) {
                throw ValidationError("unknown scope \"\(scope)\" (known: \(Keys.scopes.joined(separator: ", ")))")
            }
        }

        static func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }

        func run() throws {
            let created = Keys.create(source: source, scopes: scopes)
            if json {
                let object: [String: Any] = ["key": created.key, "line": created.line, "source": source, "scopes": created.scopes]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("""
            New API key for source "\(source)" (scopes: \(created.scopes.joined(separator: ", "))).
            It is shown only this once; only its hash is stored. Give it to the client:

              \(created.key)

            Clients send it as `Authorization: Bearer <key>` (or `X-API-Key: <key>`).

            Add this line to api-keys.txt in FUNNEL_CONFIG_DIR (deploy/api-keys.txt) and restart funnel-ingest:

              \(created.line)

            or set it in funnel-ingest's environment (entries separated by ';'):

              FUNNEL_API_KEYS='\(created.line)'
            """)
        }
    }

    /// A 256-bit random key (`fk_` + base64url without padding) and its configuration line.
    static func create(source: String, scopes: [String]) -> (key: String, line: String, scopes: [String]) {
        var generator = SystemRandomNumberGenerator() // getrandom(2): a CSPRNG
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let key = "fk_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let hash = SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
        var unique: [String] = []
        for scope in scopes where !unique.contains(scope) { unique.append(scope) }
        return (key, "\(source) \(unique.joined(separator: ",")) sha256:\(hash)", unique)
    }
}
