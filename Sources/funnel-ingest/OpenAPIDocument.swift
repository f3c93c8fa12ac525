import Foundation
import FunnelDomain
import FunnelRuntime
import Hummingbird
import Yams

/// `GET /openapi.json`: the OpenAPI 3.1 document of this API, served without an API key.
///
/// The source is `openapi.yaml` in the config directory (`deploy/openapi.yaml`). It is read,
/// parsed and converted to JSON (sorted keys) once at start-up; a malformed file stops the
/// process with an error naming the file. A config directory without the file (e.g. a test's
/// scratch directory) only logs a warning, and `/openapi.json` is then not served.
enum OpenAPIDocument {
    static let fileName = "openapi.yaml"

    static func register(on router: Router<BasicRequestContext>, context: ServiceContext, countries: CountryNames) throws {
        let path = context.environment.configDirectory + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else {
            context.logger.warning("no OpenAPI document: GET /openapi.json is not served", metadata: ["file": "\(path)"])
            return
        }
        let json = ByteBuffer(bytes: try json(fromYAML: try context.environment.readConfigFile(fileName), file: path, countries: countries))
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: json))
        }
    }

    /// The YAML document as JSON with sorted keys. Errors are `ConfigError`s that start with `file`
    /// (and the line, where it is known).
    static func json(fromYAML yaml: String, file: String, countries: CountryNames = CountryNames()) throws -> [UInt8] {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ConfigError("\(file): not valid YAML: \(error)")
        }
        guard let root, case .mapping = root else {
            throw ConfigError("\(file): must be a YAML mapping (an OpenAPI document)")
        }
        let document = try value(of: root, file: file)
        guard let version = (document as? [String: Any])?["openapi"] as? String, version.hasPrefix("3.1.") else {
            throw ConfigError("\(file): `openapi` must be a 3.1.x version string")
        }
        let filled = fillingCountryNames(document, countries)
        return Array(try JSONSerialization.data(withJSONObject: filled, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// The document with the enumerations of the `CountryName` schemas (`CountryName`,
    /// `CountryNameCallingCode1` to `3`) set to the names funnel-ingest accepts: the document can
    /// only list a few, the files in `data/` hold thousands. Schemas the document lacks are skipped.
    static func fillingCountryNames(_ document: Any, _ countries: CountryNames) -> Any {
        guard var root = document as? [String: Any], var components = root["components"] as? [String: Any],
              var schemas = components["schemas"] as? [String: Any] else { return document }
        let names = countries.names
        func set(_ schema: String, _ keep: (String) -> Bool) {
            guard var object = schemas[schema] as? [String: Any] else { return }
            object["enum"] = names.filter { keep($0.code) }.map(\.name)
            schemas[schema] = object
        }
        set("CountryName") { _ in true }
        for digits in 1...3 {
            set("CountryNameCallingCode\(digits)") { Normalise.callingCode(of: $0)?.count == digits }
        }
        components["schemas"] = schemas
        root["components"] = components
        return root
    }

    /// A YAML node as a JSON value: mappings need string keys (no duplicates), scalars keep
    /// their resolved type (null, bool, int, float); everything else, timestamps included, is a string.
    private static func value(of node: Node, file: String) throws -> Any {
        func fail(_ reason: String) -> ConfigError {
            ConfigError("\(file)\(node.mark.map { ":\($0.line)" } ?? ""): \(reason)")
        }
        switch node {
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            for (key, child) in mapping {
                guard case .scalar(let scalar) = key else { throw fail("mapping keys must be scalars") }
                guard object[scalar.string] == nil else { throw fail("duplicate key \"\(scalar.string)\"") }
                object[scalar.string] = try value(of: child, file: file)
            }
            return object
        case .sequence(let sequence):
            return try sequence.map { try value(of: $0, file: file) }
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return NSNull()
            case .bool: if let bool = node.bool { return bool }
            case .int: if let int = node.int { return int } else if let double = node.float { return double }
            case .float:
                guard let double = node.float, double.isFinite else { throw fail("\(scalar.string) is not a finite number (JSON has none)") }
                return double
            default: break
            }
            return scalar.string
        case .alias:
            throw fail("unresolved alias")
        }
    }
}
