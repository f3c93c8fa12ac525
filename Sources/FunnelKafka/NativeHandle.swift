import CRdKafka
import Foundation
import Logging
import Synchronization

/// Owns an `rd_kafka_t` and guards it against use after destruction: every C call runs
/// under a shared (read) lock through ``withHandle(_:)``; ``destroy(_:)`` takes the
/// exclusive lock, so it waits for calls in progress and later calls see `.closed`.
final class NativeHandle: @unchecked Sendable {
    /// Guarded by `lock` (so no dynamic exclusivity checks: they cost a thread-local lookup
    /// each, three per call on the hot path).
    @exclusivity(unchecked) private var pointer: OpaquePointer?
    /// Allocated, so its address is stable (a class property passed `&` need not be).
    private let lock: UnsafeMutablePointer<pthread_rwlock_t> = .allocate(capacity: 1)
    /// Set once `destroy` ran: lets hot paths ask "closed?" without taking the lock.
    private let destroyed = Atomic<Bool>(false)
    let name: String

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        self.name = String(cString: rd_kafka_name(pointer))
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` with the live handle, or throws `.closed`.
    @inline(__always)
    func withHandle<T>(_ body: (OpaquePointer) throws(KafkaError) -> T) throws(KafkaError) -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        guard let pointer else { throw .closed }
        return try body(pointer)
    }

    /// The raw pointer without the lock, for callbacks librdkafka itself invokes on a live handle.
    var unguarded: OpaquePointer? { pointer }

    var isClosed: Bool { destroyed.load(ordering: .acquiring) }

    /// Runs `teardown` (e.g. `rd_kafka_destroy`) exclusively, once.
    func destroy(_ teardown: (OpaquePointer) -> Void) {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        guard let pointer else { return }
        self.pointer = nil
        destroyed.store(true, ordering: .releasing)
        teardown(pointer)
    }

    /// Swaps in `replacement` (a new `rd_kafka_t` for the same client) and returns the old
    /// one for the caller to retire, or nil (and destroys `replacement`) if the handle was
    /// destroyed meanwhile. `exclusive` runs under the exclusive lock with the old pointer
    /// (to drop what belongs to it, such as topic handles), when no call is using it.
    func replace(with replacement: OpaquePointer, exclusive: (OpaquePointer) -> Void) -> OpaquePointer? {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        guard let old = pointer else {
            rd_kafka_destroy(replacement)
            return nil
        }
        exclusive(old)
        pointer = replacement
        return old
    }

    /// Creates an `rd_kafka_t` of `type` from a configuration (the conf is consumed).
    static func make(type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        try LibrdkafkaVersion.check()
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(kind: .configuration, message: String(cBuffer: errstr), isFatal: true)
        }
        return rk
    }
}

/// Runs blocking librdkafka calls (flush, commit, close, admin requests) on threads that
/// are not Swift's cooperative pool, and awaits them.
enum Blocking {
    static let queue = DispatchQueue(label: "funnel.kafka.blocking", attributes: .concurrent)

    static func run<T: Sendable>(
        on queue: DispatchQueue = Blocking.queue,
        _ body: @escaping @Sendable () throws(KafkaError) -> T
    ) async throws(KafkaError) -> T {
        let result: Result<T, KafkaError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(KafkaError) { continuation.resume(returning: .success(try body())) }
                catch { continuation.resume(returning: .failure(error)) }
            }
        }
        return try result.get()
    }
}

/// What librdkafka's callbacks need to reach: the logger, and per-client hooks.
/// Passed to librdkafka as the configuration opaque (unretained; the client keeps it alive).
class ClientContext: @unchecked Sendable {
    let logger: Logger
    /// Repeated client log lines are logged once per 30 s, with a count (see ``RepeatFilter``).
    let repeats = Mutex(RepeatFilter())
    init(logger: Logger) { self.logger = logger }

    /// Logs `message` unless the same line was logged in the last 30 s.
    func logOnce(level: Logger.Level, _ message: String, metadata: Logger.Metadata) {
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        let (log, suppressed) = repeats.withLock { $0.admit("\(level)|\(message)|\(metadata)", now: now) }
        guard log else { return }
        var metadata = metadata
        if suppressed > 0 { metadata["suppressed_repeats"] = "\(suppressed)" }
        logger.log(level: level, "\(message)", metadata: metadata)
    }

    /// The context of type `T` behind a librdkafka opaque pointer (not retained). Generic over
    /// `T` rather than returning `Self`, so each call site is specialised: the `Self` version
    /// looked up type metadata on every delivery report.
    static func unretained<T: ClientContext>(_ opaque: UnsafeMutableRawPointer?, as type: T.Type) -> T? {
        opaque.map { Unmanaged<T>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Installs log and error callbacks that forward to `logger` instead of stderr.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, buffer in
            guard let rk, let context = ClientContext.unretained(rd_kafka_opaque(rk), as: ClientContext.self) else { return }
            let message = buffer.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            var swiftLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
            // KAFKA_* variables apply to every client; a consumer property on a producer is expected.
            if fac == "CONFWARN" { swiftLevel = .debug }
            context.logOnce(level: swiftLevel, "librdkafka: \(message)", metadata: ["facility": "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { _, err, reason, opaque in
            guard let context = ClientContext.unretained(opaque, as: ClientContext.self) else { return }
            let error = KafkaError(code: rd_kafka_resp_err_t(err), context: reason.map { String(cString: $0) })
            // Transport errors repeat while a broker is down; librdkafka retries by itself.
            if error.isFatal {
                context.logger.critical("kafka client error", metadata: ["error": "\(error)"])
            } else {
                context.logOnce(level: .warning, "kafka client error", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// A one-way boolean shared between threads.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    /// Sets the flag; returns whether it was already set.
    @discardableResult func set() -> Bool { value.exchange(true, ordering: .acquiringAndReleasing) }
}

extension String {
    /// A string from a NUL-terminated C buffer such as librdkafka's `errstr`.
    init(cBuffer: [CChar]) {
        let bytes = cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
