// PayRailHTTP: a small HTTP/1.1 server on libmicrohttpd with async handlers.
//
// The message types here are deliberately local to this module (no PayRail dependency) so the
// server can be used on its own; the Gate translates between them and its own request parts.

/// An HTTP status code. A struct rather than a bare `Int` so call sites read as `.notFound`,
/// while any code a handler needs (e.g. 402) is still one integer literal away.
public struct HTTPStatus: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The three-digit code sent on the status line (MHD supplies the reason phrase).
    public let code: Int

    /// Wraps a code; codes outside 100...599 are sent as 500 by the server.
    public init(code: Int) { self.code = code }

    /// Lets handlers write `HTTPResponse(status: 402)`.
    public init(integerLiteral value: Int) { self.code = value }

    /// The code as text, e.g. "404".
    public var description: String { String(code) }

    /// 200: the request succeeded.
    public static let ok: HTTPStatus = 200
    /// 201: a resource was created.
    public static let created: HTTPStatus = 201
    /// 204: success with no body.
    public static let noContent: HTTPStatus = 204
    /// 400: the request is malformed; retrying the same bytes will fail again.
    public static let badRequest: HTTPStatus = 400
    /// 401: credentials are missing or wrong.
    public static let unauthorized: HTTPStatus = 401
    /// 402: payment is required (the reason PayRail exists).
    public static let paymentRequired: HTTPStatus = 402
    /// 403: understood but refused.
    public static let forbidden: HTTPStatus = 403
    /// 404: no route matches the path.
    public static let notFound: HTTPStatus = 404
    /// 405: the path exists but not for this method (the router adds `Allow`).
    public static let methodNotAllowed: HTTPStatus = 405
    /// 409: conflicts with the current state (e.g. an idempotency key reused with another payload).
    public static let conflict: HTTPStatus = 409
    /// 413: the body is larger than the server's limit.
    public static let contentTooLarge: HTTPStatus = 413
    /// 429: too many requests; see `Retry-After`.
    public static let tooManyRequests: HTTPStatus = 429
    /// 431: the request's header section is larger than the server's limit.
    public static let requestHeaderFieldsTooLarge: HTTPStatus = 431
    /// 500: the server failed; the request may be retried if it is idempotent.
    public static let internalServerError: HTTPStatus = 500
    /// 501: the server does not support a feature the request needs.
    public static let notImplemented: HTTPStatus = 501
    /// 502: an upstream answered badly or not at all.
    public static let badGateway: HTTPStatus = 502
    /// 503: the server is shutting down or overloaded; retry on a new connection.
    public static let serviceUnavailable: HTTPStatus = 503
    /// 504: the handler did not answer within the server's handler timeout.
    public static let gatewayTimeout: HTTPStatus = 504
}

/// One header field as it appeared on the wire (name spelling preserved).
public struct HTTPHeader: Sendable, Hashable {
    /// The field name, compared case-insensitively by `HTTPHeaders`.
    public var name: String
    /// The field value as libmicrohttpd stored it: leading whitespace removed; 0.9.75 keeps
    /// trailing whitespace, so compare trimmed values where that matters.
    public var value: String

    /// Creates a field; nothing is validated here, the response writer refuses unsafe bytes.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// An ordered list of header fields with case-insensitive look-up. Order and duplicates are kept
/// because both matter for security checks (e.g. two `Content-Length` fields).
public struct HTTPHeaders: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// The fields in wire order.
    public private(set) var fields: [HTTPHeader]

    /// Creates headers from fields in the order given.
    public init(_ fields: [HTTPHeader] = []) { self.fields = fields }

    /// Lets tests and handlers write `["Content-Type": "text/plain"]`.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { HTTPHeader(name: $0.0, value: $0.1) }
    }

    /// Index of the first field.
    public var startIndex: Int { fields.startIndex }
    /// One past the last field.
    public var endIndex: Int { fields.endIndex }
    /// The field at a position.
    public subscript(position: Int) -> HTTPHeader { fields[position] }

    /// The first value for `name` (case-insensitive), or nil. Use `values(for:)` when duplicates matter.
    public subscript(name: String) -> String? {
        for field in fields where field.name.equalsASCIICaseInsensitive(name) { return field.value }
        return nil
    }

    /// Every value for `name`, in wire order.
    public func values(for name: String) -> [String] {
        fields.compactMap { $0.name.equalsASCIICaseInsensitive(name) ? $0.value : nil }
    }

    /// Whether at least one field is called `name`.
    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Appends a field, keeping any existing ones with the same name.
    public mutating func add(_ name: String, _ value: String) {
        fields.append(HTTPHeader(name: name, value: value))
    }

    /// Replaces every field called `name` with a single one (appended at the end).
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    /// Removes every field called `name`.
    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.equalsASCIICaseInsensitive(name) }
    }
}

/// A request as the handler sees it: copied out of libmicrohttpd's memory, so it can outlive the
/// connection callback and cross tasks freely.
public struct HTTPRequest: Sendable {
    /// The method token, e.g. "GET".
    public var method: String
    /// The request-target's path exactly as sent (still percent-encoded, so `%2F` cannot pose as `/`).
    public var path: String
    /// Everything after the first `?`, still percent-encoded; empty when there is none.
    public var query: String
    /// Header fields in wire order.
    public var headers: HTTPHeaders
    /// The complete body (bounded by the server's `maxBodyBytes`).
    public var body: [UInt8]
    /// The peer's numeric IP address (no port); empty if the socket did not say.
    public var clientAddress: String
    /// The protocol version from the request line, e.g. "HTTP/1.1".
    public var version: String

    /// Builds a request by hand, mainly for tests and for routing without a socket.
    public init(
        method: String, path: String, query: String = "", headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [], clientAddress: String = "", version: String = "HTTP/1.1"
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.clientAddress = clientAddress
        self.version = version
    }
}

/// A response to send. `Content-Length` is computed by the server; header values containing
/// CR, LF or other control bytes are refused (the client gets a 500) rather than silently dropped.
public struct HTTPResponse: Sendable {
    /// The status line's code.
    public var status: HTTPStatus
    /// Header fields in the order they will be written.
    public var headers: HTTPHeaders
    /// The body bytes (omitted on the wire for HEAD).
    public var body: [UInt8]

    /// Creates a response with a byte body.
    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Creates a response with a UTF-8 text body, adding `Content-Type` unless one is given.
    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), text: String) {
        var headers = headers
        if !headers.contains("Content-Type") { headers.add("Content-Type", "text/plain; charset=utf-8") }
        self.init(status: status, headers: headers, body: Array(text.utf8))
    }

    /// Why a response cannot be written safely, or nil if it can. The server calls this before
    /// every write; handlers may call it earlier to fail in their own terms.
    public func validationFailure() -> HTTPResponseFailure? {
        guard (100...599).contains(status.code) else { return .invalidStatus(status.code) }
        for field in headers.fields {
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(isTokenByte) else {
                return .invalidHeaderName(field.name)
            }
            guard isValidFieldValue(field.value) else { return .invalidHeaderValue(name: field.name) }
            // Both managed names are long: most names are ruled out by their length alone.
            let nameLength = field.name.utf8.count
            if nameLength == 17, field.name.equalsASCIICaseInsensitive("Transfer-Encoding") {
                return .serverManagedHeader(field.name)
            }
            if nameLength == 14, field.name.equalsASCIICaseInsensitive("Content-Length"), field.value != String(body.count) {
                return .serverManagedHeader(field.name)
            }
        }
        return nil
    }
}

/// Why the server refused to write a handler's response (it sends 500 instead and reports this).
public enum HTTPResponseFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The status code is outside 100...599.
    case invalidStatus(Int)
    /// A header name is empty or has bytes outside the HTTP token set.
    case invalidHeaderName(String)
    /// A header value holds CR, LF, NUL or another control byte (a response-splitting attempt or a bug).
    /// The value itself is not kept, since it may be a secret.
    case invalidHeaderValue(name: String)
    /// `Transfer-Encoding`, or a `Content-Length` that disagrees with the body, which only the server may set.
    case serverManagedHeader(String)

    /// A log-safe explanation (never includes header values; names escaped and capped by `LogText`).
    public var description: String {
        switch self {
        case .invalidStatus(let code): "status \(code) is outside 100...599"
        case .invalidHeaderName(let name): "header name \(LogText.quoted(name)) is not an HTTP token"
        case .invalidHeaderValue(let name): "value of header \(LogText.quoted(name)) contains control bytes (CR/LF/NUL)"
        case .serverManagedHeader(let name): "header \(LogText.quoted(name)) is managed by the server"
        }
    }
}

/// RFC 9110 `tchar`.
@inline(__always)
func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
        UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
        UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

/// Visible bytes, space, tab and obs-text; never CR, LF, NUL or other controls.
@inline(__always)
func isFieldValueByte(_ byte: UInt8) -> Bool {
    byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
}

/// Whether every byte of `value` is a field-value byte. Every response header is checked before it is
/// written, receipts included (several hundred bytes each), so this reads the string's own storage
/// eight bytes at a time and looks at single bytes only in a word that holds a control byte.
func isValidFieldValue(_ value: String) -> Bool {
    if let result = value.utf8.withContiguousStorageIfAvailable(isValidFieldValue) { return result }
    return value.utf8.allSatisfy(isFieldValueByte)
}

private func isValidFieldValue(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    var index = 0
    while index + 8 <= bytes.count {
        let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
        // A high bit per byte below 0x20 or equal to 0x7F; the borrow trick only adds flags next
        // to a true one, so zero means a clean word. A flagged word (a tab, say) is read byte by byte.
        let delete = word ^ (ones &* 0x7F)
        let flags = (((word &- ones &* 0x20) & ~word) | ((delete &- ones) & ~delete)) & highs
        if flags != 0 {
            for offset in 0..<8 where !isFieldValueByte(base[index + offset]) { return false }
        }
        index += 8
    }
    while index < bytes.count {
        guard isFieldValueByte(base[index]) else { return false }
        index += 1
    }
    return true
}

extension String {
    /// ASCII case-insensitive comparison without allocating lowercased copies (header names are ASCII).
    func equalsASCIICaseInsensitive(_ other: String) -> Bool {
        // Header look-ups compare every field name this way: unequal lengths (O(1) on native
        // strings) end most comparisons before any byte is read.
        guard utf8.count == other.utf8.count else { return false }
        var left = utf8.makeIterator()
        var right = other.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil):
                return true
            case (let a?, let b?):
                if a != b && asciiLower(a) != asciiLower(b) { return false }
            default:
                return false
            }
        }
    }
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte | 0x20 : byte
}
