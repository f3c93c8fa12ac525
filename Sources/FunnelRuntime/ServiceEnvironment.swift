import Foundation
import FunnelKafka

/// What a Funnel process reads from its environment (names fixed by the brief).
public struct ServiceEnvironment: Sendable {
    public var service: String
    public var kafka: KafkaConfiguration
    /// `FUNNEL_HTTP_PORT`: the API port for ingest, health/metrics for the others.
    public var httpPort: Int
    /// `FUNNEL_CONFIG_DIR` (default `deploy/`).
    public var configDirectory: String
    public var raw: [String: String]

    public init(service: String, defaultPort: Int, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.service = service
        self.raw = environment
        self.kafka = KafkaConfiguration.fromEnvironment(environment)
        self.httpPort = environment["FUNNEL_HTTP_PORT"].flatMap(Int.init) ?? defaultPort
        self.configDirectory = environment["FUNNEL_CONFIG_DIR"] ?? ProjectPaths.configDirectory
    }

    /// Reads a file under the config directory, with an error that names it.
    public func readConfigFile(_ name: String) throws -> String {
        let path = configDirectory + "/" + name
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError("cannot read \(path) (FUNNEL_CONFIG_DIR=\(configDirectory))")
        }
        return text
    }

    /// An integer setting `name` in `range`, or `defaultValue` when unset; a value that is not
    /// an integer in range stops the process at start with `NAME: reason`.
    public func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = raw[name], !text.isEmpty else { return defaultValue }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigError("\(name): '\(text)' is not an integer")
        }
        guard range.contains(value) else { throw ConfigError("\(name): \(value) is outside \(range.lowerBound)...\(range.upperBound)") }
        return value
    }

    /// Non-empty, non-comment lines of a text file under the config directory.
    public func readList(_ name: String) throws -> [String] {
        try readConfigFile(name).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
