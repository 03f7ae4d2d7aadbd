import Foundation
import Testing
@testable import PayRailHTTP

/// Point 14 of issue 15: request framing libmicrohttpd 0.9.75 mishandles, each answered with
/// exactly one clean response where our code can decide, and never reaching a handler.
@Suite("HTTPServer framing quirks of libmicrohttpd 0.9.75")
struct FramingQuirkTests {
    static let limits = HTTPServerConfiguration(maxHeaderBytes: 8 * 1024, maxBodyBytes: 1024, threadCount: 1, diagnostics: { _ in })

    /// Sends `request` on a fresh connection and returns every byte until the server closes.
    func exchangeToEnd(_ request: String, port: UInt16) async throws -> (text: String, closed: Bool) {
        let connection = try #require(SourcedConnection(port: port, from: "127.0.0.1"))
        connection.send(request)
        let (bytes, closed) = await connection.readToEnd()
        return (String(decoding: bytes, as: UTF8.self), closed)
    }

    /// How many status lines a byte stream holds (a response written twice shows two).
    func statusLines(_ text: String) -> Int {
        text.components(separatedBy: "HTTP/1.1 ").count - 1
    }

    @Test(arguments: ["chunked ", " chunked ", "chunked\t", "CHUNKED  "])
    func transferEncodingWithWhitespaceGetsOne400(value: String) async throws {
        let calls = LineCollector()
        try await withServer(Self.limits, handler: { request in
            calls.append(request.path)
            return HTTPResponse(text: "ok")
        }) { _, port in
            let (text, closed) = try await exchangeToEnd(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \(value)\r\n\r\n5\r\nhello\r\n0\r\n\r\n", port: port)
            #expect(text.hasPrefix("HTTP/1.1 400 "), "got \(text.debugDescription)")
            #expect(statusLines(text) == 1)
            #expect(closed)
            #expect(calls.lines.isEmpty)
        }
    }

    @Test func chunkedBodyOverTheLimitGetsOne413() async throws {
        try await withServer(Self.limits, handler: echoHandler) { _, port in
            let chunk = "400\r\n" + String(repeating: "z", count: 1024) + "\r\n"
            let (text, closed) = try await exchangeToEnd(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + chunk + "0\r\n\r\n", port: port)
            #expect(text.hasPrefix("HTTP/1.1 413 "), "got \(text.debugDescription)")
            #expect(statusLines(text) == 1)
            #expect(text.contains("request body exceeds 1024 bytes"))
            #expect(closed)
        }
    }

    @Test func chunkedBodyOverTheLimitThatNeverEndsStill413s() async throws {
        try await withServer(Self.limits, handler: echoHandler) { _, port in
            let connection = try #require(SourcedConnection(port: port, from: "127.0.0.1"))
            connection.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = "400\r\n" + String(repeating: "z", count: 1024) + "\r\n"
            connection.send(chunk + chunk)
            let (bytes, closed) = await connection.readToEnd()
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 413 "), "got \(text.debugDescription)")
            #expect(closed)
        }
    }

    @Test func theServerStillAnswersAfterADrainedRefusal() async throws {
        try await withServer(Self.limits, handler: echoHandler) { server, port in
            let chunk = "400\r\n" + String(repeating: "z", count: 1024) + "\r\n"
            _ = try await exchangeToEnd(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + "0\r\n\r\n", port: port)
            let (text, _) = try await exchangeToEnd("GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", port: port)
            #expect(text.hasPrefix("HTTP/1.1 200 "))
            try await waitUntil { server.liveRequestCount == 0 }
        }
    }

    /// MHD parses `Content-Length` itself before the handler is ever called and answers a malformed
    /// one with its own 400, whose header block 0.9.75 to 0.9.77 write twice (fixed in 1.0). Our
    /// code is never consulted, so this pins what must hold whatever the version: a 400 first,
    /// the connection closed, no handler call; and records the duplicate as a known issue.
    @Test(arguments: ["5, 6", "-1", "+5", "0x5", "5 5"])
    func malformedContentLengthIsRefusedByLibmicrohttpd(value: String) async throws {
        let calls = LineCollector()
        try await withServer(Self.limits, handler: { request in
            calls.append(request.path)
            return HTTPResponse(text: "ok")
        }) { _, port in
            let (text, closed) = try await exchangeToEnd(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \(value)\r\n\r\nhello", port: port)
            #expect(text.hasPrefix("HTTP/1.1 400 "))
            #expect(closed)
            #expect(calls.lines.isEmpty)
            withKnownIssue("libmicrohttpd 0.9.75-0.9.77 write their own 400's header block twice") {
                #expect(statusLines(text) == 1)
            }
        }
    }
}
