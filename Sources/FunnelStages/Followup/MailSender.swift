import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelSMTP
import Logging
import ServiceLifecycle
import Synchronization

/// funnel-followup's delivery side: outbox commands → SMTP → `email_sent` / `email_bounced`
/// activities. The only place a Funnel process talks SMTP.
///
/// - Up to `concurrency` messages are in flight (one per pooled SMTP connection); the input's
///   offset is stored only after its activity and its sent-record are acknowledged. At most
///   `unrecordedLimit` e-mails are sent and not yet recorded (``SendWindow``).
/// - Duplicate guard: the ids of the e-mails sent per lead live in the compacted
///   `funnel.followup.sent.v1` (co-partitioned with the outbox, restored on assignment). A
///   command whose id is there is skipped, so an enrolment timer that fired again after a crash
///   sends nothing twice. What a `kill -9` can repeat is only what was in flight: accepted by
///   the SMTP server, its record not yet acknowledged — never more than `unrecordedLimit`.
/// - A 5xx answer to MAIL/RCPT/DATA is a hard bounce: an `email_bounced` activity
///   (`bounce: hard`), which suppresses the address (the enrolment processor) and counts in the
///   scoring model's bounce rule. A 4xx is retried with backoff by the client; a recipient that
///   still answers 4xx after every attempt is a soft bounce (`bounce: soft`, no suppression).
///   A server that cannot be reached is retried until it can (the partition waits; `/readyz`
///   says `smtp`), never dropped.
public final class MailSender: Service, @unchecked Sendable {
    public static let group = "funnel-followup-mail"

    let environment: ServiceEnvironment
    let producer: KafkaProducer
    let metrics: MetricsRegistry
    let health: HealthState
    let logger: Logger
    let composer: MailComposer
    let client: SMTPClient
    let concurrency: Int
    /// E-mails sent whose sent-record is not acknowledged yet (what a crash can repeat).
    let window: SendWindow
    /// Partition → lead → hashes of the command ids sent (newest last).
    let sent = Mutex<[Int32: [String: [UInt64]]]>([:])
    /// Sent ids kept per lead: far more than the steps in flight at once.
    static let keptPerLead = 64

    public init(environment: ServiceEnvironment, producer: KafkaProducer, metrics: MetricsRegistry, health: HealthState,
                logger: Logger, composer: MailComposer, client: SMTPClient, concurrency: Int, unrecordedLimit: Int = FollowupSetup.defaultUnrecordedLimit) {
        self.environment = environment
        self.producer = producer
        self.metrics = metrics
        self.health = health
        self.logger = logger
        self.composer = composer
        self.client = client
        self.concurrency = max(1, concurrency)
        self.window = SendWindow(limit: unrecordedLimit)
    }

    public func run() async throws {
        health.set("stage \(Self.group)", ready: false, reason: "starting")
        health.set("smtp", ready: false, reason: "not checked yet")
        try await Copartitioning.check([TopicCatalog.outbox, TopicCatalog.mailSent], configuration: environment.kafka, service: Self.group)
        let trackerBox = Locked<OffsetTracker?>(nil)
        let configuration = environment.kafka
        let consumer = try KafkaConsumer(configuration: configuration.withDefaults(["partition.assignment.strategy": "range"]),
                                         groupID: Self.group, topics: [TopicCatalog.outbox], logger: logger) { [self] event, _ in
            switch event {
            case .assigned(let partitions): restore(partitions.map(\.partition), configuration: configuration)
            case .revoked(let partitions):
                producer.flushBlocking(timeoutMilliseconds: 10_000)
                trackerBox.value?.forget(partitions)
                sent.withLock { table in for p in partitions { table[p.partition] = nil } }
            }
        }
        let tracker = OffsetTracker { partition, next in try? consumer.storeOffset(next: next, for: partition) }
        trackerBox.withLock { $0 = tracker }
        metrics.gauge("funnel_mail_unrecorded", help: "E-mails handed to the SMTP server whose sent-record is not acknowledged yet (what a crash can repeat).") { [window] in
            Double(window.taken)
        }
        metrics.gauge("funnel_consumer_lag", help: "Messages behind the end of the assigned partitions.", labels: ["stage": Self.group]) {
            Double(consumer.lag())
        }
        health.set("stage \(Self.group)", ready: true)
        let probe = Task { [self] in await probeLoop() }
        defer { probe.cancel() }
        logger.info("mail sender started", metadata: ["connections": "\(concurrency)"])
        let loop = Task { [self] in try await consume(consumer, tracker: tracker) }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler { try await loop.value } onGracefulShutdown: { loop.cancel() }
        } onCancel: { loop.cancel() }
        health.set("stage \(Self.group)", ready: false, reason: "not consuming")
        try? await producer.flush(timeout: .seconds(10))
        await consumer.close()
        await client.shutdown()
    }

    /// Takes commands and sends up to `concurrency` at once.
    private func consume(_ consumer: KafkaConsumer, tracker: OffsetTracker) async throws {
        let consumed = metrics.counter("funnel_consumed_total", help: "Messages consumed.", labels: ["stage": Self.group, "topic": TopicCatalog.outbox])
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for try await message in consumer.messages {
                if Task.isCancelled { break }
                consumed.increment()
                if running >= concurrency {
                    _ = try await group.next()
                    running -= 1
                }
                // Registered in consumption order (offsets are stored in order); settled once the
                // command's outputs are acknowledged.
                let ticket = tracker.begin(message, outputs: 1)
                group.addTask { [self] in await handle(message, ticket: ticket, tracker: tracker) }
                running += 1
            }
            try await group.waitForAll()
        }
    }

    /// One command: decode, skip if sent, compose, send, record.
    func handle(_ message: ConsumerMessage, ticket: OffsetTracker.Ticket, tracker: OffsetTracker) async {
        let event: CloudEvent<MailCommand>
        do throws(StageFailure) {
            event = try StageIO.decode(MailCommand.self, message)
        } catch {
            metrics.increment("funnel_dead_lettered_total", help: "Inputs sent to the dead-letter topic.", labels: ["stage": Self.group])
            produce([StageIO.deadLetter(message, stage: Self.group, failure: error)], ticket: ticket, tracker: tracker)
            return
        }
        let command = event.data, hash = LeadScoreState.hash(event.id)
        let fresh = sent.withLock { table -> Bool in
            guard table[message.partition] != nil else { return true } // not restored (revoked meanwhile): send
            var ids = table[message.partition]![command.leadID, default: []]
            guard !ids.contains(hash) else { return false }
            ids.append(hash)
            if ids.count > Self.keptPerLead { ids.removeFirst(ids.count - Self.keptPerLead) }
            table[message.partition]![command.leadID] = ids
            return true
        }
        guard fresh else {
            metrics.increment("funnel_emails_total", help: "E-mail commands by result.", labels: ["kind": command.kind.rawValue, "result": "duplicate"])
            tracker.delivered(ticket)
            return
        }
        let mail: MailMessage
        do throws(MailComposer.ComposeError) {
            mail = try composer.message(for: command, id: event.id)
        } catch {
            metrics.increment("funnel_dead_lettered_total", help: "Inputs sent to the dead-letter topic.", labels: ["stage": Self.group])
            produce([StageIO.deadLetter(message, stage: Self.group, failure: StageFailure(field: "data", reason: "cannot compose: \(error)"))],
                    ticket: ticket, tracker: tracker)
            return
        }
        // A place in the window before the server has it; given back once its record is settled.
        await window.enter()
        let result = await deliver(mail)
        guard let result else { window.leave(); return } // shutting down: the offset is not stored, the command is read again
        var outputs: [ProducerMessage] = [sentRecord(lead: command.leadID, partition: message.partition)]
        let time = command.due
        var attributes = ["message_id": mail.messageID, "template": command.template]
        if let s = command.sequence { attributes["sequence"] = s }
        if let s = command.step { attributes["step"] = s }
        switch result {
        case .success:
            metrics.increment("funnel_emails_total", help: "E-mail commands by result.", labels: ["kind": command.kind.rawValue, "result": "sent"])
            if command.kind == .step {
                let activity = LeadActivity(leadID: command.leadID, type: .emailSent, occurredAt: time, source: "funnel-followup", attributes: attributes)
                outputs.insert(StageIO.output(activity, topic: TopicCatalog.activity, leadID: command.leadID, from: event.id, purpose: "sent",
                                              source: "funnel-followup", time: time), at: 0)
            }
        case .failure(let error):
            let hard = error.isPermanent
            metrics.increment("funnel_emails_total", help: "E-mail commands by result.",
                              labels: ["kind": command.kind.rawValue, "result": hard ? "hard_bounce" : "soft_bounce"])
            logger.warning("e-mail bounced", metadata: ["kind": "\(command.kind.rawValue)", "bounce": "\(hard ? "hard" : "soft")",
                                                        "code": "\(error.code.map(String.init) ?? "-")", "phase": "\(error.phase)"])
            if command.kind == .step {
                attributes["bounce"] = hard ? "hard" : "soft"
                if let code = error.code { attributes["code"] = String(code) }
                let activity = LeadActivity(leadID: command.leadID, type: .emailBounced, occurredAt: time, source: "funnel-followup", attributes: attributes)
                outputs.insert(StageIO.output(activity, topic: TopicCatalog.activity, leadID: command.leadID, from: event.id, purpose: "bounced",
                                              source: "funnel-followup", time: time), at: 0)
            }
        }
        produce(outputs, ticket: ticket, tracker: tracker) { [window] in window.leave() }
    }

    /// Sends until the server gives an answer about this message: success, a bounce (5xx, or
    /// 4xx after the client's attempts), or nil when the task is cancelled (shutdown). A server
    /// that cannot be reached is waited for.
    func deliver(_ mail: MailMessage) async -> Result<Void, SMTPError>? {
        var backoff = 1.0
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do throws(SMTPError) {
                _ = try await client.send(mail)
                metrics.observe("funnel_smtp_send_seconds", help: "Time to hand one e-mail to the SMTP server.", (ContinuousClock.now - started).seconds)
                health.set("smtp", ready: true)
                return .success(())
            } catch {
                if error.isPermanent { health.set("smtp", ready: true); return .failure(error) }
                if error.isAboutMessage { return .failure(error) } // 4xx for this message after every attempt: soft bounce
                metrics.increment("funnel_smtp_failures_total", help: "SMTP attempts that failed for the server's sake (unreachable, timeouts, 421).")
                health.set("smtp", ready: false, reason: "\(error)")
                logger.error("SMTP server unavailable; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(backoff)"])
                try? await Task.sleep(for: .seconds(backoff))
                backoff = min(backoff * 2, 30)
            }
        }
        return nil
    }

    /// Sends `outputs`; the input's offset is stored once all are acknowledged. `settled` runs
    /// when the broker answered for all of them (acknowledged or not).
    private func produce(_ outputs: [ProducerMessage], ticket: OffsetTracker.Ticket, tracker: OffsetTracker,
                         settled: @escaping @Sendable () -> Void = {}) {
        producer.send(outputs) { [self] results in
            var acknowledged = 0
            for (output, result) in zip(outputs, results) {
                switch result {
                case .success:
                    metrics.increment("funnel_produced_total", help: "Messages produced and acknowledged.", labels: ["stage": Self.group, "topic": output.topic])
                    acknowledged += 1
                case .failure(let error):
                    logger.error("output not delivered", metadata: ["topic": "\(output.topic)", "error": "\(error)"])
                    metrics.increment("funnel_delivery_failed_total", help: "Outputs the broker did not acknowledge.", labels: ["stage": Self.group])
                    health.set("stage \(Self.group)", ready: false, reason: "an output was not acknowledged")
                }
            }
            // Not acknowledged: the offset stays, the command is read again after a restart.
            if acknowledged == outputs.count { tracker.delivered(ticket) }
            settled()
        }
    }

    /// The lead's sent-record: the ids sent, as the table holds them now.
    private func sentRecord(lead: String, partition: Int32) -> ProducerMessage {
        let ids = sent.withLock { $0[partition]?[lead] ?? [] }
        return ProducerMessage(topic: TopicCatalog.mailSent, key: Array(lead.utf8), value: Self.encode(ids), partition: partition)
    }

    static func encode(_ ids: [UInt64]) -> [UInt8] {
        var w = ByteWriter()
        w.byte(1)
        w.varint(UInt64(ids.count))
        for id in ids { w.fixed64(id) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) -> [UInt64]? {
        var r = ByteReader(bytes)
        guard r.byte() == 1, let count = r.varint(), count <= 10_000 else { return nil }
        var ids: [UInt64] = []
        for _ in 0..<count {
            guard let id = r.fixed64() else { return nil }
            ids.append(id)
        }
        return ids
    }

    /// Reads the sent-records of newly assigned partitions (inside the rebalance callback, before
    /// any of their commands). Retried with backoff until it works: sending without the guard
    /// could repeat e-mails.
    private func restore(_ numbers: [Int32], configuration: KafkaConfiguration) {
        var backoff = 0.5
        while true {
            var restored: [Int32: [String: [UInt64]]] = [:]
            for n in numbers { restored[n] = [:] }
            do {
                let count = try KafkaPartitionReader.readToEnd(configuration: configuration,
                                                               partitions: numbers.map { TopicPartition(topic: TopicCatalog.mailSent, partition: $0) }) { message in
                    guard let key = message.keyString, let value = message.value, let ids = Self.decode(value) else { return }
                    restored[message.partition]?[key] = ids
                }
                sent.withLock { table in for (n, leads) in restored { table[n] = leads } }
                health.set("state-restore \(TopicCatalog.mailSent)", ready: true)
                logger.info("state restored", metadata: ["changelog": "\(TopicCatalog.mailSent)", "partitions": "\(numbers)", "records": "\(count)"])
                return
            } catch {
                health.set("state-restore \(TopicCatalog.mailSent)", ready: false, reason: "\(error)")
                logger.error("state restore failed; retrying", metadata: ["changelog": "\(TopicCatalog.mailSent)", "error": "\(error)"])
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 30)
            }
        }
    }

    /// Keeps `/readyz`'s `smtp` condition true to the server's state while no mail flows.
    private func probeLoop() async {
        while !Task.isCancelled {
            do throws(SMTPError) {
                try await client.probe()
                health.set("smtp", ready: true)
            } catch {
                health.set("smtp", ready: false, reason: "\(error)")
            }
            try? await Task.sleep(for: .seconds(10))
        }
    }
}

extension SMTPError {
    /// A 4xx answer to this message's MAIL, RCPT or DATA (after the client's attempts): about
    /// the recipient, not the server's availability.
    var isAboutMessage: Bool { kind == .transient && code != nil && [.mail, .rcpt, .data].contains(phase) }
}
