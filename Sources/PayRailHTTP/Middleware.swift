/// Wraps a handler: may change the request, answer early, or change the response of `next`.
public typealias HTTPMiddleware = @Sendable (_ request: HTTPRequest, _ next: @escaping HTTPHandler) async -> HTTPResponse

/// Composes middleware around a handler. The first middleware is the outermost: it sees the
/// request first and the response last.
public func chain(_ middleware: [HTTPMiddleware], handler: @escaping HTTPHandler) -> HTTPHandler {
    middleware.reversed().reduce(handler) { next, layer in
        { request in await layer(request, next) }
    }
}

/// Ready-made middleware.
public enum Middleware {
    /// The header carrying the request id, in and out.
    public static let requestIDHeader = "X-Request-Id"

    /// Gives every request an id: keeps a client's `X-Request-Id` if it is short and plain
    /// (letters, digits, `-`, `_`, `.`, at most 64), otherwise makes a random one, so logs from
    /// several services line up. The id is set on the request for later layers and echoed back.
    public static func requestID() -> HTTPMiddleware {
        { request, next in
            var request = request
            let id: String
            if let offered = request.headers[requestIDHeader], isPlainID(offered) {
                id = offered
            } else {
                id = randomID()
            }
            request.headers.set(requestIDHeader, id)
            var response = await next(request)
            response.headers.set(requestIDHeader, id)
            return response
        }
    }

    /// The most UTF-8 bytes of a request's method a log line carries (honest methods are short).
    public static let loggedMethodLimit = 32
    /// The most UTF-8 bytes of a request's path a log line carries.
    public static let loggedPathLimit = LogText.defaultLimit

    /// Writes one line per request: method, path (without the query, which may hold tokens),
    /// status, body size, duration and the request id if any. No other header value is ever
    /// written, so credentials such as `Authorization` cannot reach a log. Method and path are
    /// chosen by the client, so they go through `LogText.escaped` (control bytes escaped, length
    /// capped at `loggedMethodLimit` and `loggedPathLimit`): one request is one bounded line.
    public static func logging(_ write: @escaping @Sendable (String) -> Void) -> HTTPMiddleware {
        { request, next in
            let clock = ContinuousClock()
            let start = clock.now
            let response = await next(request)
            let elapsed = clock.now - start
            let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            let method = LogText.escaped(request.method, limit: loggedMethodLimit)
            let path = LogText.escaped(request.path, limit: loggedPathLimit)
            var line = "\(method) \(path) \(response.status.code) \(response.body.count)B \(micros)us"
            if let id = response.headers[requestIDHeader] ?? request.headers[requestIDHeader], isPlainID(id) {
                line += " id=\(id)"
            }
            write(line)
            return response
        }
    }

    static func isPlainID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A)
                    || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
            }
    }

    static func randomID() -> String {
        // Two 64-bit draws (two getrandom calls), not one per byte: this runs on every request.
        var generator = SystemRandomNumberGenerator()
        let words = [generator.next(), generator.next()]
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for word in words {
            for shift in stride(from: 60, through: 0, by: -4) {
                bytes.append(hex[Int((word >> UInt64(shift)) & 0x0F)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
