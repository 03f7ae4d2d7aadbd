import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import PayRailHTTP

@Suite("HTTPServer graceful shutdown")
struct ShutdownTests {
    @Test func inFlightRequestCompletesWithinGrace() async throws {
        let started = LineCollector()
        let server = HTTPServer(configuration: HTTPServerConfiguration(threadCount: 1)) { _ in
            started.append("started")
            try? await Task.sleep(for: .milliseconds(400))
            return HTTPResponse(text: "finished")
        }
        let port = try server.start()
        let session = makeSession()
        let request = Task { try await fetch(session, port: port, "/slow") }
        try await waitUntil { !started.lines.isEmpty }
        await server.shutdown(grace: .seconds(5))
        let result = try await request.value
        #expect(result.status == 200)
        #expect(result.text == "finished")
        #expect(server.port == nil)
    }

    @Test func requestBeyondGraceGets503AndItsHandlerIsCancelled() async throws {
        let cancelled = LineCollector()
        let started = LineCollector()
        let server = HTTPServer(configuration: HTTPServerConfiguration(threadCount: 1)) { _ in
            started.append("started")
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                cancelled.append("cancelled")
            }
            return HTTPResponse(text: "too late")
        }
        let port = try server.start()
        let connection = try RawConnection(port: port)
        connection.send("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        try await waitUntil { !started.lines.isEmpty }
        let clock = ContinuousClock()
        let start = clock.now
        await server.shutdown(grace: .milliseconds(300))
        #expect(clock.now - start < .seconds(5))
        let response = try #require(await connection.readResponse())
        #expect(response.status == 503)
        #expect(response.header("Connection")?.lowercased() == "close")
        try await waitUntil { !cancelled.lines.isEmpty }
        #expect(cancelled.lines == ["cancelled"])
    }

    @Test func newRequestOnOpenConnectionDuringShutdownGets503AndClose() async throws {
        let started = LineCollector()
        let server = HTTPServer(configuration: HTTPServerConfiguration(threadCount: 1)) { request in
            if request.path == "/slow" {
                started.append("slow")
                try? await Task.sleep(for: .milliseconds(800))
            }
            return HTTPResponse(text: "ok")
        }
        let port = try server.start()
        let idle = try RawConnection(port: port)
        idle.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try #require(await idle.readResponse()).status == 200)
        // A slow request keeps shutdown inside its grace period while the idle connection asks again.
        let busy = try RawConnection(port: port)
        busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        try await waitUntil { !started.lines.isEmpty }
        let stopping = Task { await server.shutdown(grace: .seconds(5)) }
        try await waitUntil { server.port == nil }
        try await Task.sleep(for: .milliseconds(50))
        idle.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        let refused = try #require(await idle.readResponse())
        #expect(refused.status == 503)
        #expect(refused.header("Connection")?.lowercased() == "close")
        let slow = try #require(await busy.readResponse())
        #expect(slow.status == 200)
        await stopping.value
        // Nothing listens any more.
        #expect(throws: (any Error).self) { _ = try RawConnection(port: port) }
    }

    @Test func restartOnTheSamePortAfterShutdown() async throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(threadCount: 1), handler: echoHandler)
        let port = try server.start()
        let session = makeSession()
        // Close-delimited exchanges leave TIME_WAIT sockets behind; the rebind must still work.
        let connection = try RawConnection(port: port)
        connection.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        _ = await connection.readResponse()
        #expect(try await fetch(session, port: port, "/one").status == 200)
        await server.shutdown()
        session.invalidateAndCancel()

        // A new server on that exact port, then the same object started again on it.
        let second = HTTPServer(configuration: HTTPServerConfiguration(port: port, threadCount: 1), handler: echoHandler)
        #expect(try second.start() == port)
        #expect(try await fetch(makeSession(), port: port, "/two").text.contains("path=/two"))
        await second.shutdown()
        #expect(try second.start() == port)
        #expect(try await fetch(makeSession(), port: port, "/three").text.contains("path=/three"))
        await second.shutdown()
        // A server configured with port 0 picks a fresh port each time it starts.
        #expect(try server.start() != 0)
        await server.shutdown()
    }

    @Test func shutdownRacingManyRequestsDoesNotCrash() async throws {
        for round in 0..<3 {
            let server = HTTPServer(configuration: HTTPServerConfiguration(threadCount: 2)) { _ in
                try? await Task.sleep(for: .milliseconds(Int.random(in: 0...40)))
                return HTTPResponse(text: "ok")
            }
            let port = try server.start()
            let session = makeSession()
            let statuses = await withTaskGroup(of: Int.self) { group in
                for _ in 0..<60 {
                    group.addTask { (try? await fetch(session, port: port, "/race").status) ?? -1 }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(5 * (round + 1)))
                    await server.shutdown(grace: .milliseconds(20))
                    return 0
                }
                var collected: [Int] = []
                for await status in group where status != 0 { collected.append(status) }
                return collected
            }
            session.invalidateAndCancel()
            // Each request is answered 200 or 503, or its connection was refused; nothing else.
            #expect(statuses.allSatisfy { [200, 503, -1].contains($0) })
            await server.shutdown()
            #expect(server.port == nil)
        }
    }

    @Test func shutdownWhenNeverStartedIsHarmless() async {
        let server = HTTPServer(handler: echoHandler)
        await server.shutdown()
        await server.shutdown(grace: .zero)
        #expect(server.port == nil)
    }
}
