import Foundation
import PayRailCrypto

// The values every layer of PayRailMCP passes around: a tool as `tools/list` shows it, one
// `tools/call` as a server receives it, and what the call produced. They are plain JSON-shaped values
// (Model Context Protocol 2025-11-25, "Tools") so that the paywall, the proxy and a user's own tools
// see one shape whatever transport (stdio or Streamable HTTP) carried the message.

/// A JSON-RPC request id (a string or an integer; MCP forbids `null`).
public enum MCPRequestID: Hashable, Sendable, CustomStringConvertible {
    /// A string id.
    case string(String)
    /// An integer id.
    case number(Int64)

    /// The id as JSON.
    public var json: JSONValue {
        switch self {
        case .string(let text): return .string(text)
        case .number(let value): return .number(Double(value))
        }
    }

    /// The id as a log shows it.
    public var description: String {
        switch self {
        case .string(let text): return "\"\(text)\""
        case .number(let value): return String(value)
        }
    }
}

/// A JSON-RPC error object, as sent in an error response (JSON-RPC 2.0 section 5.1).
public struct MCPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The error code.
    public var code: Int
    /// A short description for people.
    public var message: String
    /// Structured details (the payment challenges of a `-32042`).
    public var data: JSONValue?

    /// Creates an error.
    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// Invalid JSON was received.
    public static let parseError = -32700
    /// The JSON sent is not a valid request object.
    public static let invalidRequest = -32600
    /// The method does not exist or is not available.
    public static let methodNotFound = -32601
    /// Invalid method parameters (an unknown tool, arguments that do not fit).
    public static let invalidParams = -32602
    /// An internal error of the server.
    public static let internalError = -32603
    /// Payment required (the Payment scheme's MCP transport; also "URL elicitation required" in
    /// MCP 2025-11-25, told apart by `data`: payment challenges travel in `data.challenges`).
    public static let paymentRequired = -32042

    /// The code and message, as a log shows them (never `data`, which may carry offers).
    public var description: String { "MCP error \(code): \(message)" }
}

/// A tool as `tools/list` describes it.
public struct MCPTool: Hashable, Sendable {
    /// The unique name a `tools/call` names.
    public var name: String
    /// A display name.
    public var title: String?
    /// What the tool does, for the model.
    public var description: String?
    /// The JSON Schema of the arguments (an object schema).
    public var inputSchema: JSONValue
    /// The JSON Schema of `structuredContent`, when the tool returns structured results.
    public var outputSchema: JSONValue?
    /// Behaviour hints (`readOnlyHint`, ...), passed through as received.
    public var annotations: JSONValue?
    /// `_meta`: where a paywall shows a priced tool's price.
    public var meta: [String: JSONValue]

    /// Creates a tool description.
    public init(name: String, title: String? = nil, description: String? = nil,
                inputSchema: JSONValue = .object(["type": .string("object")]), outputSchema: JSONValue? = nil,
                annotations: JSONValue? = nil, meta: [String: JSONValue] = [:]) {
        self.name = name
        self.title = title
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.annotations = annotations
        self.meta = meta
    }
}

/// One `tools/call` as a server received it.
public struct MCPToolCall: Hashable, Sendable {
    /// The tool's name.
    public var name: String
    /// The arguments object.
    public var arguments: [String: JSONValue]
    /// The request's `params._meta` (payment credentials travel here; so does `progressToken`).
    public var meta: [String: JSONValue]
    /// The JSON-RPC id of the request.
    public var requestID: MCPRequestID
    /// The Streamable HTTP session id, `nil` over stdio.
    public var sessionID: String?
    /// Who is calling (a peer address, `stdio`): the rate-limit bucket and idempotency scope.
    public var clientAddress: String

    /// Creates a call.
    public init(name: String, arguments: [String: JSONValue] = [:], meta: [String: JSONValue] = [:],
                requestID: MCPRequestID, sessionID: String? = nil, clientAddress: String) {
        self.name = name
        self.arguments = arguments
        self.meta = meta
        self.requestID = requestID
        self.sessionID = sessionID
        self.clientAddress = clientAddress
    }
}

/// A `tools/call` result (`CallToolResult`).
public struct MCPToolResult: Hashable, Sendable {
    /// The content blocks (`{"type":"text","text":…}` and others), as JSON.
    public var content: [JSONValue]
    /// The structured result, when the tool declares an output schema.
    public var structuredContent: JSONValue?
    /// Whether the tool failed (an error the model should see, not a protocol error).
    public var isError: Bool
    /// `_meta`: where a paywall puts the receipt.
    public var meta: [String: JSONValue]

    /// Creates a result.
    public init(content: [JSONValue], structuredContent: JSONValue? = nil, isError: Bool = false, meta: [String: JSONValue] = [:]) {
        self.content = content
        self.structuredContent = structuredContent
        self.isError = isError
        self.meta = meta
    }

    /// A result of one text block.
    public static func text(_ text: String, isError: Bool = false) -> MCPToolResult {
        MCPToolResult(content: [.object(["type": .string("text"), "text": .string(text)])], isError: isError)
    }
}

/// What a `tools/call` ends in: a result (possibly `isError`) or a JSON-RPC error.
public enum MCPToolOutcome: Hashable, Sendable {
    /// The call's result.
    case result(MCPToolResult)
    /// A JSON-RPC error response.
    case error(MCPError)
}

/// Where a server's tools come from: tools registered in process, or an upstream MCP server (the proxy).
public protocol MCPToolProvider: Sendable {
    /// The tools, as `tools/list` shows them (all pages).
    func listTools() async throws(MCPError) -> [MCPTool]
    /// Runs one call. Cancellation of the calling task means the client cancelled the request.
    func callTool(_ call: MCPToolCall) async -> MCPToolOutcome
}

/// A layer between a server and its tools (the paywall): it may change what `tools/list` shows and
/// decide a call before, or instead of, the tools below it.
public protocol MCPToolMiddleware: Sendable {
    /// The tools as shown to clients, given the tools below.
    func listTools(_ below: [MCPTool]) -> [MCPTool]
    /// Runs `call`, calling `next` to reach the tools below (or not, to refuse).
    func callTool(_ call: MCPToolCall, next: @Sendable (MCPToolCall) async -> MCPToolOutcome) async -> MCPToolOutcome
}

/// The client side of `tools/call`, as a paying client drives it: one call with the given `_meta`,
/// answered with a result or a JSON-RPC error. Implemented by `MCPClient` over every transport.
public protocol MCPToolCaller: Sendable {
    /// The remote's tools (all pages).
    func listTools() async throws(MCPError) -> [MCPTool]
    /// Calls `name` once with `arguments` and `meta` as `params._meta`.
    ///
    /// - Throws: `MCPTransportError` when no answer came back (the call may or may not have run).
    func callTool(name: String, arguments: [String: JSONValue], meta: [String: JSONValue]) async throws(MCPTransportError) -> MCPToolOutcome
}

/// No answer came back from the other side of an MCP transport.
public struct MCPTransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What failed.
    public var reason: String
    /// Whether the request may have reached the server (so a paid call must be presented again, not
    /// forgotten).
    public var mayHaveBeenDelivered: Bool

    /// Creates an error.
    public init(reason: String, mayHaveBeenDelivered: Bool) {
        self.reason = reason
        self.mayHaveBeenDelivered = mayHaveBeenDelivered
    }

    /// The reason and whether the request may have been delivered.
    public var description: String {
        "MCP transport: \(reason)\(mayHaveBeenDelivered ? " (the request may have been delivered)" : "")"
    }
}
