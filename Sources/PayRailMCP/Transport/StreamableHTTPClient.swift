import Foundation
import PayRailCrypto
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The client side of MCP's Streamable HTTP transport (MCP 2025-11-25 basic/transports): every message
/// is one POST to the endpoint; a request's answer comes back as `application/json` or as a
/// `text/event-stream` that may carry the server's notifications and requests (elicitation) before
/// the response. The `Mcp-Session-Id` from `initialize` and the negotiated `MCP-Protocol-Version` go
/// with every later message; `close()` ends the session with DELETE.
///
/// Bodies are read as they arrive and bounded (one message at most `messageLimit` bytes, one answer at
/// most `streamLimit`); redirects are not followed.
public final class MCPStreamableHTTPClientTransport: MCPMessageTransport {
    private struct State {
        var pump: InboundPump?
        var sessionID: String?
        var protocolVersion: String?
        var posts: [MCPRequestID: URLSessionDataTask] = [:]
        var closed = false
    }

    /// The endpoint.
    public let url: URL
    private let extraHeaders: [String: String]
    private let messageLimit: Int
    private let streamLimit: Int
    private let state = Locked(State())
    private let delegate = StreamingDelegate()
    private let session: URLSession

    /// Creates a transport for the endpoint `url`.
    ///
    /// - Parameters:
    ///   - headers: sent with every request (an `Authorization`, say); never logged.
    ///   - idleTimeout: how long a POST may go without a byte before it fails (the client's request
    ///     deadline bounds each call as a whole).
    public init(url: URL, headers: [String: String] = [:], messageLimit: Int = JSONRPCCodec.defaultMessageLimit,
                streamLimit: Int = 4 * JSONRPCCodec.defaultMessageLimit, idleTimeout: TimeInterval = 300) {
        self.url = url
        self.extraHeaders = headers
        self.messageLimit = messageLimit
        self.streamLimit = streamLimit
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.urlCache = nil
        configuration.timeoutIntervalForRequest = idleTimeout
        // A remote trickling bytes resets the idle timeout for ever: the whole answer gets an hour.
        configuration.timeoutIntervalForResource = max(idleTimeout, 3_600)
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
    }

    /// The session id the server assigned, once initialized.
    public var sessionID: String? { state.withLock { $0.sessionID } }

    /// Starts delivering what the server sends.
    public func start(_ receive: @escaping @Sendable (MCPInbound) async -> Void) async throws(MCPTransportError) {
        state.withLock { $0.pump = InboundPump(receive) }
    }

    /// Remembers the revision to send as `MCP-Protocol-Version`.
    public func negotiated(protocolVersion: String) async {
        state.withLock { $0.protocolVersion = protocolVersion }
    }

    /// POSTs one message; a request's answer (and whatever precedes it) is delivered as it arrives.
    public func send(_ message: JSONRPCMessage) async throws(MCPTransportError) {
        guard let pump = state.withLock({ $0.closed ? nil : $0.pump }) else {
            throw MCPTransportError(reason: "the transport is closed", mayHaveBeenDelivered: false)
        }
        let request = makeRequest(method: "POST", body: JSONRPCCodec.encode(message))
        var onHead: (@Sendable ([String: String]) -> Void)?
        if case .request(_, "initialize", _) = message {
            // Kept before any message of the answer is handed on: the client's next message needs it.
            onHead = { [state] headers in
                // basic/transports, "Session Management": visible ASCII only (0x21-0x7E); anything
                // else is not a session id this client will send back in a header.
                if let id = headers["mcp-session-id"], !id.isEmpty, id.utf8.count <= 256,
                   id.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) {
                    state.withLock { $0.sessionID = id }
                }
            }
        }
        let reader = AnswerReader(limit: messageLimit, streamLimit: streamLimit, pump: pump, awaiting: Self.awaited(message), onHead: onHead)
        let task = session.dataTask(with: request)
        if case .request(let id, _, _) = message { state.withLock { $0.posts[id] = task } }
        defer { if case .request(let id, _, _) = message { _ = state.withLock { $0.posts.removeValue(forKey: id) } } }
        let outcome = await reader.run(task, delegate: delegate)
        try check(outcome, for: message)
        if case .notification("notifications/cancelled", let params) = message,
           let raw = params?["requestId"], let id = try? JSONRPCCodec.requestID(raw) {
            // The caller gave up on that request: stop reading its answer too.
            state.withLock { $0.posts[id] }?.cancel()
        }
    }

    private func check(_ outcome: AnswerReader.Outcome, for message: JSONRPCMessage) throws(MCPTransportError) {
        if let failure = outcome.failure {
            throw MCPTransportError(reason: failure, mayHaveBeenDelivered: outcome.status != nil || outcome.mayHaveBeenSent)
        }
        guard let status = outcome.status else { return }
        guard case .request = message else {
            guard (200..<300).contains(status) else {
                throw MCPTransportError(reason: "the server answered HTTP \(status) to a \(Self.kind(message))", mayHaveBeenDelivered: status >= 500)
            }
            return
        }
        guard !outcome.answered else { return }
        if status == 404, state.withLock({ $0.sessionID }) != nil {
            throw MCPTransportError(reason: "the session ended on the server (HTTP 404): connect again", mayHaveBeenDelivered: false)
        }
        throw MCPTransportError(reason: "HTTP \(status) without an answer to the request", mayHaveBeenDelivered: !(400..<500).contains(status))
    }

    /// Ends the session (DELETE; a 405 means the server does not allow it, which is fine) and the transport.
    public func close() async {
        let (pump, sessionID, posts) = state.withLock { state -> (InboundPump?, String?, [URLSessionDataTask]) in
            guard !state.closed else { return (nil, nil, []) }
            state.closed = true
            return (state.pump, state.sessionID, Array(state.posts.values))
        }
        guard let pump else { return }
        for post in posts { post.cancel() }
        if sessionID != nil {
            let reader = AnswerReader(limit: 4096, streamLimit: 4096, pump: nil, awaiting: nil, onHead: nil)
            _ = await reader.run(session.dataTask(with: makeRequest(method: "DELETE", body: nil)), delegate: delegate)
        }
        pump.yield(.closed(MCPTransportError(reason: "the connection was closed", mayHaveBeenDelivered: true)))
        session.finishTasksAndInvalidate()
    }

    private func makeRequest(method: String, body: [UInt8]?) -> URLRequest {
        var request = URLRequest(url: url)
        request.httpMethod = method
        for (name, value) in extraHeaders { request.setValue(value, forHTTPHeaderField: name) }
        request.setValue("application/json, text/event-stream", forHTTPHeaderField: "Accept")
        let (sessionID, version) = state.withLock { ($0.sessionID, $0.protocolVersion) }
        if let sessionID { request.setValue(sessionID, forHTTPHeaderField: "Mcp-Session-Id") }
        if let version { request.setValue(version, forHTTPHeaderField: "MCP-Protocol-Version") }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body)
        }
        return request
    }

    private static func awaited(_ message: JSONRPCMessage) -> MCPRequestID? {
        if case .request(let id, _, _) = message { return id }
        return nil
    }

    private static func kind(_ message: JSONRPCMessage) -> String {
        if case .notification = message { return "notification" }
        return "response"
    }
}

/// Reads one answer as it arrives: JSON kept up to its limit, an event stream parsed event by event
/// and each message handed to the pump at once (the server may be waiting for our answer to one).
private final class AnswerReader: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`; URLSession calls in from its delegate queue.
    struct Outcome: Sendable {
        var status: Int?
        var headers: [String: String] = [:]
        var answered = false
        var failure: String?
        var mayHaveBeenSent = true
    }

    private let lock = NSLock()
    private let limit: Int
    private let streamLimit: Int
    private let pump: InboundPump?
    private let awaiting: MCPRequestID?
    private var outcome = Outcome()
    private var isStream = false
    private var buffer: [UInt8] = []
    private var received = 0
    private var parser: ServerSentEventParser
    private var continuation: CheckedContinuation<Outcome, Never>?
    private let onHead: (@Sendable ([String: String]) -> Void)?

    init(limit: Int, streamLimit: Int, pump: InboundPump?, awaiting: MCPRequestID?, onHead: (@Sendable ([String: String]) -> Void)?) {
        self.onHead = onHead
        self.limit = limit
        self.streamLimit = streamLimit
        self.pump = pump
        self.awaiting = awaiting
        parser = ServerSentEventParser(limit: limit)
    }

    func run(_ task: URLSessionDataTask, delegate: StreamingDelegate) async -> Outcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                lock.withLock { self.continuation = continuation }
                delegate.register(self, for: task)
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }

    func head(_ response: URLResponse) {
        lock.withLock {
            guard let http = response as? HTTPURLResponse else { return }
            outcome.status = http.statusCode
            for (key, value) in http.allHeaderFields {
                if let key = key as? String, let value = value as? String { outcome.headers[key.lowercased()] = value }
            }
            isStream = (outcome.headers["content-type"] ?? "").lowercased().hasPrefix("text/event-stream")
            onHead?(outcome.headers)
        }
    }

    /// Takes a chunk; false stops reading (a limit passed).
    func body(_ data: Data) -> Bool {
        var messages: [MCPInbound] = []
        let keepGoing = lock.withLock { () -> Bool in
            received += data.count
            guard received <= streamLimit else {
                outcome.failure = "the answer is larger than \(streamLimit) bytes"
                return false
            }
            guard isStream else {
                buffer.append(contentsOf: data)
                guard buffer.count <= limit else {
                    outcome.failure = "the answer is larger than \(limit) bytes"
                    return false
                }
                return true
            }
            do throws(ServerSentEventParser.Overflow) {
                for event in try parser.feed(data) where event.type == "message" && !event.data.isEmpty {
                    messages.append(take(event.data))
                }
                return true
            } catch {
                outcome.failure = "an event of the answer is larger than \(limit) bytes"
                return false
            }
        }
        for message in messages { pump?.yield(message) }
        return keepGoing
    }

    /// Reads one message of the answer (the caller holds `lock`).
    private func take(_ bytes: [UInt8]) -> MCPInbound {
        let inbound = LineFramer.inbound(.line(bytes), limit: limit)
        if case .message(let message) = inbound, let awaiting, message.id == awaiting {
            switch message {
            case .response, .errorResponse: outcome.answered = true
            default: break
            }
        }
        return inbound
    }

    func complete(_ error: (any Error)?) {
        var messages: [MCPInbound] = []
        let (continuation, result) = lock.withLock { () -> (CheckedContinuation<Outcome, Never>?, Outcome) in
            if let error, outcome.failure == nil {
                outcome.failure = "\(error.localizedDescription)"
                if let urlError = error as? URLError, [.cannotConnectToHost, .cannotFindHost, .badURL].contains(urlError.code) {
                    outcome.mayHaveBeenSent = false
                }
            }
            let contentType = (outcome.headers["content-type"] ?? "").lowercased()
            if error == nil, !isStream, !buffer.isEmpty, contentType.hasPrefix("application/json") {
                messages.append(take(buffer))
            }
            defer { self.continuation = nil }
            return (self.continuation, outcome)
        }
        for message in messages { pump?.yield(message) }
        continuation?.resume(returning: result)
    }
}

/// The session's delegate: swift-corelibs-foundation ignores per-task delegates, so one delegate
/// routes every task's callbacks to its reader.
private final class StreamingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `readers` is guarded by `lock`.
    private let lock = NSLock()
    private var readers: [Int: AnswerReader] = [:]

    func register(_ reader: AnswerReader, for task: URLSessionTask) {
        lock.withLock { readers[task.taskIdentifier] = reader }
    }

    private func reader(_ task: URLSessionTask) -> AnswerReader? {
        lock.withLock { readers[task.taskIdentifier] }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        reader(dataTask)?.head(response)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let reader = reader(dataTask) else { return }
        if !reader.body(data) { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let reader = lock.withLock { readers.removeValue(forKey: task.taskIdentifier) }
        reader?.complete(error)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        // Never follow: a session id or credential must not travel to another URL.
        completionHandler(nil)
    }
}
