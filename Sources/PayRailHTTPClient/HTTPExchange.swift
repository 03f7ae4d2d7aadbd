import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// Every body PayRail reads over URLSession comes through here, counted as it arrives: a hostile
// server (or anything between) can send a 402, a key set, a resource or a backend's JSON answer of
// any size, or drip it a byte at a time, and none of that may grow the agent's or the gate's memory
// past a limit or keep a call running past its deadline. So a body is never
// collected by URLSession (`data(for:)` buffers it whole before anyone can look); the session's
// delegate sees each chunk, the exchange keeps or streams it against a limit, and cancels the task
// the moment the limit or the deadline is passed.

/// What an exchange does with an answer's body once its status and header fields are known.
public enum BodyHandling: Sendable {
    /// Keep at most `limit` bytes in memory; more stops reading and marks the body truncated.
    case buffer(limit: Int)
    /// Hand each chunk to `sink` as it arrives (nothing is kept), stopping after `limit` bytes.
    case stream(limit: Int, sink: ResponseBodySink)
}

/// Why an exchange gave no answer.
public enum ExchangeFailure: Error, Sendable, Hashable {
    /// The call's deadline passed before the answer was complete: the request may have been acted on.
    case deadline
    /// The request never left (connection refused, unknown host, bad URL, TLS handshake refused):
    /// nothing happened at the server, so a retry is safe.
    case notSent(String)
    /// URLSession failed after the request may have left (reset, an idle timeout): its effect is unknown.
    case transport(String)

    /// Whether sending the same request again cannot act twice (only when it never left).
    public var isRetrySafe: Bool {
        if case .notSent = self { return true }
        return false
    }
}

/// One HTTP exchange over URLSession, with redirects never followed (a credential must not travel to
/// another URL than the one that asked for it) and every body bounded while it is read.
public struct HTTPExchange: Sendable {
    /// One header field as sent or received (names compare case-insensitively).
    public struct Field: Sendable, Hashable {
        /// The field name.
        public var name: String
        /// The field value.
        public var value: String

        /// Creates a field.
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// An answer: its head, and its body as far as the limit allowed.
    public struct Response: Sendable {
        /// The HTTP status.
        public let status: Int
        /// The header fields as received.
        public let headers: [Field]
        /// What was kept (nothing when the body was streamed).
        public let body: [UInt8]
        /// Whether reading stopped at the limit: `body` (or what was streamed) is only the start.
        public let truncated: Bool

        /// The first value of the field `name`, compared case-insensitively.
        public func header(_ name: String) -> String? { headers.first(named: name) }
    }

    /// The session; its delegate must be one `makeSession()` or `refusingRedirects(like:)` made.
    public let session: URLSession
    /// The idle timeout of each exchange, in seconds (the deadline bounds the whole of it).
    public let timeout: TimeInterval

    /// Creates an exchange over `session`, which must come from `makeSession()` or `refusingRedirects(like:)`.
    public init(session: URLSession, timeout: TimeInterval) {
        self.session = session
        self.timeout = timeout
    }

    /// A session that bounds bodies and refuses redirects: ephemeral, no cookies, no cache.
    public static func makeSession() -> URLSession {
        makeSession(configuration: .ephemeral)
    }

    /// A session that bounds bodies and refuses redirects, on `configuration` (a connection pool
    /// size, an idle timeout) with cookies and the cache always off: a caller's tuning, never a
    /// cookie jar or a cached answer shared between the requests it carries.
    public static func makeSession(configuration: URLSessionConfiguration) -> URLSession {
        let configuration = configuration.copy() as? URLSessionConfiguration ?? .ephemeral
        configuration.httpShouldSetCookies = false
        // Never sent, so never kept either: with any other policy URLSession parses every header line
        // of every answer looking for Set-Cookie, on every paid call.
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        return URLSession(configuration: configuration, delegate: ExchangeDelegate(forwardingTo: nil), delegateQueue: nil)
    }

    /// A session like `session` that never follows a redirect and never answers from a cache, keeping
    /// its cookie settings: `refusingRedirects(like:keepingCookies:)` with `true`.
    public static func refusingRedirects(like session: URLSession) -> URLSession {
        refusingRedirects(like: session, keepingCookies: true)
    }

    /// A session like `session` (same configuration: proxies, timeouts, protocol classes, headers) that
    /// never follows a redirect and never answers from a cache, with `session`'s delegate still
    /// answering authentication challenges (a pinning delegate keeps pinning).
    ///
    /// Only a session's own delegate can refuse a redirect or see a body arrive here:
    /// swift-corelibs-foundation ignores per-task delegates, so a caller's session is never used as it is.
    /// The cache is always off: a 402, a paid answer and a backend's answer are each for one request,
    /// and an `.ephemeral` configuration's in-memory cache was looked up on every exchange.
    ///
    /// - Parameter keepingCookies: `false` also turns cookies off (a payment backend's API needs
    ///   none, and a cookie jar would be state shared between unrelated calls); `true` keeps the
    ///   caller's cookie settings (a paying client's caller may log in to its API with a cookie).
    public static func refusingRedirects(like session: URLSession, keepingCookies: Bool) -> URLSession {
        let configuration = session.configuration.copy() as? URLSessionConfiguration ?? session.configuration
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        if !keepingCookies {
            configuration.httpShouldSetCookies = false
            configuration.httpCookieAcceptPolicy = .never
            configuration.httpCookieStorage = nil
        }
        return URLSession(configuration: configuration, delegate: ExchangeDelegate(forwardingTo: session.delegate), delegateQueue: nil)
    }

    /// Sends one request and reads its answer; `handling` chooses, from the status and header fields,
    /// whether the body is kept or streamed and up to how many bytes.
    ///
    /// - Throws: `ExchangeFailure.deadline` when `deadline` passes first (the task is cancelled then),
    ///   `.notSent` when the request never left, `.transport` when no complete answer came back.
    public func send(
        method: String, url: URL, headers: [Field], body: [UInt8]?, deadline: ContinuousClock.Instant?,
        handling: @escaping @Sendable (Int, [Field]) -> BodyHandling
    ) async throws(ExchangeFailure) -> Response {
        guard let delegate = session.delegate as? ExchangeDelegate else {
            throw .notSent("the session cannot bound bodies (not made by HTTPExchange)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let deadline, Self.seconds(from: .now, to: deadline) <= 0 { throw .deadline }
        // The idle timeout stays as it is: the deadline is the exchange's own timer, so that running
        // out of time is told apart from a server that went quiet.
        request.timeoutInterval = timeout
        for field in headers { request.addValue(field.value, forHTTPHeaderField: field.name) }
        if let body { request.httpBody = Data(body) }

        let task = session.dataTask(with: request)
        let receiver = BodyReceiver(handling: handling, expectsBody: method != "HEAD")
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Response, ExchangeFailure>, Never>) in
                receiver.start(continuation)
                delegate.register(receiver, for: task)
                if let deadline {
                    let left = Self.seconds(from: .now, to: deadline)
                    DispatchQueue.global().asyncAfter(deadline: .now() + max(0, left)) {
                        if receiver.expire() { task.cancel() }
                    }
                }
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
        return try result.get()
    }

    /// The seconds from `start` to `end` (negative when `end` is past).
    public static func seconds(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> TimeInterval {
        let components = (end - start).components
        return Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Where a streamed body goes: a file descriptor, a pipe, a hash. Counts what it was given, so a
/// caller can tell whether any of an answer already left (and must then not be sent again).
public final class ResponseBodySink: @unchecked Sendable {
    // @unchecked: `written` is guarded by `lock`; `write` is called from one URLSession queue at a time.
    private let write: @Sendable ([UInt8]) -> Bool
    private let lock = NSLock()
    private var written = 0

    /// Creates a sink; `write` returns `false` when it cannot take more (a closed pipe), which stops
    /// reading the answer.
    public init(_ write: @escaping @Sendable ([UInt8]) -> Bool) {
        self.write = write
    }

    /// How many bytes the sink was given.
    public var bytesWritten: Int { lock.withLock { written } }

    /// Writes one chunk, counting it; `false` when the sink refused it (stop reading then).
    public func accept(_ chunk: [UInt8]) -> Bool {
        lock.withLock { written += chunk.count }
        return write(chunk)
    }
}

/// One exchange's answer as it arrives: the head, the body against its limit, and the way out
/// (complete, truncated at the limit, cut by the deadline, failed), resumed exactly once.
private final class BodyReceiver: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`; URLSession calls in from its delegate queue and the
    // deadline from a dispatch queue.
    private let lock = NSLock()
    private let handling: @Sendable (Int, [HTTPExchange.Field]) -> BodyHandling
    private var continuation: CheckedContinuation<Result<HTTPExchange.Response, ExchangeFailure>, Never>?
    private var head: (status: Int, headers: [HTTPExchange.Field], handling: BodyHandling)?
    private var kept: [UInt8] = []
    private var count = 0
    private var truncated = false
    private var expired = false
    private var finished = false
    private var cancelClaimed = false
    /// `false` for a HEAD request: its answer's `Content-Length` is the size of the body a GET would
    /// get, and no body follows.
    private let expectsBody: Bool

    init(handling: @escaping @Sendable (Int, [HTTPExchange.Field]) -> BodyHandling, expectsBody: Bool) {
        self.handling = handling
        self.expectsBody = expectsBody
    }

    func start(_ continuation: CheckedContinuation<Result<HTTPExchange.Response, ExchangeFailure>, Never>) {
        lock.withLock { self.continuation = continuation }
    }

    /// Reads the head once (from the response callback or the first chunk, whichever comes first).
    private func headLocked(_ response: URLResponse?) -> (status: Int, headers: [HTTPExchange.Field], handling: BodyHandling)? {
        if let head { return head }
        guard let http = response as? HTTPURLResponse else { return nil }
        var fields: [HTTPExchange.Field] = []
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields.append(HTTPExchange.Field(key, value)) }
        }
        let made = (http.statusCode, fields, handling(http.statusCode, fields))
        head = made
        return made
    }

    /// Reads the head; `false` when its `Content-Length` is already over the limit (stop before any
    /// body byte is read or written: a partial answer is worth nothing, like curl's --max-filesize).
    func received(_ response: URLResponse) -> Bool {
        lock.withLock {
            guard let head = headLocked(response) else { return true }
            // A HEAD, 1xx, 204 or 304 answer has no body whatever its Content-Length says (RFC 9110
            // 8.6, 9.3.2): refusing it would turn a proxied HEAD of a large file into an error.
            // Any byte that does arrive is still counted against the limit below.
            guard expectsBody, head.status >= 200, head.status != 204, head.status != 304 else { return true }
            let limit: Int
            switch head.handling {
            case .buffer(let max), .stream(let max, _): limit = max
            }
            guard let declared = head.headers.first(named: "Content-Length").flatMap({ Int($0) }), declared > limit else { return true }
            truncated = true
            return false
        }
    }

    /// Takes one chunk; `false` means stop reading (the limit was passed or the sink refused).
    func received(_ data: Data, response: URLResponse?) -> Bool {
        let sink: ResponseBodySink?
        let chunk: [UInt8]
        do {
            lock.lock()
            defer { lock.unlock() }
            guard !finished, !truncated, !expired, let head = headLocked(response) else { return false }
            let limit: Int
            switch head.handling {
            case .buffer(let max): limit = max; sink = nil
            case .stream(let max, let given): limit = max; sink = given
            }
            let room = max(0, limit - count)
            chunk = data.count > room ? Array(data.prefix(room)) : Array(data)
            count += chunk.count
            if data.count > room { truncated = true }
            if sink == nil { kept.append(contentsOf: chunk) }
        }
        // Written outside the lock: a slow stdout must not hold up the deadline.
        if let sink, !chunk.isEmpty, !sink.accept(chunk) {
            lock.withLock { truncated = true }
            return false
        }
        return lock.withLock { !truncated }
    }

    /// `true` the first time only: the task is cancelled once, however many chunks arrive after the
    /// limit (each cancel queues work on the session's busy work queue and a thread of its own).
    func claimCancel() -> Bool {
        lock.withLock {
            defer { cancelClaimed = true }
            return !cancelClaimed
        }
    }

    /// Answers now with what was kept, marked truncated, without waiting for URLSession to finish the
    /// cancelled task: swift-corelibs-foundation reads on until its cancel lands, and the caller has
    /// nothing more to wait for (what arrives later is dropped).
    func finishTruncated(response: URLResponse?) {
        completed(nil, response: response)
    }

    /// Marks the deadline as passed; `true` when the answer was still incomplete (cancel the task then).
    func expire() -> Bool {
        lock.withLock {
            guard !finished else { return false }
            expired = true
            return true
        }
    }

    func completed(_ error: (any Error)?, response: URLResponse?) {
        let result: Result<HTTPExchange.Response, ExchangeFailure>
        let continuation: CheckedContinuation<Result<HTTPExchange.Response, ExchangeFailure>, Never>?
        do {
            lock.lock()
            defer { lock.unlock() }
            guard !finished else { return }
            finished = true
            continuation = self.continuation
            self.continuation = nil
            if expired {
                result = .failure(.deadline)
            } else if let head = headLocked(response), truncated || error == nil {
                result = .success(HTTPExchange.Response(status: head.status, headers: head.headers, body: kept, truncated: truncated))
            } else if let urlError = error as? URLError, Self.beforeSending.contains(urlError.code) {
                result = .failure(.notSent(Self.describe(error)))
            } else {
                result = .failure(.transport(Self.describe(error)))
            }
        }
        continuation?.resume(returning: result)
    }

    /// URLSession errors raised before a byte of the request can have left: no connection, no name,
    /// no usable URL, or a TLS handshake that failed (the request is only written after it).
    private static let beforeSending: Set<URLError.Code> = [
        .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .badURL, .unsupportedURL,
        .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
        .serverCertificateHasUnknownRoot, .clientCertificateRejected, .secureConnectionFailed,
    ]

    // Only the error's code or type: a message could carry the URL, and with it a secret in a query.
    private static func describe(_ error: (any Error)?) -> String {
        guard let error else { return "no HTTP answer" }
        if let urlError = error as? URLError { return "URLError \(urlError.code.rawValue)" }
        return String(describing: type(of: error))
    }
}

/// The session delegate: refuses every redirect (the 3xx answer comes back as the response), hands
/// each task's head and body chunks to its receiver, and passes authentication challenges on to the
/// delegate of the session it stands in for, if any.
final class ExchangeDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `forwardee` is set once in init and only read; `receivers` is guarded by `lock`.
    private let forwardee: (any URLSessionDelegate)?
    private let lock = NSLock()
    private var receivers: [Int: BodyReceiver] = [:]

    init(forwardingTo forwardee: (any URLSessionDelegate)?) {
        self.forwardee = forwardee
    }

    fileprivate func register(_ receiver: BodyReceiver, for task: URLSessionTask) {
        lock.withLock { receivers[task.taskIdentifier] = receiver }
    }

    private func receiver(for task: URLSessionTask) -> BodyReceiver? {
        lock.withLock { receivers[task.taskIdentifier] }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        if let receiver = receiver(for: dataTask), !receiver.received(response) {
            completionHandler(.cancel)
            stop(dataTask, receiver, response: response)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        // Never `dataTask.response` here: on swift-corelibs-foundation it waits for the session's work
        // queue, which a fast server keeps busy, and this queue would stall while chunks pile up. The
        // head always arrives first, through the callback above.
        guard let receiver = receiver(for: dataTask) else { return }
        if !receiver.received(data, response: nil) { stop(dataTask, receiver, response: nil) }
    }

    /// Stops reading: answers the caller at once with what was kept, and cancels the task once.
    private func stop(_ task: URLSessionTask, _ receiver: BodyReceiver, response: URLResponse?) {
        guard receiver.claimCancel() else { return }
        receiver.finishTruncated(response: response)
        Self.cancel(task)
    }

    /// Cancels off the delegate queue. swift-corelibs-foundation's `cancel()` waits for the session's
    /// work queue, which a fast server keeps busy reading; called here it would stall this queue while
    /// chunks already read pile up in memory. Elsewhere, this queue keeps dropping them until it ends.
    private static func cancel(_ task: URLSessionTask) {
        DispatchQueue.global().async { task.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let receiver = lock.withLock { receivers.removeValue(forKey: task.taskIdentifier) }
        receiver?.completed(error, response: task.response)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    #if canImport(FoundationNetworking)
    func urlSession(_ session: URLSession, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard let forwardee else { return completionHandler(.performDefaultHandling, nil) }
        forwardee.urlSession(session, didReceive: challenge, completionHandler: completionHandler)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard let forwardee = forwardee as? any URLSessionTaskDelegate else {
            return urlSession(session, didReceive: challenge, completionHandler: completionHandler)
        }
        forwardee.urlSession(session, task: task, didReceive: challenge, completionHandler: completionHandler)
    }
    #else
    func urlSession(_ session: URLSession, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard let forward = forwardee?.urlSession(_:didReceive:completionHandler:) else {
            return completionHandler(.performDefaultHandling, nil)
        }
        forward(session, challenge, completionHandler)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard let forward = (forwardee as? any URLSessionTaskDelegate)?.urlSession(_:task:didReceive:completionHandler:) else {
            return urlSession(session, didReceive: challenge, completionHandler: completionHandler)
        }
        forward(session, task, challenge, completionHandler)
    }
    #endif
}

extension [HTTPExchange.Field] {
    /// The first value of the field `name`, compared case-insensitively (HTTP field names are).
    public func first(named name: String) -> String? {
        first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}
