import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
@testable import PayRailHTTP

/// Starts a server on an ephemeral loopback port, runs `body`, and always shuts the server down.
@discardableResult
func withServer<T>(
    _ configuration: HTTPServerConfiguration = HTTPServerConfiguration(threadCount: 1),
    handler: @escaping HTTPHandler,
    _ body: (HTTPServer, UInt16) async throws -> T
) async throws -> T {
    let server = HTTPServer(configuration: configuration, handler: handler)
    let port = try server.start()
    do {
        let result = try await body(server, port)
        await server.shutdown(grace: .seconds(5))
        return result
    } catch {
        await server.shutdown(grace: .seconds(5))
        throw error
    }
}

/// A fresh ephemeral URLSession so tests never share pooled connections.
func makeSession() -> URLSession {
    let configuration = URLSessionConfiguration.ephemeral
    configuration.timeoutIntervalForRequest = 30
    return URLSession(configuration: configuration)
}

struct FetchResult: Sendable {
    let status: Int
    let body: Data
    let headers: [String: String]
    var text: String { String(decoding: body, as: UTF8.self) }
}

func fetch(
    _ session: URLSession, port: UInt16, _ pathAndQuery: String, method: String = "GET",
    headers: [String: String] = [:], body: Data? = nil
) async throws -> FetchResult {
    var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(pathAndQuery)")))
    request.httpMethod = method
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    request.httpBody = body
    let (data, response) = try await session.data(for: request)
    let http = try #require(response as? HTTPURLResponse)
    var fields: [String: String] = [:]
    for (key, value) in http.allHeaderFields {
        if let key = key as? String, let value = value as? String { fields[key.lowercased()] = value }
    }
    return FetchResult(status: http.statusCode, body: data, headers: fields)
}

/// Connects `fd` to 127.0.0.1:`port`; what connect(2) returned.
func connectToLoopback(_ fd: Int32, port: UInt16) -> Int32 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// A raw TCP connection for the malformed cases URLSession refuses to send. All blocking I/O
/// runs on its own thread so the cooperative pool (which runs the server's handlers) stays free.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawError.socket }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = connectToLoopback(fd, port: port)
        guard result == 0 else {
            close(fd)
            throw RawError.connect
        }
    }

    deinit { close(fd) }

    enum RawError: Error { case socket, connect, send }

    /// Sends everything; a peer that closed early is not an error (the response may still be readable).
    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    /// Reads one response (headers, then `Content-Length` bytes of body), or whatever arrives until
    /// the peer closes. Returns nil if nothing at all arrives.
    func readResponse(bodyless: Bool = false) async -> RawResponse? {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: self.readResponseBlocking(bodyless: bodyless)) }
            thread.start()
        }
    }

    /// Whether the server closed the connection (read returns 0 or fails) within the receive timeout.
    func isClosedByPeer() async -> Bool {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var byte: UInt8 = 0
                let count = recv(self.fd, &byte, 1, 0)
                continuation.resume(returning: count <= 0)
            }
            thread.start()
        }
    }

    private var pending: [UInt8] = []

    private func readResponseBlocking(bodyless: Bool) -> RawResponse? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            pending.append(contentsOf: buffer[0..<count])
            return true
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while headerEnd == nil {
            if let range = pending.firstRange(of: separator) {
                headerEnd = range.upperBound
            } else if !fill() {
                return pending.isEmpty ? nil : RawResponse(head: String(decoding: pending, as: UTF8.self), body: [])
            }
        }
        guard let headerEnd else { return nil }
        let head = String(decoding: pending[0..<headerEnd], as: UTF8.self)
        var response = RawResponse(head: head, body: [])
        let length = bodyless ? 0 : Int(response.header("Content-Length") ?? "0") ?? 0
        while pending.count - headerEnd < length {
            if !fill() { break }
        }
        let end = min(pending.count, headerEnd + length)
        response.body = Array(pending[headerEnd..<end])
        pending.removeFirst(end)
        return response
    }
}

struct RawResponse: Sendable {
    var head: String
    var body: [UInt8]

    var status: Int? {
        let parts = head.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2 else { return nil }
        return Int(parts[1])
    }

    func header(_ name: String) -> String? {
        for line in head.components(separatedBy: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == name.lowercased() {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}

/// Collects lines from a sink that may be called from any thread.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []

    func append(_ line: String) {
        lock.lock()
        stored.append(line)
        lock.unlock()
    }

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    var sink: @Sendable (String) -> Void { { [self] in self.append($0) } }
}

struct TimedOut: Error {}

/// Polls `condition` until it holds (tests run in parallel on a busy machine, so fixed sleeps race).
func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: timeout)
    while !condition() {
        guard clock.now < end else { throw TimedOut() }
        try await Task.sleep(for: .milliseconds(5))
    }
}
