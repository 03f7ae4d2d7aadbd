import Foundation
import PayRailCrypto
import Testing
@testable import PayRailMCP

/// A raw peer on the client end of a pipe pair: writes exact lines, reads what the server answers.
final class RawClient: Sendable {
    let pair = PipePair()
    private let inbox: AsyncStream<MCPInbound>
    private let feed: AsyncStream<MCPInbound>.Continuation
    let serving: Task<Void, Never>

    init(_ server: MCPServer, messageLimit: Int = JSONRPCCodec.defaultMessageLimit) async throws {
        (inbox, feed) = AsyncStream<MCPInbound>.makeStream()
        let transport = MCPStdioTransport(input: pair.toServer.fileHandleForReading.fileDescriptor,
                                          output: pair.toClient.fileHandleForWriting.fileDescriptor, messageLimit: messageLimit)
        serving = Task { try? await server.serve(transport) }
        let feed = self.feed
        try await pair.clientTransport.start { feed.yield($0) }
    }

    func write(_ line: String) {
        pair.toServer.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    func next() async -> MCPInbound? {
        var iterator = inbox.makeAsyncIterator()
        return await iterator.next()
    }

    func nextMessage() async throws -> JSONRPCMessage {
        guard case .message(let message)? = await next() else { throw CancellationError() }
        return message
    }
}

@Suite("MCP over stdio framing (in process)")
struct StdioServerClientTests {
    @Test func refusesRequestsBeforeInitializeButAnswersPing() async throws {
        let raw = try await RawClient(TestTools().server())
        raw.write(#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        guard case .errorResponse(.number(1)?, let error) = try await raw.nextMessage() else { Issue.record("no error"); return }
        #expect(error.code == MCPError.invalidRequest)
        raw.write(#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        #expect(try await raw.nextMessage() == .response(id: .number(2), result: .object([:])))
        raw.write(#"{"jsonrpc":"2.0","id":3,"method":"server/discover","params":{}}"#)
        guard case .errorResponse(.number(3)?, let discover) = try await raw.nextMessage() else { Issue.record("no error"); return }
        #expect(discover.code == MCPError.methodNotFound)
        raw.write("{broken")
        guard case .errorResponse(nil, let parse) = try await raw.nextMessage() else { Issue.record("no parse error"); return }
        #expect(parse.code == MCPError.parseError)
        raw.write(#"[{"jsonrpc":"2.0","id":4,"method":"ping"}]"#)
        guard case .errorResponse(nil, let batch) = try await raw.nextMessage() else { Issue.record("no batch error"); return }
        #expect(batch.code == MCPError.invalidRequest)
        raw.pair.closeClientSide()
    }

    @Test func negotiatesTheClientsVersionWhenSupportedElseOurNewest() async throws {
        for (asked, answered) in [("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"), ("2099-01-01", "2025-11-25")] {
            let raw = try await RawClient(TestTools().server())
            raw.write(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"\#(asked)","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
            guard case .response(_, let result) = try await raw.nextMessage() else { Issue.record("no answer"); return }
            #expect(result.objectValue?["protocolVersion"] == .string(answered))
            #expect(result.objectValue?["capabilities"]?.objectValue?["tools"] != nil)
            raw.write(#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"\#(asked)"}}"#)
            guard case .errorResponse(_, let again) = try await raw.nextMessage() else { Issue.record("initialized twice"); return }
            #expect(again.code == MCPError.invalidRequest)
            raw.write(#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope"}}"#)
            guard case .errorResponse(_, let unknown) = try await raw.nextMessage() else { Issue.record("unknown tool ran"); return }
            #expect(unknown.code == MCPError.invalidParams)
            raw.write(#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":[1]}}"#)
            guard case .errorResponse(_, let badArguments) = try await raw.nextMessage() else { Issue.record("bad arguments ran"); return }
            #expect(badArguments.code == MCPError.invalidParams)
            raw.pair.closeClientSide()
        }
    }

    @Test func clientListsCallsAndFollowsCursors() async throws {
        let pair = PipePair()
        let server = TestTools().server(pageSize: 1)
        let serverTransport = pair.serverTransport
        let serving = Task { try await server.serve(serverTransport) }
        let client = MCPClient(transport: pair.clientTransport)
        try await client.connect()
        #expect(await client.protocolVersion == "2025-11-25")
        #expect(await client.serverInfo?.name == "test-server")
        #expect(try await client.listTools().map(\.name) == ["echo", "slow", "ask", "fail"])
        #expect(text(of: try await client.callTool(name: "echo", arguments: ["text": .string("hi")], meta: [:])) == "hi")
        #expect(text(of: try await client.callTool(name: "fail", arguments: [:], meta: [:])) == "isError: the tool broke")
        #expect(text(of: try await client.callTool(name: "ask", arguments: [:], meta: [:])) == "isError: cannot ask")
        try await client.ping()
        await client.close()
        pair.closeClientSide()
        try await serving.value
    }

    @Test func progressReachesTheCallerAndElicitationTheHandler() async throws {
        let pair = PipePair()
        let serverTransport = pair.serverTransport
        let server = TestTools().server()
        let serving = Task { try await server.serve(serverTransport) }
        let asked = Recorder<String>()
        let client = MCPClient(transport: pair.clientTransport, options: .init(elicitationHandler: { request in
            asked.append(request.message)
            return MCPElicitationResult(action: .accept, content: ["name": .string("Ada")])
        }))
        try await client.connect()
        let progress = Recorder<MCPProgress>()
        let outcome = try await client.callTool(name: "slow", arguments: ["steps": .number(3)], meta: [:], timeout: nil) { progress.append($0) }
        #expect(text(of: outcome) == "done")
        #expect(progress.all.map(\.progress) == [1, 2, 3])
        #expect(progress.all.last?.total == 3)
        #expect(text(of: try await client.callTool(name: "ask", arguments: [:], meta: [:])) == "accept Ada")
        #expect(asked.all == ["name?"])
        await client.close()
        pair.closeClientSide()
        try await serving.value
    }

    @Test func aTimedOutCallIsCancelledOnTheServer() async throws {
        let pair = PipePair()
        let tools = TestTools()
        let serverTransport = pair.serverTransport
        let server = tools.server()
        let serving = Task { try await server.serve(serverTransport) }
        let client = MCPClient(transport: pair.clientTransport)
        try await client.connect()
        await #expect {
            _ = try await client.callTool(name: "slow", arguments: ["steps": .number(100), "delayMs": .number(50)], meta: [:],
                                          timeout: .milliseconds(200), progress: nil)
        } throws: { error in
            (error as? MCPTransportError)?.mayHaveBeenDelivered == true
        }
        for _ in 0..<100 where !tools.cancelled.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(tools.cancelled.withLock { $0 })
        // The connection still works after the cancellation, and the cancelled call sent no answer.
        #expect(text(of: try await client.callTool(name: "echo", arguments: ["text": .string("still here")], meta: [:])) == "still here")
        await client.close()
        pair.closeClientSide()
        try await serving.value
    }

    @Test func anOversizedLineIsSkippedAndAnsweredThenTheConnectionGoesOn() async throws {
        let raw = try await RawClient(TestTools().server(), messageLimit: 256)
        raw.write(#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""# + String(repeating: "x", count: 100_000) + #""}}"#)
        guard case .errorResponse(nil, let error) = try await raw.nextMessage() else { Issue.record("no error"); return }
        #expect(error.code == MCPError.parseError)
        raw.write(#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        #expect(try await raw.nextMessage() == .response(id: .number(2), result: .object([:])))
        raw.pair.closeClientSide()
    }

    @Test func aCancelledCallerCancelsTheCallOnTheServer() async throws {
        let pair = PipePair()
        let tools = TestTools()
        let serverTransport = pair.serverTransport
        let server = tools.server()
        let serving = Task { try await server.serve(serverTransport) }
        let client = MCPClient(transport: pair.clientTransport)
        try await client.connect()
        let call = Task {
            try await client.callTool(name: "slow", arguments: ["steps": .number(100), "delayMs": .number(50)], meta: [:])
        }
        try await Task.sleep(for: .milliseconds(150))
        call.cancel()
        await #expect(throws: MCPTransportError.self) { _ = try await call.value }
        for _ in 0..<100 where !tools.cancelled.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(tools.cancelled.withLock { $0 })
        await client.close()
        pair.closeClientSide()
        try await serving.value
    }

    @Test func middlewareWrapsListingAndCalls() async throws {
        struct Prefix: MCPToolMiddleware {
            func listTools(_ below: [MCPTool]) -> [MCPTool] {
                below.map { var tool = $0; tool.meta["seen"] = .bool(true); return tool }
            }
            func callTool(_ call: MCPToolCall, next: @Sendable (MCPToolCall) async -> MCPToolOutcome) async -> MCPToolOutcome {
                guard call.name != "fail" else { return .error(MCPError(code: -32042, message: "payment required")) }
                var call = call
                if case .string(let text)? = call.arguments["text"] { call.arguments["text"] = .string("[\(text)]") }
                return await next(call)
            }
        }
        let pair = PipePair()
        let serverTransport = pair.serverTransport
        let server = TestTools().server(middleware: [Prefix()])
        let serving = Task { try await server.serve(serverTransport) }
        let client = MCPClient(transport: pair.clientTransport)
        try await client.connect()
        #expect(try await client.listTools().allSatisfy { $0.meta["seen"] == .bool(true) })
        #expect(text(of: try await client.callTool(name: "echo", arguments: ["text": .string("x")], meta: [:])) == "[x]")
        #expect(try await client.callTool(name: "fail", arguments: [:], meta: [:]) == .error(MCPError(code: -32042, message: "payment required")))
        await client.close()
        pair.closeClientSide()
        try await serving.value
    }
}

@Suite("MCP client answering the server")
struct ClientAnswersTests {
    @Test func answersPingAndRefusesElicitationWithoutAHandler() async throws {
        let pair = PipePair()
        let (inbox, feed) = AsyncStream<MCPInbound>.makeStream()
        let server = pair.serverTransport
        try await server.start { feed.yield($0) }
        var messages = inbox.makeAsyncIterator()
        let client = MCPClient(transport: pair.clientTransport)
        let connecting = Task { try await client.connect() }
        guard case .message(.request(let id, "initialize", let params))? = await messages.next() else { Issue.record("no initialize"); return }
        #expect(params?["capabilities"] == .object([:]))
        try await server.send(.response(id: id, result: .object([
            "protocolVersion": .string("2025-06-18"), "capabilities": .object([:]),
            "serverInfo": .object(["name": .string("raw"), "version": .string("1")]),
        ])))
        try await connecting.value
        #expect(await client.protocolVersion == "2025-06-18")
        guard case .message(.notification("notifications/initialized", _))? = await messages.next() else { Issue.record("no initialized"); return }
        try await server.send(.request(id: .string("s1"), method: "ping", params: nil))
        guard case .message(.response(.string("s1"), let pong))? = await messages.next() else { Issue.record("no pong"); return }
        #expect(pong == .object([:]))
        try await server.send(.request(id: .string("s2"), method: "elicitation/create", params: [
            "message": .string("?"), "requestedSchema": .object(["type": .string("object")]),
        ]))
        guard case .message(.errorResponse(.string("s2")?, let refused))? = await messages.next() else { Issue.record("no refusal"); return }
        #expect(refused.code == MCPError.methodNotFound)
        await client.close()
        pair.closeClientSide()
    }

    @Test func refusesAServerThatAnswersAVersionItDoesNotSpeak() async throws {
        let pair = PipePair()
        let (inbox, feed) = AsyncStream<MCPInbound>.makeStream()
        let server = pair.serverTransport
        try await server.start { feed.yield($0) }
        var messages = inbox.makeAsyncIterator()
        let client = MCPClient(transport: pair.clientTransport)
        let connecting = Task { try await client.connect() }
        guard case .message(.request(let id, "initialize", _))? = await messages.next() else { Issue.record("no initialize"); return }
        try await server.send(.response(id: id, result: .object(["protocolVersion": .string("2024-11-05"), "capabilities": .object([:])])))
        await #expect(throws: MCPConnectError.unsupportedProtocolVersion("2024-11-05")) { try await connecting.value }
        pair.closeClientSide()
    }
}
