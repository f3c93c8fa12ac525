import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// `funnel erase EMAIL|LEAD_ID`: the operator's way to a GDPR erasure (Art. 17), the same
/// `funnel.lead.erased.v1` event as `POST /v1/erasures`.
struct Erase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase a person (GDPR Art. 17): every stage forgets the lead, follow-up never mails the address again.",
        discussion: """
            Writes a funnel.lead.erased.v1 event for the lead (an e-mail address is turned into its lead id as \
            funnel-ingest does). funnel-score and funnel-route delete the lead's state, funnel-followup keeps only \
            a suppression with a salted hash of the address, and subscribers of the topic erase their copies. \
            Events in the raw topics stay until their retention expires (README, "Erasure").
            """)

    @Argument(help: "The person's e-mail address, or the lead id.") var subject: String
    @Option(help: "Who asked for it, recorded on the event (default: funnel erase).") var by = "funnel erase"
    @OptionGroup var cluster: ClusterOptions

    func run() async throws {
        let leadID: String
        switch Erasure.leadID(for: subject) {
        case .success(let id): leadID = id
        case .failure(let invalid): throw ValidationError("\(subject.contains("@") ? "e-mail address" : "lead id"): \(invalid.reason)")
        }
        let now = Timestamp.format(Date())
        let erased = LeadErased(leadID: leadID, requestedAt: now, requestedBy: by)
        if let error = erased.validate().first { throw ValidationError("\(error.field): \(error.reason)") }
        let eventID = Erasure.eventID(leadID: leadID, requestedAt: now)
        let event = CloudEvent(id: eventID, source: "funnel-erase", type: TopicCatalog.erased, time: now, subject: leadID, data: erased)
        let producer = try KafkaProducer(configuration: cluster.configuration)
        let report = try await producer.sendAndAwait(ProducerMessage(topic: TopicCatalog.erased, key: leadID, value: EventCoding.encode(event)))
        await producer.close()
        print("erase requested for \(leadID): event \(eventID) at \(report.topic)[\(report.partition)]@\(report.offset)")
    }
}

/// `funnel export-lead EMAIL|LEAD_ID`: everything Funnel holds on a person (GDPR Art. 15).
struct ExportLead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-lead",
        abstract: "Print everything Funnel holds on a person (GDPR Art. 15): events and state, one JSON object per line.",
        discussion: """
            Reads every topic of the catalogue from the beginning: the lead's partition of topics keyed by lead, \
            and the whole of the few topics keyed otherwise (pool commands), selecting the records of the lead. \
            Event values are printed as they are; a state record is decoded (or shown as `erased`).
            """)

    @Argument(help: "The person's e-mail address, or the lead id.") var subject: String
    @OptionGroup var cluster: ClusterOptions

    /// Topics whose key is not the lead id: read whole, records selected by the lead id in the value.
    static let notKeyedByLead: Set<String> = [TopicCatalog.assignments, TopicCatalog.reps, TopicCatalog.deadLetterReplays,
                                              TopicCatalog.changelog(service: "route", store: "pools")]

    func run() async throws {
        let leadID: String
        switch Erasure.leadID(for: subject) {
        case .success(let id): leadID = id
        case .failure(let invalid): throw ValidationError("\(subject.contains("@") ? "e-mail address" : "lead id"): \(invalid.reason)")
        }
        let config = cluster.configuration
        let existing = try await KafkaAdmin(configuration: config).listTopics()
        let needle = Array(leadID.utf8)
        var lines: [String] = []
        var total = 0
        for definition in TopicCatalog.all() {
            guard let topic = existing.first(where: { $0.name == definition.name }) else { continue }
            let keyed = !Self.notKeyedByLead.contains(topic.name)
            let partitions = keyed ? [KafkaPartitioner.partition(forKey: leadID, partitionCount: topic.partitions)]
                                   : (0..<Int32(topic.partitions)).map { $0 }
            let found = try await Blocking.run { () throws -> [String] in
                var found: [String] = []
                try KafkaPartitionReader.readToEnd(configuration: config, partitions: partitions.map { TopicPartition(topic: topic.name, partition: $0) }) { message in
                    let value = message.value ?? []
                    guard keyed ? message.keyString == leadID : Self.contains(value, needle) else { return }
                    found.append(Self.line(message, value: Array(value)))
                }
                return found
            }
            total += found.count
            lines += found
        }
        for line in lines { print(line) }
        FileHandle.standardError.write(Data("\(total) records of \(leadID)\n".utf8))
    }

    static func contains(_ haystack: some Collection<UInt8>, _ needle: [UInt8]) -> Bool {
        let bytes = Array(haystack)
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// `{"topic","partition","offset","value"}`: JSON values as they are; a table record decoded.
    static func line(_ message: ConsumerMessage, value: [UInt8]) -> String {
        var object: [String: Any] = ["topic": message.topic, "partition": Int(message.partition), "offset": Int(message.offset)]
        if let json = try? JSONSerialization.jsonObject(with: Data(value), options: [.fragmentsAllowed]) {
            object["value"] = json
        } else if let record = try? TableRecord(decoding: value) {
            if let state = record.value {
                object["state"] = StateDescription.describe(topic: message.topic, bytes: state)
            } else {
                object["state"] = record.timers.isEmpty ? "erased (deletion marker)" : "timers only"
            }
            if !record.timers.isEmpty { object["timers"] = record.timers.map { ["id": $0.id, "due": Timestamp.format(milliseconds: $0.due)] } }
        } else {
            object["value_base64"] = Data(value).base64EncodedString()
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A readable form of a stage's binary state value, for `funnel export-lead`.
enum StateDescription {
    static func describe(topic: String, bytes: ArraySlice<UInt8>) -> String {
        switch topic {
        case TopicCatalog.changelog(service: "score", store: "leads"):
            return (try? LeadScoreState(decoding: bytes)).map { String(describing: $0) } ?? "undecodable (\(bytes.count) bytes)"
        case TopicCatalog.changelog(service: "route", store: "leads"):
            return (try? RouteLeadState(decoding: bytes)).map { String(describing: $0) } ?? "undecodable (\(bytes.count) bytes)"
        case TopicCatalog.changelog(service: "followup", store: "enrolments"):
            return (try? FollowupLeadState(decoding: bytes)).map { String(describing: $0) } ?? "undecodable (\(bytes.count) bytes)"
        default:
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
