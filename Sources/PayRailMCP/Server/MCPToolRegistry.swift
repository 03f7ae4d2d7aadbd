import Foundation
import PayRailCrypto

/// The code behind one registered tool. The context reaches the client (progress, elicitation).
///
/// Throwing an `MCPError` answers with that JSON-RPC error; throwing anything else answers with an
/// `isError` result carrying the error's description, which the model sees (MCP 2025-11-25
/// server/tools, "Error Handling": tool execution errors are results, not protocol errors).
public typealias MCPToolHandler = @Sendable (_ call: MCPToolCall, _ context: MCPCallContext) async throws -> MCPToolResult

/// Tools written in Swift, served in process: register a name, schema and handler, then hand the
/// registry to an ``MCPServer``.
public final class MCPToolRegistry: MCPToolProvider {
    private let entries = Locked<[(tool: MCPTool, handler: MCPToolHandler)]>([])

    /// Creates an empty registry.
    public init() {}

    /// Adds `tool` (replacing one of the same name) answered by `handler`.
    public func register(_ tool: MCPTool, handler: @escaping MCPToolHandler) {
        entries.withLock { entries in
            if let index = entries.firstIndex(where: { $0.tool.name == tool.name }) {
                entries[index] = (tool, handler)
            } else {
                entries.append((tool, handler))
            }
        }
    }

    /// The registered tools, in registration order.
    public func listTools() async throws(MCPError) -> [MCPTool] {
        entries.withLock { $0.map(\.tool) }
    }

    /// Runs the named tool's handler; an unknown name is -32602 (server/tools, "Error Handling").
    public func callTool(_ call: MCPToolCall) async -> MCPToolOutcome {
        guard let handler = entries.withLock({ $0.first { $0.tool.name == call.name }?.handler }) else {
            return .error(MCPError(code: MCPError.invalidParams, message: "unknown tool: \(call.name.prefix(128))"))
        }
        do {
            return .result(try await handler(call, MCPCallContext.current ?? .detached))
        } catch let error as MCPError {
            return .error(error)
        } catch is CancellationError {
            return .error(MCPError(code: MCPError.internalError, message: "the call was cancelled"))
        } catch {
            return .result(.text("\(error)", isError: true))
        }
    }
}
