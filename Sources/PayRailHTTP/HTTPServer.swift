#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a server (or a route, or a middleware's `next`) does with a request. Async so handlers can
/// await rails, stores and upstreams without ever blocking one of libmicrohttpd's threads.
public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse

/// Everything an `HTTPServer` can be told before it starts. The defaults suit a service on
/// loopback behind a reverse proxy; widen `host` deliberately.
public struct HTTPServerConfiguration: Sendable {
    /// Numeric IPv4 or IPv6 address to listen on ("localhost" means 127.0.0.1). Loopback by default
    /// so a forgotten setting never exposes the server.
    public var host: String
    /// Port to listen on; 0 lets the kernel pick a free one, which `start()` then reports.
    public var port: UInt16
    /// Upper bound on the request line plus all header fields; larger requests get 431.
    public var maxHeaderBytes: Int
    /// Upper bound on a request body; larger bodies get 413 (announced lengths before any byte is read).
    public var maxBodyBytes: Int
    /// A connection idle for this long (slow client, dead peer) is closed. Whole seconds, at least 1.
    /// libmicrohttpd restarts this timer on every byte received, so it cannot stop a client that
    /// trickles; `headerTimeout` and `bodyTimeout` do.
    public var connectionTimeout: Duration
    /// Time a connection has to deliver a complete request head (request line and header fields),
    /// counted from when it is ready for one: accepted, or its previous response sent. Bytes
    /// arriving do not extend it, so a client sending one header byte at a time is closed (with
    /// 408 once its request line is in). Idle keep-alive connections are closed after it as well.
    public var headerTimeout: Duration
    /// Time a request has to deliver its whole body once its head is in, however steadily bytes
    /// arrive; then the connection is closed (408). Bounds the slow-upload form of the same attack.
    public var bodyTimeout: Duration
    /// A handler still running after this long is abandoned: the client gets 504 and the handler's
    /// task is cancelled. nil waits for ever (shutdown still bounds it).
    public var handlerTimeout: Duration?
    /// Whether connections stay open between requests; false adds `Connection: close` to every response.
    public var keepAlive: Bool
    /// Connections served at once; further clients wait in the kernel's backlog. When the open
    /// connections come within an eighth of this, the ones waiting longest for a request head are
    /// closed first, so a crowd of slow clients from many addresses still leaves room.
    public var maxConnections: Int
    /// Connections one client address may hold at once; a further connection from it is closed as
    /// soon as it is accepted. Keeps one address from taking every slot. The default is high
    /// because many agents may share an address (behind NAT or a proxy, or all on loopback);
    /// keep it well below `maxConnections` so other clients keep headroom.
    public var maxConnectionsPerClient: Int
    /// libmicrohttpd event-loop threads; 0 means one per online CPU.
    public var threadCount: Int
    /// Where the server reports problems it handles on its own (e.g. a handler's response refused
    /// for CR/LF in a header). Lines never contain header values. Defaults to standard error.
    public var diagnostics: @Sendable (String) -> Void

    /// Creates a configuration; every parameter has a safe default.
    public init(
        host: String = "127.0.0.1",
        port: UInt16 = 0,
        maxHeaderBytes: Int = 16 * 1024,
        maxBodyBytes: Int = 1024 * 1024,
        connectionTimeout: Duration = .seconds(30),
        headerTimeout: Duration = .seconds(20),
        bodyTimeout: Duration = .seconds(60),
        handlerTimeout: Duration? = .seconds(60),
        keepAlive: Bool = true,
        maxConnections: Int = 1024,
        maxConnectionsPerClient: Int = 256,
        threadCount: Int = 0,
        diagnostics: @escaping @Sendable (String) -> Void = HTTPServerConfiguration.standardError
    ) {
        self.host = host
        self.port = port
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.connectionTimeout = connectionTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.handlerTimeout = handlerTimeout
        self.keepAlive = keepAlive
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.threadCount = threadCount
        self.diagnostics = diagnostics
    }

    /// Writes one line to standard error (the default diagnostics sink).
    public static let standardError: @Sendable (String) -> Void = { line in
        let bytes = Array((line + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}

/// Why `HTTPServer.start()` failed.
public struct HTTPServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure, to decide what to do next.
    public enum Code: Sendable, Hashable {
        /// `start()` was called on a server that is running or shutting down; call `shutdown` first.
        case alreadyRunning
        /// The host is not a numeric IP address; fix the configuration.
        case invalidHost
        /// A limit is zero or negative; fix the configuration.
        case invalidConfiguration
        /// libmicrohttpd could not start, usually because the port is taken; retry later or pick another port.
        case startFailed
    }

    /// The kind of failure.
    public let code: Code
    /// A human explanation naming the offending setting.
    public let message: String

    /// Whether trying again unchanged can succeed (only a busy port can free up).
    public var isRetryable: Bool { code == .startFailed }

    /// The explanation.
    public var description: String { message }
}

/// An HTTP/1.1 server on libmicrohttpd with async handlers.
///
/// Threading: libmicrohttpd runs its own epoll event loop on `threadCount` internal threads (a
/// thread pool, not thread-per-connection). Each request is read there, then its connection is
/// suspended while the Swift handler runs as a task, and resumed to write the answer, so a slow
/// handler never blocks an event-loop thread.
public final class HTTPServer: @unchecked Sendable {
    private enum State {
        case idle
        case running(ServerCore)
        case stopping
    }

    /// The configuration the server was created with.
    public let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let lock = Lock()
    private var state = State.idle

    /// Creates a stopped server; nothing listens until `start()`.
    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(), handler: @escaping HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
    }

    /// The port being listened on, or nil while stopped.
    public var port: UInt16? {
        lock.withLock {
            if case .running(let core) = state { return core.boundPort }
            return nil
        }
    }

    /// Starts listening and returns the bound port (the kernel's choice when configured with 0).
    /// A server that was shut down may be started again.
    @discardableResult
    public func start() throws(HTTPServerError) -> UInt16 {
        let result: Result<UInt16, HTTPServerError> = lock.withLock {
            guard case .idle = state else {
                return .failure(HTTPServerError(code: .alreadyRunning, message: "the server is already running or stopping"))
            }
            do throws(HTTPServerError) {
                let core = try ServerCore.start(configuration: configuration, handler: handler)
                state = .running(core)
                return .success(core.boundPort)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Stops gracefully: stop accepting, answer new requests on open connections with 503 and
    /// `Connection: close`, let in-flight handlers finish for up to `grace`, answer the rest 503
    /// (cancelling their tasks), and only then stop libmicrohttpd. Safe to call when not running.
    public func shutdown(grace: Duration = .seconds(10)) async {
        let core: ServerCore? = lock.withLock {
            guard case .running(let core) = state else { return nil }
            state = .stopping
            return core
        }
        guard let core else { return }
        await core.shutdown(grace: grace)
        lock.withLock { state = .idle }
    }

    /// Requests whose per-request state is still alive (for leak tests: 0 when idle).
    var liveRequestCount: Int {
        lock.withLock {
            if case .running(let core) = state { return core.liveRequests }
            return 0
        }
    }
}
