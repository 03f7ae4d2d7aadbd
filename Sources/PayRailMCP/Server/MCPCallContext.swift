import Foundation
import PayRailCrypto

/// What the server can send back to the client while a request runs: notifications on the request's
/// stream, and requests of its own where the transport can carry their answers.
struct MCPOutbound: Sendable {
    /// Sends a notification related to the running request.
    var notify: @Sendable (_ method: String, _ params: [String: JSONValue]) async -> Void
    /// Sends a request to the client and waits for its answer; nil when the transport cannot carry one.
    var request: (@Sendable (_ method: String, _ params: [String: JSONValue], _ timeout: Duration) async throws(MCPTransportError)
        -> Result<JSONValue, MCPError>)?

    static let none = MCPOutbound(notify: { _, _ in }, request: nil)
}

/// The answer to an elicitation (MCP 2025-11-25 client/elicitation, `ElicitResult`).
public struct MCPElicitationResult: Hashable, Sendable {
    /// What the user did.
    public enum Action: String, Hashable, Sendable {
        /// The user submitted the form (`content` holds the answers).
        case accept
        /// The user explicitly refused.
        case decline
        /// The user dismissed the request without choosing.
        case cancel
    }

    /// What the user did.
    public var action: Action
    /// The answers, when `action` is `accept`.
    public var content: [String: JSONValue]?

    /// Creates a result.
    public init(action: Action, content: [String: JSONValue]? = nil) {
        self.action = action
        self.content = content
    }

    /// As the client answers it.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["action": .string(action.rawValue)]
        if let content { object["content"] = .object(content) }
        return .object(object)
    }

    /// Reads a client's answer.
    ///
    /// - Throws: `MCPError` -32602 when `action` is missing or unknown.
    public init(json: JSONValue) throws(MCPError) {
        guard let object = json.objectValue, let raw = object["action"]?.stringValue, let action = Action(rawValue: raw) else {
            throw MCPError(code: MCPError.invalidParams, message: "an elicitation answer needs an action of accept, decline or cancel")
        }
        self.init(action: action, content: object["content"]?.objectValue)
    }
}

/// What tool and middleware code can reach while a server runs one request: progress notifications for
/// the request's `progressToken`, and requests to the client such as elicitation.
///
/// The server sets it as a task-local value around every `tools/call`, so a provider or middleware
/// reads ``current`` without any change to the `MCPToolProvider` and `MCPToolMiddleware` signatures.
public struct MCPCallContext: Sendable {
    /// The context of the request this task serves, nil outside a server's request.
    @TaskLocal public static var current: MCPCallContext?

    /// The request's `_meta.progressToken`, when the client asked for progress.
    public let progressToken: JSONValue?
    /// The client's `capabilities` from `initialize`.
    public let clientCapabilities: [String: JSONValue]
    /// The client's name and version from `initialize`.
    public let clientInfo: MCPImplementation
    /// The negotiated protocol revision.
    public let protocolVersion: String
    let outbound: MCPOutbound
    private let lastProgress = Locked<Double?>(nil)

    init(progressToken: JSONValue?, clientCapabilities: [String: JSONValue], clientInfo: MCPImplementation,
         protocolVersion: String, outbound: MCPOutbound) {
        self.progressToken = progressToken
        self.clientCapabilities = clientCapabilities
        self.clientInfo = clientInfo
        self.protocolVersion = protocolVersion
        self.outbound = outbound
    }

    /// A context that reaches no client (a tool called outside a server, in a test).
    public static let detached = MCPCallContext(
        progressToken: nil, clientCapabilities: [:], clientInfo: MCPImplementation(name: "", version: ""),
        protocolVersion: MCPProtocolVersion.latest, outbound: .none)

    /// Sends `notifications/progress` when the client asked for progress (basic/utilities/progress);
    /// does nothing otherwise. Progress must increase: a value not above the last one is not sent.
    public func reportProgress(_ progress: Double, total: Double? = nil, message: String? = nil) async {
        guard let progressToken, progress.isFinite else { return }
        let increases = lastProgress.withLock { last -> Bool in
            guard last.map({ progress > $0 }) ?? true else { return false }
            last = progress
            return true
        }
        guard increases else { return }
        var params: [String: JSONValue] = ["progressToken": progressToken, "progress": .number(progress)]
        if let total, total.isFinite { params["total"] = .number(total) }
        if let message { params["message"] = .string(message) }
        await outbound.notify("notifications/progress", params)
    }

    /// Whether `elicit` can reach a person: the client declared the `elicitation` capability (form mode)
    /// and the transport can carry a request to it and its answer back.
    public var canElicit: Bool {
        guard outbound.request != nil, let elicitation = clientCapabilities["elicitation"]?.objectValue else { return false }
        // An empty object means form mode (client/elicitation, "Capabilities"); otherwise `form` must be there.
        return elicitation.isEmpty || elicitation["form"] != nil
    }

    /// Asks the person behind the client (form mode elicitation, client/elicitation).
    ///
    /// - Parameters:
    ///   - message: what to ask, shown to the person.
    ///   - requestedSchema: a flat object schema of primitive properties.
    /// - Throws: `MCPError` -32601 when the client cannot be asked (see ``canElicit``: the caller must
    ///   then refuse rather than assume consent), the client's own error, or -32603 when no answer came.
    public func elicit(message: String, requestedSchema: JSONValue, timeout: Duration = .seconds(600)) async throws(MCPError) -> MCPElicitationResult {
        guard canElicit else {
            throw MCPError(code: MCPError.methodNotFound, message: "the client cannot be asked (no elicitation capability, or a transport that cannot carry it)")
        }
        var params: [String: JSONValue] = ["message": .string(message), "requestedSchema": requestedSchema]
        if protocolVersion >= "2025-11-25" { params["mode"] = .string("form") }
        return try MCPElicitationResult(json: try await send("elicitation/create", params: params, timeout: timeout))
    }

    /// Sends any request to the client and returns its result.
    ///
    /// - Throws: `MCPError`: the client's error, -32601 when the transport cannot carry requests, or
    ///   -32603 when no answer came back (the message says whether it may have been delivered).
    public func send(_ method: String, params: [String: JSONValue], timeout: Duration = .seconds(60)) async throws(MCPError) -> JSONValue {
        guard let request = outbound.request else {
            throw MCPError(code: MCPError.methodNotFound, message: "this transport cannot carry requests to the client")
        }
        let answer: Result<JSONValue, MCPError>
        do throws(MCPTransportError) {
            answer = try await request(method, params, timeout)
        } catch {
            throw MCPError(code: MCPError.internalError, message: error.description)
        }
        return try answer.get()
    }
}
