import Foundation
import PayRailCrypto
import PayRailHTTP
import Testing
@testable import PayRailMCP

/// Our Streamable HTTP endpoint, asked directly (status codes, headers) through `handle(_:)`, and
/// our client against it over a real loopback socket.
@Suite("MCP Streamable HTTP")
struct StreamableHTTPTests {
    private let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#

    private func post(_ endpoint: MCPStreamableHTTPServer, _ body: String, session: String? = nil,
                      headers extra: [(String, String)] = [], from client: String = "127.0.0.1") async -> HTTPResponse {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "Accept": "application/json, text/event-stream"]
        if let session { headers.add("Mcp-Session-Id", session) }
        for (name, value) in extra { headers.set(name, value) }
        return await endpoint.handle(HTTPRequest(method: "POST", path: "/mcp", headers: headers, body: Array(body.utf8), clientAddress: client))
    }

    private func message(_ response: HTTPResponse) throws -> JSONRPCMessage {
        try JSONRPCCodec.decode(response.body)
    }

    @Test func sessionsAreAssignedRequiredAndEnded() async throws {
        let endpoint = MCPStreamableHTTPServer(server: TestTools().server())
        let started = await post(endpoint, initialize)
        #expect(started.status == .ok)
        #expect(started.headers["Content-Type"] == "application/json")
        let session = try #require(started.headers["Mcp-Session-Id"])
        #expect(session.count == 32)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, session: session).status == 202)
        let listed = await post(endpoint, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, session: session,
                                headers: [("MCP-Protocol-Version", "2025-11-25")])
        guard case .response(.number(2), let result) = try message(listed) else { Issue.record("no tools"); return }
        #expect(result.objectValue?["tools"].map { if case .array(let tools) = $0 { tools.count } else { 0 } } == 4)

        let withoutSession = await post(endpoint, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#)
        #expect(withoutSession.status == .badRequest)
        #expect(try message(withoutSession).id == .number(3))
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#, session: "unknown").status == .notFound)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":5,"method":"ping"}"#, session: session,
                           headers: [("MCP-Protocol-Version", "1999-01-01")]).status == .badRequest)

        var delete = HTTPRequest(method: "DELETE", path: "/mcp", headers: ["Mcp-Session-Id": session])
        #expect(await endpoint.handle(delete).status == .ok)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":6,"method":"ping"}"#, session: session).status == .notFound)
        delete.headers.remove("Mcp-Session-Id")
        #expect(await endpoint.handle(delete).status == .badRequest)
        #expect(endpoint.sessionCount == 0)
    }

    @Test func sessionsAreBoundedAndIdleOnesExpire() async throws {
        let endpoint = MCPStreamableHTTPServer(server: TestTools().server(),
                                               options: .init(maxSessions: 2, sessionIdleTimeout: .milliseconds(200)))
        let first = try #require(await post(endpoint, initialize).headers["Mcp-Session-Id"])
        let second = try #require(await post(endpoint, initialize, from: "10.0.0.2").headers["Mcp-Session-Id"])
        try await Task.sleep(for: .milliseconds(300))
        // Expired sessions make room first, and are gone for their clients.
        #expect(await post(endpoint, initialize, from: "10.0.0.3").status == .ok)
        #expect(endpoint.sessionCount == 1)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#, session: first).status == .notFound)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#, session: second).status == .notFound)
    }

    @Test func aFullServerEndsTheLeastRecentlyUsedIdleSessionNotEveryNewClient() async throws {
        let endpoint = MCPStreamableHTTPServer(server: TestTools().server(), options: .init(maxSessions: 2))
        let old = try #require(await post(endpoint, initialize, from: "10.0.0.1").headers["Mcp-Session-Id"])
        let recent = try #require(await post(endpoint, initialize, from: "10.0.0.2").headers["Mcp-Session-Id"])
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#, session: recent).status == .ok)
        // Full: the newcomer gets a session, the least recently used one is ended (its client
        // initializes again on 404, as basic/transports says).
        #expect(await post(endpoint, initialize, from: "10.0.0.3").status == .ok)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":3,"method":"ping"}"#, session: old).status == .notFound)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":4,"method":"ping"}"#, session: recent).status == .ok)
    }

    @Test func oneClientOpeningSessionsInALoopOnlyPushesOutItsOwn() async throws {
        let endpoint = MCPStreamableHTTPServer(server: TestTools().server(), options: .init(maxSessions: 100, maxSessionsPerClient: 3))
        let other = try #require(await post(endpoint, initialize, from: "10.0.0.9").headers["Mcp-Session-Id"])
        var flood: [String] = []
        for _ in 0..<20 { flood.append(try #require(await post(endpoint, initialize, from: "10.6.6.6").headers["Mcp-Session-Id"])) }
        #expect(endpoint.sessionCount == 4, "three of the flooder's, one of the other client's")
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#, session: other).status == .ok)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":3,"method":"ping"}"#, session: flood[0]).status == .notFound)
        #expect(await post(endpoint, #"{"jsonrpc":"2.0","id":4,"method":"ping"}"#, session: flood[19]).status == .ok)
    }

    @Test func refusesForeignOriginsWrongHeadersAndGET() async throws {
        let endpoint = MCPStreamableHTTPServer(server: TestTools().server())
        #expect(await post(endpoint, initialize, headers: [("Origin", "https://evil.example")]).status == .forbidden)
        #expect(await post(endpoint, initialize, headers: [("Origin", "null")]).status == .forbidden)
        #expect(await post(endpoint, initialize, headers: [("Origin", "http://localhost:6274")]).status == .ok)
        #expect(await post(endpoint, initialize, headers: [("Accept", "application/json")]).status == 406)
        #expect(await post(endpoint, initialize, headers: [("Content-Type", "text/plain")]).status == 415)
        let parse = await post(endpoint, "{oops")
        #expect(parse.status == .badRequest)
        guard case .errorResponse(nil, let error) = try message(parse) else { Issue.record("no error"); return }
        #expect(error.code == MCPError.parseError)
        let get = await endpoint.handle(HTTPRequest(method: "GET", path: "/mcp", headers: ["Accept": "text/event-stream"]))
        #expect(get.status == .methodNotAllowed)
        let allowed = MCPStreamableHTTPServer(server: TestTools().server(), options: .init(allowedOrigins: ["https://app.example"]))
        #expect(await post(allowed, initialize, headers: [("Origin", "https://app.example")]).status == .ok)
        #expect(await post(allowed, initialize, headers: [("Origin", "http://localhost")]).status == .forbidden)
    }

    @Test func answersWithAnEventStreamWhenProgressPrecedesTheResponse() async throws {
        let endpoint = MCPStreamableHTTPServer(server: TestTools().server())
        let session = try #require(await post(endpoint, initialize).headers["Mcp-Session-Id"])
        let call = #"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"slow","arguments":{"steps":2,"delayMs":1},"_meta":{"progressToken":7}}}"#
        let response = await post(endpoint, call, session: session)
        #expect(response.headers["Content-Type"] == "text/event-stream")
        var parser = ServerSentEventParser(limit: 1 << 20)
        let events = try parser.feed(response.body)
        let messages = try events.map { try JSONRPCCodec.decode($0.data) }
        #expect(messages.count == 3)
        guard case .notification("notifications/progress", let params) = messages[0] else { Issue.record("no progress"); return }
        #expect(params?["progressToken"] == .number(7))
        guard case .response(.string("c"), let result) = messages[2] else { Issue.record("no response"); return }
        #expect(try MCPToolResult(json: result).text == "done")
    }

    @Test func aSecondRequestWithARunningIdNeverStartsACall() async throws {
        let endpoint = MCPStreamableHTTPServer(server: TestTools().server())
        let session = try #require(await post(endpoint, initialize).headers["Mcp-Session-Id"])
        let slow = #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slow","arguments":{"steps":5,"delayMs":40}}}"#
        async let first = post(endpoint, slow, session: session)
        try await Task.sleep(for: .milliseconds(60))
        let second = try message(await post(endpoint, slow, session: session))
        guard case .errorResponse(.number(9)?, let error) = second else { Issue.record("the duplicate ran"); return }
        #expect(error.code == MCPError.invalidRequest)
        guard case .response(.number(9), let result) = try message(await first) else { Issue.record("the first failed"); return }
        #expect(try MCPToolResult(json: result).text == "done")
    }

    @Test func theClientStopsReadingAnAnswerOverItsLimit() async throws {
        let local = try LocalHTTPServer(TestTools().server())
        let client = MCPClient(transport: MCPStreamableHTTPClientTransport(url: local.url, messageLimit: 2048))
        try await client.connect()
        #expect(text(of: try await client.callTool(name: "echo", arguments: ["text": .string("small")], meta: [:])) == "small")
        await #expect {
            _ = try await client.callTool(name: "echo", arguments: ["text": .string(String(repeating: "y", count: 3000))], meta: [:])
        } throws: { error in
            guard let error = error as? MCPTransportError else { return false }
            return error.mayHaveBeenDelivered && error.reason.contains("larger than 2048")
        }
        await client.close()
        await local.http.shutdown(grace: .seconds(1))
    }

    @Test func ourClientOverALoopbackSocket() async throws {
        let tools = TestTools()
        let local = try LocalHTTPServer(tools.server(pageSize: 3))
        let client = MCPClient(transport: MCPStreamableHTTPClientTransport(url: local.url))
        try await client.connect()
        #expect(await client.protocolVersion == "2025-11-25")
        #expect(local.endpoint.sessionCount == 1)
        #expect(try await client.listTools().map(\.name) == ["echo", "slow", "ask", "fail"])
        #expect(text(of: try await client.callTool(name: "echo", arguments: ["text": .string("over http")], meta: [:])) == "over http")
        let progress = Recorder<MCPProgress>()
        let slow = try await client.callTool(name: "slow", arguments: ["steps": .number(2)], meta: [:], timeout: nil) { progress.append($0) }
        #expect(text(of: slow) == "done")
        #expect(progress.all.map(\.progress) == [1, 2])
        #expect(text(of: try await client.callTool(name: "ask", arguments: [:], meta: [:])) == "isError: cannot ask")
        await #expect {
            _ = try await client.callTool(name: "slow", arguments: ["steps": .number(100), "delayMs": .number(50)], meta: [:],
                                          timeout: .milliseconds(300), progress: nil)
        } throws: { ($0 as? MCPTransportError)?.mayHaveBeenDelivered == true }
        for _ in 0..<100 where !tools.cancelled.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(tools.cancelled.withLock { $0 })
        try await client.ping()
        await client.close()
        #expect(local.endpoint.sessionCount == 0)
        await local.http.shutdown(grace: .seconds(1))
    }
}
