import Foundation
import FunnelRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Small socket helpers for local processes.
public enum Network {
    /// A TCP port that is free right now, for a process to listen on.
    ///
    /// Chosen below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`, usually
    /// 32768–60999): a port the kernel picked for `bind(0)` comes from that range, and any
    /// outgoing connection (a Kafka client's) may take it as its source port before the process
    /// that was given it binds — a test run once lost a funnel-route that way ("Address already
    /// in use" on every restart). A port is never handed out twice by one process.
    public static func freePort() throws -> Int {
        let low = 20_000, high = ephemeralStart() - 1
        for _ in 0..<500 {
            let port = Int.random(in: low...max(low + 1000, high))
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if isBindable(port) { return port }
        }
        throw POSIXError(.EADDRINUSE)
    }

    private static let handedOut = Locked<Set<Int>>([])

    /// The first port of the kernel's ephemeral range (32768 if it cannot be read).
    static func ephemeralStart() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32_768
    }

    /// Whether a listening socket could bind `port` on every interface now.
    static func isBindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr = in_addr(s_addr: INADDR_ANY)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return connectLoopback(fd, port: port)
    }

    /// Connects the TCP socket `fd` to 127.0.0.1:`port`; false on failure (see `errno`).
    static func connectLoopback(_ fd: Int32, port: Int) -> Bool {
        var addr = loopback(port: port)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// A TCP socket connected to `host`:`port` (a name or an address, IPv4 or IPv6).
    public static func connectTCP(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw ConfigError("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var next: UnsafeMutablePointer<addrinfo>? = first
        var lastError: Int32 = 0
        while let info = next {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
                lastError = errno
                close(fd)
            }
            next = info.pointee.ai_next
        }
        throw ConfigError("cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }
}
