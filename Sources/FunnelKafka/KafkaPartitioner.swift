import CRdKafka

/// librdkafka's default partitioner (`consistent_random`): CRC32 of the key modulo the
/// partition count. Tells which partition holds a key's records (e.g. a lead's state).
public enum KafkaPartitioner {
    public static func partition(forKey key: String, partitionCount: Int) -> Int32 {
        precondition(partitionCount > 0 && !key.isEmpty, "a non-empty key and at least one partition")
        let bytes = Array(key.utf8)
        return bytes.withUnsafeBytes {
            // The topic handle is only consulted for empty keys (random choice).
            rd_kafka_msg_partitioner_consistent_random(nil, $0.baseAddress, $0.count, Int32(partitionCount), nil, nil)
        }
    }
}
