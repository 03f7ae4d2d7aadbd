import Foundation
import PayRailCrypto
import Testing
@testable import PayRailMCP

/// Our client starting our `mcp-test-server` as a real child process over stdio.
@Suite("MCP stdio child process")
struct ChildProcessTests {
    private func start(_ options: MCPClient.Options = .init()) async throws -> (MCPClient, MCPChildProcessTransport) {
        let transport = try MCPChildProcessTransport(argv: [testServerBinary.path, "--page-size", "2"], environment: [:])
        let client = MCPClient(transport: transport, options: options)
        try await client.connect()
        return (client, transport)
    }

    @Test func listsCallsAndStopsTheChildOnClose() async throws {
        let (client, transport) = try await start(.init(elicitationHandler: { _ in
            MCPElicitationResult(action: .accept, content: ["name": .string("Lin")])
        }))
        #expect(await client.serverInfo?.name == "payrail-mcp-test-server")
        #expect(try await client.listTools().map(\.name) == ["echo", "slow", "ask"])
        #expect(text(of: try await client.callTool(name: "echo", arguments: ["text": .string("child")], meta: [:])) == "child")
        #expect(text(of: try await client.callTool(name: "ask", arguments: [:], meta: [:])) == "hello Lin")
        let pid = transport.processIdentifier
        #expect(pid > 0)
        await client.close()
        #expect(kill(pid, 0) != 0)
    }

    @Test func aChildThatDiesFailsThePendingCallAsPossiblyDelivered() async throws {
        let (client, transport) = try await start()
        let pid = transport.processIdentifier
        let call = Task {
            try await client.callTool(name: "slow", arguments: ["steps": .number(100), "delayMs": .number(100)], meta: [:])
        }
        try await Task.sleep(for: .milliseconds(300))
        kill(pid, SIGKILL)
        await #expect {
            _ = try await call.value
        } throws: { error in
            guard let error = error as? MCPTransportError else { return false }
            return error.mayHaveBeenDelivered && error.reason.contains("server process")
        }
        #expect(await client.endReason != nil)
        await #expect(throws: MCPTransportError.self) {
            _ = try await client.callTool(name: "echo", arguments: ["text": .string("x")], meta: [:])
        }
        await client.close()
    }

    @Test func writingToAChildThatClosedItsInputFailsWithoutKillingUs() async throws {
        // The child closes its standard input but keeps its output open: our write meets a pipe with
        // no reader (EPIPE), which must be an error here, not a SIGPIPE that ends the test process.
        let transport = try MCPChildProcessTransport(argv: ["/bin/sh", "-c", "exec 0<&-; exec sleep 5"], environment: [:])
        try await transport.start { _ in }
        try await Task.sleep(for: .milliseconds(300))
        await #expect {
            try await transport.send(.notification(method: "notifications/initialized", params: nil))
        } throws: { error in
            guard let error = error as? MCPTransportError else { return false }
            return error.reason.contains("write failed") && !error.mayHaveBeenDelivered
        }
        await transport.close()
    }

    @Test func aMissingProgramIsAnUndeliveredError() {
        #expect {
            _ = try MCPChildProcessTransport(argv: ["no-such-mcp-server-binary"], environment: ["PATH": "/nonexistent"])
        } throws: { ($0 as? MCPTransportError)?.mayHaveBeenDelivered == false }
    }
}
