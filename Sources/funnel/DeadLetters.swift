import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// `funnel deadletters list|show|replay`: what could not be processed, why, and sending it
/// again once the cause is fixed. Replays re-send the original bytes (so the original event ids:
/// downstream de-duplicates) to the original topic with the original key, and are recorded in
/// the compacted `funnel.deadletter.replays.v1` (key: the dead letter's id), so the same letter
/// is not replayed twice unless `--again`.
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletters",
        abstract: "List, inspect and replay dead letters (funnel.deadletter.v1).",
        subcommands: [List.self, Show.self, Replay.self])

    struct Filters: ParsableArguments {
        @Option(help: "Only letters of this stage (e.g. funnel-route).") var stage: String?
        @Option(help: "Only letters whose reason contains this text (case-insensitive).") var reason: String?
        @Option(help: "Only letters from this original topic.") var topic: String?
        @Option(help: "Only letters that failed at or after this RFC 3339 time.") var since: String?
        @Option(help: "Only letters that failed before this RFC 3339 time.") var until: String?

        func validate() throws {
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, Timestamp.milliseconds(value) == nil { throw ValidationError("\(name) needs an RFC 3339 date-time, e.g. 2026-12-01T00:00:00Z") }
            }
        }

        func matches(_ letter: Letter) -> Bool {
            let d = letter.event.data
            if let stage, d.stage != stage { return false }
            if let topic, d.topic != topic { return false }
            if let reason, !d.reason.lowercased().contains(reason.lowercased()) { return false }
            let failed = Timestamp.milliseconds(d.failedAt) ?? 0
            if let since, failed < Timestamp.milliseconds(since)! { return false }
            if let until, failed >= Timestamp.milliseconds(until)! { return false }
            return true
        }

        var isEmpty: Bool { stage == nil && reason == nil && topic == nil && since == nil && until == nil }
    }

    struct Letter: Sendable {
        var event: CloudEvent<DeadLetter>
        var replays: [DeadLetterReplay]
    }

    /// Every dead letter on the cluster, oldest first per partition, with its replays.
    static func read(_ cluster: ClusterOptions) async throws -> [Letter] {
        let config = cluster.configuration
        let admin = try KafkaAdmin(configuration: config)
        let topics = Dictionary(uniqueKeysWithValues: try await admin.listTopics().map { ($0.name, $0.partitions) })
        guard let partitions = topics[TopicCatalog.deadLetter] else {
            throw ValidationError("topic \(TopicCatalog.deadLetter) does not exist on \(config.brokers) (`funnel topics create`)")
        }
        let replayPartitions = topics[TopicCatalog.deadLetterReplays] ?? 0
        return try await Task.detached { () throws -> [Letter] in
            var letters: [CloudEvent<DeadLetter>] = []
            var undecodable = 0
            try KafkaPartitionReader.readToEnd(configuration: config,
                                               partitions: (0..<Int32(partitions)).map { TopicPartition(topic: TopicCatalog.deadLetter, partition: $0) }) { m in
                switch EventDecoder.decode(DeadLetter.self, from: m.value ?? [], expectedType: TopicCatalog.deadLetter) {
                case .success(let e): letters.append(e)
                case .failure: undecodable += 1
                }
            }
            var replays: [String: [DeadLetterReplay]] = [:]
            try KafkaPartitionReader.readToEnd(configuration: config,
                                               partitions: (0..<Int32(replayPartitions)).map { TopicPartition(topic: TopicCatalog.deadLetterReplays, partition: $0) }) { m in
                if case .success(let e) = EventDecoder.decode(DeadLetterReplay.self, from: m.value ?? [], expectedType: TopicCatalog.deadLetterReplays) {
                    replays[e.data.letterID, default: []].append(e.data)
                }
            }
            if undecodable > 0 { FileHandle.standardError.write(Data("warning: \(undecodable) records on \(TopicCatalog.deadLetter) are not dead letters; skipped\n".utf8)) }
            return letters.map { Letter(event: $0, replays: replays[$0.id] ?? []) }
        }.value
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dead letters with their stage, origin, reason and replays.")
        @OptionGroup var filters: Filters
        @Flag(help: "Print JSON lines instead of a table.") var json = false
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let letters = try await DeadLetters.read(cluster).filter(filters.matches)
            if json {
                for l in letters {
                    let d = l.event.data
                    let object: [String: Any] = ["id": l.event.id, "failed_at": d.failedAt, "stage": d.stage, "topic": d.topic,
                                                 "partition": d.partition, "offset": d.offset, "field": d.field as Any, "reason": d.reason,
                                                 "replays": l.replays.count]
                    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                }
                return
            }
            print("ID                                FAILED_AT                 STAGE            ORIGIN                              REPLAYS  REASON")
            for l in letters {
                let d = l.event.data
                let origin = "\(d.topic)[\(d.partition)]@\(d.offset)"
                print([l.event.id.padding(toLength: 32, withPad: " ", startingAt: 0), d.failedAt.padding(toLength: 24, withPad: " ", startingAt: 0),
                       d.stage.padding(toLength: 15, withPad: " ", startingAt: 0), origin.padding(toLength: 34, withPad: " ", startingAt: 0),
                       String(l.replays.count).padding(toLength: 7, withPad: " ", startingAt: 0),
                       Redact.personalData((d.field.map { "\($0): " } ?? "") + d.reason)].joined(separator: "  "))
            }
            FileHandle.standardError.write(Data("\(letters.count) dead letter(s)\(filters.isEmpty ? "" : " matching")\n".utf8))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dead letter: reason, origin, replays and the decoded original (personal data masked).")
        @Argument(help: "The dead letter's id (from `funnel deadletters list`).") var id: String
        @Flag(help: "Show personal data (e-mail, phone, names) unmasked.") var reveal = false
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            guard let letter = try await DeadLetters.read(cluster).first(where: { $0.event.id == id }) else {
                throw ValidationError("no dead letter with id \(id) (see `funnel deadletters list`)")
            }
            let d = letter.event.data
            print("id:        \(letter.event.id)")
            print("failed at: \(d.failedAt) in \(d.stage)")
            print("reason:    \(d.field.map { "\($0): " } ?? "")\(reveal ? d.reason : Redact.personalData(d.reason))")
            print("origin:    \(d.topic) partition \(d.partition) offset \(d.offset), key \(d.key.map { reveal ? $0 : Redact.personalData($0) } ?? "none")")
            print("replays:   \(letter.replays.isEmpty ? "none" : letter.replays.map { "\($0.replayedAt) to \($0.topic)[\($0.partition)]@\($0.offset)" }.joined(separator: "; "))")
            guard let bytes = Data(base64Encoded: d.original) else { print("original:  (not base64)"); return }
            if let object = try? JSONSerialization.jsonObject(with: bytes) {
                let shown = reveal ? object : DeadLetters.mask(object)
                print("original:" + (reveal ? "" : " (personal data masked; --reveal to show it)"))
                print(String(decoding: try JSONSerialization.data(withJSONObject: shown, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                print("original:  \(bytes.count) bytes, not JSON: " + (reveal ? String(decoding: bytes, as: UTF8.self) : Redact.personalData(String(decoding: bytes, as: UTF8.self))))
            }
        }
    }

    /// Keys whose values are personal data, masked whole; other strings through `Redact`.
    static let personalKeys: Set<String> = ["email", "phone", "first_name", "last_name"]

    static func mask(_ value: Any, key: String? = nil) -> Any {
        switch value {
        case let object as [String: Any]: return object.reduce(into: [String: Any]()) { $0[$1.key] = mask($1.value, key: $1.key) }
        case let array as [Any]: return array.map { mask($0, key: key) }
        case let text as String:
            if let key, personalKeys.contains(key) { return "<\(key)>" }
            return Redact.personalData(text)
        default: return value
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters' original messages to their topic again (after fixing the cause).",
            discussion: "Select by ids and/or filters. Each replay re-sends the original bytes and key (same event ids) and is recorded in funnel.deadletter.replays.v1; a letter already replayed is skipped unless --again.")
        @Argument(help: "Dead letter ids (none: every letter the filters select).") var ids: [String] = []
        @OptionGroup var filters: Filters
        @Flag(help: "Replay letters that were replayed before too.") var again = false
        @Flag(help: "Show what would be replayed, send nothing.") var dryRun = false
        @OptionGroup var cluster: ClusterOptions

        func validate() throws {
            if ids.isEmpty && filters.isEmpty { throw ValidationError("name dead letter ids or give a filter (--stage, --reason, --topic, --since, --until)") }
        }

        func run() async throws {
            let all = try await DeadLetters.read(cluster)
            let known = Set(all.map(\.event.id))
            if let missing = ids.first(where: { !known.contains($0) }) { throw ValidationError("no dead letter with id \(missing)") }
            let selected = all.filter { (ids.isEmpty || ids.contains($0.event.id)) && filters.matches($0) }
            let skipped = selected.filter { !$0.replays.isEmpty && !again }
            let chosen = selected.filter { $0.replays.isEmpty || again }
            for s in skipped { print("skip     \(s.event.id): replayed already at \(s.replays.last!.replayedAt) (--again to replay it again)") }
            if dryRun {
                for c in chosen { print("would replay \(c.event.id) → \(c.event.data.topic)") }
                return
            }
            guard !chosen.isEmpty else { print("nothing to replay"); if !skipped.isEmpty { throw ExitCode(3) }; return }
            let producer = try KafkaProducer(configuration: cluster.configuration)
            var failed = 0
            for c in chosen {
                let d = c.event.data
                guard let bytes = Data(base64Encoded: d.original) else { print("fail     \(c.event.id): the original is not base64"); failed += 1; continue }
                do {
                    let report = try await producer.sendAndAwait(ProducerMessage(topic: d.topic, key: d.key.map { Array($0.utf8) },
                                                                                 value: Array(bytes)))
                    let replay = DeadLetterReplay(letterID: c.event.id, topic: report.topic, partition: report.partition, offset: report.offset,
                                                  replayedAt: Timestamp.format(Date()), by: ProcessInfo.processInfo.environment["USER"])
                    let record = CloudEvent(id: EventID.random(), source: "funnel-deadletters", type: TopicCatalog.deadLetterReplays,
                                            time: replay.replayedAt, subject: c.event.subject, data: replay)
                    try await producer.sendAndAwait(ProducerMessage(topic: TopicCatalog.deadLetterReplays, key: c.event.id, value: EventCoding.encode(record)))
                    print("replayed \(c.event.id) → \(report.topic)[\(report.partition)]@\(report.offset)")
                } catch {
                    print("fail     \(c.event.id): \(error)")
                    failed += 1
                }
            }
            await producer.close()
            print("\(chosen.count - failed) replayed, \(skipped.count) skipped, \(failed) failed")
            if failed > 0 { throw ExitCode(1) }
        }
    }
}
