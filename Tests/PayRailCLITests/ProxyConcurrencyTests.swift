import Foundation
import PayRailHTTP
import Testing

// Issue 15 point 10: the proxy is not a bottleneck. URLSession's default of 6 connections per host
// queued a fast route behind six slow ones. Here 12 slow upstream requests are held open until the
// test releases them; all 12 must reach the upstream at once and a fast request must be answered
// while they are held. No timing is asserted: the waits are hang guards only.

/// Counts held requests and releases them together.
private final class HeldRequests: @unchecked Sendable {
    private let lock = NSLock()
    private var started = 0
    private var released = false

    var count: Int { lock.withLock { started } }
    func arrive() { lock.withLock { started += 1 } }
    func release() { lock.withLock { released = true } }
    var isReleased: Bool { lock.withLock { released } }
}

@Suite("payrail serve --upstream: upstream concurrency (issue 15, point 10)", .serialized)
struct ProxyConcurrencyTests {
    @Test("12 slow upstream requests do not block a fast one (default --upstream-connections)")
    func slowRequestsDoNotBlockAFastOne() async throws {
        let held = HeldRequests()
        let upstream = HTTPServer(configuration: HTTPServerConfiguration(port: 0, handlerTimeout: .seconds(120))) { request in
            if request.path == "/slow" {
                held.arrive()
                // Hang guard: a test that fails still lets its slow requests go after 60 s.
                for _ in 0..<1200 where !held.isReleased { try? await Task.sleep(for: .milliseconds(50)) }
            }
            return HTTPResponse(text: "done \(request.path)")
        }
        let upstreamPort = try upstream.start()
        let server = try ServeProcess(["--upstream", "http://127.0.0.1:\(upstreamPort)"])
        defer { server.kill() }
        let port = try originPort(server.origin)

        let slow = (0..<12).map { _ in Task { try await rawProxyExchange(port: port, target: "/slow") } }
        defer { held.release() }
        for _ in 0..<300 where held.count < 12 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(held.count == 12, "only \(held.count) of 12 slow requests reached the upstream at once")

        let fast = try await rawProxyExchange(port: port, target: "/fast")
        #expect(fast == 200)
        #expect(!held.isReleased, "the fast request was answered while the slow ones were held")
        held.release()
        for task in slow { #expect(try await task.value == 200) }
        #expect(server.stop() == 0)
        await upstream.shutdown()
    }
}
