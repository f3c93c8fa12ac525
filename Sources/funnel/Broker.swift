import ArgumentParser
import FunnelKafka
import FunnelRuntime
import FunnelDevKit

struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a local Tansu broker (memory storage) until Ctrl-C.")
    @Option(help: "Port to listen on (default: 9092).") var port = 9092
    @Flag(help: "Also create Funnel's topics.") var createTopics = false

    func run() async throws {
        let broker = try await LocalBroker.start(port: port)
        print("broker: \(broker.bootstrap)  (KAFKA_BROKERS=\(broker.bootstrap))")
        if createTopics {
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(brokers: broker.bootstrap))
            try await TopicSetup.create(admin: admin)
            print("topics created")
        }
        let signal = await ShutdownSignal.wait()
        print("signal \(signal): stopping the broker")
        await broker.stop()
    }
}
