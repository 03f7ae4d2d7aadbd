import Foundation
import PayRailCrypto
import Testing
@testable import PayRailMCP

/// A server whose tools are another server's (what `payrail mcp proxy` builds on): our client →
/// pipes → our server with `MCPUpstreamToolProvider` → child process `mcp-test-server`.
@Suite("MCP upstream tool provider")
struct UpstreamProviderTests {
    @Test func forwardsListingCallsProgressAndElicitation() async throws {
        let relay = MCPElicitationRelay()
        let upstream = MCPClient(
            transport: try MCPChildProcessTransport(argv: [testServerBinary.path], environment: [:]),
            options: .init(elicitationHandler: relay.handler))
        try await upstream.connect()
        let proxy = MCPServer(info: MCPImplementation(name: "proxy", version: "1"),
                              provider: MCPUpstreamToolProvider(client: upstream, relay: relay), diagnostics: { _ in })
        let pair = PipePair()
        let proxyTransport = pair.serverTransport
        let serving = Task { try await proxy.serve(proxyTransport) }
        let asked = Recorder<String>()
        let client = MCPClient(transport: pair.clientTransport, options: .init(elicitationHandler: { request in
            asked.append(request.message)
            return MCPElicitationResult(action: .accept, content: ["name": .string("Ren")])
        }))
        try await client.connect()

        #expect(try await client.listTools().map(\.name) == ["echo", "slow", "ask"])
        #expect(text(of: try await client.callTool(name: "echo", arguments: ["text": .string("through")], meta: [:])) == "through")
        let progress = Recorder<MCPProgress>()
        let slow = try await client.callTool(name: "slow", arguments: ["steps": .number(3), "delayMs": .number(10)], meta: [:],
                                             timeout: nil) { progress.append($0) }
        #expect(text(of: slow) == "done after 3 steps")
        #expect(progress.all.map(\.progress) == [1, 2, 3])
        #expect(text(of: try await client.callTool(name: "ask", arguments: [:], meta: [:])) == "hello Ren")
        #expect(asked.all == ["What is your name?"])
        let unknown = try await client.callTool(name: "missing", arguments: [:], meta: [:])
        guard case .error(let error) = unknown else { Issue.record("unknown tool ran"); return }
        #expect(error.code == MCPError.invalidParams)

        await client.close()
        pair.closeClientSide()
        try await serving.value
        await upstream.close()
    }

    @Test func forwardsThroughAnyToolCaller() async throws {
        /// Stands for the paying client: wraps the upstream client and adds to `_meta`.
        struct Wrapping: MCPToolCaller {
            let inner: MCPClient
            let seen: Recorder<[String: JSONValue]>
            func listTools() async throws(MCPError) -> [MCPTool] { try await inner.listTools() }
            func callTool(name: String, arguments: [String: JSONValue], meta: [String: JSONValue]) async throws(MCPTransportError) -> MCPToolOutcome {
                var meta = meta
                meta["wrapped"] = .bool(true)
                seen.append(meta)
                return try await inner.callTool(name: name, arguments: arguments, meta: meta)
            }
        }
        let upstream = MCPClient(transport: try MCPChildProcessTransport(argv: [testServerBinary.path], environment: [:]))
        try await upstream.connect()
        let seen = Recorder<[String: JSONValue]>()
        let proxy = MCPServer(info: MCPImplementation(name: "proxy", version: "1"),
                              provider: MCPUpstreamToolProvider(caller: Wrapping(inner: upstream, seen: seen)), diagnostics: { _ in })
        let pair = PipePair()
        let proxyTransport = pair.serverTransport
        let serving = Task { try await proxy.serve(proxyTransport) }
        let client = MCPClient(transport: pair.clientTransport)
        try await client.connect()
        #expect(try await client.listTools().count == 3)
        let outcome = try await client.callTool(name: "echo", arguments: ["text": .string("paid")], meta: ["k": .string("v")])
        #expect(text(of: outcome) == "paid")
        #expect(seen.all == [["k": .string("v"), "wrapped": .bool(true)]])
        await client.close()
        pair.closeClientSide()
        try await serving.value
        await upstream.close()
    }

    @Test func aCallerThatCannotBeAskedMakesTheUpstreamSeeDecline() async throws {
        let relay = MCPElicitationRelay()
        let upstream = MCPClient(
            transport: try MCPChildProcessTransport(argv: [testServerBinary.path], environment: [:]),
            options: .init(elicitationHandler: relay.handler))
        try await upstream.connect()
        let proxy = MCPServer(info: MCPImplementation(name: "proxy", version: "1"),
                              provider: MCPUpstreamToolProvider(client: upstream, relay: relay), diagnostics: { _ in })
        let pair = PipePair()
        let proxyTransport = pair.serverTransport
        let serving = Task { try await proxy.serve(proxyTransport) }
        let client = MCPClient(transport: pair.clientTransport)  // no elicitation handler: no capability
        try await client.connect()
        #expect(text(of: try await client.callTool(name: "ask", arguments: [:], meta: [:])) == "no answer: decline")
        await client.close()
        pair.closeClientSide()
        try await serving.value
        await upstream.close()
    }
}
