import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// `funnel accounts import|delete|list|check`: the known accounts a CRM sync keeps in
/// `funnel.enrich.accounts.v1` (compacted, key: account id). funnel-enrich follows the topic,
/// so a change applies to the next leads without a restart (within `FUNNEL_ACCOUNTS_REFRESH_MS`).
/// A CRM connector may write the topic directly: the record format is
/// `schemas/funnel.enrich.accounts.v1.json` (a CloudEvent whose subject is the account id).
struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import, delete, list and check the CRM's accounts (funnel.enrich.accounts.v1).",
        subcommands: [Import.self, Delete.self, List.self, Check.self])

    static let topic = TopicCatalog.enrichAccounts

    /// One record of the topic, as read back.
    struct Read {
        var records = 0
        var accounts: [String: AccountRecord] = [:]
        /// `topic[p]@offset: field: reason` of every record that does not validate.
        var problems: [String] = []
    }

    /// Reads the topic to its end and folds it (later records replace earlier ones; tombstones delete).
    static func read(_ kafka: KafkaConfiguration) async throws -> Read {
        try await requireTopic(kafka)
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var read = Read()
                do {
                    read.records = try KafkaPartitionReader.readToEnd(
                        configuration: kafka, partitions: [TopicPartition(topic: topic, partition: KafkaPartitionReader.allPartitions)]) { message in
                        let at = "\(message.topic)[\(message.partition)]@\(message.offset)"
                        guard let key = message.keyString else { read.problems.append("\(at): \(AccountRecord.missingKey)"); return }
                        guard let value = message.valueBytes else { read.accounts[key] = nil; return }
                        switch value.withUnsafeBytes({ AccountRecord.decode($0, key: key) }) {
                        case .failure(let error): read.problems.append("\(at): \(error)")
                        case .success(let record): read.accounts[key] = record
                        }
                    }
                    continuation.resume(returning: read)
                } catch { continuation.resume(throwing: error) }
            }
        }
    }

    static func requireTopic(_ kafka: KafkaConfiguration) async throws {
        let admin = try KafkaAdmin(configuration: kafka)
        guard try await admin.listTopics().contains(where: { $0.name == topic }) else {
            throw ValidationError("topic \(topic) does not exist on \(kafka.brokers) (`funnel topics create`)")
        }
    }

    /// The record as a message: a CloudEvent keyed and subjected by the account id, its id
    /// derived from the content (importing the same account twice writes the same event).
    static func message(_ record: AccountRecord, time: String) -> ProducerMessage {
        let data = (try? Array(EventCoding.encoder().encode(record))) ?? []
        let id = EventID.derive("account", record.id, String(EventCoding.contentHash(data), radix: 16))
        let event = CloudEvent(id: id, source: "funnel-accounts", type: topic, time: time, subject: record.id, data: record)
        return ProducerMessage(topic: topic, key: record.id, value: EventCoding.encode(event))
    }

    /// Sends `messages` in batches, printing progress on large imports; fails on the first refusal.
    static func send(_ messages: [ProducerMessage], kafka: KafkaConfiguration, what: String) async throws {
        let producer = try KafkaProducer(configuration: kafka)
        var sent = 0
        for batch in stride(from: 0, to: messages.count, by: 1000).map({ messages[$0..<min($0 + 1000, messages.count)] }) {
            for (message, result) in zip(batch, try await producer.sendAndAwait(Array(batch))) {
                if case .failure(let error) = result {
                    await producer.close()
                    throw ValidationError("\(message.key.map { String(decoding: $0, as: UTF8.self) } ?? "?"): not acknowledged by \(kafka.brokers): \(error) (\(sent) \(what) written before)")
                }
                sent += 1
            }
            if messages.count >= 10_000 { FileHandle.standardError.write(Data("  \(sent)/\(messages.count) \(what)\n".utf8)) }
        }
        await producer.close()
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write accounts from a file: CSV with the columns of accounts.csv, or JSON lines of account records.",
            discussion: """
                The whole file is checked first (errors as FILE:LINE: field: reason); nothing is written unless \
                every row is valid. A `.jsonl`/`.ndjson` file holds one record a line: {"id", "name", "domains": [..], \
                "owner", "tier", "industry", "employees", "updated_at"}; anything else is read as CSV.
                """)
        @Argument(help: "The file (CSV or JSON lines).") var file: String
        @Flag(help: "Check the file and print what would be written; write nothing.") var dryRun = false
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch { throw ValidationError("cannot read \(file): \(error.localizedDescription)") }
            let time = Timestamp.format(Date())
            let records: [AccountRecord]
            if file.hasSuffix(".jsonl") || file.hasSuffix(".ndjson") {
                records = try Self.jsonLines(text, file: file, time: time)
            } else {
                do { records = try AccountFile.parse(text, file: file).map { AccountRecord($0, updatedAt: time) } }
                catch { throw ValidationError("\(error)") }
            }
            if dryRun {
                print("\(file): \(records.count) accounts valid; nothing written (--dry-run)")
                return
            }
            let kafka = cluster.configuration
            try await requireTopic(kafka)
            try await send(records.map { Accounts.message($0, time: time) }, kafka: kafka, what: "accounts")
            print("\(records.count) accounts written to \(topic) on \(kafka.brokers)")
        }

        /// JSON lines of ``AccountRecord``: every problem as `file:line: field: reason`.
        static func jsonLines(_ text: String, file: String, time: String) throws -> [AccountRecord] {
            var records: [AccountRecord] = []
            var problems: [String] = []
            var lines: [String: Int] = [:]
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let number = index + 1
                guard line.contains(where: { !$0.isWhitespace }) else { continue }
                do {
                    var record = try JSONDecoder().decode(AccountRecord.self, from: Data(line.utf8))
                    record.updatedAt = record.updatedAt ?? time
                    let errors = record.validate()
                    if !errors.isEmpty { problems += errors.map { "\(file):\(number): \($0)" }; continue }
                    if let first = lines[record.id] { problems.append("\(file):\(number): id: '\(record.id)' is on line \(first) already"); continue }
                    lines[record.id] = number
                    records.append(record)
                } catch let error as DecodingError {
                    problems.append("\(file):\(number): \(EventDecoder.fieldError(error))")
                } catch {
                    problems.append("\(file):\(number): not JSON: \(error)")
                }
            }
            guard problems.isEmpty else {
                throw ValidationError(problems.prefix(20).joined(separator: "\n") + (problems.count > 20 ? "\n… and \(problems.count - 20) more" : ""))
            }
            return records
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete accounts by id (a tombstone each; a row of accounts.csv with the same id applies again).")
        @Argument(help: "Account ids.") var ids: [String]
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let kafka = cluster.configuration
            let known = try await read(kafka).accounts
            let unknown = ids.filter { known[$0] == nil }
            if !unknown.isEmpty { throw ValidationError("not in \(topic): \(unknown.joined(separator: ", ")) (`funnel accounts list`)") }
            try await send(ids.map { ProducerMessage(topic: topic, key: $0, value: nil) }, kafka: kafka, what: "deletions")
            print("\(ids.count) accounts deleted from \(topic)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The CRM's accounts as funnel-enrich sees them (the file's are in accounts.csv).")
        @Flag(help: "JSON lines (import's format) instead of a table.") var json = false
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let read = try await read(cluster.configuration)
            let accounts = read.accounts.values.sorted { $0.id < $1.id }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for account in accounts { print(String(decoding: try encoder.encode(account), as: UTF8.self)) }
            } else {
                print("id\tname\tdomains\towner\ttier\temployees")
                for a in accounts {
                    print([a.id, a.name, a.domains.joined(separator: " "), a.owner ?? "-", a.tier ?? "-", a.employees.map(String.init) ?? "-"].joined(separator: "\t"))
                }
            }
            let skipped = read.problems.isEmpty ? "" : ", \(read.problems.count) invalid skipped (`funnel accounts check`)"
            FileHandle.standardError.write(Data("\(accounts.count) accounts from \(read.records) records\(skipped)\n".utf8))
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the records of funnel.enrich.accounts.v1 funnel-enrich skips (exit 1 if any).")
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let read = try await read(cluster.configuration)
            for problem in read.problems { print(problem) }
            print("\(read.records) records, \(read.accounts.count) accounts, \(read.problems.count) invalid")
            if !read.problems.isEmpty { throw ExitCode(1) }
        }
    }
}
