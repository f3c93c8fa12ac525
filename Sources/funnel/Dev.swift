import ArgumentParser
import Foundation
import FunnelKafka
import FunnelRuntime

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the whole pipeline locally on the embedded defaults.")
    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).") var duration: Double?

    func run() async throws {
        print("librdkafka runtime \(LibrdkafkaVersion.string)")
        try LibrdkafkaVersion.check()
        let broker = try await LocalBroker.start()
        print("broker: \(broker.bootstrap)   (KAFKA_BROKERS=\(broker.bootstrap))")
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap))
        let created = try await TopicSetup.create(admin: admin)
        print("topics: \(created.count) created")
        if let duration {
            try await Task.sleep(for: .seconds(duration))
        } else {
            _ = await ShutdownSignal.wait()
        }
        await broker.stop()
        print("stopped")
    }
}
