import NIOCore
import NIOSSL
import Synchronization

/// Failures of the transport below the SMTP dialogue; mapped to ``SMTPError`` by the connection.
enum SMTPTransportError: Error, Sendable {
    case timeout
    case closed
    case tls(String)
    case io(String)
    case protocolViolation(String)
}

/// The first transport failure of a channel, kept after the pipeline is torn down so that a
/// command written after the failure reports the real cause (e.g. a TLS handshake error)
/// instead of "closed".
final class TransportFailureRecord: Sendable {
    private let value = Mutex<SMTPTransportError?>(nil)

    func record(_ error: SMTPTransportError) {
        value.withLock { if $0 == nil { $0 = error } }
    }

    var first: SMTPTransportError? { value.withLock { $0 } }
}

/// What the connection asks the handler to do: write `bytes` (may be empty) and
/// complete `replies` in order with the next server replies.
struct SMTPOutbound: Sendable {
    var bytes: ByteBuffer
    var replies: [EventLoopPromise<SMTPReply>]
}

/// Matches server replies to the commands written, in order (which also makes
/// PIPELINING work), and enforces the per-command timeout: while a reply is
/// outstanding the server must make progress within `commandTimeout`, otherwise
/// every outstanding command fails with ``SMTPTransportError/timeout`` and the channel is closed.
final class SMTPClientHandler: ChannelDuplexHandler {
    typealias InboundIn = SMTPReply
    typealias OutboundIn = SMTPOutbound
    typealias OutboundOut = ByteBuffer

    private let commandTimeout: TimeAmount
    private var pending = CircularBuffer<EventLoopPromise<SMTPReply>>()
    /// Replies that arrived before anybody asked for them (the greeting, or an unsolicited 421).
    private var unclaimed = CircularBuffer<SMTPReply>()
    private var timer: Scheduled<Void>?
    private var failure: SMTPTransportError?

    private let record: TransportFailureRecord

    init(commandTimeout: TimeAmount, record: TransportFailureRecord) {
        self.commandTimeout = commandTimeout
        self.record = record
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outbound = unwrapOutboundIn(data)
        if let failure {
            outbound.replies.forEach { $0.fail(failure) }
            promise?.fail(failure)
            return
        }
        for reply in outbound.replies {
            if let ready = unclaimed.popFirst() {
                reply.succeed(ready)
            } else {
                pending.append(reply)
            }
        }
        if outbound.bytes.readableBytes > 0 {
            context.write(wrapOutboundOut(outbound.bytes), promise: promise)
        } else {
            promise?.succeed(())
        }
        if timer == nil { armTimer(context: context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        if let promise = pending.popFirst() {
            promise.succeed(reply)
        } else {
            unclaimed.append(reply)
        }
        // Progress was made: restart the clock for whatever is still outstanding.
        timer?.cancel()
        timer = nil
        armTimer(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let mapped: SMTPTransportError
        switch error {
        case let error as SMTPTransportError: mapped = error
        case let error as NIOSSLError: mapped = .tls("\(error)")
        case let error as BoringSSLError: mapped = .tls("\(error)")
        case let error as NIOSSLExtraError: mapped = .tls("\(error)")
        case let error as ByteToMessageDecoderError: mapped = .protocolViolation("\(error)")
        default: mapped = .io("\(error)")
        }
        failAll(mapped)
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(.closed)
    }

    private func armTimer(context: ChannelHandlerContext) {
        guard !pending.isEmpty, failure == nil else { return }
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: commandTimeout) {
            let handler = loopBoundSelf.value
            handler.timer = nil
            handler.failAll(.timeout)
            loopBoundContext.value.close(promise: nil)
        }
    }

    private func failAll(_ error: SMTPTransportError) {
        if failure == nil { failure = error }
        record.record(error)
        timer?.cancel()
        timer = nil
        while let promise = pending.popFirst() {
            promise.fail(error)
        }
    }
}
