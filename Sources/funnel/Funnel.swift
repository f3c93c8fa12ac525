import ArgumentParser
import FunnelKafka
import FunnelRuntime

/// The operator CLI: `funnel dev`, `funnel topics`, `funnel broker`, `funnel bench`.
@main
struct Funnel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnel",
        abstract: "Funnel operator CLI: run the pipeline locally, manage topics, benchmark.",
        subcommands: [Dev.self, Topics.self, Explain.self, Erase.self, ExportLead.self, Report.self, BacktestCommand.self, Export.self, Reps.self, Accounts.self, DeadLetters.self, Broker.self, Bench.self, Keys.self, Import.self])
}

/// Options shared by commands that talk to a Kafka cluster.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Bootstrap brokers (default: $KAFKA_BROKERS, else 127.0.0.1:9092).")
    var brokers: String?

    /// `KAFKA_*` from the environment, with `--brokers` on top.
    var configuration: KafkaConfiguration {
        var config = KafkaConfiguration.fromEnvironment(ProcessInfo.processInfo.environment)
        if let brokers { config.brokers = brokers }
        return config
    }
}

import Foundation
