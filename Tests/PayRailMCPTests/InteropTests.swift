import Foundation
import PayRailCrypto
import PayRailHTTP
import PayRailTestPeers
import Testing
@testable import PayRailMCP

/// The official Python SDK's client against our server (stdio: it starts `mcp-test-server`; HTTP: it
/// connects to our endpoint), and our client against a server written with that SDK.
@Suite("MCP interop with the official Python SDK (mcp 2.3.0)")
struct InteropTests {
    @Test func sdkClientListsAndCallsOurToolsOverStdio() async throws {
        let answer = try await MCPPeers.runClient(["stdio", testServerBinary.path])
        #expect(answer["protocolVersion"] == .string("2025-11-25"))
        #expect(answer["server"] == .string("payrail-mcp-test-server"))
        #expect(answer["tools"] == .array([.string("ask"), .string("echo"), .string("slow")]))
        #expect(answer["echo"] == .string("hello from python"))
        #expect(answer["slow"] == .string("done after 3 steps"))
        #expect(answer["progress"] == .array([.number(1), .number(2), .number(3)]))
        #expect(answer["ask"] == .string("hello Ada"))
        #expect(answer["unknown"] == .number(Double(MCPError.invalidParams)))
    }

    @Test func sdkClientListsAndCallsOurToolsOverStreamableHTTP() async throws {
        let tools = TestTools()
        let local = try LocalHTTPServer(tools.server())
        defer { Task { [http = local.http] in await http.shutdown(grace: .seconds(1)) } }
        let answer = try await MCPPeers.runClient(["http", local.url.absoluteString])
        #expect(answer["protocolVersion"] == .string("2025-11-25"))
        #expect(answer["tools"] == .array([.string("ask"), .string("echo"), .string("fail"), .string("slow")]))
        #expect(answer["echo"] == .string("hello from python"))
        #expect(answer["slow"] == .string("done"))
        #expect(answer["progress"] == .array([.number(1), .number(2), .number(3)]))
        // This transport cannot carry a request to the client (whole bodies), so the tool cannot ask.
        #expect(answer["ask"] == .string("cannot ask"))
        #expect(answer["askIsError"] == .bool(true))
        #expect(answer["unknown"] == .number(Double(MCPError.invalidParams)))
        // The SDK client ended its session with DELETE.
        #expect(local.endpoint.sessionCount == 0)
    }

    @Test func ourClientCallsAnSDKServerOverStdio() async throws {
        let network = try PeerNetworkGuard.prepare()
        defer { network.remove() }
        let transport = try MCPChildProcessTransport(
            argv: [try PythonPeer.interpreter().path, MCPPeers.server.path, "stdio"],
            environment: network.environment(ProcessInfo.processInfo.environment), standardError: FileHandle.nullDevice)
        let client = MCPClient(transport: transport, options: .init(elicitationHandler: { request in
            MCPElicitationResult(action: .accept, content: ["name": .string("Grace")])
        }))
        try await client.connect()
        try await exercise(client, serverName: "python-sdk-peer")
        await client.close()
        #expect(!transportIsRunning(transport))
        try network.check(peer: "sdk_server.py")
    }

    @Test(arguments: [false, true])
    func ourClientCallsAnSDKServerOverStreamableHTTP(json: Bool) async throws {
        let peer = try PythonHTTPServerPeer(json: json)
        do {
            let client = try await peer.connect(.init(elicitationHandler: { _ in
                MCPElicitationResult(action: .accept, content: ["name": .string("Grace")])
            }))
            // A JSON answer cannot carry what the server sends before it (progress, elicitation).
            try await exercise(client, serverName: "python-sdk-peer", streaming: !json)
            await client.close()
        } catch {
            try? peer.stopChecked()
            throw error
        }
        try peer.stopChecked()
    }

    private func exercise(_ client: MCPClient, serverName: String, streaming: Bool = true) async throws {
        #expect(await client.serverInfo?.name == serverName)
        #expect(await client.protocolVersion == "2025-11-25")
        #expect(try await client.listTools().map(\.name).sorted() == ["ask", "echo", "slow"])
        #expect(text(of: try await client.callTool(name: "echo", arguments: ["text": .string("hi")], meta: [:])) == "hi")
        let progress = Recorder<MCPProgress>()
        let slow = try await client.callTool(name: "slow", arguments: ["steps": .number(3), "delay_ms": .number(10)], meta: [:],
                                             timeout: .seconds(30)) { progress.append($0) }
        #expect(text(of: slow) == "done after 3 steps")
        guard streaming else { return try await client.ping() }
        #expect(progress.all.map(\.progress) == [1, 2, 3])
        #expect(text(of: try await client.callTool(name: "ask", arguments: [:], meta: [:])) == "hello Grace")
        try await client.ping()
    }

    private func transportIsRunning(_ transport: MCPChildProcessTransport) -> Bool {
        kill(transport.processIdentifier, 0) == 0
    }
}
