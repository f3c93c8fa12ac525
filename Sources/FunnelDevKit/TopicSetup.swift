import FunnelRuntime
import FunnelDomain
import FunnelKafka

/// Creates the topic catalogue on a cluster (idempotent).
public enum TopicSetup {
    @discardableResult
    public static func create(admin: KafkaAdmin, partitions: Int = 6, replicationFactor: Int = 1) async throws(KafkaError) -> [String: KafkaAdmin.CreationOutcome] {
        let specs = TopicCatalog.all(partitions: partitions).map {
            TopicSpecification(name: $0.name, partitions: $0.partitions, replicationFactor: replicationFactor, configs: $0.configs)
        }
        return try await admin.createTopics(specs)
    }
}
