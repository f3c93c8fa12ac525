import ArgumentParser
import CKafkaBaseline
import Foundation
import FunnelKafka
import FunnelRuntime
import FunnelDevKit

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (they print numbers; they are not tests).",
        subcommands: [KafkaBench.self, ScoreBench.self, RouteBench.self, IngestBench.self, FollowupBench.self, ReportBench.self,
                      EmailListsBench.self, EnrichBench.self])
}

/// `funnel bench kafka`: the wrapper's produce and consume→produce relay rates beside bare
/// librdkafka C loops with the same settings, on the same broker, in the same run.
struct KafkaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Swift wrapper vs bare librdkafka: produce rate and relay rate (msgs/s) and their ratio.")

    @Option(help: "Messages per measurement (a relay of 200k runs only ~0.4 s: start-up, the last flush and the commit then dominate).") var messages = 1_000_000
    @Option(help: "Value size in bytes.") var size = 200
    @Option(help: "Partitions of the benchmark topics.") var partitions = 6
    @Option(help: "Rounds; the best of each is reported.") var rounds = 2
    @Option(help: "Messages the Swift consumer takes from librdkafka per poll.") var batch = 512
    @Option(help: "Use this cluster instead of starting a local Tansu broker.") var brokers: String?
    @Option(name: .customLong("set"), help: "Extra librdkafka property for the Swift clients, KEY=VALUE (repeatable).")
    var properties: [String] = []
    @Option(help: "Run only part of it, for profiling: all, swift-relay or c-relay.") var only = "all"

    func run() async throws {
        let broker: LocalBroker? = brokers == nil ? try await LocalBroker.start() : nil
        defer { if let broker { Task { await broker.stop() } } }
        let bootstrap = brokers ?? broker!.bootstrap
        print("librdkafka runtime \(LibrdkafkaVersion.string); broker \(bootstrap)\(broker == nil ? "" : " (local Tansu, memory)")")
        print("\(messages) messages of \(size) B, \(partitions) partitions, best of \(rounds) rounds\n")
        var config = KafkaConfiguration(brokers: bootstrap, properties: ["log_level": "3"])
        for property in properties {
            let parts = property.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--set takes KEY=VALUE, got \(property)") }
            config[parts[0]] = parts[1]
        }
        let admin = try KafkaAdmin(configuration: config)

        guard ["all", "swift-relay", "c-relay"].contains(only) else { throw ValidationError("--only takes all, swift-relay or c-relay") }
        var best = (cProduce: 0.0, swiftProduce: 0.0, cRelay: 0.0, swiftRelay: 0.0)
        var relayCPU = (c: Double.infinity, swift: Double.infinity)
        for round in 1...rounds {
            let id = UUID().uuidString.prefix(6)
            let topics = ["c-produce", "swift-produce", "c-relay-in", "swift-relay-in", "c-relay-out", "swift-relay-out"].map { "bench-\(id)-\($0)" }
            _ = try await admin.createTopics(topics.map { TopicSpecification(name: $0, partitions: partitions) })
            // Which side goes first alternates per round: on Tansu the second of two equal
            // loops runs measurably faster, which would otherwise always favour one side.
            let swiftFirst = round % 2 == 1
            var cProduce = 0.0, swiftProduce = 0.0, cRelay = 0.0, swiftRelay = 0.0
            if only == "all" {
                if swiftFirst { swiftProduce = try await swiftProduceRate(config, topic: topics[1]) }
                cProduce = try baseline { funnel_baseline_produce(bootstrap, topics[0], Int64(messages), Int32(size), $0, $1) }
                if !swiftFirst { swiftProduce = try await swiftProduceRate(config, topic: topics[1]) }
            }
            let runSwift = only != "c-relay", runC = only != "swift-relay"
            // Each relay reads its own input topic, written the same way before either runs.
            for (input, runs) in [(topics[2], runC), (topics[3], runSwift)] where runs {
                _ = try baseline { funnel_baseline_produce(bootstrap, input, Int64(messages), Int32(size), $0, $1) }
            }
            // CPU of this process (both relays run in it, with their librdkafka threads) per
            // message relayed: steadier than the rates when other load shares the machine.
            var cpu = (c: 0.0, swift: 0.0)
            func relaySwift() async throws {
                let before = CPU.own()
                swiftRelay = try await swiftRelayRate(config, from: topics[3], to: topics[5], group: "bench-\(id)-swift")
                cpu.swift = (CPU.own() - before) / Double(messages) * 1e6
            }
            if swiftFirst && runSwift { try await relaySwift() }
            if runC {
                let before = CPU.own()
                cRelay = try baseline { funnel_baseline_relay(bootstrap, topics[2], topics[4], "bench-\(id)-c", Int64(messages), $0, $1) }
                cpu.c = (CPU.own() - before) / Double(messages) * 1e6
            }
            if !swiftFirst && runSwift { try await relaySwift() }
            print(String(format: "round %d (%@ first): produce C %.0f / Swift %.0f msgs/s; relay C %.0f / Swift %.0f msgs/s, CPU C %.2f / Swift %.2f µs per message",
                         round, swiftFirst ? "Swift" : "C", cProduce, swiftProduce, cRelay, swiftRelay, cpu.c, cpu.swift))
            relayCPU = (min(relayCPU.c, cpu.c > 0 ? cpu.c : .infinity), min(relayCPU.swift, cpu.swift > 0 ? cpu.swift : .infinity))
            best = (max(best.cProduce, cProduce), max(best.swiftProduce, swiftProduce),
                    max(best.cRelay, cRelay), max(best.swiftRelay, swiftRelay))
        }
        print("")
        print("                      bare C (msgs/s)   Swift (msgs/s)   Swift / C")
        print(String(format: "produce            %15.0f %16.0f %10.0f %%", best.cProduce, best.swiftProduce, 100 * best.swiftProduce / best.cProduce))
        print(String(format: "consume→produce    %15.0f %16.0f %10.0f %%", best.cRelay, best.swiftRelay, 100 * best.swiftRelay / best.cRelay))
        print(String(format: "relay CPU µs/msg   %15.2f %16.2f %10.0f %%  (lowest of the rounds; C / Swift as a share)",
                     relayCPU.c, relayCPU.swift, 100 * relayCPU.c / relayCPU.swift))
        if let broker { await broker.stop() }
    }

    /// Runs a C baseline loop; a negative rate carries an error message.
    private func baseline(_ body: (UnsafeMutablePointer<CChar>, Int32) -> Double) throws -> Double {
        var error = [CChar](repeating: 0, count: 512)
        let rate = error.withUnsafeMutableBufferPointer { body($0.baseAddress!, Int32($0.count)) }
        guard rate > 0 else { throw ValidationError("C baseline failed: \(error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })") }
        return rate
    }

    private func swiftProduceRate(_ config: KafkaConfiguration, topic: String) async throws -> Double {
        let producer = try KafkaProducer(configuration: config)
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        let start = ContinuousClock.now
        for i in 0..<messages {
            try await producer.send(ProducerMessage(topic: topic, key: Array("lead-\(i % 100_000)".utf8), value: value))
        }
        try await producer.flush(timeout: .seconds(120))
        let elapsed = ContinuousClock.now - start
        await producer.close()
        return Double(messages) / elapsed.seconds
    }

    private func swiftRelayRate(_ config: KafkaConfiguration, from input: String, to output: String, group: String) async throws -> Double {
        let producer = try KafkaProducer(configuration: config)
        var consumerConfig = config
        consumerConfig["session.timeout.ms"] = "6000"
        consumerConfig["heartbeat.interval.ms"] = "500"
        // One commit at the end, as the C loop does (see the README on Tansu's commit cost).
        consumerConfig["enable.auto.commit"] = "false"
        let consumer = try KafkaConsumer(configuration: consumerConfig, groupID: group, topics: [input], maxBatch: batch)
        var relayed = 0
        var start: ContinuousClock.Instant?
        for try await message in consumer.messages {
            if start == nil { start = .now } // from the first message: excludes the group join, as in C
            try await producer.send(ProducerMessage(topic: output, keyBytes: message.keyBytes, valueBytes: message.valueBytes))
            try consumer.storeOffset(message)
            relayed += 1
            if relayed == messages {
                try await producer.flush(timeout: .seconds(120))
                try await consumer.commit() // the relay is done when its offsets are
                break
            }
        }
        let elapsed = ContinuousClock.now - (start ?? .now)
        await consumer.close()
        await producer.close()
        return Double(relayed) / elapsed.seconds
    }
}
