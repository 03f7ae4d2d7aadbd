import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import PayRailHTTP

/// How a stress handler finishes, so the resume lands at every point of libmicrohttpd's loop:
/// while the access callback is still running, just after it returns, while the polling thread
/// sleeps in epoll_wait, or from a thread that is not part of Swift's pool at all.
private enum Finish: CaseIterable {
    case immediately
    case afterYield
    case afterShortSleep
    case fromForeignThread
    case afterSpin
}

/// Picks a finish mode from the request's query (`?mode&index`), so the mix is fixed by the client.
private let stressHandler: HTTPHandler = { request in
    let parts = request.query.split(separator: "&")
    let mode = parts.first.flatMap { Int($0) }.map { Finish.allCases[$0 % Finish.allCases.count] } ?? .immediately
    let index = parts.dropFirst().first.flatMap { Int($0) } ?? 0
    switch mode {
    case .immediately:
        break
    case .afterYield:
        for _ in 0..<(index % 3 + 1) { await Task.yield() }
    case .afterShortSleep:
        try? await Task.sleep(for: .microseconds(50 + (index % 7) * 150))
    case .fromForeignThread:
        // Completes on a plain pthread: the resume then comes from outside the cooperative pool.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                if index % 2 == 0 { usleep(UInt32(index % 5) * 100) }
                continuation.resume()
            }
            thread.start()
        }
    case .afterSpin:
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: .microseconds(index % 11 * 20))
        while clock.now < end {}
    }
    return HTTPResponse(text: "ok \(request.query)")
}

/// Makes client threads start each round together, so every round ends with a quiet moment in
/// which the last answers can only go out if the resume itself wakes the polling thread: no other
/// traffic is around to wake it by accident.
private final class Barrier: @unchecked Sendable {
    private let condition = NSCondition()
    private let parties: Int
    private var waiting = 0
    private var generation = 0
    private var failed = false

    init(parties: Int) { self.parties = parties }

    /// Waits for every client; returns false once any client has reported a failure, so a broken
    /// server costs one receive timeout, not one per round.
    func wait(failedHere: Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if failedHere { failed = true }
        let mine = generation
        waiting += 1
        if waiting == parties {
            waiting = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
        return !failed
    }
}

/// Runs `clients` blocking clients on their own threads (never on the cooperative pool, which
/// runs the handlers), in `rounds` lock-step rounds of one request each, on one keep-alive
/// connection per client or a fresh connection per request when `reconnect` is set. Returns a line
/// for every request not answered correctly within the socket's receive timeout.
private func hammer(port: UInt16, clients: Int, rounds: Int, reconnect: Bool, timeout: Int) async -> [String] {
    let barrier = Barrier(parties: clients)
    return await withTaskGroup(of: [String].self) { group in
        for client in 0..<clients {
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<[String], Never>) in
                    let thread = Thread {
                        continuation.resume(returning: runClient(port: port, client: client, rounds: rounds, barrier: barrier,
                                                                 reconnect: reconnect, timeout: timeout))
                    }
                    thread.start()
                }
            }
        }
        var failures: [String] = []
        for await clientFailures in group { failures += clientFailures }
        return failures
    }
}

private func runClient(port: UInt16, client: Int, rounds: Int, barrier: Barrier, reconnect: Bool, timeout: Int) -> [String] {
    var failures: [String] = []
    var connection: BlockingClient?
    for round in 0..<rounds {
        // Every client of a round finishes the same way, varied by round; the index varies the details.
        let index = round * 31 + client
        if connection == nil || reconnect {
            connection = BlockingClient(port: port, timeoutSeconds: timeout)
        }
        guard barrier.wait(failedHere: !failures.isEmpty) else { break }
        guard let open = connection, open.isOpen else {
            failures.append("client \(client) round \(round): connect failed")
            connection = nil
            continue
        }
        let query = "\(round % Finish.allCases.count)&\(index)"
        let clock = ContinuousClock()
        let start = clock.now
        open.send("GET /stress?\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let answer = open.readBody()
        let elapsed = clock.now - start
        if answer != "ok \(query)" {
            failures.append("client \(client) round \(round) (\(query)): \(answer.map { "wrong answer \($0.debugDescription)" } ?? "no answer") after \(elapsed)")
            connection = nil
        }
    }
    return failures
}

/// A minimal blocking HTTP/1.1 client: enough to send a GET and read one Content-Length response.
private final class BlockingClient {
    let fd: Int32
    private(set) var isOpen = false
    private var pending: [UInt8] = []

    init(port: UInt16, timeoutSeconds: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        let result = connectToLoopback(fd, port: port)
        isOpen = result == 0
    }

    deinit { if fd >= 0 { close(fd) } }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    /// The body of the next response, or nil when none arrives before the receive timeout.
    func readBody() -> String? {
        let separator = Array("\r\n\r\n".utf8)
        var buffer = [UInt8](repeating: 0, count: 4096)
        func fill() -> Bool {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            pending.append(contentsOf: buffer[0..<count])
            return true
        }
        var headEnd: Int?
        while headEnd == nil {
            if let range = pending.firstRange(of: separator) {
                headEnd = range.upperBound
            } else if !fill() {
                return nil
            }
        }
        guard let headEnd else { return nil }
        let head = String(decoding: pending[0..<headEnd], as: UTF8.self).lowercased()
        var length = 0
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        while pending.count - headEnd < length {
            if !fill() { return nil }
        }
        let body = String(decoding: pending[headEnd..<(headEnd + length)], as: UTF8.self)
        pending.removeFirst(headEnd + length)
        return body
    }
}

/// A lost wake-up between a handler's resume and libmicrohttpd's polling thread shows up as a
/// request answered only when some unrelated event (another connection, a timeout) wakes the
/// thread. These tests finish handlers at every kind of moment and require every request to be
/// answered well inside a generous receive timeout. They assert completeness, not speed.
@Suite("HTTPServer suspend/resume under concurrent load")
struct ResumeStressTests {
    /// The receive timeout: far above any honest answer time, below the 30 s connection timeout
    /// (another connection's idle timeout is what would eventually wake a thread that missed a
    /// resume; with every connection suspended nothing would).
    static let timeout = 10

    @Test(arguments: [1, 2, 4])
    func everyRequestIsAnsweredOnKeepAliveConnections(threads: Int) async throws {
        let configuration = HTTPServerConfiguration(threadCount: threads, diagnostics: { _ in })
        try await withServer(configuration, handler: stressHandler) { server, port in
            let failures = await hammer(port: port, clients: 6, rounds: 150, reconnect: false, timeout: Self.timeout)
            #expect(failures.isEmpty, "\(failures.count) unanswered: \(failures.prefix(5))")
            try await waitUntil { server.liveRequestCount == 0 }
        }
    }

    @Test(arguments: [1, 2])
    func everyRequestIsAnsweredOnFreshConnections(threads: Int) async throws {
        let configuration = HTTPServerConfiguration(threadCount: threads, diagnostics: { _ in })
        try await withServer(configuration, handler: stressHandler) { server, port in
            let failures = await hammer(port: port, clients: 6, rounds: 60, reconnect: true, timeout: Self.timeout)
            #expect(failures.isEmpty, "\(failures.count) unanswered: \(failures.prefix(5))")
            try await waitUntil { server.liveRequestCount == 0 }
        }
    }
}
