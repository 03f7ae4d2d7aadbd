import Foundation
import PayRailCrypto

// The JSON shapes of the shared tool types (MCP 2025-11-25 server/tools: `Tool`, `CallToolResult`).
// Reading is lenient about members it does not know (a newer peer may add some) and strict about the
// ones it needs.

extension MCPTool {
    /// The tool as `tools/list` shows it.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name), "inputSchema": inputSchema]
        if let title { object["title"] = .string(title) }
        if let description { object["description"] = .string(description) }
        if let outputSchema { object["outputSchema"] = outputSchema }
        if let annotations { object["annotations"] = annotations }
        if !meta.isEmpty { object["_meta"] = .object(meta) }
        return .object(object)
    }

    /// Reads a tool from a `tools/list` entry.
    ///
    /// - Throws: `MCPError` -32602 naming the member that is missing or of the wrong type.
    public init(json: JSONValue) throws(MCPError) {
        guard let object = json.objectValue else { throw MCPError(code: MCPError.invalidParams, message: "a tool must be an object") }
        guard let name = object["name"]?.stringValue, !name.isEmpty else {
            throw MCPError(code: MCPError.invalidParams, message: "a tool needs a string \"name\"")
        }
        guard let schema = object["inputSchema"], schema.objectValue != nil else {
            throw MCPError(code: MCPError.invalidParams, message: "tool \(name) needs an object \"inputSchema\"")
        }
        self.init(name: name, title: object["title"]?.stringValue, description: object["description"]?.stringValue,
                  inputSchema: schema, outputSchema: object["outputSchema"], annotations: object["annotations"],
                  meta: object["_meta"]?.objectValue ?? [:])
    }
}

extension MCPToolResult {
    /// The result as a `tools/call` answer carries it.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["content": .array(content), "isError": .bool(isError)]
        if let structuredContent { object["structuredContent"] = structuredContent }
        if !meta.isEmpty { object["_meta"] = .object(meta) }
        return .object(object)
    }

    /// Reads a `tools/call` result.
    ///
    /// - Throws: `MCPError` -32603 when the result has no `content` array.
    public init(json: JSONValue) throws(MCPError) {
        guard let object = json.objectValue, case .array(let content)? = object["content"] else {
            throw MCPError(code: MCPError.internalError, message: "a tools/call result needs a \"content\" array")
        }
        var isError = false
        if case .bool(let flag)? = object["isError"] { isError = flag }
        self.init(content: content, structuredContent: object["structuredContent"], isError: isError,
                  meta: object["_meta"]?.objectValue ?? [:])
    }

    /// The text of the result's text blocks, joined by newlines (for logs and simple callers).
    public var text: String {
        content.compactMap { block in
            guard let object = block.objectValue, object["type"] == .string("text") else { return nil }
            return object["text"]?.stringValue
        }.joined(separator: "\n")
    }
}

/// A peer's name and version (`Implementation` in `initialize`).
public struct MCPImplementation: Hashable, Sendable {
    /// The programmatic name.
    public var name: String
    /// The version.
    public var version: String
    /// A display name.
    public var title: String?

    /// Creates a description.
    public init(name: String, version: String, title: String? = nil) {
        self.name = name
        self.version = version
        self.title = title
    }

    /// As `initialize` carries it.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name), "version": .string(version)]
        if let title { object["title"] = .string(title) }
        return .object(object)
    }

    /// Reads an `Implementation`, tolerating missing members (they read as empty).
    public init(json: JSONValue?) {
        let object = json?.objectValue ?? [:]
        self.init(name: object["name"]?.stringValue ?? "", version: object["version"]?.stringValue ?? "",
                  title: object["title"]?.stringValue)
    }
}

/// The protocol revisions this module speaks, newest first (MCP 2025-11-25 basic/lifecycle, "Version
/// Negotiation"). The older two differ from 2025-11-25 only in features this core does not use
/// (tools/list and tools/call are the same); 2024-11-05 is left out because its HTTP transport differs.
public enum MCPProtocolVersion {
    /// The newest revision, proposed by our client and answered by our server when the client's is unknown.
    public static let latest = "2025-11-25"
    /// Every revision accepted.
    public static let supported = ["2025-11-25", "2025-06-18", "2025-03-26"]
    /// What a Streamable HTTP server assumes when a request has no `MCP-Protocol-Version` header
    /// (basic/transports, "Protocol Version Header").
    public static let assumedWithoutHeader = "2025-03-26"
}
