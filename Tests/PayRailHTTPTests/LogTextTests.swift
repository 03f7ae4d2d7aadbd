import Foundation
import Testing
@testable import PayRailHTTP

/// Point 13 of issue 15: ANSI escapes and backspaces in a method or path reached the log raw.
@Suite("Log lines escape client text and are bounded")
struct LogTextTests {
    /// No byte a terminal or a line-based log reader would interpret.
    func isInert(_ line: String) -> Bool {
        line.unicodeScalars.allSatisfy { scalar in
            let value = scalar.value
            return value >= 0x20 && value != 0x7F && !(0x80..<0xA0).contains(value)
                && !(0x2028...0x202E).contains(value) && !(0x2066...0x2069).contains(value)
        }
    }

    @Test func controlBytesAreEscapedVisibly() {
        #expect(LogText.escaped("/a\u{1B}[31mred") == "/a\\x1b[31mred")
        #expect(LogText.escaped("x\u{8}\u{8}y") == "x\\x08\\x08y")
        #expect(LogText.escaped("a\r\nb") == "a\\x0d\\x0ab")
        #expect(LogText.escaped("nul\u{0}del\u{7F}") == "nul\\x00del\\x7f")
        #expect(LogText.escaped("csi\u{9B}2J") == "csi\\u{009b}2J")
        #expect(LogText.escaped("rtl\u{202E}gpj.exe") == "rtl\\u{202e}gpj.exe")
        #expect(LogText.escaped("line\u{2028}sep") == "line\\u{2028}sep")
        // The backslash is escaped too, so a client cannot forge an escape.
        #expect(LogText.escaped("fake\\x1b") == "fake\\\\x1b")
        #expect(LogText.escaped("/caf\u{E9}/ok") == "/caf\u{E9}/ok")
        #expect(LogText.escaped("/plain/path") == "/plain/path")
        #expect(LogText.quoted("X-\"A\"\n") == "\"X-\\x22A\\x22\\x0a\"")
    }

    @Test func lengthIsCappedWithoutSplittingAnEscape() {
        let long = String(repeating: "p", count: 10_000)
        let cut = LogText.escaped(long, limit: 512)
        #expect(cut.utf8.count == 512)
        #expect(cut.hasSuffix(LogText.truncationMarker))
        #expect(LogText.escaped(String(repeating: "p", count: 512), limit: 512).utf8.count == 512)
        #expect(!LogText.escaped(String(repeating: "p", count: 512), limit: 512).hasSuffix("..."))
        for limit in 0..<20 {
            let escaped = LogText.escaped("ab\u{1B}\u{1B}\u{1B}cd\u{E9}\u{E9}", limit: limit)
            #expect(escaped.utf8.count <= limit)
            #expect(!escaped.contains("\u{1B}"))
            // An escape is whole or absent: every backslash starts a full \xHH.
            let pieces = escaped.components(separatedBy: "\\").dropFirst()
            #expect(pieces.allSatisfy { $0.hasPrefix("x1b") }, "\(escaped.debugDescription) at \(limit)")
        }
    }

    @Test func theLoggingMiddlewareEscapesAndBoundsMethodAndPath() async throws {
        let lines = LineCollector()
        let handler = chain([Middleware.logging(lines.sink)]) { _ in HTTPResponse(text: "ok") }
        let hostile = HTTPRequest(
            method: "GET\u{1B}[2J\u{8}\u{8}", path: "/x\u{1B}]0;owned\u{7}\r\nFAKE 200 0B 1us" + String(repeating: "/a", count: 20_000))
        _ = await handler(hostile)
        #expect(lines.lines.count == 1)
        let line = lines.lines.first ?? ""
        #expect(isInert(line), "\(line.prefix(120).debugDescription)")
        #expect(line.hasPrefix("GET\\x1b[2J\\x08\\x08 /x\\x1b]0;owned\\x07\\x0d\\x0aFAKE"))
        #expect(line.utf8.count <= Middleware.loggedMethodLimit + Middleware.loggedPathLimit + 64)
        #expect(line.hasSuffix("us"))
    }

    @Test func diagnosticsAboutRefusedResponsesEscapeHeaderNames() async throws {
        let diagnostics = LineCollector()
        let configuration = HTTPServerConfiguration(threadCount: 1, diagnostics: diagnostics.sink)
        try await withServer(configuration, handler: { request in
            // A handler that copies a client-chosen name into a response header (a bug, but a possible one).
            HTTPResponse(headers: HTTPHeaders([HTTPHeader(name: request.headers["X-Name"] ?? "", value: "v")]), text: "ok")
        }) { _, port in
            let connection = try #require(SourcedConnection(port: port, from: "127.0.0.1"))
            connection.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Name: a\u{1B}[31m" + String(repeating: "n", count: 4000) + "\r\n\r\n")
            _ = await connection.readToEnd()
            try await waitUntil { !diagnostics.lines.isEmpty }
            let line = try #require(diagnostics.lines.first)
            #expect(isInert(line))
            #expect(line.contains("\\x1b[31m"))
            #expect(line.utf8.count < 400)
        }
    }
}
