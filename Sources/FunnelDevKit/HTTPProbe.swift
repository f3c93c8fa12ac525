import Foundation
import FunnelRuntime

/// A minimal HTTP/1.1 client over a plain socket, for local probes and the demo generator.
/// (FoundationNetworking's URLSession links libcurl and trapped under concurrent use here.)
/// Blocking socket calls run on a dispatch queue, never on the cooperative pool.
public enum HTTPProbe {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private static let queue = DispatchQueue(label: "funnel.http-probe", attributes: .concurrent)

    public static func isReady(port: Int) async -> Bool {
        (try? await get(port: port, path: "/readyz"))?.status == 200
    }

    /// GET `path` on 127.0.0.1:`port`; returns the status and the body.
    public static func get(port: Int, path: String) async throws -> (status: Int, body: String) {
        let r = try await request(port: port, head: "GET \(path) HTTP/1.1", body: nil)
        return (r.status, r.body)
    }

    /// Waits until `process` answers `/readyz` on `port` with 200; throws if it exits first or
    /// `timeout` passes, pointing at its `log`.
    public static func waitUntilReady(port: Int, process: ChildProcess, log: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(await isReady(port: port)) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw ConfigError("\(process.name) did not become ready; see \(log)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// POST a JSON body (with extra request headers, e.g. `Authorization`); returns the status and the body.
    public static func post(port: Int, path: String, json: Data, headers: [String: String] = [:]) async throws -> (status: Int, body: String) {
        let r = try await request(port: port, head: "POST \(path) HTTP/1.1", headers: headers, body: json)
        return (r.status, r.body)
    }

    /// Any request (`HTTPProbe.request(port:method:path:…)`); returns the status, the response headers (names lower-cased) and the body.
    public static func request(port: Int, method: String, path: String, headers: [String: String] = [:],
                            json: Data? = nil) async throws -> (status: Int, headers: [String: String], body: String) {
        try await request(port: port, head: "\(method) \(path) HTTP/1.1", headers: headers, body: json)
    }

    /// Sends `bytes` as they are (several pipelined requests, say; the last should ask for
    /// `Connection: close`, or pass `halfClose` to shut the sending side down after them) and
    /// returns everything the server wrote until it closed.
    public static func raw(port: Int, _ bytes: Data, halfClose: Bool = false) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    let fd = try Network.connectTCP(host: "127.0.0.1", port: port)
                    defer { close(fd) }
                    var timeout = timeval(tv_sec: 30, tv_usec: 0)
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    guard try sendAll(fd, bytes) else { throw Failure(description: "send: connection closed by 127.0.0.1:\(port)") }
                    if halfClose { shutdown(fd, Int32(SHUT_WR)) }
                    continuation.resume(returning: String(decoding: readToClose(fd), as: UTF8.self))
                } catch { continuation.resume(throwing: error) }
            }
        }
    }

    private static func request(port: Int, head: String, headers: [String: String] = [:], body: Data?) async throws -> (status: Int, headers: [String: String], body: String) {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try exchange(port: port, head: head, headers: headers, body: body)) }
                catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Streams the file at `path` as the body of a POST to `host`:`port` (plain HTTP), calling
    /// `progress` with the bytes sent so far; returns the status, headers and body of the reply.
    /// Memory stays bounded whatever the file's size.
    public static func upload(host: String, port: Int, path: String, headers: [String: String], file: String,
                              progress: @escaping @Sendable (Int64) -> Void) async throws -> (status: Int, headers: [String: String], body: String) {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    guard let handle = FileHandle(forReadingAtPath: file) else { throw Failure(description: "cannot read \(file)") }
                    defer { try? handle.close() }
                    let size = try handle.seekToEnd()
                    try handle.seek(toOffset: 0)
                    let fd = try Network.connectTCP(host: host, port: port)
                    defer { close(fd) }
                    var timeout = timeval(tv_sec: 300, tv_usec: 0)
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    var head = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nContent-Length: \(size)\r\n"
                    for (name, value) in headers where !value.isEmpty { head += "\(name): \(value)\r\n" }
                    var sent: Int64 = 0
                    if try sendAll(fd, Data((head + "\r\n").utf8)) {
                        // Exactly Content-Length bytes, even if the file changes meanwhile. The server
                        // may answer early (a 4xx after the header) and close: then the rest is not
                        // sent and its reply is read.
                        var peerClosed = false
                        while sent < Int64(size), let chunk = try handle.read(upToCount: Int(min(1 << 20, Int64(size) - sent))), !chunk.isEmpty {
                            guard try sendAll(fd, chunk) else { peerClosed = true; break }
                            sent += Int64(chunk.count)
                            progress(sent)
                        }
                        if !peerClosed && sent < Int64(size) {
                            throw Failure(description: "\(file) shrank from \(size) to \(sent) bytes during the upload")
                        }
                    }
                    continuation.resume(returning: try readResponse(fd, from: "\(host):\(port)"))
                } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Sends all of `data`; false when the peer closed the connection (EPIPE/ECONNRESET).
    private static func sendAll(_ fd: Int32, _ data: Data) throws -> Bool {
        try data.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 {
                    if errno == EPIPE || errno == ECONNRESET { return false }
                    throw Failure(description: "send: \(String(cString: strerror(errno)))")
                }
                sent += n
            }
            return true
        }
    }

    private static func exchange(port: Int, head: String, headers: [String: String], body: Data?) throws -> (status: Int, headers: [String: String], body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard Network.connectLoopback(fd, port: port) else { throw Failure(description: "connect to 127.0.0.1:\(port): errno \(errno)") }
        var request = Data("\(head)\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n".utf8)
        for (name, value) in headers where !value.isEmpty { request.append(Data("\(name): \(value)\r\n".utf8)) }
        if let body {
            // JSON unless the caller names a content type ("" sends none).
            if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { request.append(Data("Content-Type: application/json\r\n".utf8)) }
            request.append(Data("Content-Length: \(body.count)\r\n".utf8))
        }
        request.append(Data("\r\n".utf8))
        if let body { request.append(body) }
        guard try sendAll(fd, request) else { throw Failure(description: "send: connection closed by 127.0.0.1:\(port)") }
        return try readResponse(fd, from: "127.0.0.1:\(port)")
    }

    /// Everything the peer sends until it closes the connection (or the receive timeout).
    private static func readToClose(_ fd: Int32) -> Data {
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case let n = recv(fd, &buffer, buffer.count, 0), n > 0 { response.append(contentsOf: buffer[0..<n]) }
        return response
    }

    /// Reads a whole HTTP/1.1 response (the server closes the connection after it).
    private static func readResponse(_ fd: Int32, from peer: String) throws -> (status: Int, headers: [String: String], body: String) {
        let text = String(decoding: readToClose(fd), as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n", maxSplits: 1).first,
              let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw Failure(description: "no HTTP response from \(peer)")
        }
        let parts = text.components(separatedBy: "\r\n\r\n")
        var payload = parts.dropFirst().joined(separator: "\r\n\r\n")
        var responseHeaders: [String: String] = [:]
        for line in parts[0].split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            responseHeaders[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if responseHeaders["transfer-encoding"]?.lowercased() == "chunked" { payload = dechunk(payload) }
        return (status, responseHeaders, payload)
    }

    /// Decodes a chunked body (Hummingbird streams some responses).
    private static func dechunk(_ body: String) -> String {
        var out = ""
        var rest = Substring(body)
        while let lineEnd = rest.range(of: "\r\n") {
            guard let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            let bytes = rest[start...].utf8.prefix(size)
            out += String(decoding: bytes, as: UTF8.self)
            rest = rest[rest.utf8.index(start, offsetBy: min(size, rest[start...].utf8.count))...]
            if rest.hasPrefix("\r\n") { rest = rest.dropFirst(2) }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
