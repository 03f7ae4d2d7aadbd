import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One answer of a `LoopbackBodyServer`: a status line and header fields, then `bodyBytes` bytes
/// made lazily from `chunk` (repeated, the last one cut), with `pause` seconds between chunks.
public struct LazyAnswer: Sendable {
    /// The status line and header fields, without the blank line that ends them.
    public var head: String
    /// Bytes sent before the repeated chunks.
    public var prefix: [UInt8] = []
    /// The chunk repeated to make the body.
    public var chunk: [UInt8]
    /// How many body bytes in all.
    public var bodyBytes: Int
    /// Seconds between chunks (a dripping body).
    public var pause: TimeInterval = 0

    /// Creates an answer.
    public init(head: String, prefix: [UInt8] = [], chunk: [UInt8], bodyBytes: Int, pause: TimeInterval = 0) {
        self.head = head
        self.prefix = prefix
        self.chunk = chunk
        self.bodyBytes = bodyBytes
        self.pause = pause
    }
}

extension LazyAnswer {
    /// An HTTP/1.1 status line and header fields that close the connection after the answer;
    /// `length` declares `Content-Length` (`nil` sends none: the body ends with the connection).
    public static func head(_ status: String, length: Int?, type: String = "application/json", extra: String = "") -> String {
        let declared = length.map { "Content-Length: \($0)\r\n" } ?? ""
        return "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\n\(extra)\(declared)Connection: close\r\n\r\n"
    }

    /// A 200 whose `bytes` spaces come one every `pause` seconds (a backend or upstream that drips).
    public static func dripping(bytes: Int, pause: TimeInterval) -> LazyAnswer {
        LazyAnswer(head: head("200 OK", length: bytes), chunk: [UInt8(ascii: " ")], bodyBytes: bytes, pause: pause)
    }

    /// A 307 to `location` (a redirect a client holding a secret must not follow).
    public static func redirect(to location: String) -> LazyAnswer {
        LazyAnswer(head: head("307 Temporary Redirect", length: 0, extra: "Location: \(location)\r\n"), chunk: [0], bodyBytes: 0)
    }
}

/// One request a `LoopbackBodyServer` received: its head as sent, body not included.
public struct LoopbackRequest: Sendable {
    /// The method (`GET`, `POST`, ...).
    public var method: String
    /// The request target (path and query).
    public var path: String
    /// The request line and header fields as received.
    public var head: String
}

/// A loopback HTTP/1.1 server on a raw socket that writes huge or dripping bodies without ever
/// holding them: each chunk is made when it is sent, and it counts the bytes the peer accepted, so a
/// test can tell how much of a body a client read before it stopped.
public final class LoopbackBodyServer: @unchecked Sendable {
    // @unchecked: `sent` and `stopped` are guarded by `lock`; `listener` is set once.
    /// The port it listens on.
    public let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var sent = 0
    private var stopped = false
    private var received: [LoopbackRequest] = []
    private let answer: @Sendable (LoopbackRequest) -> LazyAnswer

    /// Bytes of bodies written to clients so far.
    public var bodyBytesSent: Int { lock.withLock { sent } }

    /// Every request received so far, in order (a redirect test checks that none arrived).
    public var requests: [LoopbackRequest] { lock.withLock { received } }

    /// Starts listening on 127.0.0.1 on a kernel-chosen port; `answer` gets each request's path.
    public convenience init(answer: @escaping @Sendable (String) -> LazyAnswer) throws {
        try self.init(respond: { answer($0.path) })
    }

    /// Starts listening on 127.0.0.1 on a kernel-chosen port; `respond` gets each request's method,
    /// path and head (a factory, not an init: a trailing closure must keep meaning `init(answer:)`).
    public static func routing(_ respond: @escaping @Sendable (LoopbackRequest) -> LazyAnswer) throws -> LoopbackBodyServer {
        try LoopbackBodyServer(respond: respond)
    }

    private init(respond: @escaping @Sendable (LoopbackRequest) -> LazyAnswer) throws {
        self.answer = respond
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    public var origin: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting and ends every body being written.
    public func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func acceptLoop() {
        while !isStopped {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.containsHeadEnd {
            let count = recv(client, &buffer, buffer.count, 0)
            guard count > 0 else { return }
            request.append(contentsOf: buffer[0..<count])
            if request.count > 65_536 { return }
        }
        let line = String(decoding: request.prefix { $0 != 13 }, as: UTF8.self)
        let words = line.split(separator: " ")
        let head = String(decoding: request, as: UTF8.self)
        let seen = LoopbackRequest(method: words.first.map(String.init) ?? "", path: words.dropFirst().first.map(String.init) ?? "/",
                                   head: head.components(separatedBy: "\r\n\r\n").first ?? head)
        lock.withLock { received.append(seen) }
        // The request's body is read before answering: closing with unread bytes would reset the
        // connection, and the client would see a reset instead of the answer under test.
        readBody(client, already: request, head: seen.head)
        let reply = answer(seen)
        guard sendAll(client, Array(reply.head.utf8)), sendAll(client, reply.prefix) else { return }
        var left = reply.bodyBytes - reply.prefix.count
        while left > 0, !isStopped {
            let piece = left >= reply.chunk.count ? reply.chunk : Array(reply.chunk.prefix(left))
            guard sendAll(client, piece) else { return }
            lock.withLock { sent += piece.count }
            left -= piece.count
            if reply.pause > 0 { Thread.sleep(forTimeInterval: reply.pause) }
        }
    }

    private func readBody(_ fd: Int32, already: [UInt8], head: String) {
        let declared = head.split(separator: "\r\n").compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first ?? 0
        var left = min(declared, 1 << 20) - max(0, already.count - head.utf8.count - 4)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while left > 0 {
            let count = recv(fd, &buffer, min(buffer.count, left), 0)
            guard count > 0 else { return }
            left -= count
        }
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }
}

extension [UInt8] {
    fileprivate var containsHeadEnd: Bool {
        guard count >= 4 else { return false }
        for index in 0...(count - 4) where self[index] == 13 && self[index + 1] == 10 && self[index + 2] == 13 && self[index + 3] == 10 {
            return true
        }
        return false
    }
}
