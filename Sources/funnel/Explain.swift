import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages

/// `funnel explain LEAD_ID`: the current score breakdown of a lead, from the scorer's
/// changelog (the state every replica restores from) and the model file.
struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a lead's current score breakdown: rules, points, bands, MQL.",
        discussion: "Reads the lead's state from funnel.score.leads.v1 (only the partition that holds it) and evaluates the scoring model on it.")

    @Argument(help: "The lead id (e.g. lead-5be9aab0eea8d4be1488).") var leadID: String
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "The scoring model (default: $FUNNEL_CONFIG_DIR/scoring-model.yaml, else deploy/).") var model: String?
    @Option(help: "Evaluate at this RFC 3339 time instead of the lead's newest event (shows decay).") var at: String?

    func run() async throws {
        let path = model ?? ((ProcessInfo.processInfo.environment["FUNNEL_CONFIG_DIR"] ?? ProjectPaths.configDirectory) + "/scoring-model.yaml")
        let yaml: String
        do { yaml = try String(contentsOfFile: path, encoding: .utf8) } catch { throw ValidationError("cannot read the model \(path): \(error.localizedDescription)") }
        let scorer = Scorer(model: try ScoringModel.parse(yaml: yaml, file: path))
        let reference: Int64?
        if let at {
            guard let ms = Timestamp.milliseconds(at) else { throw ValidationError("--at needs an RFC 3339 date-time, e.g. 2026-11-23T10:00:00Z") }
            reference = ms
        } else { reference = nil }

        let config = cluster.configuration
        let admin = try KafkaAdmin(configuration: config)
        let topic = ScoreProcessor.changelogTopic
        guard let description = try await admin.listTopics().first(where: { $0.name == topic }) else {
            throw ValidationError("topic \(topic) does not exist on \(config.brokers): is funnel-score running there? (`funnel topics create`)")
        }
        let partition = KafkaPartitioner.partition(forKey: leadID, partitionCount: description.partitions)
        let (value, records) = try await KafkaPartitionReader.latestValue(
            forKey: leadID, in: TopicPartition(topic: topic, partition: partition), configuration: config)
        let state: LeadScoreState?
        do { state = try value.flatMap { v in try TableRecord(decoding: v.array).value.map { try LeadScoreState(decoding: $0) } } }
        catch { throw ValidationError("the state of \(leadID) in \(topic)[\(partition)] cannot be decoded: \(error)") }
        guard let state else {
            throw ValidationError("lead \(leadID) has no state in \(topic)[\(partition)] (\(records) records read). Check the id, and that funnel-score has seen an event of this lead.")
        }
        print(ScoreExplanation.render(leadID: leadID, state: state, scorer: scorer, at: reference ?? state.lastEventTime), terminator: "")
    }
}
