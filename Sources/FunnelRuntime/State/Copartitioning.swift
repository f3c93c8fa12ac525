import FunnelKafka

/// The start-up check of a stateful stage: its input topics and its changelog exist and have
/// the same partition count, so partition p of each holds the same keys.
public enum Copartitioning {
    /// Throws a ``ConfigError`` naming every topic and its count when they differ or one is missing.
    public static func check(_ topics: [String], configuration: KafkaConfiguration, service: String) async throws {
        let admin = try KafkaAdmin(configuration: configuration)
        let known = Dictionary(try await admin.listTopics().map { ($0.name, $0.partitions) }) { first, _ in first }
        if let problem = problem(topics, partitions: known) {
            throw ConfigError("\(service): \(problem)")
        }
    }

    /// What is wrong with `topics` given the cluster's partition counts, or nil.
    public static func problem(_ topics: [String], partitions known: [String: Int]) -> String? {
        let missing = topics.filter { known[$0] == nil }
        if !missing.isEmpty {
            return "co-partitioned topics missing: \(missing.joined(separator: ", ")) (create them with `funnel topics create`)"
        }
        let counts = topics.map { known[$0]! }
        guard Set(counts).count > 1 else { return nil }
        let list = zip(topics, counts).map { "\($0) has \($1)" }.joined(separator: ", ")
        return "co-partitioned topics must have the same partition count: \(list)"
    }
}
