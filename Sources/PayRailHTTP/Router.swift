/// Maps method + path to handlers; answers 404 when no pattern matches the path and 405 (with
/// `Allow`) when the path matches but not the method.
///
/// Patterns are deliberately small: exact segments, `*` for exactly one segment, and a final `*`
/// for one or more remaining segments (a prefix). `/files/*` matches `/files/a` and `/files/a/b`
/// but not `/files`. Matching is on the raw (percent-encoded) path, so `%2F` never splits a segment.
/// Routes are tried in the order they were added; the first match wins.
public struct Router: Sendable {
    private struct Route: Sendable {
        let method: String
        let segments: [Substring]
        let handler: HTTPHandler
    }

    private var routes: [Route] = []

    /// Creates an empty router (every request gets 404 until routes are added).
    public init() {}

    /// Adds a route. `method` is matched exactly ("GET"); a GET route also answers HEAD.
    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping HTTPHandler) {
        routes.append(Route(method: method, segments: Router.segments(of: pattern), handler: handler))
    }

    /// Shorthand for `add("GET", pattern, handler)`.
    public mutating func get(_ pattern: String, _ handler: @escaping HTTPHandler) { add("GET", pattern, handler) }

    /// Shorthand for `add("POST", pattern, handler)`.
    public mutating func post(_ pattern: String, _ handler: @escaping HTTPHandler) { add("POST", pattern, handler) }

    /// Routes one request.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let path = Router.segments(of: request.path)
        var allowed: [String] = []
        for route in routes where Router.matches(route.segments, path) {
            if route.method == request.method || (request.method == "HEAD" && route.method == "GET") {
                return await route.handler(request)
            }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        if allowed.isEmpty {
            return HTTPResponse(status: .notFound, text: "not found\n")
        }
        if allowed.contains("GET") && !allowed.contains("HEAD") { allowed.append("HEAD") }
        return HTTPResponse(status: .methodNotAllowed, headers: ["Allow": allowed.joined(separator: ", ")], text: "method not allowed\n")
    }

    /// The router as a server handler (`HTTPServer(handler: router.handler)`).
    public var handler: HTTPHandler {
        let router = self
        return { await router.handle($0) }
    }

    private static func segments(of path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    private static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        for (index, segment) in pattern.enumerated() {
            let isLast = index == pattern.count - 1
            if segment == "*" && isLast {
                return path.count > index
            }
            guard index < path.count else { return false }
            if segment != "*" && segment != path[index] { return false }
        }
        return pattern.count == path.count
    }
}
