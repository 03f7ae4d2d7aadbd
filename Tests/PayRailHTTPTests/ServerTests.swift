import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import PayRailHTTP

/// Echoes what the server saw, so tests can check parsing end to end.
let echoHandler: HTTPHandler = { request in
    let lines = [
        "method=\(request.method)",
        "path=\(request.path)",
        "query=\(request.query)",
        "version=\(request.version)",
        "client=\(request.clientAddress)",
        "x-test=\(request.headers["x-TEST"] ?? "-")",
        "body=\(String(decoding: request.body, as: UTF8.self))",
    ]
    return HTTPResponse(headers: ["X-Echo": "yes"], text: lines.joined(separator: "\n"))
}

@Suite("HTTPServer live over loopback")
struct ServerTests {
    @Test func getEchoesMethodPathQueryHeadersAndClient() async throws {
        try await withServer(handler: echoHandler) { _, port in
            #expect(port != 0)
            let result = try await fetch(makeSession(), port: port, "/a/b%2Fc?x=1&y=two", headers: ["X-Test": "hello"])
            #expect(result.status == 200)
            #expect(result.headers["x-echo"] == "yes")
            let text = result.text
            #expect(text.contains("method=GET"))
            #expect(text.contains("path=/a/b%2Fc"))
            #expect(text.contains("query=x=1&y=two"))
            #expect(text.contains("version=HTTP/1.1"))
            #expect(text.contains("client=127.0.0.1"))
            #expect(text.contains("x-test=hello"))
        }
    }

    @Test func postEchoesBody() async throws {
        try await withServer(handler: echoHandler) { _, port in
            let payload = String(repeating: "payrail-", count: 5000)
            let result = try await fetch(makeSession(), port: port, "/upload", method: "POST", body: Data(payload.utf8))
            #expect(result.status == 200)
            #expect(result.text.contains("method=POST"))
            #expect(result.text.contains("body=\(payload)"))
        }
    }

    @Test func asyncHandlerThatSleeps() async throws {
        try await withServer(handler: { _ in
            try? await Task.sleep(for: .milliseconds(200))
            return HTTPResponse(text: "slept")
        }) { _, port in
            let clock = ContinuousClock()
            let start = clock.now
            let result = try await fetch(makeSession(), port: port, "/")
            #expect(result.status == 200)
            #expect(result.text == "slept")
            #expect(clock.now - start >= .milliseconds(200))
        }
    }

    @Test func hundredConcurrentRequests() async throws {
        try await withServer(handler: { request in
            try? await Task.sleep(for: .milliseconds(20))
            return HTTPResponse(text: request.query)
        }) { _, port in
            let session = makeSession()
            let answers = try await withThrowingTaskGroup(of: (Int, FetchResult).self) { group in
                for index in 0..<100 {
                    group.addTask { (index, try await fetch(session, port: port, "/n?\(index)")) }
                }
                var collected: [Int: FetchResult] = [:]
                for try await (index, result) in group { collected[index] = result }
                return collected
            }
            #expect(answers.count == 100)
            for (index, result) in answers {
                #expect(result.status == 200)
                #expect(result.text == String(index))
            }
        }
    }

    @Test func keepAliveReusesOneConnection() async throws {
        try await withServer(handler: echoHandler) { _, port in
            let connection = try RawConnection(port: port)
            for index in 0..<3 {
                connection.send("GET /k?\(index) HTTP/1.1\r\nHost: localhost\r\n\r\n")
                let response = try #require(await connection.readResponse())
                #expect(response.status == 200)
                #expect(String(decoding: response.body, as: UTF8.self).contains("query=\(index)"))
                #expect(response.header("Connection")?.lowercased() != "close")
            }
            // Pipelined requests are answered in order.
            connection.send("GET /p?a HTTP/1.1\r\nHost: x\r\n\r\nGET /p?b HTTP/1.1\r\nHost: x\r\n\r\n")
            let first = try #require(await connection.readResponse())
            let second = try #require(await connection.readResponse())
            #expect(String(decoding: first.body, as: UTF8.self).contains("query=a"))
            #expect(String(decoding: second.body, as: UTF8.self).contains("query=b"))
        }
    }

    @Test func keepAliveOffClosesAfterEachResponse() async throws {
        try await withServer(HTTPServerConfiguration(keepAlive: false, threadCount: 1), handler: echoHandler) { _, port in
            let connection = try RawConnection(port: port)
            connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try #require(await connection.readResponse())
            #expect(response.status == 200)
            #expect(response.header("Connection")?.lowercased() == "close")
            #expect(await connection.isClosedByPeer())
        }
    }

    @Test func headIsAnsweredWithoutBody() async throws {
        var router = Router()
        router.get("/doc") { _ in HTTPResponse(text: "0123456789") }
        try await withServer(handler: router.handler) { _, port in
            let connection = try RawConnection(port: port)
            connection.send("HEAD /doc HTTP/1.1\r\nHost: x\r\n\r\nGET /doc HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try #require(await connection.readResponse(bodyless: true))
            #expect(head.status == 200)
            // The HEAD answer announces the GET's length but carries no body, so the next
            // response on the connection starts right after its header section.
            #expect(head.header("Content-Length") == "10")
            let get = try #require(await connection.readResponse())
            #expect(get.status == 200)
            #expect(String(decoding: get.body, as: UTF8.self) == "0123456789")
        }
    }

    @Test func handlerTimeoutAnswers504AndCancelsTheHandler() async throws {
        let cancelled = LineCollector()
        let configuration = HTTPServerConfiguration(handlerTimeout: .milliseconds(200), threadCount: 1)
        try await withServer(configuration, handler: { _ in
            do {
                try await Task.sleep(for: .seconds(20))
            } catch {
                cancelled.append("cancelled")
            }
            return HTTPResponse(text: "too late")
        }) { _, port in
            let result = try await fetch(makeSession(), port: port, "/slow")
            #expect(result.status == 504)
            try await waitUntil { !cancelled.lines.isEmpty }
            #expect(cancelled.lines == ["cancelled"])
        }
    }

    @Test func responseHeaderWithCRLFIsRefusedLoudly() async throws {
        let diagnostics = LineCollector()
        let configuration = HTTPServerConfiguration(threadCount: 1, diagnostics: diagnostics.sink)
        try await withServer(configuration, handler: { _ in
            HTTPResponse(headers: ["X-Injected": "a\r\nSet-Cookie: stolen=1"], text: "should not be sent")
        }) { _, port in
            let connection = try RawConnection(port: port)
            connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try #require(await connection.readResponse())
            #expect(response.status == 500)
            #expect(!response.head.contains("stolen"))
            #expect(!response.head.contains("X-Injected"))
            #expect(!String(decoding: response.body, as: UTF8.self).contains("should not be sent"))
            #expect(diagnostics.lines.count == 1)
            #expect(diagnostics.lines.first?.contains("X-Injected") == true)
            #expect(diagnostics.lines.first?.contains("stolen") == false)
        }
    }

    @Test func validationNamesEachUnsafeResponse() {
        #expect(HTTPResponse(text: "ok").validationFailure() == nil)
        #expect(HTTPResponse(headers: ["A": "x\ny"]).validationFailure() == .invalidHeaderValue(name: "A"))
        #expect(HTTPResponse(headers: ["A": "x\u{0}y"]).validationFailure() == .invalidHeaderValue(name: "A"))
        #expect(HTTPResponse(headers: ["Bad Name": "x"]).validationFailure() == .invalidHeaderName("Bad Name"))
        #expect(HTTPResponse(status: 42).validationFailure() == .invalidStatus(42))
        #expect(HTTPResponse(headers: ["Transfer-Encoding": "chunked"]).validationFailure() == .serverManagedHeader("Transfer-Encoding"))
        #expect(HTTPResponse(headers: ["Content-Length": "3"], body: [1, 2]).validationFailure() == .serverManagedHeader("Content-Length"))
        #expect(HTTPResponse(headers: ["Content-Length": "2"], body: [1, 2]).validationFailure() == nil)
    }

    @Test func noRequestStateLeaksAfterRequests() async throws {
        try await withServer(handler: echoHandler) { server, port in
            let session = makeSession()
            for _ in 0..<5 { _ = try await fetch(session, port: port, "/") }
            let connection = try RawConnection(port: port)
            connection.send("GET / HTTP/1.1\r\n\r\n")  // refused: no Host
            _ = await connection.readResponse()
            session.invalidateAndCancel()
            var live = server.liveRequestCount
            for _ in 0..<100 where live != 0 {
                try await Task.sleep(for: .milliseconds(20))
                live = server.liveRequestCount
            }
            #expect(live == 0)
        }
    }

    @Test func startTwiceIsRefusedAndHostMustBeNumeric() async throws {
        try await withServer(handler: echoHandler) { server, _ in
            #expect(throws: HTTPServerError.self) { try server.start() }
        }
        let named = HTTPServer(configuration: HTTPServerConfiguration(host: "example.com"), handler: echoHandler)
        do throws(HTTPServerError) {
            try named.start()
            Issue.record("a host name must be refused")
            await named.shutdown()
        } catch {
            #expect(error.code == .invalidHost)
            #expect(!error.isRetryable)
        }
    }

    @Test func busyPortIsARetryableStartFailure() async throws {
        try await withServer(handler: echoHandler) { _, port in
            let second = HTTPServer(configuration: HTTPServerConfiguration(port: port, threadCount: 1), handler: echoHandler)
            do throws(HTTPServerError) {
                try second.start()
                Issue.record("binding a port in use must fail")
                await second.shutdown()
            } catch {
                #expect(error.code == .startFailed)
                #expect(error.isRetryable)
            }
        }
    }
}
