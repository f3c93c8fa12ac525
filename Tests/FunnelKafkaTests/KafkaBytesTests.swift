import FunnelKafka
import Testing

@Suite("Message bytes")
struct KafkaBytesTests {
    @Test("a producer message built from strings and arrays keeps key, value and headers")
    func producerMessage() {
        let message = ProducerMessage(topic: "t", key: "lead-1", value: [1, 2, 3])
        #expect(message.headers.isEmpty)
        #expect(message.key == Array("lead-1".utf8))
        #expect(message.value == [1, 2, 3])
        var edited = message
        edited.value = nil
        #expect(edited.valueBytes == nil)
        #expect(edited.keyBytes == KafkaBytes(Array("lead-1".utf8)))
    }
}
