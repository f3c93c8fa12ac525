import ArgumentParser
import Foundation
import FunnelDevKit
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelSMTP
import FunnelStages
import Logging

/// `funnel bench followup`: e-mails/s to a local SMTP sink and CPU seconds per 1,000 e-mails,
/// (1) composing and sending with the SMTP client alone at several pool sizes, and (2) the real
/// mail sender on a broker: outbox commands → compose → SMTP → activity and sent-record
/// acknowledged → offset stored.
struct FollowupBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "followup",
        abstract: "E-mails/s to a local SMTP sink (aiosmtpd, counting only) with N connections; CPU-s per 1,000 e-mails.")

    @Option(help: "E-mails per measurement.") var emails = 20_000
    @Option(help: "Pool sizes (connections) to measure, comma-separated.") var connections = "1,4,8"
    @Option(help: "Run only part: all, client or sender.") var only = "all"
    @Option(help: "aiosmtpd processes behind the sink's port (SO_REUSEPORT); one asyncio process uses one core.") var sinkWorkers = 1
    @Option(help: "The mail sender's FUNNEL_MAIL_UNRECORDED_MAX: e-mails sent whose record is not acknowledged yet.")
    var unrecordedMax = FollowupSetup.defaultUnrecordedLimit

    func run() async throws {
        guard ["all", "client", "sender"].contains(only) else { throw ValidationError("--only takes all, client or sender") }
        let pools = connections.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
        guard !pools.isEmpty else { throw ValidationError("--connections takes a list like 1,4,8") }
        guard sinkWorkers >= 1 else { throw ValidationError("--sink-workers takes a number ≥ 1") }
        var sinkOptions = LocalSMTPSink.Options()
        sinkOptions.workers = sinkWorkers
        let sink = try await LocalSMTPSink.start(options: sinkOptions)
        defer { sink.stop() }
        let composer = try Self.composer()
        print("SMTP sink: \(sink.url) (aiosmtpd, counts and discards; \(sinkWorkers) process\(sinkWorkers == 1 ? "" : "es")); \(emails) e-mails per run, template `intro` (text + HTML, tracked links)")
        print("machine load before: \(CPU.loadAverage)\n")
        if only != "sender" {
            print("1. SMTP client alone (compose + send; one process):")
            for pool in pools {
                let r = try await client(sink: sink, composer: composer, connections: pool)
                print(String(format: "   %2d connections: %7.0f e-mails/s   %6.3f CPU-s per 1,000 e-mails (this process)   sink %.2f CPU-s per 1,000",
                             pool, r.rate, r.cpu, r.sinkCPU))
            }
        }
        if only != "client" {
            print("\n2. The mail sender on a broker (outbox → compose → SMTP → email_sent + sent-record acknowledged; at most \(unrecordedMax) sent and not yet recorded):")
            for pool in pools {
                let r = try await sender(sink: sink, composer: composer, connections: pool)
                print(String(format: "   %2d connections: %7.0f e-mails/s   %6.3f CPU-s per 1,000 e-mails (this process)", pool, r.rate, r.cpu))
            }
        }
    }

    static func composer() throws -> MailComposer {
        let dir = ProjectPaths.configDirectory
        let config = try FollowupConfig.parse(yaml: String(contentsOfFile: dir + "/followup.yaml", encoding: .utf8))
        let templates = try MailTemplates(directory: dir + "/templates")
        let signer = try TrackingSigner(secrets: [String(repeating: "b", count: 40)])
        return MailComposer(templates: templates, links: TrackingLinks(baseURL: "https://funnel.example", signer: signer),
                            from: try MailAddress("hello@funnel.example", displayName: "Funnel"), config: config)
    }

    static func command(_ i: Int) -> MailCommand {
        var contact = FollowupLeadState.Contact()
        contact.email = "lead\(i)@bench.example"; contact.firstName = "Ada"; contact.lastName = "Lovelace"; contact.company = "Analytical Engines"
        var c = MailCommand(kind: .step, leadID: "lead-\(i)", to: contact.email!, toName: "Ada Lovelace", template: "intro",
                            lead: .init(contact, stage: .nurture), due: "2026-12-07T09:00:00Z", configVersion: "bench")
        c.sequence = "nurture-default"; c.step = "intro"
        return c
    }

    private func client(sink: LocalSMTPSink, composer: MailComposer, connections: Int) async throws -> (rate: Double, cpu: Double, sinkCPU: Double) {
        var config = try SMTPConfiguration.parse(url: sink.url)
        config.maxConnections = connections
        var logger = Logger(label: "bench.smtp")
        logger.logLevel = .error
        let client = SMTPClient(configuration: config, logger: logger)
        let total = emails
        let next = Locked(0)
        let failures = Locked(0)
        let sinkBefore = sink.processIDs.map(CPU.seconds(pid:)).reduce(0, +)
        let cpuBefore = CPU.own()
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    while true {
                        let i = next.withLock { n -> Int in defer { n += 1 }; return n }
                        guard i < total else { return }
                        do {
                            let message = try composer.message(for: Self.command(i), id: EventID.derive("bench", String(i)))
                            _ = try await client.send(message)
                        } catch { failures.withLock { $0 += 1 } }
                    }
                }
            }
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let cpu = CPU.own() - cpuBefore
        let sinkCPU = sink.processIDs.map(CPU.seconds(pid:)).reduce(0, +) - sinkBefore
        await client.shutdown()
        if failures.value > 0 { print("   (\(failures.value) sends failed)") }
        return (Double(total) / elapsed, cpu / Double(total) * 1000, sinkCPU / Double(total) * 1000)
    }

    private func sender(sink: LocalSMTPSink, composer: MailComposer, connections: Int) async throws -> (rate: Double, cpu: Double) {
        let broker = try await LocalBroker.start()
        let kafka = KafkaConfiguration(brokers: broker.bootstrap, properties: ["log_level": "3"])
        do {
            let admin = try KafkaAdmin(configuration: kafka)
            _ = try await TopicSetup.create(admin: admin, partitions: 6)
            // The commands first, so the run measures sending only.
            let producer = try KafkaProducer(configuration: kafka)
            for i in 0..<emails {
                let command = Self.command(i)
                let event = CloudEvent(id: EventID.derive("bench-sender", String(i)), source: "bench", type: TopicCatalog.outbox,
                                       time: command.due, subject: command.leadID, data: command)
                try await producer.send(ProducerMessage(topic: TopicCatalog.outbox, key: command.leadID, value: EventCoding.encode(event)))
            }
            try await producer.flush(timeout: .seconds(60))
            var config = try SMTPConfiguration.parse(url: sink.url)
            config.maxConnections = connections
            var logger = Logger(label: "bench.sender")
            logger.logLevel = .error
            let environment = ServiceEnvironment(service: "funnel-followup", defaultPort: 0,
                                                 environment: ["KAFKA_BROKERS": broker.bootstrap,
                                                               "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500"])
            let metrics = MetricsRegistry()
            let sender = MailSender(environment: environment, producer: producer, metrics: metrics, health: HealthState(), logger: logger,
                                    composer: composer, client: SMTPClient(configuration: config, logger: logger), concurrency: connections,
                                    unrecordedLimit: unrecordedMax)
            func sent() -> Double { metrics.value("funnel_emails_total", labels: ["kind": "step", "result": "sent"]) }
            let failure = Locked<String?>(nil)
            let task = Task {
                do { try await sender.run() } catch { failure.withLock { $0 = "\(error)" } }
            }
            // The clock starts at the first e-mail sent (the group join is not sending).
            let deadline = ContinuousClock.now + .seconds(60)
            while sent() == 0 {
                if let failure = failure.value { throw ValidationError("the mail sender stopped: \(failure)") }
                guard ContinuousClock.now < deadline else { throw ValidationError("no e-mail sent within 60 s") }
                try await Task.sleep(for: .milliseconds(5))
            }
            let cpuBefore = CPU.own(), started = ContinuousClock.now, first = sent()
            while sent() < Double(emails) { try await Task.sleep(for: .milliseconds(20)) }
            let elapsed = (ContinuousClock.now - started).seconds, cpu = CPU.own() - cpuBefore
            task.cancel()
            _ = try? await task.value
            await producer.close()
            await broker.stop()
            let count = Double(emails) - first
            return (count / elapsed, cpu / count * 1000)
        } catch {
            await broker.stop()
            throw error
        }
    }
}
