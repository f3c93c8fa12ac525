import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

extension FirstSeenTimes {
    /// The topics ingest writes events to under an `Idempotency-Key` or a tracking token.
    static let restoredTopics = [TopicCatalog.captured, TopicCatalog.activity, TopicCatalog.outcome]

    /// Reads the newest `perPartition` events of each partition of ``restoredTopics`` and
    /// records the id and time of those ingest wrote, so that a retry after a restart re-uses
    /// its first attempt's time (same ids, same bytes). Blocks; a failure (broker down) leaves
    /// nothing restored and is the caller's to log: ingest then behaves as without it.
    func restore(configuration: KafkaConfiguration, perPartition: Int) throws -> Int {
        let tps = Self.restoredTopics.map { TopicPartition(topic: $0, partition: KafkaPartitionReader.allPartitions) }
        var restored = 0
        try KafkaPartitionReader.readToEnd(configuration: configuration, partitions: tps, timeout: .seconds(30), lastMessages: perPartition) { message in
            guard let value = message.value else { return }
            let parsed = value.withUnsafeBytes { FastJSON.parse($0) }
            guard let event = parsed, event["source"]?.string?.hasPrefix("funnel-ingest/") == true,
                  let id = event["id"]?.string, let time = event["time"]?.string else { return }
            self.restore(eventID: id, time: time)
            restored += 1
        }
        return restored
    }
}
