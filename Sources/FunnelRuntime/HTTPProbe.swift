import Foundation

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

    /// POST a JSON body (with extra request headers, e.g. `Authorization`); returns the status and the body.
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

    public static func post(port: Int, path: String, json: Data, headers: [String: String] = [:]) async throws -> (status: Int, body: String) {
        let r = try await request(port: port, head: "POST \(path) HTTP/1.1", headers: headers, body: json)
        return (r.status, r.body)
    }

    /// Any request (`HTTPProbe.request(port:method:path:…)`); returns the status, the response headers (names lower-cased) and the body.
    public static func request(port: Int, method: String, path: String, headers: [String: String] = [:],
                            json: Data? = nil) async throws -> (status: Int, headers: [String: String], body: String) {
        try await request(port: port, head: "\(method) \(path) HTTP/1.1", headers: headers, body: json)
    }

    private static func request(port: Int, head: String, headers: [String: String] = [:], body: Data?) async throws -> (status: Int, headers: [String: String], body: String) {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try exchange(port: port, head: head, headers: headers, body: body)) }
                catch { continuation.resume(throwing: error) }
            }
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
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw Failure(description: "send: errno \(errno)") }
                sent += n
            }
        }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n", maxSplits: 1).first,
              let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw Failure(description: "no HTTP response from 127.0.0.1:\(port)")
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
