import FunnelKafka
import Testing

@Suite("Configuration and runtime checks")
struct ConfigurationTests {
    @Test("KAFKA_* environment variables become librdkafka properties")
    func environment() {
        let config = KafkaConfiguration.fromEnvironment([
            "KAFKA_BROKERS": "k1:9092,k2:9092",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISMS": "PLAIN",
            "KAFKA_": "ignored",
            "PATH": "/bin",
        ])
        #expect(config.brokers == "k1:9092,k2:9092")
        #expect(config["security.protocol"] == "SASL_SSL")
        #expect(config["sasl.mechanisms"] == "PLAIN")
        #expect(config.properties.count == 3)
    }

    @Test("an unknown property is rejected and named")
    func unknownProperty() {
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: KafkaConfiguration(properties: ["no.such.property": "1"]))
        }
        #expect(error?.kind == .configuration)
        #expect(error?.message.contains("no.such.property") == true)
        #expect(error?.message.contains("KAFKA_NO_SUCH_PROPERTY") == true)
    }

    @Test("the loaded librdkafka is the newer runtime, not Debian's 2.0.2")
    func runtimeVersion() throws {
        #expect(LibrdkafkaVersion.isSupported, "loaded \(LibrdkafkaVersion.string)")
        try LibrdkafkaVersion.check()
        #expect(LibrdkafkaVersion.tooOldExplanation.contains("scripts/bootstrap.sh"))
    }
}
