import Foundation
import PayRailCrypto
import PayRailMCP

// A tool call's outcome as JSON, in MCP's own shapes (`CallToolResult`, a JSON-RPC error object): how
// a paid result is stored for replays (`Gate.complete`) and how the paying transport carries an answer
// in a `PaymentAnswer` body. One codec for both, so what is replayed is exactly what was answered.

/// Encodes and decodes `MCPToolOutcome`s as `{"result": CallToolResult}` or `{"error": {code, message, data}}`.
public enum MCPOutcomeJSON {
    /// `result` as a `CallToolResult` object.
    public static func json(_ result: MCPToolResult) -> JSONValue {
        var object: [String: JSONValue] = ["content": .array(result.content)]
        if let structured = result.structuredContent { object["structuredContent"] = structured }
        if result.isError { object["isError"] = .bool(true) }
        if !result.meta.isEmpty { object["_meta"] = .object(result.meta) }
        return .object(object)
    }

    /// `error` as a JSON-RPC error object.
    public static func json(_ error: MCPError) -> JSONValue {
        var object: [String: JSONValue] = ["code": .number(Double(error.code)), "message": .string(error.message)]
        if let data = error.data { object["data"] = data }
        return .object(object)
    }

    /// A `CallToolResult` object read back, or `nil` when it is not one.
    public static func result(_ json: JSONValue) -> MCPToolResult? {
        guard case .object(let object) = json, case .array(let content)? = object["content"] else { return nil }
        var meta: [String: JSONValue] = [:]
        if case .object(let given)? = object["_meta"] { meta = given }
        var isError = false
        if case .bool(let flag)? = object["isError"] { isError = flag }
        return MCPToolResult(content: content, structuredContent: object["structuredContent"], isError: isError, meta: meta)
    }

    /// A JSON-RPC error object read back, or `nil` when it is not one.
    public static func error(_ json: JSONValue) -> MCPError? {
        guard case .object(let object) = json, case .number(let code)? = object["code"], code == code.rounded(),
              abs(code) < 1e15 else { return nil }
        var message = ""
        if case .string(let text)? = object["message"] { message = text }
        return MCPError(code: Int(code), message: message, data: object["data"])
    }

    /// The outcome as the bytes of `{"result": …}` or `{"error": …}`.
    public static func encode(_ outcome: MCPToolOutcome) -> [UInt8] {
        let wrapped: JSONValue = switch outcome {
        case .result(let result): .object(["result": json(result)])
        case .error(let error): .object(["error": json(error)])
        }
        // Only a NaN or an infinity fails, and JSON read off the wire holds neither.
        return (try? CanonicalJSON.serialize(wrapped)) ?? Array(#"{"error":{"code":-32603,"message":"unencodable result"}}"#.utf8)
    }

    /// The outcome in `bytes`, or `nil` when they hold neither shape.
    public static func decode(_ bytes: [UInt8]) -> MCPToolOutcome? {
        guard let value = try? CanonicalJSON.parse(bytes), case .object(let object) = value else { return nil }
        if let result = object["result"].flatMap(result) { return .result(result) }
        if let error = object["error"].flatMap(error) { return .error(error) }
        return nil
    }
}
