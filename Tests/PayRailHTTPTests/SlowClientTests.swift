import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import PayRailHTTP

/// A raw connection from a chosen loopback source address (all of 127.0.0.0/8 is loopback on
/// Linux), so one test can play several clients: attackers on 127.0.0.2+ and an honest client on
/// 127.0.0.1, which is also where every agent on this machine connects from.
final class SourcedConnection: @unchecked Sendable {
    let fd: Int32

    /// Nil when the socket cannot be bound or connected (the server refused it at once).
    init?(port: UInt16, from source: String, receiveTimeout: Int = 10) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, connectToLoopback(fd, port: port) == 0 else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    /// Whether the bytes were all handed to the kernel (false once the server has closed).
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return sent == bytes.count
    }

    /// Everything the server sends until it closes (or the receive timeout), and whether it closed.
    func readToEnd() async -> (bytes: [UInt8], closed: Bool) {
        await withCheckedContinuation { continuation in
            Thread {
                var all: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                    if count > 0 {
                        all += buffer[0..<count]
                        continue
                    }
                    // 0: orderly close; ECONNRESET: closed too; EAGAIN: the receive timeout expired.
                    let closed = count == 0 || errno == ECONNRESET
                    continuation.resume(returning: (all, closed))
                    return
                }
            }.start()
        }
    }
}

/// Sends `GET /healthz` from `source` and returns the status, or nil if no answer came in time.
func healthz(port: UInt16, from source: String = "127.0.0.1") async -> Int? {
    guard let connection = SourcedConnection(port: port, from: source) else { return nil }
    connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    let (bytes, _) = await connection.readToEnd()
    let text = String(decoding: bytes, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.1 ") else { return nil }
    return Int(text.dropFirst(9).prefix(3))
}

/// Keeps `connections` trickling a request head, one byte per `interval`, until cancelled.
func trickle(_ connections: [SourcedConnection], every interval: Duration) -> Task<Void, Never> {
    Task.detached {
        let head = Array("GET /slow HTTP/1.1\r\nHost: x\r\nX-Filler: " + String(repeating: "a", count: 4000))
        var index = 0
        while !Task.isCancelled {
            for connection in connections { connection.send(String(head[index % head.count])) }
            index += 1
            try? await Task.sleep(for: interval)
        }
    }
}

/// Point 8 of issue 15: about a thousand connections trickling header bytes filled every slot
/// and `/healthz` stopped answering. Scaled down here through the configuration.
@Suite("HTTPServer against slow clients")
struct SlowClientTests {
    let okHandler: HTTPHandler = { _ in HTTPResponse(text: "ok\n") }

    @Test func oneAddressCannotTakeEverySlot() async throws {
        // A long head deadline: only the per-client cap can keep room for the honest client.
        let configuration = HTTPServerConfiguration(
            headerTimeout: .seconds(60), maxConnections: 24, maxConnectionsPerClient: 8, threadCount: 1, diagnostics: { _ in })
        try await withServer(configuration, handler: okHandler) { _, port in
            let attackers = (0..<40).compactMap { _ in SourcedConnection(port: port, from: "127.0.0.2") }
            let dripping = trickle(attackers, every: .milliseconds(200))
            defer { dripping.cancel() }
            try await Task.sleep(for: .milliseconds(300))
            #expect(await healthz(port: port) == 200)
            // The address over its cap is turned away, not queued behind its own slow connections.
            #expect(await healthz(port: port, from: "127.0.0.2") == nil)
        }
    }

    @Test func slowHeadIsClosedAtTheDeadlineWhileStillSendingBytes() async throws {
        // The idle timeout (3 s) never fires: a byte arrives every 100 ms. Only the head deadline can.
        let configuration = HTTPServerConfiguration(
            connectionTimeout: .seconds(3), headerTimeout: .seconds(1), threadCount: 1, diagnostics: { _ in })
        try await withServer(configuration, handler: okHandler) { _, port in
            let slow = try #require(SourcedConnection(port: port, from: "127.0.0.3", receiveTimeout: 15))
            let dripping = trickle([slow], every: .milliseconds(100))
            defer { dripping.cancel() }
            let (bytes, closed) = await slow.readToEnd()
            #expect(closed, "a head trickled byte by byte must be cut at the deadline")
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.isEmpty || text.hasPrefix("HTTP/1.1 408 "))
        }
    }

    @Test func slowBodyIsClosedAtTheDeadline() async throws {
        let configuration = HTTPServerConfiguration(
            connectionTimeout: .seconds(3), bodyTimeout: .seconds(1), threadCount: 1, diagnostics: { _ in })
        let called = LineCollector()
        try await withServer(configuration, handler: { request in
            called.append(request.path)
            return HTTPResponse(text: "ok\n")
        }) { _, port in
            let slow = try #require(SourcedConnection(port: port, from: "127.0.0.3", receiveTimeout: 15))
            slow.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            let dripping = Task.detached {
                while !Task.isCancelled {
                    slow.send("b")
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { dripping.cancel() }
            let (bytes, closed) = await slow.readToEnd()
            #expect(closed)
            #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 408 "))
            #expect(called.lines.isEmpty)
        }
    }

    @Test func slowClientsFromManyAddressesStillLeaveRoom() async throws {
        // Every address stays under its cap, yet together they would fill the server; the ones
        // waiting longest for a head make room once it is nearly full.
        let configuration = HTTPServerConfiguration(
            headerTimeout: .seconds(60), maxConnections: 16, maxConnectionsPerClient: 4, threadCount: 1, diagnostics: { _ in })
        try await withServer(configuration, handler: okHandler) { server, port in
            var attackers: [SourcedConnection] = []
            for host in 2...5 {
                attackers += (0..<4).compactMap { _ in SourcedConnection(port: port, from: "127.0.0.\(host)") }
            }
            let dripping = trickle(attackers, every: .milliseconds(200))
            defer { dripping.cancel() }
            try await Task.sleep(for: .milliseconds(300))
            #expect(await healthz(port: port) == 200)
        }
    }

    @Test func honestKeepAliveRequestsStillWork() async throws {
        let configuration = HTTPServerConfiguration(headerTimeout: .seconds(2), threadCount: 1, diagnostics: { _ in })
        try await withServer(configuration, handler: okHandler) { _, port in
            let connection = try #require(SourcedConnection(port: port, from: "127.0.0.1"))
            for _ in 0..<3 {
                connection.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
                try await Task.sleep(for: .milliseconds(700))  // several sweeps, under the deadline
            }
            connection.send("GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let (bytes, _) = await connection.readToEnd()
            #expect(String(decoding: bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 200 ").count == 5)
        }
    }
}
