import Foundation

/// Reads a provider's JSON answer through the provider's field mapping: each target field
/// (`employees`) names a dotted path in the answer (`company.metrics.employees`, `emails.0.value`).
public enum FieldMapping {
    /// The mapped fields that are present (strings, numbers and booleans as text), or nil
    /// when the body is not JSON.
    public static func extract(_ body: [UInt8], mapping: [String: String]) -> [String: String]? {
        guard let root = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else { return nil }
        var out: [String: String] = [:]
        for (field, path) in mapping {
            if let value = lookup(root, path: path) { out[field] = value }
        }
        return out
    }

    static func lookup(_ root: Any, path: String) -> String? {
        var node: Any = root
        for part in path.split(separator: ".") {
            if let object = node as? [String: Any], let next = object[String(part)] { node = next }
            else if let array = node as? [Any], let index = Int(part), array.indices.contains(index) { node = array[index] }
            else { return nil }
        }
        switch node {
        case let text as String: return text.isEmpty ? nil : text
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }
}
