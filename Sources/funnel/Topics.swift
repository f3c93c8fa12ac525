import ArgumentParser
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelDevKit

struct Topics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or list Funnel's topics (one catalogue, shared with `funnel dev`).",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create every topic of the catalogue; existing ones are left as they are.")
        @OptionGroup var cluster: ClusterOptions
        @Option(help: "Partitions per topic (the dead-letter topic has 3).") var partitions = 6
        @Option(help: "Replication factor.") var replicationFactor = 1

        func run() async throws {
            let admin = try KafkaAdmin(configuration: cluster.configuration)
            let outcome = try await TopicSetup.create(admin: admin, partitions: partitions, replicationFactor: replicationFactor)
            for (name, result) in outcome.sorted(by: { $0.key < $1.key }) {
                print("\(result == .created ? "created " : "exists  ") \(name)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the cluster's topics with partition counts.")
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let admin = try KafkaAdmin(configuration: cluster.configuration)
            let known = Dictionary(uniqueKeysWithValues: TopicCatalog.all().map { ($0.name, $0) })
            for topic in try await admin.listTopics() {
                let note = known[topic.name].map { "  \($0.summary)\($0.isCompacted ? " (compacted)" : "")" } ?? ""
                print("\(topic.name)  partitions=\(topic.partitions)\(note)")
            }
        }
    }
}
