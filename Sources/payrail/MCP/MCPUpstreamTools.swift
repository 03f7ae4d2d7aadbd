import Foundation
import PayRailCrypto
import PayRailHTTP
import PayRailMCP
import PayRailMCPPayments

/// The tools of the MCP server `payrail mcp proxy` paywalls, reached through one client session.
///
/// A session that ended (the child process died, the remote dropped it) is opened again on the next
/// request, so one crash fails the calls in flight and not every call after it. The upstream never
/// sees a credential: the paywall strips the payment members of `_meta` before a call gets here, and
/// this provider forwards only what is left.
actor MCPUpstreamTools: MCPToolProvider {
    private let endpoint: MCPEndpoint
    private let options: MCPClient.Options
    private let log: @Sendable (String) -> Void
    private var client: MCPClient?

    init(endpoint: MCPEndpoint, options: MCPClient.Options, log: @escaping @Sendable (String) -> Void) {
        self.endpoint = endpoint
        self.options = options
        self.log = log
    }

    /// Opens the first session, so that a proxy whose upstream cannot start refuses to start.
    func start() async throws(CommandFailure) {
        client = try await endpoint.connect(options: options)
    }

    /// Ends the session (a child process is stopped by its PID).
    func close() async {
        await client?.close()
        client = nil
    }

    nonisolated func listTools() async throws(MCPError) -> [MCPTool] {
        // A listing is reused for a few seconds: a client asking tools/list in a loop must not make
        // the proxy fetch every page of the upstream each time.
        if let cached = await freshListing() { return cached }
        let current = try await session()
        let tools = try await current.listTools()
        await remember(tools)
        return tools
    }

    nonisolated func callTool(_ call: MCPToolCall) async -> MCPToolOutcome {
        // Only names the upstream listed are forwarded: an upstream that matched names loosely
        // (case, spaces) would otherwise run a priced tool under a name the paywall does not price.
        if await !isListed(call.name) {
            // Listed again at most once per listing lifetime, however many unknown names are asked.
            if await freshListing() == nil, let current = try? await session(), let tools = try? await current.listTools() {
                await remember(tools)
            }
            guard await isListed(call.name) else {
                return .error(MCPError(code: MCPError.invalidParams, message: "unknown tool: the upstream lists no tool of this name"))
            }
        }
        let current: MCPClient
        do { current = try await session() } catch { return .error(error) }
        do {
            return try await current.callTool(name: call.name, arguments: call.arguments, meta: call.meta)
        } catch {
            log("payrail mcp proxy: upstream call of \(LogText.escaped(call.name, limit: 128)) failed: \(LogText.escaped(error.reason))")
            return .error(MCPError(code: MCPError.internalError, message: "the upstream MCP server did not answer: \(error.reason)"))
        }
    }

    /// The tool names of the upstream's last listing.
    private var listed: Set<String> = []

    private var listing: (tools: [MCPTool], at: ContinuousClock.Instant)?
    static let listingLifetime: Duration = .seconds(5)

    private func remember(_ tools: [MCPTool]) {
        listed = Set(tools.map(\.name))
        listing = (tools, ContinuousClock.now)
    }

    private func freshListing() -> [MCPTool]? {
        guard let listing, ContinuousClock.now - listing.at < Self.listingLifetime else { return nil }
        return listing.tools
    }

    private func isListed(_ name: String) -> Bool { listed.contains(name) }

    /// The open session, or a new one when the last ended. Concurrent callers share one reconnection
    /// (the actor is reentrant across the `await`, so the attempt in flight is kept, not repeated).
    private func session() async throws(MCPError) -> MCPClient {
        if let client, await client.endReason == nil { return client }
        if let reconnecting { return try await Self.outcome(of: reconnecting) }
        if let ended = client {
            log("payrail mcp proxy: the upstream session ended (\(await ended.endReason.map(\.reason) ?? "closed")); opening a new one")
            await ended.close()
        }
        client = nil
        let (endpoint, options) = (self.endpoint, self.options)
        let attempt = Task { () async -> Result<MCPClient, CommandFailure> in
            do throws(CommandFailure) { return .success(try await endpoint.connect(options: options)) } catch { return .failure(error) }
        }
        reconnecting = attempt
        let result = await attempt.value
        reconnecting = nil
        if case .success(let fresh) = result { client = fresh }
        return try await Self.outcome(of: attempt)
    }

    private var reconnecting: Task<Result<MCPClient, CommandFailure>, Never>?

    private static func outcome(of attempt: Task<Result<MCPClient, CommandFailure>, Never>) async throws(MCPError) -> MCPClient {
        switch await attempt.value {
        case .success(let client): return client
        case .failure(let failure):
            throw MCPError(code: MCPError.internalError, message: "the upstream MCP server is unavailable: \(failure.message)")
        }
    }
}
