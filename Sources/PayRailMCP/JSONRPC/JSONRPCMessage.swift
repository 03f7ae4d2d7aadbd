import Foundation
import PayRailCrypto

// JSON-RPC 2.0 as MCP 2025-11-25 uses it ("Base Protocol", basic/index): requests carry a string or
// integer id (never null), notifications carry none, a response has exactly one of `result` and
// `error`. 2025-11-25 removed JSON-RPC batching (added in 2025-03-26, dropped in 2025-06-18), so an
// array is refused as an invalid request rather than half-processed.

/// One JSON-RPC 2.0 message.
public enum JSONRPCMessage: Hashable, Sendable {
    /// A request: an answer is expected.
    case request(id: MCPRequestID, method: String, params: [String: JSONValue]?)
    /// A notification: no answer.
    case notification(method: String, params: [String: JSONValue]?)
    /// A successful response.
    case response(id: MCPRequestID, result: JSONValue)
    /// An error response; `id` is nil when the request's id could not be read (a parse error).
    case errorResponse(id: MCPRequestID?, error: MCPError)

    /// The message as JSON.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["jsonrpc": .string("2.0")]
        switch self {
        case .request(let id, let method, let params):
            object["id"] = id.json
            object["method"] = .string(method)
            if let params { object["params"] = .object(params) }
        case .notification(let method, let params):
            object["method"] = .string(method)
            if let params { object["params"] = .object(params) }
        case .response(let id, let result):
            object["id"] = id.json
            object["result"] = result
        case .errorResponse(let id, let error):
            object["id"] = id?.json ?? .null
            var body: [String: JSONValue] = ["code": .number(Double(error.code)), "message": .string(error.message)]
            if let data = error.data { body["data"] = data }
            object["error"] = .object(body)
        }
        return .object(object)
    }

    /// The request id, for requests and responses.
    public var id: MCPRequestID? {
        switch self {
        case .request(let id, _, _), .response(let id, _): return id
        case .errorResponse(let id, _): return id
        case .notification: return nil
        }
    }
}

/// Reads and writes JSON-RPC messages with limits, so a hostile peer cannot make a reader hold an
/// unbounded message or a deep structure (the parser refuses nesting beyond `CanonicalJSON.maximumDepth`).
public enum JSONRPCCodec {
    /// The default largest message, in bytes, either side accepts (4 MiB: tool results can be large).
    public static let defaultMessageLimit = 4 * 1024 * 1024
    /// The longest method name accepted.
    public static let methodLimit = 256
    /// The longest string id accepted.
    public static let idLimit = 256

    /// The bytes of `message` (one line: the serializer escapes every control byte, so a message never
    /// holds a raw newline, as the stdio transport requires).
    public static func encode(_ message: JSONRPCMessage) -> [UInt8] {
        do {
            return try CanonicalJSON.serialize(message.json)
        } catch {
            // Only a non-finite number can fail to serialize; answer with an error the peer can read.
            let fallback = JSONRPCMessage.errorResponse(
                id: message.id, error: MCPError(code: MCPError.internalError, message: "the message held a number JSON cannot carry"))
            return (try? CanonicalJSON.serialize(fallback.json)) ?? Array(#"{"error":{"code":-32603,"message":"internal error"},"id":null,"jsonrpc":"2.0"}"#.utf8)
        }
    }

    /// Parses one message.
    ///
    /// - Throws: `JSONRPCParseFailure` carrying the error to answer (-32700 for bytes that are not JSON
    ///   or too large, -32600 for JSON that is not a valid message) and the request id when one was read.
    public static func decode(_ bytes: some Collection<UInt8>, limit: Int = defaultMessageLimit) throws(JSONRPCParseFailure) -> JSONRPCMessage {
        guard bytes.count <= limit else {
            throw JSONRPCParseFailure(id: nil, error: MCPError(code: MCPError.parseError, message: "message larger than \(limit) bytes"))
        }
        let value: JSONValue
        do {
            value = try CanonicalJSON.parse(Array(bytes))
        } catch {
            throw JSONRPCParseFailure(id: nil, error: MCPError(code: MCPError.parseError, message: "not JSON: \(error.code) at byte \(error.offset)"))
        }
        return try message(from: value)
    }

    /// Reads a message out of parsed JSON.
    public static func message(from value: JSONValue) throws(JSONRPCParseFailure) -> JSONRPCMessage {
        guard case .object(let object) = value else {
            if case .array = value { throw invalid(nil, "JSON-RPC batches are not supported (MCP 2025-11-25 removed them)") }
            throw invalid(nil, "a message must be a JSON object")
        }
        let rawID = object["id"]
        let id: MCPRequestID? = try rawID.flatMap { value throws(JSONRPCParseFailure) in try requestID(value) }
        guard object["jsonrpc"] == .string("2.0") else { throw invalid(id, "\"jsonrpc\" must be \"2.0\"") }
        if let method = object["method"] {
            guard case .string(let name) = method, !name.isEmpty, name.utf8.count <= methodLimit else {
                throw invalid(id, "\"method\" must be a non-empty string of at most \(methodLimit) bytes")
            }
            guard object["result"] == nil, object["error"] == nil else { throw invalid(id, "a request holds no result or error") }
            var params: [String: JSONValue]?
            switch object["params"] {
            case nil: params = nil
            case .object(let members)?: params = members
            default: throw invalid(id, "\"params\" must be an object (MCP never sends positional parameters)")
            }
            if rawID == nil { return .notification(method: name, params: params) }
            guard let id else { throw invalid(nil, "a request id must be a string or an integer, never null") }
            return .request(id: id, method: name, params: params)
        }
        return try response(object, id: id, rawID: rawID)
    }

    private static func response(_ object: [String: JSONValue], id: MCPRequestID?, rawID: JSONValue?) throws(JSONRPCParseFailure) -> JSONRPCMessage {
        switch (object["result"], object["error"]) {
        case (let result?, nil):
            guard let id else { throw invalid(nil, "a response needs the id of its request") }
            return .response(id: id, result: result)
        case (nil, .object(let body)?):
            guard case .number(let number)? = body["code"], let code = Int(exactly: number) else {
                throw invalid(id, "an error needs an integer \"code\"")
            }
            guard case .string(let text)? = body["message"] else { throw invalid(id, "an error needs a string \"message\"") }
            guard id != nil || rawID == .null else { throw invalid(nil, "an error response needs an id (or null)") }
            return .errorResponse(id: id, error: MCPError(code: code, message: text, data: body["data"]))
        default:
            throw invalid(id, "a message needs a \"method\", or exactly one of \"result\" and \"error\"")
        }
    }

    /// Reads an id: a string (bounded) or an integer exactly representable as a JSON number; `null`
    /// reads as nil (only an error response may carry it).
    static func requestID(_ value: JSONValue) throws(JSONRPCParseFailure) -> MCPRequestID? {
        switch value {
        case .null:
            return nil
        case .string(let text):
            guard text.utf8.count <= idLimit else { throw invalid(nil, "the id is longer than \(idLimit) bytes") }
            return .string(text)
        case .number(let number):
            guard number.magnitude <= 9_007_199_254_740_991, let integer = Int64(exactly: number) else {
                throw invalid(nil, "the id must be a string or an integer")
            }
            return .number(integer)
        default:
            throw invalid(nil, "the id must be a string or an integer")
        }
    }

    private static func invalid(_ id: MCPRequestID?, _ message: String) -> JSONRPCParseFailure {
        JSONRPCParseFailure(id: id, error: MCPError(code: MCPError.invalidRequest, message: message))
    }
}

/// A message that could not be read: the error to answer, and the id to answer it with when one was read.
public struct JSONRPCParseFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The id of the request, when it could be read (the answer then carries it; else `null`).
    public var id: MCPRequestID?
    /// The error to answer: -32700 (not JSON, too large) or -32600 (not a valid message).
    public var error: MCPError

    /// Creates a failure.
    public init(id: MCPRequestID?, error: MCPError) {
        self.id = id
        self.error = error
    }

    /// The error as a log shows it.
    public var description: String { error.description }

    /// The error response to send back.
    public var answer: JSONRPCMessage { .errorResponse(id: id, error: error) }
}
