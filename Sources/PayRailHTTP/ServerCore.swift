internal import CMicroHTTPD

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-request state shared between libmicrohttpd's thread and the handler's task.
///
/// `phase` decides who may finish the request: only the party that moves it out of `.suspended`
/// (the handler's task, the handler timeout or shutdown) resumes the connection, exactly once.
final class RequestContext: @unchecked Sendable {
    enum Phase {
        /// Waiting for the first access-handler call (headers parsed).
        case headers
        /// Headers accepted; body chunks arriving.
        case body
        /// The connection is suspended while the handler runs.
        case suspended
        /// A response is decided and the connection resumed; MHD will call back to queue it.
        case finished(HTTPResponse, close: Bool)
        /// A response was queued; anything further from MHD is ignored.
        case answered
    }

    let lock = Lock()
    /// Guarded by `lock`.
    private var phase = Phase.headers
    /// Guarded by `lock`.
    private var task: Task<Void, Never>?

    // The fields below are only touched on the connection's MHD thread (or before the handler's task starts).
    let connection: OpaquePointer
    let target: String
    var headers = HTTPHeaders()
    var body: [UInt8] = []
    var deadline: ContinuousClock.Instant?
    /// Body bytes thrown away after the body outgrew the limit and the 413 went out directly.
    var discarded: Int?
    /// The handler's response was queued and is being written; counted in `ServerCore.writing`.
    var writing = false

    init(connection: OpaquePointer, target: String) {
        self.connection = connection
        self.target = target
    }

    var currentPhase: Phase {
        lock.withLock { phase }
    }

    func setPhase(_ newPhase: Phase) {
        lock.withLock { phase = newPhase }
    }

    /// Suspends the connection and marks it so, atomically with respect to `finish`, so a resume
    /// can never precede the suspend.
    ///
    /// Why no wake-up is lost (libmicrohttpd 0.9.75): `MHD_suspend_connection` takes effect at once
    /// (the connection moves to the suspended list under MHD's cleanup mutex), so a `finish` on
    /// another thread may resume while the access callback is still running. `MHD_resume_connection`
    /// only sets `resuming` flags under that mutex and then writes the daemon's ITC (an eventfd).
    /// The polling thread reads the flags at the top of every loop, after it has drained the ITC, so
    /// whether the resume lands before the callback returns, between loops, or while the thread is
    /// blocked in epoll_wait, the next loop (immediate in the last case) puts the connection back
    /// in the ready list and calls the access handler, which queues the response.
    func suspend() {
        lock.withLock {
            MHD_suspend_connection(connection)
            phase = .suspended
        }
    }

    /// Decides the response if nobody has yet; returns false when another party got there first.
    @discardableResult
    func finish(_ response: HTTPResponse, close: Bool) -> Bool {
        lock.withLock {
            guard case .suspended = phase else { return false }
            phase = .finished(response, close: close)
            MHD_resume_connection(connection)
            return true
        }
    }

    /// Finishes with `response` and cancels the handler's task (timeout and shutdown).
    func abandon(with response: HTTPResponse, close: Bool) {
        let cancelled: Task<Void, Never>? = lock.withLock {
            guard case .suspended = phase else { return nil }
            phase = .finished(response, close: close)
            MHD_resume_connection(connection)
            return task
        }
        cancelled?.cancel()
    }

    /// Remembers the handler's task so it can be cancelled; cancels it at once if already abandoned.
    func attach(_ handlerTask: Task<Void, Never>) {
        let alreadyFinished: Bool = lock.withLock {
            if case .suspended = phase {
                task = handlerTask
                return false
            }
            return true
        }
        if alreadyFinished { handlerTask.cancel() }
    }

    func detachTask() {
        lock.withLock { task = nil }
    }
}

/// One running libmicrohttpd daemon and the state its callbacks share. Retained for the daemon's
/// whole life (it is the callbacks' `cls`) and released only after `MHD_stop_daemon` returns.
final class ServerCore: @unchecked Sendable {
    let configuration: HTTPServerConfiguration
    let handler: HTTPHandler
    private let lock = Lock()
    /// Guarded by `lock`.
    private var stopping = false
    /// Requests whose connection is suspended or resuming, guarded by `lock`. Shutdown may stop the
    /// daemon only once this is empty (MHD aborts the process if a suspended connection remains).
    private var inFlight: [ObjectIdentifier: RequestContext] = [:]
    /// Contexts created and not yet released, guarded by `lock`.
    private var live = 0
    /// Handler responses queued and not yet completely written, guarded by `lock`. Shutdown waits
    /// for these too: stopping the daemon drops whatever MHD has not sent yet.
    private var writing = 0
    private var daemon: OpaquePointer?
    private(set) var boundPort: UInt16 = 0
    private var sweeper: Task<Void, Never>?
    /// The head and body deadlines and the room kept for new clients.
    let watcher: ConnectionWatcher

    private init(configuration: HTTPServerConfiguration, handler: @escaping HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
        self.watcher = ConnectionWatcher(configuration: configuration)
    }

    var liveRequests: Int { lock.withLock { live } }

    static func start(configuration: HTTPServerConfiguration, handler: @escaping HTTPHandler) throws(HTTPServerError) -> ServerCore {
        guard configuration.maxHeaderBytes > 0, configuration.maxBodyBytes >= 0, configuration.maxConnections > 0,
            configuration.maxConnectionsPerClient > 0, configuration.threadCount >= 0, configuration.connectionTimeout > .zero,
            configuration.headerTimeout > .zero, configuration.bodyTimeout > .zero
        else {
            throw HTTPServerError(
                code: .invalidConfiguration,
                message: "limits must be positive (maxHeaderBytes, maxConnections, maxConnectionsPerClient, connectionTimeout, headerTimeout, bodyTimeout)"
            )
        }
        let host = configuration.host == "localhost" ? "127.0.0.1" : configuration.host
        var probe4 = in_addr()
        var probe6 = in6_addr()
        guard inet_pton(AF_INET, host, &probe4) == 1 || inet_pton(AF_INET6, host, &probe6) == 1 else {
            throw HTTPServerError(code: .invalidHost, message: "host \(configuration.host.debugDescription) is not a numeric IP address")
        }

        let core = ServerCore(configuration: configuration, handler: handler)
        let unmanaged = Unmanaged.passRetained(core)
        let threads = configuration.threadCount > 0 ? configuration.threadCount : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        // MHD keeps the request line and headers in this pool: leave room beyond our own exact
        // check so our 431 (not MHD's) is what a client near the limit sees.
        let memoryLimit = max(32 * 1024, configuration.maxHeaderBytes + 16 * 1024)
        let timeoutSeconds = UInt32(clamping: max(1, configuration.connectionTimeout.components.seconds))
        // MHD_USE_ITC is already part of MHD_ALLOW_SUSPEND_RESUME; it is spelled out because it is
        // what makes MHD_resume_connection from a handler's thread wake a polling thread asleep in
        // epoll_wait. Without it (e.g. the bare 8192 suspend bit) libmicrohttpd 0.9.75 on Linux
        // creates no ITC at all, since shutdown() on the listen socket is its only other wake-up,
        // and a resumed request then waits until unrelated traffic or another connection's idle
        // timeout happens to wake the thread (for ever if every connection is suspended).
        // ResumeStressTests fails within one receive timeout if that ever regresses.
        let flags = MHD_USE_AUTO.rawValue | MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
            | MHD_USE_ITC.rawValue

        let started = payrail_mhd_start(
            UInt32(flags), host, configuration.port,
            { cls, connection, _, method, version, uploadData, uploadDataSize, conCls in
                guard let cls, let connection, let uploadDataSize, let conCls, let raw = conCls.pointee else { return .NO }
                let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
                let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()
                return core.access(context, connection, method, version, uploadData, uploadDataSize)
            },
            unmanaged.toOpaque(),
            { cls, _, conCls, _ in
                guard let cls, let conCls, let raw = conCls.pointee else { return }
                conCls.pointee = nil
                let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
                let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
                core.completed(context)
            },
            { cls, uri, connection in
                guard let cls, let connection else { return nil }
                let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
                let context = RequestContext(connection: connection, target: uri.map { String(cString: $0) } ?? "")
                core.lock.withLock { core.live += 1 }
                core.watcher.requestLineReceived(connection)
                return Unmanaged.passRetained(context).toOpaque()
            },
            { cls, connection, _, event in
                guard let cls, let connection else { return }
                let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
                if payrail_mhd_is_connection_start(event) != 0 {
                    core.watcher.opened(connection, descriptor: payrail_mhd_connection_fd(connection))
                } else {
                    core.watcher.closed(connection)
                }
            },
            memoryLimit, timeoutSeconds, UInt32(clamping: threads), UInt32(clamping: configuration.maxConnections),
            UInt32(clamping: min(configuration.maxConnectionsPerClient, configuration.maxConnections)), 1
        )
        guard let started else {
            unmanaged.release()
            throw HTTPServerError(
                code: .startFailed,
                message: "libmicrohttpd could not listen on \(configuration.host):\(configuration.port) (port in use?)"
            )
        }
        core.daemon = started
        core.boundPort = payrail_mhd_bound_port(started)
        core.startSweeper()
        return core
    }

    /// Enforces the deadlines MHD does not: request heads and bodies (the watcher) and handlers.
    /// Ticks at a quarter of the shortest deadline, at most every 250 ms, so each fires on time
    /// within a quarter of itself.
    private func startSweeper() {
        let shortest = [configuration.headerTimeout, configuration.bodyTimeout, configuration.handlerTimeout].compactMap { $0 }.min()
        let tick = max(.milliseconds(10), min((shortest ?? .seconds(1)) / 4, .milliseconds(250)))
        sweeper = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                watcher.sweep()
                expireOverdueHandlers()
            }
        }
    }

    // MARK: - libmicrohttpd callbacks (run on MHD's threads)

    func access(
        _ context: RequestContext, _ connection: OpaquePointer,
        _ method: UnsafePointer<CChar>?, _ version: UnsafePointer<CChar>?,
        _ uploadData: UnsafePointer<CChar>?, _ uploadDataSize: UnsafeMutablePointer<Int>
    ) -> MHD_Result {
        switch context.currentPhase {
        case .headers:
            return acceptHeaders(context, connection, version)
        case .body:
            let size = uploadDataSize.pointee
            if size > 0 {
                uploadDataSize.pointee = 0
                return receive(context, connection, uploadData, size)
            }
            // A refused body's answer is already out: all that is left is to close.
            if context.discarded != nil { return .NO }
            watcher.handling(connection)
            return dispatch(context, connection, method, version)
        case .suspended:
            return .YES
        case .finished(let response, let close):
            context.setPhase(.answered)
            context.detachTask()
            context.writing = true
            lock.withLock {
                inFlight.removeValue(forKey: ObjectIdentifier(context))
                writing += 1
            }
            return queue(response, on: connection, close: close)
        case .answered:
            uploadDataSize.pointee = 0
            return .YES
        }
    }

    func completed(_ context: RequestContext) {
        // Also reached when a resumed client had gone away and MHD never called the handler again.
        watcher.requestCompleted(context.connection)
        lock.withLock {
            inFlight.removeValue(forKey: ObjectIdentifier(context))
            live -= 1
            if context.writing { writing -= 1 }
        }
        context.detachTask()
    }

    /// First call: headers are complete, no body byte has been read. Every refusal here closes the
    /// connection, since the unread body would otherwise be parsed as the next request.
    private func acceptHeaders(_ context: RequestContext, _ connection: OpaquePointer, _ version: UnsafePointer<CChar>?) -> MHD_Result {
        // Too late: the watcher closed this connection (and may have answered 408) while the head came in.
        guard watcher.headReceived(connection) else { return .NO }
        context.setPhase(.body)
        var headers: [HTTPHeader] = []
        withUnsafeMutablePointer(to: &headers) { pointer in
            _ = MHD_get_connection_values_n(
                connection, .HEADER_KIND,
                { cls, _, key, keySize, value, valueSize in
                    guard let cls else { return .NO }
                    let list = cls.assumingMemoryBound(to: [HTTPHeader].self)
                    list.pointee.append(HTTPHeader(name: ServerCore.string(key, keySize), value: ServerCore.string(value, valueSize)))
                    return .YES
                },
                pointer
            )
        }
        context.headers = HTTPHeaders(headers)
        let isHTTP11 = version.map { strcmp($0, "HTTP/1.1") == 0 } ?? false
        if let refusal = ServerCore.refusal(for: context, isHTTP11: isHTTP11, configuration: configuration) {
            context.setPhase(.answered)
            watcher.handling(connection)
            return queue(refusal, on: connection, close: true)
        }
        if lock.withLock({ stopping }) {
            context.setPhase(.answered)
            return queue(ServerCore.problem(.serviceUnavailable, "server is shutting down"), on: connection, close: true)
        }
        return .YES
    }

    /// A body chunk. Past the limit, MHD 0.9.75 can no longer queue a response (it takes one only
    /// before the body or after all of it), so the 413 is written straight to the socket and the
    /// rest of the body is read and dropped, up to a bound, so that closing does not reset the
    /// connection under the client before it reads the answer. The body deadline bounds it in time.
    private func receive(
        _ context: RequestContext, _ connection: OpaquePointer, _ uploadData: UnsafePointer<CChar>?, _ size: Int
    ) -> MHD_Result {
        if let discarded = context.discarded {
            context.discarded = discarded + size
            return discarded + size <= max(configuration.maxBodyBytes, 64 * 1024) ? .YES : .NO
        }
        guard context.body.count + size <= configuration.maxBodyBytes else {
            context.body = []
            context.discarded = size
            let refusal = ServerCore.problem(.contentTooLarge, "request body exceeds \(configuration.maxBodyBytes) bytes")
            return watcher.answerDirectly(connection, refusal) ? .YES : .NO
        }
        if let uploadData {
            context.body.append(contentsOf: UnsafeRawBufferPointer(start: uploadData, count: size))
        }
        return .YES
    }

    /// Final call: the whole body is in. Copy the request out of MHD's memory, suspend, run the handler.
    private func dispatch(
        _ context: RequestContext, _ connection: OpaquePointer,
        _ method: UnsafePointer<CChar>?, _ version: UnsafePointer<CChar>?
    ) -> MHD_Result {
        let target = context.target
        let path: String
        let query: String
        if let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = String(target[..<mark])
            query = String(target[target.index(after: mark)...])
        } else {
            path = target
            query = ""
        }
        let request = HTTPRequest(
            method: method.map { String(cString: $0) } ?? "",
            path: path, query: query, headers: context.headers, body: context.body,
            clientAddress: ServerCore.clientAddress(connection),
            version: version.map { String(cString: $0) } ?? ""
        )
        context.body = []
        context.deadline = configuration.handlerTimeout.map { ContinuousClock.now.advanced(by: $0) }
        let admitted: Bool = lock.withLock {
            if stopping { return false }
            inFlight[ObjectIdentifier(context)] = context
            return true
        }
        guard admitted else {
            context.setPhase(.answered)
            return queue(ServerCore.problem(.serviceUnavailable, "server is shutting down"), on: connection, close: true)
        }
        context.suspend()
        let handler = self.handler
        let task = Task {
            let response = await handler(request)
            context.finish(response, close: false)
        }
        context.attach(task)
        return .YES
    }

    // MARK: - Shutdown and timeouts

    func expireOverdueHandlers() {
        let now = ContinuousClock.now
        let overdue: [RequestContext] = lock.withLock {
            inFlight.values.filter { ($0.deadline.map { $0 <= now }) ?? false }
        }
        for context in overdue {
            context.abandon(with: ServerCore.problem(.gatewayTimeout, "handler did not answer in time"), close: false)
        }
    }

    func shutdown(grace: Duration) async {
        guard let daemon else { return }
        lock.withLock { stopping = true }
        sweeper?.cancel()
        let listenSocket = MHD_quiesce_daemon(daemon)

        let clock = ContinuousClock()
        let graceEnds = clock.now.advanced(by: grace)
        while lock.withLock({ !inFlight.isEmpty }), clock.now < graceEnds {
            await ServerCore.pause()
        }
        let remaining: [RequestContext] = lock.withLock { Array(inFlight.values) }
        for context in remaining {
            context.abandon(with: ServerCore.problem(.serviceUnavailable, "server is shutting down"), close: true)
        }
        // Every connection is resumed now; wait until MHD has taken each one back, since stopping
        // the daemon with a connection still suspended aborts the process.
        let settleEnds = clock.now.advanced(by: .seconds(10))
        while lock.withLock({ !inFlight.isEmpty }) {
            guard clock.now < settleEnds else {
                configuration.diagnostics(
                    "PayRailHTTP: connections still suspended 10 s after shutdown; leaving the daemon running rather than aborting"
                )
                return
            }
            await ServerCore.pause()
        }
        // Let the answers just queued reach their clients (MHD reports each request completed
        // once its response is written, or its client is gone), within a short bound.
        let writesEnd = clock.now.advanced(by: .seconds(2))
        while lock.withLock({ writing > 0 }), clock.now < writesEnd {
            await ServerCore.pause()
        }
        MHD_stop_daemon(daemon)
        if listenSocket >= 0 { close(listenSocket) }
        self.daemon = nil
        Unmanaged.passUnretained(self).release()
    }

    /// Sleeps briefly; falls back to a blocking sleep when the caller's task is cancelled, so the
    /// shutdown loops still make progress instead of spinning.
    private static func pause() async {
        do {
            try await Task.sleep(for: .milliseconds(2))
        } catch {
            usleep(2_000)
        }
    }

    // MARK: - Helpers

    /// The defences libmicrohttpd 0.9.75 leaves open, checked before any body byte is read.
    static func refusal(for context: RequestContext, isHTTP11: Bool, configuration: HTTPServerConfiguration) -> HTTPResponse? {
        var headerBytes = context.target.utf8.count
        var hostCount = 0
        var contentLength: UInt64?
        var sawContentLength = false
        var transferEncoding: String?
        for field in context.headers.fields {
            headerBytes += field.name.utf8.count + field.value.utf8.count + 4
            if field.name.equalsASCIICaseInsensitive("Host") {
                hostCount += 1
            } else if field.name.equalsASCIICaseInsensitive("Content-Length") {
                sawContentLength = true
                // A field may itself be a list ("5, 5"); every member must agree.
                for member in field.value.split(separator: ",", omittingEmptySubsequences: false) {
                    let digits = member.trimmingASCIISpaces()
                    guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                        return problem(.badRequest, "Content-Length is not a number")
                    }
                    let value = UInt64(digits) ?? UInt64.max
                    if let previous = contentLength, previous != value {
                        return problem(.badRequest, "conflicting Content-Length values")
                    }
                    contentLength = value
                }
            } else if field.name.equalsASCIICaseInsensitive("Transfer-Encoding") {
                if transferEncoding != nil { return problem(.badRequest, "repeated Transfer-Encoding") }
                transferEncoding = field.value
            }
        }
        if headerBytes > configuration.maxHeaderBytes {
            return problem(.requestHeaderFieldsTooLarge, "request header section exceeds \(configuration.maxHeaderBytes) bytes")
        }
        if hostCount > 1 { return problem(.badRequest, "more than one Host header") }
        if isHTTP11 && hostCount == 0 { return problem(.badRequest, "HTTP/1.1 request without Host") }
        if let transferEncoding {
            if sawContentLength { return problem(.badRequest, "Content-Length together with Transfer-Encoding") }
            // MHD 0.9.75 decodes chunked only when the value it stored (leading whitespace removed,
            // trailing kept) is exactly "chunked"; any other value it reads as a body ending at
            // close, so the request would never end. A value another parser may read as chunked
            // is a framing disagreement: refuse it rather than guess.
            guard transferEncoding.equalsASCIICaseInsensitive("chunked") else {
                if transferEncoding.trimmingASCIISpaces().equalsASCIICaseInsensitive("chunked") {
                    return problem(.badRequest, "Transfer-Encoding must be exactly chunked, without surrounding whitespace")
                }
                return problem(.notImplemented, "only Transfer-Encoding: chunked is supported")
            }
        }
        if let contentLength, contentLength > UInt64(configuration.maxBodyBytes) {
            return problem(.contentTooLarge, "request body exceeds \(configuration.maxBodyBytes) bytes")
        }
        return nil
    }

    static func problem(_ status: HTTPStatus, _ detail: String) -> HTTPResponse {
        HTTPResponse(status: status, text: detail + "\n")
    }

    /// Writes a response. Unsafe header bytes are refused here, loudly (500 + a diagnostics line),
    /// because MHD would silently drop such a header and send the rest.
    private func queue(_ response: HTTPResponse, on connection: OpaquePointer, close: Bool) -> MHD_Result {
        var response = response
        if let failure = response.validationFailure() {
            configuration.diagnostics("PayRailHTTP: refused a handler response: \(failure)")
            response = ServerCore.problem(.internalServerError, "internal server error")
        }
        let mhdResponse = response.body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        for field in response.headers.fields where !field.name.equalsASCIICaseInsensitive("Content-Length") {
            // `withCString` lends a native string's own NUL-terminated storage; passing the strings
            // directly made a C copy of each name and value (MHD copies them again anyway).
            let added = field.name.withCString { name in field.value.withCString { value in MHD_add_response_header(mhdResponse, name, value) } }
            guard added == MHD_Result.YES else {
                configuration.diagnostics("PayRailHTTP: libmicrohttpd refused header \(LogText.quoted(field.name)); closing the connection")
                return .NO
            }
        }
        if close || !configuration.keepAlive {
            _ = MHD_add_response_header(mhdResponse, "Connection", "close")
        }
        return MHD_queue_response(connection, UInt32(response.status.code), mhdResponse)
    }

    static func string(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> String {
        guard let pointer, count > 0 else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
    }

    static func clientAddress(_ connection: OpaquePointer) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> String in
            guard let base = buffer.baseAddress, payrail_mhd_client_address(connection, base, 64) == 0 else { return "" }
            return String(cString: base)
        }
    }
}

extension StringProtocol {
    /// Drops leading and trailing spaces and tabs (HTTP's optional whitespace) without Foundation.
    func trimmingASCIISpaces() -> String {
        let bytes = Array(utf8)
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
