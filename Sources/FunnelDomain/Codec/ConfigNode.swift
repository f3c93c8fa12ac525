import Yams

/// What is wrong with a configuration file, where: `file:line: path: reason`.
public struct ConfigFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var path: String
    public var reason: String
    public init(file: String, line: Int?, path: String, reason: String) {
        self.file = file; self.line = line; self.path = path; self.reason = reason
    }
    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(path.isEmpty ? "" : path + ": ")\(reason)"
    }
}

/// A node of a YAML configuration file with its path, for readers that check every key and
/// report errors with the file, line and field (`routing.yaml:14: pools.inbound.members[1].weight:
/// must be an integer >= 1`). Unknown keys are errors: a typo must not silently mean "default".
public struct ConfigNode {
    public let node: Node
    public let path: String
    public let file: String

    /// The document's root, or a located error if it is not valid YAML or empty.
    public static func parse(yaml: String, file: String) throws(ConfigFileError) -> ConfigNode {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ConfigFileError(file: file, line: (error as? YamlError).flatMap(YAMLLocation.line(of:)), path: "", reason: "not valid YAML: \(error)")
        }
        guard let root else { throw ConfigFileError(file: file, line: nil, path: "", reason: "the file is empty") }
        return ConfigNode(node: root, path: "", file: file)
    }

    public var line: Int? { node.mark?.line }

    public func error(_ reason: String) -> ConfigFileError {
        ConfigFileError(file: file, line: line, path: path, reason: reason)
    }

    private func child(_ node: Node, _ key: String) -> ConfigNode {
        ConfigNode(node: node, path: path.isEmpty ? key : path + "." + key, file: file)
    }

    /// The mapping's entries in file order; an error if this is not a mapping or has a key
    /// outside `allowed` (nil: any key).
    public func entries(allowed: Set<String>? = nil) throws(ConfigFileError) -> [(key: String, value: ConfigNode)] {
        guard case .mapping(let map) = node else { throw error("expected a mapping") }
        var out: [(key: String, value: ConfigNode)] = []
        for pair in map {
            guard let key = pair.key.string else { throw error("keys must be strings") }
            if let allowed, !allowed.contains(key) {
                throw ConfigFileError(file: file, line: pair.key.mark?.line, path: path.isEmpty ? key : path + "." + key,
                                      reason: "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
            }
            if out.contains(where: { $0.key == key }) {
                throw ConfigFileError(file: file, line: pair.key.mark?.line, path: path.isEmpty ? key : path + "." + key, reason: "duplicate key")
            }
            out.append((key, child(pair.value, key)))
        }
        return out
    }

    /// The value of `key` in this mapping, if present.
    public func optional(_ key: String) -> ConfigNode? {
        guard case .mapping(let map) = node, let pair = map.first(where: { $0.key.string == key }) else { return nil }
        return child(pair.value, key)
    }

    public func required(_ key: String) throws(ConfigFileError) -> ConfigNode {
        guard let value = optional(key) else { throw error("missing key '\(key)'") }
        return value
    }

    public func items() throws(ConfigFileError) -> [ConfigNode] {
        guard case .sequence(let seq) = node else { throw error("expected a list") }
        return seq.enumerated().map { ConfigNode(node: $1, path: path + "[\($0)]", file: file) }
    }

    public func string() throws(ConfigFileError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a string") }
        return scalar.string
    }

    public func nonEmptyString() throws(ConfigFileError) -> String {
        let value = try string().trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty else { throw error("must not be empty") }
        return value
    }

    public func int(min: Int? = nil) throws(ConfigFileError) -> Int {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else { throw error("expected an integer") }
        if let min, value < min { throw error("must be an integer >= \(min)") }
        return value
    }

    public func double() throws(ConfigFileError) -> Double {
        guard case .scalar(let scalar) = node, let value = Double(scalar.string) else { throw error("expected a number") }
        return value
    }

    public func bool() throws(ConfigFileError) -> Bool {
        guard case .scalar(let scalar) = node else { throw error("expected true or false") }
        switch scalar.string.lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        default: throw error("expected true or false")
        }
    }

    /// A list of strings, or one string as a list of one.
    public func strings() throws(ConfigFileError) -> [String] {
        if case .scalar = node { return [try nonEmptyString()] }
        var out: [String] = []
        for item in try items() { out.append(try item.nonEmptyString()) }
        if out.isEmpty { throw error("must not be an empty list") }
        return out
    }
}

import Foundation
