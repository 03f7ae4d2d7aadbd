internal import CMicroHTTPD

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Deadlines libmicrohttpd does not have: a request head and a request body must each arrive
/// within a fixed time, however steadily their bytes trickle in. (MHD 0.9.75's only timeout is an
/// idle timeout restarted by every byte read, so a client sending one byte every few seconds
/// holds a connection slot for ever; about a thousand of them fill the server.)
///
/// The watcher learns every connection from MHD's connection notifications and every request
/// stage from the server's callbacks. A sweep closes the connections past their deadline, and,
/// when the server is nearly full, those that have waited longest for a request head. It closes
/// them with `shutdown(2)` on the socket: MHD then reads end-of-stream on its own thread and
/// cleans the connection up as it would for a client that left. That is safe from another thread
/// because MHD reports a connection closed (which removes it here, under the same lock) before it
/// closes the descriptor, so the descriptor shut down is always still this connection's.
final class ConnectionWatcher: @unchecked Sendable {
    /// What a connection is waiting for.
    enum Stage {
        /// A request head (request line and fields), since `since`.
        case head
        /// The rest of a request body, since `since`.
        case body
        /// Nothing from the client: a handler runs or a response is being written (other limits apply).
        case handling
    }

    struct Watch {
        let descriptor: Int32
        var stage = Stage.head
        var since: ContinuousClock.Instant
        /// The current request's line has arrived, so an answer (408) will be understood.
        var requestLineSeen = false
        /// A response was already written for this request (an early 413); write nothing more.
        var answered = false
        /// Shut down by the watcher; MHD will report it closed shortly.
        var closing = false
    }

    /// Under pressure a head gets at most this long, whatever `headerTimeout` says.
    static let pressureHeaderTimeout: Duration = .seconds(1)

    private let lock = Lock()
    /// Guarded by `lock`; keyed by MHD's connection pointer, valid until `closed` removes it.
    private var watches: [OpaquePointer: Watch] = [:]
    private let headerTimeout: Duration
    private let bodyTimeout: Duration
    /// Open connections at which the longest head waiters are closed to make room.
    private let pressureMark: Int

    init(configuration: HTTPServerConfiguration) {
        headerTimeout = configuration.headerTimeout
        bodyTimeout = configuration.bodyTimeout
        pressureMark = configuration.maxConnections - max(1, configuration.maxConnections / 8)
    }

    /// Open connections the watcher knows (for tests).
    var openCount: Int { lock.withLock { watches.count } }

    // MARK: - Stages (called on MHD's threads)

    func opened(_ connection: OpaquePointer, descriptor: Int32) {
        guard descriptor >= 0 else { return }
        lock.withLock { watches[connection] = Watch(descriptor: descriptor, since: .now) }
    }

    func closed(_ connection: OpaquePointer) {
        _ = lock.withLock { watches.removeValue(forKey: connection) }
    }

    func requestLineReceived(_ connection: OpaquePointer) {
        lock.withLock { watches[connection]?.requestLineSeen = true }
    }

    /// The head is complete; the body's deadline starts. False when the watcher already closed the
    /// connection: its request must not reach a handler (the answer could interleave with a 408).
    func headReceived(_ connection: OpaquePointer) -> Bool {
        lock.withLock {
            guard var watch = watches[connection] else { return true }
            guard !watch.closing else { return false }
            watch.stage = .body
            watch.since = .now
            watches[connection] = watch
            return true
        }
    }

    /// The request is complete or refused: nothing more to time until its response is sent.
    func handling(_ connection: OpaquePointer) {
        lock.withLock { watches[connection]?.stage = .handling }
    }

    /// A response was sent; on a kept-alive connection the next head's deadline starts now.
    func requestCompleted(_ connection: OpaquePointer) {
        lock.withLock {
            guard var watch = watches[connection], !watch.closing else { return }
            watch.stage = .head
            watch.since = .now
            watch.requestLineSeen = false
            watch.answered = false
            watches[connection] = watch
        }
    }

    /// Writes `response` straight to the socket and ends the write side, for the one answer MHD
    /// 0.9.75 cannot queue: a refusal in the middle of a request body (it accepts responses only
    /// before the body or after all of it). The read side stays open so the caller can drain what
    /// the client is still sending; closing with unread bytes would reset the connection and could
    /// destroy the answer before the client reads it. False if the watcher closed it already.
    func answerDirectly(_ connection: OpaquePointer, _ response: HTTPResponse) -> Bool {
        lock.withLock {
            guard var watch = watches[connection], !watch.closing, !watch.answered else { return false }
            ConnectionWatcher.sendDirect(response, to: watch.descriptor)
            shutdown(watch.descriptor, Int32(SHUT_WR))
            watch.answered = true
            watches[connection] = watch
            return true
        }
    }

    // MARK: - Sweeping (called from the server's sweeper task)

    /// Closes the connections past their deadline, then, if the server is nearly full, the ones
    /// waiting longest for a head (at least `pressureHeaderTimeout`) until it is not.
    func sweep(now: ContinuousClock.Instant = .now) {
        lock.withLock {
            var open = 0
            for (connection, watch) in watches where !watch.closing {
                let allowed: Duration
                switch watch.stage {
                case .head: allowed = headerTimeout
                case .body: allowed = bodyTimeout
                case .handling:
                    open += 1
                    continue
                }
                if now - watch.since >= allowed {
                    cut(connection, watch)
                } else {
                    open += 1
                }
            }
            guard open >= pressureMark else { return }
            let waiting = watches.filter {
                !$0.value.closing && $0.value.stage == .head && now - $0.value.since >= ConnectionWatcher.pressureHeaderTimeout
            }
            for (connection, watch) in waiting.sorted(by: { $0.value.since < $1.value.since }).prefix(open - pressureMark + 1) {
                cut(connection, watch)
            }
        }
    }

    /// Answers 408 when the client has started a request it can match the answer to, then shuts
    /// the socket down both ways so MHD reads end-of-stream and closes it. Call with `lock` held.
    private func cut(_ connection: OpaquePointer, _ watch: Watch) {
        var watch = watch
        let started = watch.stage == .body || watch.requestLineSeen
        if started && !watch.answered {
            ConnectionWatcher.sendDirect(ServerCore.problem(408, "request not received in time"), to: watch.descriptor)
        }
        shutdown(watch.descriptor, Int32(SHUT_RDWR))
        watch.closing = true
        watches[connection] = watch
    }

    /// One best-effort, non-blocking write of a whole small response with `Connection: close`
    /// (a fresh socket's send buffer always has room for it).
    static func sendDirect(_ response: HTTPResponse, to descriptor: Int32) {
        let reason = MHD_get_reason_phrase_for(UInt32(clamping: response.status.code)).map { String(cString: $0) } ?? ""
        var head = "HTTP/1.1 \(response.status.code) \(reason)\r\n"
        for field in response.headers.fields where isValidFieldValue(field.value) && field.name.utf8.allSatisfy(isTokenByte) {
            head += "\(field.name): \(field.value)\r\n"
        }
        head += "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + response.body
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }
}
