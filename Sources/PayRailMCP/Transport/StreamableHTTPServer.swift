import Foundation
import PayRailCrypto
import PayRailHTTP

/// An `MCPServer` on MCP's Streamable HTTP transport (MCP 2025-11-25 basic/transports, "Streamable
/// HTTP"), served by PayRailHTTP: one endpoint path taking POST (one JSON-RPC message each) and DELETE
/// (end a session); GET answers 405 because this server offers no standalone SSE stream.
///
/// - A request is answered with `application/json`, or with `text/event-stream` when the server sent
///   notifications (progress) before the response: PayRailHTTP writes whole bodies, so the stream's
///   events are sent together when the call ends. For the same reason the server cannot send requests
///   to the client here (no elicitation over this transport: `MCPCallContext.canElicit` is false).
/// - `Mcp-Session-Id` is assigned in the `initialize` answer and required afterwards (400 without
///   one, 404 for an unknown or ended one). `MCP-Protocol-Version` must name a revision we speak.
/// - `Origin`, when sent, must be allowed (loopback origins by default), against DNS rebinding
///   (the spec's "Security Warning"); bind the `HTTPServer` to loopback unless deliberately exposed.
public final class MCPStreamableHTTPServer: Sendable {
    /// Settings of the endpoint.
    public struct Options: Sendable {
        /// The endpoint's path.
        public var path: String
        /// Origins allowed to call (exact `scheme://host[:port]`); nil allows loopback origins only.
        /// Requests without an `Origin` header (non-browser clients) are always allowed.
        public var allowedOrigins: Set<String>?
        /// Sessions kept at once; an `initialize` beyond it gets 503 once idle sessions are gone.
        public var maxSessions: Int
        /// A session unused this long is forgotten (its client gets 404 and must initialize again).
        public var sessionIdleTimeout: Duration
        /// Notifications kept for one request's event stream; more are dropped (the response is not).
        public var maxEventsPerRequest: Int
        /// Requests one session may have running at once; more are answered -32603 "retry later".
        public var maxRunningPerSession: Int
        /// Sessions one client address may keep; its least recently used one is ended for a new one,
        /// so a client opening sessions in a loop only ever pushes out its own.
        public var maxSessionsPerClient: Int

        /// Creates settings.
        public init(path: String = "/mcp", allowedOrigins: Set<String>? = nil, maxSessions: Int = 1024,
                    sessionIdleTimeout: Duration = .seconds(1800), maxEventsPerRequest: Int = 1000, maxRunningPerSession: Int = 256,
                    maxSessionsPerClient: Int = 32) {
            self.path = path
            self.allowedOrigins = allowedOrigins
            self.maxSessions = maxSessions
            self.sessionIdleTimeout = sessionIdleTimeout
            self.maxEventsPerRequest = maxEventsPerRequest
            self.maxRunningPerSession = maxRunningPerSession
            self.maxSessionsPerClient = max(1, maxSessionsPerClient)
        }
    }

    private final class Session: Sendable {
        let state: MCPServerSession
        let clientAddress: String
        let running = Locked<[MCPRequestID: Task<Result<JSONValue, MCPError>?, Never>]>([:])
        let lastUsed = Locked(ContinuousClock.now)
        init(_ state: MCPServerSession, clientAddress: String) {
            self.state = state
            self.clientAddress = clientAddress
        }
        var isBusy: Bool { running.withLock { !$0.isEmpty } }
    }

    /// The server behind the endpoint.
    public let server: MCPServer
    /// The endpoint's settings.
    public let options: Options
    private let sessions = Locked<[String: Session]>([:])

    /// Creates an endpoint for `server`.
    public init(server: MCPServer, options: Options = Options()) {
        self.server = server
        self.options = options
    }

    /// A handler answering the endpoint path (404 elsewhere), for `HTTPServer(handler:)`.
    public var handler: HTTPHandler {
        { [self] request in
            guard request.path == options.path else { return HTTPResponse(status: .notFound, text: "not found\n") }
            return await handle(request)
        }
    }

    /// Adds the endpoint's routes to `router`.
    public func install(into router: inout Router) {
        for method in ["POST", "GET", "DELETE"] { router.add(method, options.path) { [self] in await handle($0) } }
    }

    /// The number of live sessions.
    public var sessionCount: Int { sessions.withLock { $0.count } }

    /// Answers one request to the endpoint.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        guard originAllowed(request.headers["Origin"]) else {
            return Self.plain(.forbidden, "origin not allowed")
        }
        switch request.method {
        case "POST": return await post(request)
        case "DELETE": return delete(request)
        default: return HTTPResponse(status: .methodNotAllowed, headers: ["Allow": "POST, DELETE"], text: "method not allowed\n")
        }
    }

    private func post(_ request: HTTPRequest) async -> HTTPResponse {
        let accept = request.headers.values(for: "Accept").joined(separator: ",").lowercased()
        guard (accept.contains("application/json") && accept.contains("text/event-stream")) || accept.contains("*/*") else {
            return Self.plain(406, "Accept must list application/json and text/event-stream")
        }
        let contentType = (request.headers["Content-Type"] ?? "").lowercased()
        guard contentType.hasPrefix("application/json") else { return Self.plain(415, "Content-Type must be application/json") }
        let message: JSONRPCMessage
        do throws(JSONRPCParseFailure) {
            message = try JSONRPCCodec.decode(request.body)
        } catch {
            return Self.json(.badRequest, error.answer)
        }
        if let version = request.headers["MCP-Protocol-Version"]?.trimmingCharacters(in: .whitespaces),
           !MCPProtocolVersion.supported.contains(version) {
            return Self.json(.badRequest, .errorResponse(id: message.id, error: MCPError(
                code: MCPError.invalidRequest, message: "unsupported MCP-Protocol-Version; supported: \(MCPProtocolVersion.supported.joined(separator: ", "))")))
        }
        if case .request(let id, "initialize", let params) = message {
            return await initialize(id: id, params: params, clientAddress: request.clientAddress)
        }
        guard let sessionID = request.headers["Mcp-Session-Id"]?.trimmingCharacters(in: .whitespaces), !sessionID.isEmpty else {
            return Self.json(.badRequest, .errorResponse(id: message.id, error: MCPError(
                code: MCPError.invalidRequest, message: "Mcp-Session-Id header required: send initialize first")))
        }
        guard let session = touch(sessionID) else {
            return Self.json(.notFound, .errorResponse(id: message.id, error: MCPError(
                code: MCPError.invalidRequest, message: "unknown or ended session: initialize again")))
        }
        // basic/transports, "Protocol Version Header": the revision negotiated for this session.
        if let version = request.headers["MCP-Protocol-Version"]?.trimmingCharacters(in: .whitespaces),
           let negotiated = await session.state.protocolVersion, version != negotiated {
            return Self.json(.badRequest, .errorResponse(id: message.id, error: MCPError(
                code: MCPError.invalidRequest, message: "MCP-Protocol-Version \(version.prefix(32)) is not this session's (\(negotiated))")))
        }
        switch message {
        case .request(let id, let method, let params):
            return await run(id: id, method: method, params: params, in: session)
        case .notification("notifications/cancelled", let params):
            if let raw = params?["requestId"], let id = try? JSONRPCCodec.requestID(raw) {
                session.running.withLock { $0[id] }?.cancel()
            }
            return HTTPResponse(status: 202)
        case .notification(let method, let params):
            await session.state.notification(method, params: params)
            return HTTPResponse(status: 202)
        case .response, .errorResponse:
            // This server never sends requests to the client, so there is nothing to match.
            return HTTPResponse(status: 202)
        }
    }

    private func initialize(id: MCPRequestID, params: [String: JSONValue]?, clientAddress: String) async -> HTTPResponse {
        let sessionID = Self.newSessionID()
        let state = MCPServerSession(server: server, sessionID: sessionID, clientAddress: clientAddress)
        let answer = await state.handle(id: id, method: "initialize", params: params, outbound: .none)
        guard case .success(let result)? = answer else {
            let error: MCPError
            if case .failure(let failure)? = answer { error = failure } else { error = MCPError(code: MCPError.internalError, message: "no answer") }
            return Self.json(.ok, .errorResponse(id: id, error: error))
        }
        let admitted = sessions.withLock { sessions -> Bool in
            Self.makeRoom(in: &sessions, for: clientAddress, options: options)
            guard sessions.count < options.maxSessions else { return false }
            sessions[sessionID] = Session(state, clientAddress: clientAddress)
            return true
        }
        guard admitted else {
            server.diagnostics("MCP HTTP: refused a new session: \(options.maxSessions) sessions are live")
            return Self.plain(.serviceUnavailable, "too many sessions; retry later")
        }
        var response = Self.json(.ok, .response(id: id, result: result))
        response.headers.add("Mcp-Session-Id", sessionID)
        return response
    }

    /// Frees a place for a new session of `client`: its own least recently used idle session when it
    /// has its share, else expired sessions, else the least recently used idle session of anyone
    /// (its client gets 404 and initializes again, as basic/transports says). Sessions running a
    /// request are never ended here.
    private static func makeRoom(in sessions: inout [String: Session], for client: String, options: Options) {
        func leastRecentlyUsedIdle(_ candidates: [(key: String, value: Session)]) -> String? {
            candidates.filter { !$0.value.isBusy }.min { $0.value.lastUsed.withLock { $0 } < $1.value.lastUsed.withLock { $0 } }?.key
        }
        let own = sessions.filter { $0.value.clientAddress == client }
        if own.count >= options.maxSessionsPerClient, let oldest = leastRecentlyUsedIdle(Array(own)) {
            sessions[oldest] = nil
        }
        guard sessions.count >= options.maxSessions else { return }
        let now = ContinuousClock.now
        sessions = sessions.filter { $0.value.isBusy || now - $0.value.lastUsed.withLock { $0 } < options.sessionIdleTimeout }
        if sessions.count >= options.maxSessions, let oldest = leastRecentlyUsedIdle(Array(sessions)) { sessions[oldest] = nil }
    }

    private func run(id: MCPRequestID, method: String, params: [String: JSONValue]?, in session: Session) async -> HTTPResponse {
        let events = Locked<[JSONRPCMessage]>([])
        let limit = options.maxEventsPerRequest
        let outbound = MCPOutbound(notify: { method, params in
            events.withLock { if $0.count < limit { $0.append(.notification(method: method, params: params)) } }
        }, request: nil)
        let state = session.state
        // The task is made under the lock, only once the id is known to be free: a duplicate id must
        // never start a second call, even briefly.
        let maxRunning = options.maxRunningPerSession
        let started = session.running.withLock { running -> Result<Task<Result<JSONValue, MCPError>?, Never>, MCPError> in
            guard running[id] == nil else {
                return .failure(MCPError(code: MCPError.invalidRequest, message: "request id \(id) is already running"))
            }
            guard running.count < maxRunning else {
                return .failure(MCPError(code: MCPError.internalError, message: "too many requests at once; retry later"))
            }
            let task = Task { await state.handle(id: id, method: method, params: params, outbound: outbound) }
            running[id] = task
            return .success(task)
        }
        let task: Task<Result<JSONValue, MCPError>?, Never>
        switch started {
        case .success(let made): task = made
        case .failure(let error): return Self.json(.ok, .errorResponse(id: id, error: error))
        }
        // The HTTP request itself being abandoned (the client went away, the handler timeout) cancels the call.
        let answer = await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
        _ = session.running.withLock { $0.removeValue(forKey: id) }
        var stream = events.withLock { $0 }
        switch answer {
        case .success(let result)?: stream.append(.response(id: id, result: result))
        case .failure(let error)?: stream.append(.errorResponse(id: id, error: error))
        case nil: break
        }
        if stream.count == 1, let only = stream.first, answer != nil { return Self.json(.ok, only) }
        var body: [UInt8] = []
        for event in stream {
            body += Array("event: message\ndata: ".utf8) + JSONRPCCodec.encode(event) + Array("\n\n".utf8)
        }
        return HTTPResponse(status: .ok, headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache"], body: body)
    }

    private func delete(_ request: HTTPRequest) -> HTTPResponse {
        guard let sessionID = request.headers["Mcp-Session-Id"]?.trimmingCharacters(in: .whitespaces), !sessionID.isEmpty else {
            return Self.plain(.badRequest, "Mcp-Session-Id header required")
        }
        guard let session = sessions.withLock({ $0.removeValue(forKey: sessionID) }) else {
            return Self.plain(.notFound, "unknown or ended session")
        }
        for task in session.running.withLock({ Array($0.values) }) { task.cancel() }
        return HTTPResponse(status: .ok)
    }

    private func touch(_ sessionID: String) -> Session? {
        let now = ContinuousClock.now
        return sessions.withLock { sessions -> Session? in
            guard let session = sessions[sessionID] else { return nil }
            let idle = session.lastUsed.withLock { last -> Duration in
                defer { last = now }
                return now - last
            }
            guard idle < options.sessionIdleTimeout else {
                sessions.removeValue(forKey: sessionID)
                return nil
            }
            return session
        }
    }

    func originAllowed(_ origin: String?) -> Bool {
        guard let origin = origin?.trimmingCharacters(in: .whitespaces) else { return true }
        if let allowed = options.allowedOrigins { return allowed.contains(origin) }
        guard let components = URLComponents(string: origin), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host?.lowercased(),
              components.path.isEmpty || components.path == "/" else { return false }
        return ["localhost", "127.0.0.1", "[::1]", "::1"].contains(host)
    }

    static func newSessionID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let word = generator.next() as UInt64
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    private static func json(_ status: HTTPStatus, _ message: JSONRPCMessage) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: JSONRPCCodec.encode(message))
    }

    private static func plain(_ status: HTTPStatus, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, text: text + "\n")
    }
}
