import Foundation
import PayRailCrypto

/// An elicitation request from a server (MCP 2025-11-25 client/elicitation, form mode).
public struct MCPElicitationRequest: Hashable, Sendable {
    /// What to ask the person.
    public var message: String
    /// The flat object schema of the answers.
    public var requestedSchema: JSONValue
    /// The whole `params`, for members this type does not name.
    public var params: [String: JSONValue]

    /// Creates a request.
    public init(message: String, requestedSchema: JSONValue, params: [String: JSONValue] = [:]) {
        self.message = message
        self.requestedSchema = requestedSchema
        self.params = params
    }
}

/// Answers a server's elicitation: ask the person, return what they did.
public typealias MCPElicitationHandler = @Sendable (MCPElicitationRequest) async -> MCPElicitationResult

/// One `notifications/progress` for a call (MCP 2025-11-25 basic/utilities/progress).
public struct MCPProgress: Hashable, Sendable {
    /// The progress so far (increases with every notification).
    public var progress: Double
    /// The total, when known.
    public var total: Double?
    /// A human-readable message.
    public var message: String?
}

/// Why `MCPClient.connect()` failed.
public enum MCPConnectError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No answer to `initialize`: the server did not start, died or went silent. Retrying may work.
    case transport(MCPTransportError)
    /// The server answered `initialize` with an error; retrying unchanged will fail again.
    case refused(MCPError)
    /// The server answered with a protocol revision this client does not speak.
    case unsupportedProtocolVersion(String)
    /// The server's answer to `initialize` was not a valid `InitializeResult`.
    case invalidAnswer(String)

    /// What happened.
    public var description: String {
        switch self {
        case .transport(let error): "MCP connect: \(error)"
        case .refused(let error): "MCP connect: initialize refused: \(error)"
        case .unsupportedProtocolVersion(let version): "MCP connect: the server speaks protocol \(version.prefix(32)), which this client does not"
        case .invalidAnswer(let reason): "MCP connect: \(reason)"
        }
    }
}

/// An MCP client on any transport: `initialize`, `tools/list` (every page), `tools/call` with
/// deadlines, cancellation and progress, and answers to the server's `ping` and `elicitation/create`.
public actor MCPClient: MCPToolCaller {
    /// Settings of a client.
    public struct Options: Sendable {
        /// What the client says about itself.
        public var info: MCPImplementation
        /// How long a request may wait for its answer; then it is cancelled and fails as possibly delivered.
        public var requestTimeout: Duration
        /// Answers the server's elicitation; nil declares no `elicitation` capability (and answers -32601).
        public var elicitationHandler: MCPElicitationHandler?
        /// Most `tools/list` pages followed (a server returning cursors for ever is stopped there).
        public var maxToolPages: Int

        /// Creates settings.
        public init(info: MCPImplementation = MCPImplementation(name: "payrail", version: "1"), requestTimeout: Duration = .seconds(60),
                    elicitationHandler: MCPElicitationHandler? = nil, maxToolPages: Int = 100) {
            self.info = info
            self.requestTimeout = requestTimeout
            self.elicitationHandler = elicitationHandler
            self.maxToolPages = maxToolPages
        }
    }

    private let connection: JSONRPCConnection
    private let transport: any MCPMessageTransport
    private let options: Options
    private var progressHandlers: [String: @Sendable (MCPProgress) async -> Void] = [:]
    private var nextProgressToken = 1
    /// The server's answer to `initialize`, once connected.
    public private(set) var serverInfo: MCPImplementation?
    /// The server's `capabilities`.
    public private(set) var serverCapabilities: [String: JSONValue] = [:]
    /// The negotiated protocol revision.
    public private(set) var protocolVersion: String?
    /// The server's `instructions`, if any.
    public private(set) var instructions: String?

    /// Creates a client on `transport` (not yet connected: call ``connect()``).
    public init(transport: any MCPMessageTransport, options: Options = Options()) {
        self.transport = transport
        self.connection = JSONRPCConnection(transport: transport)
        self.options = options
    }

    /// Starts the transport and runs the handshake: `initialize` with our newest revision, accepts the
    /// server's if we speak it, then `notifications/initialized` (basic/lifecycle).
    public func connect() async throws(MCPConnectError) {
        let handler = options.elicitationHandler
        let handlers = JSONRPCHandlers(
            request: { _, method, params in await Self.answer(method, params: params, elicitation: handler) },
            notification: { [weak self] method, params in await self?.notification(method, params: params) },
            answersInvalidMessages: false)
        do throws(MCPTransportError) {
            try await connection.start(handlers)
        } catch {
            throw .transport(error)
        }
        var capabilities: [String: JSONValue] = [:]
        if handler != nil { capabilities["elicitation"] = .object(["form": .object([:])]) }
        let params: [String: JSONValue] = [
            "protocolVersion": .string(MCPProtocolVersion.latest), "capabilities": .object(capabilities), "clientInfo": options.info.json,
        ]
        let answer: Result<JSONValue, MCPError>
        do throws(MCPTransportError) {
            answer = try await connection.request("initialize", params: params, timeout: options.requestTimeout)
        } catch {
            throw .transport(error)
        }
        guard case .success(let result) = answer else {
            if case .failure(let error) = answer { throw .refused(error) }
            throw .invalidAnswer("no result")
        }
        try await adopt(result)
    }

    private func adopt(_ result: JSONValue) async throws(MCPConnectError) {
        guard let object = result.objectValue, let version = object["protocolVersion"]?.stringValue else {
            throw .invalidAnswer("the initialize result has no protocolVersion")
        }
        guard MCPProtocolVersion.supported.contains(version) else {
            await connection.close()
            throw .unsupportedProtocolVersion(version)
        }
        protocolVersion = version
        serverInfo = MCPImplementation(json: object["serverInfo"])
        serverCapabilities = object["capabilities"]?.objectValue ?? [:]
        instructions = object["instructions"]?.stringValue
        await transport.negotiated(protocolVersion: version)
        do throws(MCPTransportError) {
            try await connection.notify("notifications/initialized", params: nil)
        } catch {
            throw .transport(error)
        }
    }

    /// Every tool of the server, following `nextCursor` (server/tools, "Pagination").
    ///
    /// - Throws: `MCPError`: the server's error, or -32603 when no answer came (transport failure) or
    ///   the server keeps returning cursors past `maxToolPages` or repeats one.
    public func listTools() async throws(MCPError) -> [MCPTool] {
        var tools: [MCPTool] = []
        var cursor: String?
        var seen: Set<String> = []
        for _ in 0..<max(1, options.maxToolPages) {
            let result = try await request("tools/list", params: cursor.map { ["cursor": .string($0)] } ?? [:])
            guard let object = result.objectValue, case .array(let page)? = object["tools"] else {
                throw MCPError(code: MCPError.internalError, message: "a tools/list result needs a \"tools\" array")
            }
            for entry in page { tools.append(try MCPTool(json: entry)) }
            guard let next = object["nextCursor"]?.stringValue else { return tools }
            guard seen.insert(next).inserted else {
                throw MCPError(code: MCPError.internalError, message: "the server repeated a tools/list cursor")
            }
            cursor = next
        }
        throw MCPError(code: MCPError.internalError, message: "tools/list had more than \(options.maxToolPages) pages")
    }

    /// Calls a tool once with the default deadline (`MCPToolCaller`).
    public func callTool(name: String, arguments: [String: JSONValue], meta: [String: JSONValue]) async throws(MCPTransportError) -> MCPToolOutcome {
        try await callTool(name: name, arguments: arguments, meta: meta, timeout: nil, progress: nil)
    }

    /// Calls a tool once.
    ///
    /// - Parameters:
    ///   - timeout: the deadline (nil: `Options.requestTimeout`). When it passes, or the calling task
    ///     is cancelled, the server is sent `notifications/cancelled` and this throws.
    ///   - progress: called for each `notifications/progress` of this call (a `progressToken` is added
    ///     to `_meta` unless `meta` already has one).
    /// - Throws: `MCPTransportError` when no answer came; `mayHaveBeenDelivered` says whether the tool
    ///   may have run.
    public func callTool(name: String, arguments: [String: JSONValue], meta: [String: JSONValue], timeout: Duration?,
                         progress: (@Sendable (MCPProgress) async -> Void)?) async throws(MCPTransportError) -> MCPToolOutcome {
        var meta = meta
        var token: String?
        if let progress, meta["progressToken"] == nil {
            let made = "payrail-progress-\(nextProgressToken)"
            nextProgressToken += 1
            meta["progressToken"] = .string(made)
            progressHandlers[made] = progress
            token = made
        }
        defer { if let token { progressHandlers.removeValue(forKey: token) } }
        var params: [String: JSONValue] = ["name": .string(name), "arguments": .object(arguments)]
        if !meta.isEmpty { params["_meta"] = .object(meta) }
        let answer = try await connection.request("tools/call", params: params, timeout: timeout ?? options.requestTimeout)
        switch answer {
        case .failure(let error):
            return .error(error)
        case .success(let result):
            do throws(MCPError) {
                return .result(try MCPToolResult(json: result))
            } catch {
                return .error(error)
            }
        }
    }

    /// Sends `ping` and waits for the answer (basic/utilities/ping).
    public func ping() async throws(MCPError) {
        _ = try await request("ping", params: [:])
    }

    /// Sends any request and returns its result.
    ///
    /// - Throws: `MCPError`: the server's error, or -32603 when no answer came (the message says
    ///   whether the request may have been delivered).
    public func request(_ method: String, params: [String: JSONValue]) async throws(MCPError) -> JSONValue {
        let answer: Result<JSONValue, MCPError>
        do throws(MCPTransportError) {
            answer = try await connection.request(method, params: params, timeout: options.requestTimeout)
        } catch {
            throw MCPError(code: MCPError.internalError, message: error.description)
        }
        return try answer.get()
    }

    /// Why the connection ended (the child died, the session expired), or nil while open.
    public var endReason: MCPTransportError? {
        get async { await connection.endReason }
    }

    /// Ends the connection (stops a child process, deletes an HTTP session). Pending calls fail.
    public func close() async {
        await connection.close()
    }

    private func notification(_ method: String, params: [String: JSONValue]?) async {
        guard method == "notifications/progress", let params, let token = params["progressToken"] else { return }
        let key: String
        switch token {
        case .string(let text): key = text
        default: return
        }
        guard let handler = progressHandlers[key], let value = params["progress"]?.numberValue else { return }
        await handler(MCPProgress(progress: value, total: params["total"]?.numberValue, message: params["message"]?.stringValue))
    }

    private static func answer(_ method: String, params: [String: JSONValue]?, elicitation: MCPElicitationHandler?) async -> Result<JSONValue, MCPError>? {
        switch method {
        case "ping":
            return .success(.object([:]))
        case "elicitation/create":
            guard let elicitation else {
                return .failure(MCPError(code: MCPError.methodNotFound, message: "this client does not support elicitation"))
            }
            let params = params ?? [:]
            if let mode = params["mode"]?.stringValue, mode != "form" {
                return .failure(MCPError(code: MCPError.invalidParams, message: "only form mode elicitation is supported"))
            }
            guard let message = params["message"]?.stringValue, let schema = params["requestedSchema"], schema.objectValue != nil else {
                return .failure(MCPError(code: MCPError.invalidParams, message: "elicitation/create needs a message and an object requestedSchema"))
            }
            let result = await elicitation(MCPElicitationRequest(message: message, requestedSchema: schema, params: params))
            return .success(result.json)
        default:
            return .failure(MCPError(code: MCPError.methodNotFound, message: "method not found: \(method.prefix(64))"))
        }
    }
}
