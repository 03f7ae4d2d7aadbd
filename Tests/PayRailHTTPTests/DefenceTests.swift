import Foundation
import Testing
@testable import PayRailHTTP

/// The malformed and hostile requests, written byte for byte over raw sockets.
@Suite("HTTPServer defences")
struct DefenceTests {
    static let limits = HTTPServerConfiguration(maxHeaderBytes: 8 * 1024, maxBodyBytes: 1024, threadCount: 1)

    /// Sends `request` and returns the response, failing the test if none arrives.
    func exchange(_ request: String, port: UInt16) async throws -> RawResponse {
        let connection = try RawConnection(port: port)
        connection.send(request)
        return try #require(await connection.readResponse())
    }

    @Test func twoDifferentContentLengthsAre400() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let response = try await exchange(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 11\r\n\r\nhello world", port: port)
            #expect(response.status == 400)
            #expect(response.header("Connection")?.lowercased() == "close")
            let listed = try await exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", port: port)
            #expect(listed.status == 400)
        }
    }

    @Test func repeatedIdenticalContentLengthIsAccepted() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let response = try await exchange(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", port: port)
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self).contains("body=hello"))
        }
    }

    @Test func nonNumericContentLengthIs400() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let response = try await exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", port: port)
            #expect(response.status == 400)
        }
    }

    @Test func contentLengthWithChunkedIs400() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let response = try await exchange(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                port: port)
            #expect(response.status == 400)
        }
    }

    @Test func chunkedBodyWithinLimitIsDelivered() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let response = try await exchange(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", port: port)
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self).contains("body=hello world"))
        }
    }

    @Test func missingHostOnHTTP11Is400ButHTTP10IsFine() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let missing = try await exchange("GET / HTTP/1.1\r\nX-Test: 1\r\n\r\n", port: port)
            #expect(missing.status == 400)
            let twoHosts = try await exchange("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", port: port)
            #expect(twoHosts.status == 400)
            let old = try await exchange("GET / HTTP/1.0\r\n\r\n", port: port)
            #expect(old.status == 200)
        }
    }

    @Test func announcedBodyOverLimitIs413BeforeAnyByteIsSent() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            // Only the header section is sent: the 413 must come without waiting for 10 MB.
            let response = try await exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n", port: port)
            #expect(response.status == 413)
            #expect(response.header("Connection")?.lowercased() == "close")
            let expecting = try await exchange(
                "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2048\r\n\r\n", port: port)
            #expect(expecting.status == 413)
        }
    }

    @Test func chunkedBodyOverLimitIsRefused() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let connection = try RawConnection(port: port)
            connection.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = "400\r\n" + String(repeating: "z", count: 1024) + "\r\n"
            connection.send(chunk + chunk)  // 2 KiB, over the 1 KiB limit; the stream never ends
            let response = await connection.readResponse()
            // libmicrohttpd 0.9.75 cannot queue a response once the body is streaming, so the server
            // closes the connection; a 413 would also do. Never the handler's 200, never a hang.
            if let response {
                #expect(response.status == 413)
            }
            #expect(await connection.isClosedByPeer())
        }
    }

    @Test func headerSectionOverLimitIs431() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let big = String(repeating: "v", count: 12 * 1024)
            let ours = try await exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n", port: port)
            #expect(ours.status == 431)
            // Far past MHD's own per-connection memory: MHD answers 431 itself.
            let huge = String(repeating: "v", count: 64 * 1024)
            let theirs = try await exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(huge)\r\n\r\n", port: port)
            #expect(theirs.status == 431)
            let fits = try await exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "v", count: 4096))\r\n\r\n", port: port)
            #expect(fits.status == 200)
        }
    }

    @Test func unsupportedTransferEncodingIs501() async throws {
        try await withServer(DefenceTests.limits, handler: echoHandler) { _, port in
            let response = try await exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", port: port)
            #expect(response.status == 501 || response.status == 400)
        }
    }

    @Test func garbageRequestLineGetsNoHandlerCall() async throws {
        let calls = LineCollector()
        try await withServer(DefenceTests.limits, handler: { request in
            calls.append(request.path)
            return HTTPResponse(text: "ok")
        }) { _, port in
            let connection = try RawConnection(port: port)
            connection.send("THIS IS NOT HTTP\r\n\r\n")
            if let response = await connection.readResponse() {
                #expect(response.status == 400)
            }
            #expect(calls.lines.isEmpty)
        }
    }
}
