import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages

/// `funnel reps list|pause|resume|set-capacity`: pool members at run time. Changes are control
/// records on `funnel.route.reps.v1` (compacted, key `pool/rep`, written to the pool's
/// partition), which the replica owning the pool applies in order with its requests: no restart.
struct Reps: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show pool members and pause, resume or cap them at run time.",
        subcommands: [List.self, Pause.self, Resume.self, SetCapacity.self])

    struct Target: ParsableArguments {
        @Argument(help: "The rep (as in routing.yaml).") var rep: String
        @Option(help: "Only this pool (default: every pool the rep is a member of).") var pool: String?
        @Option(help: "routing.yaml (default: $FUNNEL_CONFIG_DIR/routing.yaml, else deploy/).") var routing: String?

        /// The pools the change applies to, checked against routing.yaml.
        func pools(_ config: RoutingConfig) throws -> [String] {
            let member = config.pools.values.filter { $0.members.contains { $0.rep == rep } }.map(\.name).sorted()
            if member.isEmpty { throw ValidationError("'\(rep)' is a member of no pool in routing.yaml \(config.version) (pools: \(config.pools.keys.sorted().joined(separator: ", ")))") }
            if let pool {
                guard member.contains(pool) else { throw ValidationError("'\(rep)' is not a member of pool '\(pool)' (member of: \(member.joined(separator: ", ")))") }
                return [pool]
            }
            return member
        }
    }

    static func loadRouting(_ path: String?) throws -> RoutingConfig {
        let file = path ?? ((ProcessInfo.processInfo.environment["FUNNEL_CONFIG_DIR"] ?? ProjectPaths.configDirectory) + "/" + RoutingConfig.fileName)
        let yaml: String
        do { yaml = try String(contentsOfFile: file, encoding: .utf8) } catch { throw ValidationError("cannot read \(file): \(error.localizedDescription)") }
        do { return try RoutingConfig.parse(yaml: yaml, file: file) } catch { throw ValidationError("\(error)") }
    }

    /// Writes one control record per pool, each to the partition that holds the pool, and waits
    /// for the broker's acknowledgement.
    static func send(_ controls: [RepControl], cluster: ClusterOptions) async throws {
        let config = cluster.configuration
        let admin = try KafkaAdmin(configuration: config)
        guard let topic = try await admin.listTopics().first(where: { $0.name == TopicCatalog.reps }) else {
            throw ValidationError("topic \(TopicCatalog.reps) does not exist on \(config.brokers) (`funnel topics create`)")
        }
        let producer = try KafkaProducer(configuration: config)
        for c in controls {
            let event = CloudEvent(id: EventID.random(), source: "funnel-reps", type: TopicCatalog.reps, time: c.at, subject: c.key, data: c)
            var message = ProducerMessage(topic: TopicCatalog.reps, key: c.key, value: EventCoding.encode(event))
            message.partition = KafkaPartitioner.partition(forKey: c.pool, partitionCount: topic.partitions)
            do { try await producer.sendAndAwait(message) } catch {
                await producer.close()
                throw ValidationError("not acknowledged by \(config.brokers): \(error)")
            }
            print("\(c.pool)/\(c.rep): " + [c.paused.map { $0 ? "paused" : "resumed" }, c.maxOpen.map { "max_open \($0)" },
                                             c.maxNewPerDay.map { "max_new_per_day \($0)" }].compactMap { $0 }.joined(separator: ", "))
        }
        await producer.close()
    }

    static var now: String { Timestamp.format(Date()) }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop giving new leads to a rep (its open leads stay).")
        @OptionGroup var target: Target
        @OptionGroup var cluster: ClusterOptions
        func run() async throws {
            let pools = try target.pools(Reps.loadRouting(target.routing))
            try await Reps.send(pools.map { RepControl(pool: $0, rep: target.rep, paused: true, at: Reps.now) }, cluster: cluster)
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a paused rep new leads again (from now on: no catch-up burst).")
        @OptionGroup var target: Target
        @OptionGroup var cluster: ClusterOptions
        func run() async throws {
            let pools = try target.pools(Reps.loadRouting(target.routing))
            try await Reps.send(pools.map { RepControl(pool: $0, rep: target.rep, paused: false, at: Reps.now) }, cluster: cluster)
        }
    }

    struct SetCapacity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-capacity",
            abstract: "Override a rep's max open leads and/or new leads per day (routing.yaml's values until then).")
        @OptionGroup var target: Target
        @Option(name: .customLong("max-open"), help: "At most this many open leads.") var maxOpen: Int?
        @Option(name: .customLong("max-new-per-day"), help: "At most this many new leads per day (the rep's time zone).") var maxNewPerDay: Int?
        @OptionGroup var cluster: ClusterOptions
        func validate() throws {
            if maxOpen == nil && maxNewPerDay == nil { throw ValidationError("give --max-open, --max-new-per-day or both") }
            if (maxOpen ?? 0) < 0 || (maxNewPerDay ?? 0) < 0 { throw ValidationError("capacities must be >= 0") }
        }
        func run() async throws {
            let pools = try target.pools(Reps.loadRouting(target.routing))
            try await Reps.send(pools.map { RepControl(pool: $0, rep: target.rep, maxOpen: maxOpen, maxNewPerDay: maxNewPerDay, at: Reps.now) },
                                cluster: cluster)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every pool's members: paused, open leads, today's new leads, capacities, leads assigned.",
            discussion: "Reads each pool's state from funnel.route.pools.v1 (what the replica owning the pool restores from; written once per checkpoint, about a second behind).")
        @Option(help: "routing.yaml (default: $FUNNEL_CONFIG_DIR/routing.yaml, else deploy/).") var routing: String?
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let config = try Reps.loadRouting(routing)
            let kafka = cluster.configuration
            let admin = try KafkaAdmin(configuration: kafka)
            let topic = PoolProcessor.changelogTopic
            guard let description = try await admin.listTopics().first(where: { $0.name == topic }) else {
                throw ValidationError("topic \(topic) does not exist on \(kafka.brokers): is funnel-route running there? (`funnel topics create`)")
            }
            var rows: [[String: Any]] = []
            for name in config.pools.keys.sorted() {
                let pool = config.pools[name]!
                let partition = KafkaPartitioner.partition(forKey: name, partitionCount: description.partitions)
                let (value, _) = try await KafkaPartitionReader.latestValue(forKey: name, in: TopicPartition(topic: topic, partition: partition), configuration: kafka)
                let state: PoolState?
                do { state = try value.flatMap { v in try TableRecord(decoding: v.array).value.map { try PoolState(decoding: $0) } } }
                catch { throw ValidationError("the state of pool \(name) in \(topic)[\(partition)] cannot be decoded: \(error)") }
                for member in pool.members {
                    let m = state?.members.first { $0.rep == member.rep }
                    let maxOpen = (m?.maxOpenOverride ?? -1) >= 0 ? Int(m!.maxOpenOverride) : member.maxOpen
                    let maxNew = (m?.maxNewOverride ?? -1) >= 0 ? Int(m!.maxNewOverride) : member.maxNewPerDay
                    let today = WorkingHours.day(Int64(Date().timeIntervalSince1970 * 1000), in: member.hours?.timeZone ?? .gmt)
                    rows.append(["pool": name, "rep": member.rep, "weight": member.weight, "paused": m?.paused ?? false,
                                 "open": Int(m?.open ?? 0), "new_today": m?.day == today ? Int(m?.newToday ?? 0) : 0,
                                 "max_open": maxOpen as Any, "max_new_per_day": maxNew as Any, "assigned": Int(m?.assigned ?? 0)])
                }
            }
            if json {
                let data = try JSONSerialization.data(withJSONObject: ["routing_version": config.version, "members": rows], options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("routing.yaml \(config.version)")
            let header = ["POOL", "REP", "WEIGHT", "STATE", "OPEN", "MAX_OPEN", "NEW_TODAY", "MAX_NEW/DAY", "ASSIGNED"]
            let table = rows.map { r -> [String] in
                [r["pool"] as! String, r["rep"] as! String, "\(r["weight"]!)", (r["paused"] as! Bool) ? "paused" : "active",
                 "\(r["open"]!)", (r["max_open"] as? Int).map(String.init) ?? "-", "\(r["new_today"]!)",
                 (r["max_new_per_day"] as? Int).map(String.init) ?? "-", "\(r["assigned"]!)"]
            }
            let widths = header.indices.map { i in ([header[i]] + table.map { $0[i] }).map(\.count).max()! }
            for line in [header] + table {
                print(line.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }
    }
}
