import CRdKafka
import Foundation
import Logging
import Synchronization

/// An idempotent Kafka producer.
///
/// - ``enqueue(_:onDelivery:)`` hands a message to librdkafka and returns at once; it throws
///   a `.queueFull` error (back-pressure) when `queue.buffering.max.messages` are in flight.
/// - ``send(_:)`` does the same but waits for room instead of throwing `.queueFull`.
/// - ``sendAndAwait(_:)`` returns once the broker acknowledged the message(s);
///   ``send(_:onSettled:)`` calls back instead, for code that must not suspend.
///
/// Delivery reports are served by one dedicated thread (never Swift's cooperative pool).
/// Call ``close(timeout:)`` to flush and release the client.
public final class KafkaProducer: Sendable {
    public let configuration: KafkaConfiguration
    let handle: NativeHandle
    private let context: ProducerContext
    private let topics = Mutex<TopicHandles>(TopicHandles())
    private let poller: PollThread

    public init(configuration: KafkaConfiguration, logger: Logger = Logger(label: "funnel.kafka.producer")) throws(KafkaError) {
        let effective = configuration.withDefaults(KafkaConfiguration.producerDefaults)
        self.configuration = effective
        let context = ProducerContext(logger: logger)
        let rk = try Self.makeNative(effective, context: context)
        self.context = context
        self.handle = NativeHandle(rk)
        self.poller = PollThread(name: "funnel-kafka-producer-poll", handle: handle)
    }

    private static func makeNative(_ configuration: KafkaConfiguration, context: ProducerContext) throws(KafkaError) -> OpaquePointer {
        let conf = try configuration.makeNativeConfiguration()
        context.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf) { rk, message, opaque in
            guard let message else { return }
            ClientContext.unretained(opaque, as: ProducerContext.self)?.delivered(message.pointee, rk)
        }
        return try NativeHandle.make(type: RD_KAFKA_PRODUCER, conf: conf)
    }

    /// How many times the client was recreated after a fatal error (see ``renewIfFatal()``).
    public var renewals: Int { context.renewals.load(ordering: .relaxed) }

    /// Recreates the librdkafka client if the current one raised a fatal error or was fenced.
    ///
    /// An idempotent producer whose delivery guarantees can no longer hold (its deliveries timed
    /// out during a broker outage and the broker then fences its epoch: `PRODUCER_FENCED`,
    /// `INVALID_PRODUCER_EPOCH`, `UNKNOWN_PRODUCER_ID`) is unusable for good: librdkafka fails
    /// every later message with `_FATAL`. Nothing it had accepted was acknowledged, so a new
    /// client (new producer id) loses nothing: what was in flight fails back to its senders,
    /// who retry. Called before every enqueue once a fatal error was seen; cheap otherwise.
    public func renewIfFatal() {
        guard context.fatal.load(ordering: .acquiring) else { return }
        context.renewing.withLock { _ in
            guard context.fatal.load(ordering: .acquiring) else { return } // another caller renewed it
            let replacement: OpaquePointer
            do { replacement = try Self.makeNative(configuration, context: context) } catch {
                context.logger.error("producer: could not recreate the client after a fatal error", metadata: ["error": "\(error)"])
                return
            }
            var retiredTopics: [TopicHandle] = []
            guard let old = handle.replace(with: replacement, exclusive: { _ in
                retiredTopics = topics.withLock { $0.removeAll() }
            }) else { return }
            context.renewals.add(1, ordering: .relaxed)
            // Fail what the old client still holds back to its senders, then release it. (Its
            // delivery reports note the old client's fatal state again: cleared after.)
            rd_kafka_purge(old, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            _ = rd_kafka_flush(old, 2000)
            for topic in retiredTopics { rd_kafka_topic_destroy(topic.pointer) }
            rd_kafka_destroy(old)
            context.fatal.store(false, ordering: .releasing)
            context.logger.warning("producer recreated after a fatal error; messages in flight were failed back to their senders",
                                   metadata: ["cause": "\(context.fatalCause.withLock { $0 })", "renewals": "\(renewals)"])
        }
    }

    deinit {
        poller.stop()
        destroyNative()
    }

    private func destroyNative() {
        handle.destroy { rk in
            topics.withLock { cache in
                for topic in cache.removeAll() { rd_kafka_topic_destroy(topic.pointer) }
            }
            rd_kafka_destroy(rk)
        }
    }

    /// Enqueues a message without waiting. `onDelivery` (optional) runs on the delivery
    /// thread when the broker acknowledged or rejected it; keep it short.
    /// Throws `.queueFull` when the local queue is full: back off, or use ``send(_:)``.
    public func enqueue(
        _ message: ProducerMessage,
        onDelivery: (@Sendable (Result<DeliveryReport, KafkaError>) -> Void)? = nil
    ) throws(KafkaError) {
        try enqueue(message, ticket: onDelivery.map { DeliveryTicket(.callback($0)) })
    }

    /// Enqueues with the ticket its delivery report settles (retained by librdkafka until then).
    private func enqueue(_ message: ProducerMessage, ticket: DeliveryTicket?) throws(KafkaError) {
        let ticket = ticket.map { Unmanaged.passRetained($0).toOpaque() }
        do throws(KafkaError) {
            try produce(message, opaque: ticket)
        } catch {
            if let ticket { Unmanaged<DeliveryTicket>.fromOpaque(ticket).release() }
            throw error
        }
    }

    /// Enqueues a message, waiting for room in the local queue instead of throwing `.queueFull`.
    ///
    /// Inlinable: when there is room (nearly always) it is a plain call to ``enqueue(_:onDelivery:)``
    /// in the caller, without an async call of its own.
    @inlinable
    public func send(
        _ message: ProducerMessage,
        onDelivery: (@Sendable (Result<DeliveryReport, KafkaError>) -> Void)? = nil
    ) async throws(KafkaError) {
        do throws(KafkaError) {
            try enqueue(message, onDelivery: onDelivery)
        } catch where error.kind == .queueFull {
            try await sendWhenThereIsRoom(message, onDelivery: onDelivery)
        }
    }

    /// `send`'s slow path: waits for delivery reports to free room, then enqueues.
    @usableFromInline
    func sendWhenThereIsRoom(
        _ message: ProducerMessage,
        onDelivery: (@Sendable (Result<DeliveryReport, KafkaError>) -> Void)?
    ) async throws(KafkaError) {
        try await enqueueWhenThereIsRoom(message, ticket: onDelivery.map { DeliveryTicket(.callback($0)) })
    }

    /// Enqueues, waiting for delivery reports to free room whenever the local queue is full.
    private func enqueueWhenThereIsRoom(_ message: ProducerMessage, ticket: DeliveryTicket?) async throws(KafkaError) {
        while true {
            do throws(KafkaError) {
                return try enqueue(message, ticket: ticket)
            } catch where error.kind == .queueFull {
                await context.waitForRoom(outstanding: { [self] in Int32(outstanding) }, limit: queueLimit)
            }
        }
    }

    /// Returns once the local queue has room (at once if it has): for callers that must enqueue
    /// under their own lock and so cannot use ``send(_:onDelivery:)``.
    public func waitForRoom() async {
        await context.waitForRoom(outstanding: { [self] in Int32(outstanding) }, limit: queueLimit)
    }

    /// Sends one message and returns when the broker acknowledged it.
    @discardableResult
    public func sendAndAwait(_ message: ProducerMessage) async throws(KafkaError) -> DeliveryReport {
        try await sendAndAwait([message])[0].get()
    }

    /// Sends messages (in order) and returns each one's delivery result once all are settled.
    public func sendAndAwait(_ messages: [ProducerMessage]) async throws(KafkaError) -> [Result<DeliveryReport, KafkaError>] {
        if messages.isEmpty { return [] }
        let batch = DeliveryBatch(count: messages.count)
        // No suspension per message while there is room; a full queue waits for delivery
        // reports to free some.
        for (index, message) in messages.enumerated() {
            do throws(KafkaError) {
                try await enqueueWhenThereIsRoom(message, ticket: DeliveryTicket(.batch(batch, index)))
            } catch {
                // Not enqueued (closed, bad topic name…): settle it and the rest now.
                for rest in index..<messages.count { batch.complete(rest, .failure(error)) }
                break
            }
        }
        return await withUnsafeContinuation { batch.setContinuation($0) }
    }

    /// Enqueues messages (in order) without waiting and calls `onSettled` with each one's
    /// delivery result once all are settled: on the delivery thread (keep it short), or at once
    /// on the caller's thread when nothing could be enqueued.
    ///
    /// For callers that must not suspend (a NIO channel handler). A message that cannot be
    /// enqueued (full local queue, closed producer) settles at once with that error, and so do
    /// the ones after it: a caller answering "retry later" never waits for room.
    public func send(_ messages: [ProducerMessage], onSettled: @escaping @Sendable ([Result<DeliveryReport, KafkaError>]) -> Void) {
        if messages.isEmpty { return onSettled([]) }
        let batch = DeliveryBatch(count: messages.count, onSettled: onSettled)
        for (index, message) in messages.enumerated() {
            do throws(KafkaError) {
                try enqueue(message, ticket: DeliveryTicket(.batch(batch, index)))
            } catch {
                for rest in index..<messages.count { batch.complete(rest, .failure(error)) }
                return
            }
        }
    }

    /// Messages enqueued and not yet acknowledged (including librdkafka's own requests).
    public var outstanding: Int {
        Int((try? handle.withHandle { rd_kafka_outq_len($0) }) ?? 0)
    }

    /// Waits until every enqueued message is settled or `timeout` elapsed (then throws `.timeout`).
    public func flush(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        try await Blocking.run { [handle] () throws(KafkaError) in
            let err = try handle.withHandle { rd_kafka_flush($0, ms) }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: err, context: "flush") }
        }
    }

    /// Flushes (up to `timeout`), fails what is still queued with a purge error, and
    /// releases the client. Safe to call more than once.
    public func close(timeout: Duration = .seconds(30)) async {
        do { try await flush(timeout: timeout) } catch {
            context.logger.warning("producer close: flush incomplete, purging", metadata: ["error": "\(error)"])
            _ = try? handle.withHandle { rk in
                rd_kafka_purge(rk, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            }
            _ = try? await Blocking.run { [handle] () throws(KafkaError) in try handle.withHandle { rd_kafka_flush($0, 1000) } }
        }
        poller.stop()
        _ = try? await Blocking.run { [self] in destroyNative() }
    }

    // MARK: - Internals

    private var queueLimit: Int {
        Int(configuration["queue.buffering.max.messages"] ?? "") ?? 100_000
    }

    private func topicHandle(_ name: String, _ rk: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        try topics.withLock { cache throws(KafkaError) -> TopicHandle in
            if let known = cache.lookup(name) { return known }
            guard let rkt = rd_kafka_topic_new(rk, name, nil) else {
                throw KafkaError(code: rd_kafka_last_error(), context: "topic \(name)")
            }
            let created = TopicHandle(pointer: rkt)
            cache.insert(name, created)
            return created
        }.pointer
    }

    private func produce(_ message: ProducerMessage, opaque: UnsafeMutableRawPointer?) throws(KafkaError) {
        renewIfFatal()
        try handle.withHandle { rk throws(KafkaError) in
            let rkt = try topicHandle(message.topic, rk)
            var headers: OpaquePointer? = nil
            if !message.headers.isEmpty {
                headers = rd_kafka_headers_new(message.headers.count)
                for header in message.headers {
                    if let value = header.value {
                        value.withUnsafeBytes { _ = rd_kafka_header_add(headers, header.key, -1, $0.baseAddress, $0.count) }
                    } else {
                        _ = rd_kafka_header_add(headers, header.key, -1, nil, 0)
                    }
                }
            }
            let partition = message.partition ?? RD_KAFKA_PARTITION_UA
            let err = withOptionalBytes(message.valueBytes) { value in
                withOptionalBytes(message.keyBytes) { key in
                    funnel_produce(rk, rkt, partition, value.baseAddress, value.count,
                                   key.baseAddress, key.count, headers,
                                   message.timestampMilliseconds ?? 0, opaque)
                }
            }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                if let headers { rd_kafka_headers_destroy(headers) }
                if err == RD_KAFKA_RESP_ERR__FATAL { context.noteFatal(rk) } // the next enqueue renews the client
                throw KafkaError(code: err, context: "enqueue to \(message.topic)")
            }
        }
    }
}

@inline(__always)
private func withOptionalBytes<R>(_ bytes: KafkaBytes?, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    guard let bytes else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return bytes.withUnsafeBytes(body)
}

/// A cached `rd_kafka_topic_t`, released with the client.
private struct TopicHandle: @unchecked Sendable { let pointer: OpaquePointer }

/// Topic handles by name, with the last one used checked first (most producers write to
/// one topic at a time, and comparing a string with itself is cheaper than hashing it).
private struct TopicHandles {
    private var last: (name: String, handle: TopicHandle)?
    private var all: [String: TopicHandle] = [:]

    mutating func lookup(_ name: String) -> TopicHandle? {
        if let last, last.name == name { return last.handle }
        guard let found = all[name] else { return nil }
        last = (name, found)
        return found
    }

    mutating func insert(_ name: String, _ handle: TopicHandle) {
        all[name] = handle
        last = (name, handle)
    }

    mutating func removeAll() -> [TopicHandle] {
        defer { all.removeAll(); last = nil }
        return Array(all.values)
    }
}

/// What settles when a message's delivery report arrives, passed to librdkafka as the
/// message opaque (retained once): a caller's callback, or a place in a ``DeliveryBatch``
/// (one allocation per message, not a ticket and a closure).
final class DeliveryTicket {
    enum Target {
        case callback(@Sendable (Result<DeliveryReport, KafkaError>) -> Void)
        case batch(DeliveryBatch, Int)
    }
    let target: Target
    init(_ target: Target) { self.target = target }

    func complete(_ result: Result<DeliveryReport, KafkaError>) {
        switch target {
        case .callback(let completion): completion(result)
        case .batch(let batch, let index): batch.complete(index, result)
        }
    }
}

/// Collects the results of a batch of messages and hands them on once, when the last one is
/// settled: to a suspended `sendAndAwait` caller, or to a callback given up front.
final class DeliveryBatch: Sendable {
    typealias Results = [Result<DeliveryReport, KafkaError>]
    private enum Waiter {
        case none
        case continuation(UnsafeContinuation<Results, Never>)
        case callback(@Sendable (Results) -> Void)
    }
    private struct State {
        var results: [Result<DeliveryReport, KafkaError>?]
        var remaining: Int
        var waiter: Waiter
    }
    private let state: Mutex<State>

    init(count: Int, onSettled: (@Sendable (Results) -> Void)? = nil) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count,
                            waiter: onSettled.map { .callback($0) } ?? .none))
    }

    /// Resumes `continuation` when every result is in (at once if they already are).
    func setContinuation(_ continuation: UnsafeContinuation<Results, Never>) {
        let done: Results? = state.withLock { s in
            if s.remaining == 0 { return s.results.map { $0! } }
            s.waiter = .continuation(continuation)
            return nil
        }
        if let done { continuation.resume(returning: done) }
    }

    func complete(_ index: Int, _ result: Result<DeliveryReport, KafkaError>) {
        let finished: (Waiter, Results)? = state.withLock { s in
            guard s.results[index] == nil else { return nil }
            s.results[index] = result
            s.remaining -= 1
            guard s.remaining == 0 else { return nil }
            if case .none = s.waiter { return nil }
            defer { s.waiter = .none }
            return (s.waiter, s.results.map { $0! })
        }
        switch finished {
        case (.continuation(let continuation), let results)?: continuation.resume(returning: results)
        case (.callback(let onSettled), let results)?: onSettled(results)
        case (.none, _)?, nil: break
        }
    }
}

/// Receives delivery reports (on the poll thread) and wakes senders waiting for room.
final class ProducerContext: ClientContext, @unchecked Sendable {
    private let roomWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let waiting = Atomic<Int>(0)
    let deliveryFailures = Atomic<Int>(0)
    /// Set when the client raised a fatal error: the next enqueue recreates it.
    let fatal = Atomic<Bool>(false)
    let fatalCause = Mutex<String>("")
    let renewals = Atomic<Int>(0)
    /// Held while the client is being recreated.
    let renewing = Mutex<Void>(())

    /// Records that `rk` is in a fatal state (with librdkafka's reason), if it is.
    func noteFatal(_ rk: OpaquePointer?) {
        guard let rk else { return }
        var reason = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(rk, &reason, reason.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        noteUnusable(String(cString: rd_kafka_err2name(code)) + ": " + String(cBuffer: reason))
    }

    /// Marks the client for renewal (the next enqueue recreates it).
    func noteUnusable(_ cause: String) {
        fatalCause.withLock { $0 = cause }
        fatal.store(true, ordering: .releasing)
    }

    /// Delivery errors after which the broker refuses every later message of this producer id,
    /// although librdkafka does not raise them as fatal (seen with Tansu after a 30 s freeze:
    /// every delivery then fails with PRODUCER_FENCED until the process restarts).
    static func fencesTheClient(_ err: rd_kafka_resp_err_t) -> Bool {
        err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED || err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH
            || err == RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID || err == RD_KAFKA_RESP_ERR__FATAL
    }

    func delivered(_ message: rd_kafka_message_t, _ rk: OpaquePointer?) {
        // Fast path: an acknowledged fire-and-forget message needs no Swift objects at all.
        if message.err == RD_KAFKA_RESP_ERR_NO_ERROR && message._private == nil {
            if waiting.load(ordering: .acquiring) > 0 { wakeWaiters() }
            return
        }
        let result: Result<DeliveryReport, KafkaError>
        let topic = message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        if message.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            result = .success(DeliveryReport(topic: topic, partition: message.partition, offset: message.offset))
        } else {
            var error = KafkaError(code: message.err, context: "delivery to \(topic)")
            if error.kind == .other || error.kind == .timeout { error.kind = error.kind == .timeout ? .timeout : .delivery }
            result = .failure(error)
            deliveryFailures.add(1, ordering: .relaxed)
            if !fatal.load(ordering: .relaxed) {
                if Self.fencesTheClient(message.err) { noteUnusable("\(error)") } else { noteFatal(rk) }
            }
            if message._private == nil {
                logger.warning("message not delivered", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }
        if let opaque = message._private {
            Unmanaged<DeliveryTicket>.fromOpaque(opaque).takeRetainedValue().complete(result)
        }
        if waiting.load(ordering: .acquiring) > 0 { wakeWaiters() }
    }

    /// Suspends until a delivery report frees room (or returns at once if there is room now).
    func waitForRoom(outstanding: @Sendable () -> Int32, limit: Int) async {
        waiting.add(1, ordering: .sequentiallyConsistent)
        defer { waiting.subtract(1, ordering: .sequentiallyConsistent) }
        await withCheckedContinuation { continuation in
            roomWaiters.withLock { $0.append(continuation) }
            // A report may have arrived between the failed enqueue and registering: re-check.
            if Int(outstanding()) < limit { wakeWaiters() }
        }
    }

    private func wakeWaiters() {
        let waiters = roomWaiters.withLock { w -> [CheckedContinuation<Void, Never>] in
            defer { w.removeAll() }
            return w
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A dedicated OS thread that serves a client's callbacks with `rd_kafka_poll`.
final class PollThread: Sendable {
    private let stopped = Flag()
    private let exited = DispatchSemaphore(value: 0)

    init(name: String, handle: NativeHandle) {
        let thread = Thread { [stopped, exited] in
            while !stopped.isSet {
                do { _ = try handle.withHandle { rd_kafka_poll($0, 100) } } catch { break }
            }
            exited.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops polling and waits until the thread left librdkafka. Idempotent.
    func stop() {
        if stopped.set() { return }
        exited.wait()
    }
}

extension KafkaProducer {
    /// Waits (blocking the calling thread) until queued messages are delivered or the timeout
    /// passed. Only for contexts that must not suspend, such as a rebalance handler, which
    /// runs on librdkafka's thread; elsewhere use ``flush(timeout:)``.
    public func flushBlocking(timeoutMilliseconds: Int32) {
        _ = try? handle.withHandle { rd_kafka_flush($0, timeoutMilliseconds) }
    }
}
