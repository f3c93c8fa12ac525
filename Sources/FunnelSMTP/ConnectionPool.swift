import Logging
import NIOCore
import NIOSSL

/// Up to `configuration.maxConnections` SMTP connections, created lazily, reused while healthy.
///
/// A caller leases one connection for one transaction and gives it back. When all connections
/// are leased, further callers wait (in order) until one is returned; a returned connection is
/// handed directly to the next waiter, a broken one is closed and its slot handed on so the
/// waiter opens a fresh connection. The number of sockets never exceeds the limit.
actor ConnectionPool {
    private enum Handoff {
        case connection(SMTPConnection)
        case slot
        case shutdown
    }

    private let configuration: SMTPConfiguration
    private let tlsContext: Result<NIOSSLContext?, SMTPError>
    private let group: any EventLoopGroup
    private let logger: Logger

    private var idle: [SMTPConnection] = []
    /// Connections leased out or being opened.
    private var leased = 0
    private var waiters: [CheckedContinuation<Handoff, Never>] = []
    private var waiterHead = 0
    private var isShutDown = false
    private var nextID = 0

    init(configuration: SMTPConfiguration, tlsContext: Result<NIOSSLContext?, SMTPError>,
         group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.tlsContext = tlsContext
        self.group = group
        self.logger = logger
    }

    /// Leases a connection; `reused` tells whether it was already open.
    func lease() async throws(SMTPError) -> (connection: SMTPConnection, reused: Bool) {
        guard !isShutDown else { throw Self.shutDownError }
        while let connection = idle.popLast() {
            if connection.isUsable {
                leased += 1
                return (connection, true)
            }
            connection.close()
        }
        if leased < configuration.maxConnections {
            leased += 1
            return try await open()
        }
        let handoff = await withCheckedContinuation { continuation in
            waiters.append(continuation)
        }
        switch handoff {
        case .connection(let connection):
            if connection.isUsable { return (connection, true) }
            connection.close()
            return try await open()
        case .slot:
            return try await open()
        case .shutdown:
            throw Self.shutDownError
        }
    }

    /// Returns a leased connection; broken ones are closed and replaced lazily.
    func release(_ connection: SMTPConnection) {
        if isShutDown {
            leased -= 1
            Task { await connection.quit() }
            return
        }
        if connection.isUsable {
            if let waiter = popWaiter() {
                waiter.resume(returning: .connection(connection))
            } else {
                leased -= 1
                idle.append(connection)
            }
        } else {
            connection.close()
            releaseSlot()
        }
    }

    /// Closes idle connections with QUIT; connections in use are closed when returned.
    func shutdown() async {
        isShutDown = true
        while let waiter = popWaiter() { waiter.resume(returning: .shutdown) }
        let connections = idle
        idle.removeAll()
        await withTaskGroup(of: Void.self) { group in
            for connection in connections {
                group.addTask { await connection.quit() }
            }
        }
    }

    private func open() async throws(SMTPError) -> (connection: SMTPConnection, reused: Bool) {
        nextID += 1
        let id = nextID
        let context: NIOSSLContext?
        switch tlsContext {
        case .success(let value): context = value
        case .failure(let error):
            releaseSlot()
            throw error
        }
        do throws(SMTPError) {
            let connection = try await SMTPConnection.connect(
                configuration: configuration, tlsContext: context, group: group, logger: logger, id: id)
            if isShutDown {
                await connection.quit()
                leased -= 1
                throw Self.shutDownError
            }
            return (connection, false)
        } catch {
            if !(error == Self.shutDownError) { releaseSlot() }
            throw error
        }
    }

    private func releaseSlot() {
        if let waiter = popWaiter() {
            waiter.resume(returning: .slot)
        } else {
            leased -= 1
        }
    }

    private func popWaiter() -> CheckedContinuation<Handoff, Never>? {
        guard waiterHead < waiters.count else { return nil }
        let waiter = waiters[waiterHead]
        waiterHead += 1
        if waiterHead > 64 && waiterHead * 2 > waiters.count {
            waiters.removeFirst(waiterHead)
            waiterHead = 0
        }
        return waiter
    }

    static let shutDownError = SMTPError(kind: .configuration, phase: .connect, message: "SMTP client has been shut down")
}
