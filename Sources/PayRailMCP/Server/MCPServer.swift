import Foundation
import PayRailCrypto

/// An MCP server: lifecycle, `ping`, `tools/list` and `tools/call` over a tool provider wrapped by
/// middleware, on any transport (``serve(_:)`` for stdio and child-process transports,
/// ``MCPStreamableHTTPServer`` for Streamable HTTP).
///
/// One `MCPServer` serves any number of connections; each has its own session state.
public struct MCPServer: Sendable {
    /// What the server says about itself in `initialize`.
    public var info: MCPImplementation
    /// Optional instructions for the model, sent in `initialize`.
    public var instructions: String?
    /// Where the tools come from.
    public let provider: any MCPToolProvider
    /// Layers between clients and `provider`; the first is the outermost.
    public let middleware: [any MCPToolMiddleware]
    /// Tools per `tools/list` page; nil sends them all in one page.
    public var pageSize: Int?
    /// Where the server reports problems (never a message body). Standard error by default.
    public var diagnostics: @Sendable (String) -> Void

    /// Creates a server.
    public init(info: MCPImplementation, instructions: String? = nil, provider: any MCPToolProvider,
                middleware: [any MCPToolMiddleware] = [], pageSize: Int? = nil,
                diagnostics: @escaping @Sendable (String) -> Void = MCPServer.standardError) {
        self.info = info
        self.instructions = instructions
        self.provider = provider
        self.middleware = middleware
        self.pageSize = pageSize
        self.diagnostics = diagnostics
    }

    /// Writes one line to standard error.
    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Serves one connection until the client closes it (stdio: end of standard input).
    public func serve(_ transport: any MCPMessageTransport) async throws(MCPTransportError) {
        let connection = JSONRPCConnection(transport: transport)
        let session = MCPServerSession(server: self)
        let outbound = MCPOutbound(
            notify: { method, params in try? await connection.notify(method, params: params) },
            request: { method, params, timeout throws(MCPTransportError) in
                try await connection.request(method, params: params, timeout: timeout)
            })
        let (done, finished) = AsyncStream<Void>.makeStream()
        let handlers = JSONRPCHandlers(
            request: { id, method, params in await session.handle(id: id, method: method, params: params, outbound: outbound) },
            notification: { method, params in await session.notification(method, params: params) },
            answersInvalidMessages: true,
            closed: { [diagnostics] reason in
                diagnostics("MCP server: connection ended: \(reason.reason)")
                finished.finish()
            },
            unreadable: { [diagnostics] failure in diagnostics("MCP server: refused a message: \(failure.error)") })
        try await connection.start(handlers)
        for await _ in done {}
    }

    /// The tools clients see: the provider's, through every middleware (innermost first).
    func visibleTools() async throws(MCPError) -> [MCPTool] {
        var tools = try await provider.listTools()
        for layer in middleware.reversed() { tools = layer.listTools(tools) }
        return tools
    }

    /// Runs a call through the middleware to the provider.
    func run(_ call: MCPToolCall) async -> MCPToolOutcome {
        let provider = self.provider
        var next: @Sendable (MCPToolCall) async -> MCPToolOutcome = { call in await provider.callTool(call) }
        for layer in middleware.reversed() {
            let below = next
            next = { call in await layer.callTool(call, next: below) }
        }
        return await next(call)
    }
}

/// One connection's (or one Streamable HTTP session's) state (MCP 2025-11-25 basic/lifecycle).
actor MCPServerSession {
    let server: MCPServer
    /// Set by the Streamable HTTP transport; nil over stdio.
    let sessionID: String?
    let clientAddress: String
    private(set) var protocolVersion: String?
    private(set) var clientCapabilities: [String: JSONValue] = [:]
    private(set) var clientInfo = MCPImplementation(name: "", version: "")
    private(set) var initializedNotified = false

    init(server: MCPServer, sessionID: String? = nil, clientAddress: String = "stdio") {
        self.server = server
        self.sessionID = sessionID
        self.clientAddress = clientAddress
    }

    /// Answers one request (nil: send nothing).
    func handle(id: MCPRequestID, method: String, params: [String: JSONValue]?, outbound: MCPOutbound) async -> Result<JSONValue, MCPError>? {
        switch method {
        case "initialize":
            return initialize(params ?? [:])
        case "ping":
            return .success(.object([:]))
        case "tools/list", "tools/call":
            guard let version = protocolVersion else {
                return .failure(MCPError(code: MCPError.invalidRequest, message: "the session is not initialized: send initialize first"))
            }
            if method == "tools/list" { return await listTools(params ?? [:]) }
            return await callTool(id: id, params: params ?? [:], version: version, outbound: outbound)
        default:
            // Includes `server/discover` (the 2026-07-28 probe): -32601 tells such a client to fall back.
            return .failure(MCPError(code: MCPError.methodNotFound, message: "method not found: \(method.prefix(64))"))
        }
    }

    /// Takes one notification.
    func notification(_ method: String, params: [String: JSONValue]?) {
        if method == "notifications/initialized" { initializedNotified = true }
    }

    private func initialize(_ params: [String: JSONValue]) -> Result<JSONValue, MCPError> {
        guard protocolVersion == nil else {
            return .failure(MCPError(code: MCPError.invalidRequest, message: "the session is already initialized"))
        }
        guard let requested = params["protocolVersion"]?.stringValue else {
            return .failure(MCPError(code: MCPError.invalidParams, message: "initialize needs a string protocolVersion"))
        }
        let version = Self.negotiate(requested)
        protocolVersion = version
        clientCapabilities = params["capabilities"]?.objectValue ?? [:]
        clientInfo = MCPImplementation(json: params["clientInfo"])
        var result: [String: JSONValue] = [
            "protocolVersion": .string(version),
            "capabilities": .object(["tools": .object(["listChanged": .bool(false)])]),
            "serverInfo": server.info.json,
        ]
        if let instructions = server.instructions { result["instructions"] = .string(instructions) }
        return .success(.object(result))
    }

    /// The client's revision when we speak it, else our newest (basic/lifecycle, "Version Negotiation").
    static func negotiate(_ requested: String) -> String {
        MCPProtocolVersion.supported.contains(requested) ? requested : MCPProtocolVersion.latest
    }

    private func listTools(_ params: [String: JSONValue]) async -> Result<JSONValue, MCPError> {
        let tools: [MCPTool]
        do throws(MCPError) {
            tools = try await server.visibleTools()
        } catch {
            return .failure(error)
        }
        var start = 0
        if let cursor = params["cursor"] {
            guard let text = cursor.stringValue, let offset = Int(text), offset >= 0, offset <= tools.count else {
                return .failure(MCPError(code: MCPError.invalidParams, message: "invalid cursor"))
            }
            start = offset
        }
        let end = server.pageSize.map { min(tools.count, start + max(1, $0)) } ?? tools.count
        var result: [String: JSONValue] = ["tools": .array(tools[start..<end].map(\.json))]
        if end < tools.count { result["nextCursor"] = .string(String(end)) }
        return .success(.object(result))
    }

    private func callTool(id: MCPRequestID, params: [String: JSONValue], version: String, outbound: MCPOutbound) async -> Result<JSONValue, MCPError>? {
        guard let name = params["name"]?.stringValue, !name.isEmpty else {
            return .failure(MCPError(code: MCPError.invalidParams, message: "tools/call needs a string name"))
        }
        var arguments: [String: JSONValue] = [:]
        switch params["arguments"] {
        case nil, .null?: break
        case .object(let members)?: arguments = members
        default: return .failure(MCPError(code: MCPError.invalidParams, message: "tools/call arguments must be an object"))
        }
        let meta = params["_meta"]?.objectValue ?? [:]
        let call = MCPToolCall(name: name, arguments: arguments, meta: meta, requestID: id, sessionID: sessionID, clientAddress: clientAddress)
        let context = MCPCallContext(progressToken: meta["progressToken"], clientCapabilities: clientCapabilities,
                                     clientInfo: clientInfo, protocolVersion: version, outbound: outbound)
        let server = self.server
        let outcome = await MCPCallContext.$current.withValue(context) { await server.run(call) }
        // A cancelled request gets no answer (basic/utilities/cancellation).
        if Task.isCancelled { return nil }
        switch outcome {
        case .result(let result): return .success(result.json)
        case .error(let error): return .failure(error)
        }
    }
}
