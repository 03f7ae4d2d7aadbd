import Foundation
import PayRailCrypto

/// The tools of another MCP server, served as our own (what a proxy puts behind its middleware):
/// `tools/list` and `tools/call` go to `client`, progress the upstream reports goes back to whoever
/// called us, and elicitation the upstream asks for is relayed to our caller when it can be asked.
public final class MCPUpstreamToolProvider: MCPToolProvider {
    /// The upstream connection (connected by the caller), when the provider was made with one.
    public let client: MCPClient?
    /// Where calls go: `client`, or any other caller (a paying client wrapping one).
    public let caller: any MCPToolCaller
    private let relay: MCPElicitationRelay?
    private let callTimeout: Duration

    /// Serves `client`'s tools.
    ///
    /// - Parameters:
    ///   - relay: the relay whose `handler` was given to `client`'s options, so the upstream's
    ///     elicitation reaches our caller; nil when the upstream client declares no elicitation.
    ///   - callTimeout: the deadline of one forwarded call.
    public init(client: MCPClient, relay: MCPElicitationRelay? = nil, callTimeout: Duration = .seconds(300)) {
        self.client = client
        self.caller = client
        self.relay = relay
        self.callTimeout = callTimeout
    }

    /// Serves the tools of any `MCPToolCaller` (a paying client in front of an `MCPClient`, say).
    /// Calls are forwarded with `caller`'s own deadline; progress is not relayed (a caller has no
    /// progress channel), elicitation is when `relay`'s handler was given to the client underneath.
    public init(caller: any MCPToolCaller, relay: MCPElicitationRelay? = nil) {
        self.client = nil
        self.caller = caller
        self.relay = relay
        self.callTimeout = .seconds(300)
    }

    /// The upstream's tools (every page).
    public func listTools() async throws(MCPError) -> [MCPTool] {
        try await caller.listTools()
    }

    /// Forwards one call with its arguments and `_meta` (our progress token is replaced by the client's
    /// own, and the upstream's progress is reported on ours).
    ///
    /// A call with no answer from upstream is a -32603 error saying whether the upstream may have run it.
    public func callTool(_ call: MCPToolCall) async -> MCPToolOutcome {
        let context = MCPCallContext.current
        var meta = call.meta
        meta.removeValue(forKey: "progressToken")
        var progress: (@Sendable (MCPProgress) async -> Void)?
        if let context, context.progressToken != nil {
            progress = { update in await context.reportProgress(update.progress, total: update.total, message: update.message) }
        }
        let registration = context.flatMap { relay?.register($0) }
        defer { if let registration { relay?.unregister(registration) } }
        do throws(MCPTransportError) {
            guard let client else { return try await caller.callTool(name: call.name, arguments: call.arguments, meta: meta) }
            return try await client.callTool(name: call.name, arguments: call.arguments, meta: meta, timeout: callTimeout, progress: progress)
        } catch {
            let delivery = error.mayHaveBeenDelivered ? "the upstream may have run it" : "the upstream did not run it"
            return .error(MCPError(code: MCPError.internalError, message: "upstream MCP server: \(error.reason) (\(delivery))"))
        }
    }
}

/// Carries an upstream server's elicitation to the person behind the call being forwarded.
///
/// Give ``handler`` to the upstream `MCPClient`'s options and the relay to `MCPUpstreamToolProvider`.
/// An elicitation goes to the most recent forwarded call whose client can be asked; when none can,
/// the answer is `decline` (nobody consented).
public final class MCPElicitationRelay: Sendable {
    private let contexts = Locked<(next: Int, entries: [(Int, MCPCallContext)])>((0, []))

    /// Creates a relay.
    public init() {}

    /// The handler for the upstream client's options.
    public var handler: MCPElicitationHandler {
        { [self] request in
            guard let context = contexts.withLock({ $0.entries.last { $0.1.canElicit }?.1 }) else {
                return MCPElicitationResult(action: .decline)
            }
            do throws(MCPError) {
                return try await context.elicit(message: request.message, requestedSchema: request.requestedSchema)
            } catch {
                return MCPElicitationResult(action: .cancel)
            }
        }
    }

    func register(_ context: MCPCallContext) -> Int {
        contexts.withLock { state in
            state.next += 1
            state.entries.append((state.next, context))
            return state.next
        }
    }

    func unregister(_ token: Int) {
        contexts.withLock { $0.entries.removeAll { $0.0 == token } }
    }
}
