import Foundation
import PayRail
import PayRailTLS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Why not URLSession: LND serves REST only over TLS with a self-signed `tls.cert`, and
// swift-corelibs-foundation on Linux neither delivers server-trust challenges to the delegate
// (`URLProtectionSpace.serverTrust` is `NSUnsupported()`) nor lets a session choose its CA file:
// `EasyHandle.setCARootBundlePath` reads the `URLSessionCertificateAuthorityInfoFile` environment
// variable only on Android and otherwise points libcurl at the system bundle. So a URLSession on
// Linux either refuses LND's certificate or, with verification off, accepts any certificate.
//
// This transport therefore speaks HTTP/1.1 itself over a TLS connection made with the system's
// libssl through `PayRailTLS` (the one module that sees libssl). The pin is as strict as it
// gets: the only trust anchor is the pinned certificate (so the handshake itself checks the server's
// signature and the certificate's dates), and after the handshake the certificate the server
// presented must equal the pinned one byte for byte, before a single byte of the request (and so
// the macaroon) is sent.

/// An `HTTPTransport` to one LND node that trusts only that node's `tls.cert`.
///
/// One TLS connection per request (`Connection: close`); streamed answers (`/v2/router/send`) are
/// read to their end. Failures before the request was written are `.notSent`; after, `.noAnswer`.
public struct LNDPinnedTransport: HTTPTransport {
    /// The pinned certificate, DER.
    let pinnedCertificate: [UInt8]

    /// Pins the first certificate in a PEM file such as LND's `tls.cert`.
    ///
    /// - Throws: `.malformed` when the file cannot be read or holds no certificate.
    public init(certificateFile: URL) throws(RailError) {
        let data: Data
        do { data = try Data(contentsOf: certificateFile) } catch {
            throw RailError(.malformed, "cannot read the LND TLS certificate \(certificateFile.path)")
        }
        try self.init(certificatePEM: Array(data))
    }

    /// Pins the first certificate in PEM text.
    ///
    /// - Throws: `.malformed` when the text holds no parsable certificate.
    public init(certificatePEM: [UInt8]) throws(RailError) {
        guard let der = Self.firstCertificateDER(pem: certificatePEM) else {
            throw RailError(.malformed, "the LND TLS certificate file holds no PEM certificate")
        }
        guard PinnedTLSSession.parsesCertificate(der) else { throw RailError(.malformed, "the LND TLS certificate cannot be parsed") }
        self.pinnedCertificate = der
    }

    /// Sends the request on a dedicated thread (the socket calls block) and returns the whole answer.
    public func send(_ request: BackendRequest) async throws(TransportFailure) -> BackendResponse {
        let pinned = pinnedCertificate
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<BackendResponse, TransportFailure>, Never>) in
            let thread = Thread {
                continuation.resume(returning: PinnedExchange(pinned: pinned, request: request).run())
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        return try result.get()
    }

    /// The DER bytes of the first `CERTIFICATE` block in PEM text.
    static func firstCertificateDER(pem: [UInt8]) -> [UInt8]? {
        let text = String(decoding: pem, as: UTF8.self)
        guard let begin = text.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = text.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<text.endIndex) else { return nil }
        let body = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(body)), !der.isEmpty else { return nil }
        return Array(der)
    }
}

/// One request over one pinned TLS connection, run on a thread of its own.
private struct PinnedExchange {
    let pinned: [UInt8]
    let request: BackendRequest

    /// Answers larger than this are refused (a lookup page or payment stream is far smaller).
    static let maximumAnswerBytes = 32 << 20

    func run() -> Result<BackendResponse, TransportFailure> {
        // A write to a socket the server closed raises SIGPIPE, which would end the process; blocked
        // on this thread only, it becomes an EPIPE error (the thread ends right after, dropping it).
        var pipe = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipe, nil)

        let deadline = ContinuousClock.now.advanced(by: request.timeout)
        guard let host = request.url.host, !host.isEmpty else { return .failure(.notSent("no host in the URL")) }
        let port = request.url.port ?? 443
        let socket: Int32
        switch Self.connect(host: host, port: port, deadline: deadline) {
        case .success(let fd): socket = fd
        case .failure(let failure): return .failure(failure)
        }
        defer { close(socket) }
        guard let connection = PinnedTLSSession(socket: socket, pinnedDER: pinned) else { return .failure(.notSent("TLS setup failed")) }
        defer { connection.close() }

        Self.setTimeouts(socket, deadline: deadline)
        if let why = connection.handshake() { return .failure(.notSent(why)) }
        guard connection.peerCertificateDER() == pinned else {
            return .failure(.notSent("the server's certificate is not the pinned tls.cert"))
        }

        let head = requestHead(host: host, port: port)
        var written = false
        for chunk in [head, request.body] where !chunk.isEmpty {
            Self.setTimeouts(socket, deadline: deadline)
            guard connection.write(chunk) else {
                return .failure(written ? .noAnswer("the connection broke while sending") : .notSent("the connection broke before sending"))
            }
            written = true
        }

        var answer = HTTPAnswerReader()
        while true {
            guard ContinuousClock.now < deadline else { return .failure(.noAnswer("timed out waiting for the answer")) }
            Self.setTimeouts(socket, deadline: deadline)
            switch connection.read() {
            case .bytes(let bytes):
                guard answer.count + bytes.count <= Self.maximumAnswerBytes else { return .failure(.noAnswer("the answer is too large")) }
                if let whole = answer.append(bytes) { return .success(response(whole)) }
            case .end:
                guard let whole = answer.finish() else {
                    return .failure(.noAnswer(answer.count == 0 ? "the server closed without answering" : "the answer was cut short"))
                }
                return .success(response(whole))
            case .failed(let why):
                return .failure(.noAnswer(why))
            }
        }
    }

    private func response(_ answer: HTTPAnswer?) -> BackendResponse {
        BackendResponse(status: answer?.status ?? 0, body: answer?.body ?? [])
    }

    private func requestHead(host: String, port: Int) -> [UInt8] {
        let components = URLComponents(url: request.url, resolvingAgainstBaseURL: false)
        var target = components?.percentEncodedPath ?? "/"
        if target.isEmpty { target = "/" }
        if let query = components?.percentEncodedQuery { target += "?" + query }
        let hostField = (host.contains(":") ? "[\(host)]" : host) + (request.url.port.map { ":\($0)" } ?? "")
        var head = "\(request.method) \(target) HTTP/1.1\r\nHost: \(hostField)\r\nConnection: close\r\n"
        for header in request.headers where !header.name.contains(where: { $0 == "\r" || $0 == "\n" }) {
            let value = header.value.filter { $0 != "\r" && $0 != "\n" }
            head += "\(header.name): \(value)\r\n"
        }
        if !request.body.isEmpty || request.method == "POST" { head += "Content-Length: \(request.body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8)
    }

    /// Connects within the deadline, trying each address the host resolves to.
    private static func connect(host: String, port: Int, deadline: ContinuousClock.Instant) -> Result<Int32, TransportFailure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            return .failure(.notSent("cannot resolve \(host)"))
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else { lastError = "socket: errno \(errno)"; continue }
            let flags = fcntl(fd, F_GETFL, 0)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            #if canImport(Glibc)
            var connected = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
            #else
            var connected = Darwin.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
            #endif
            if !connected, errno == EINPROGRESS {
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&poller, 1, milliseconds(until: deadline)) == 1 {
                    var soError: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                    connected = soError == 0
                    if !connected { lastError = "connect: errno \(soError)" }
                } else {
                    lastError = "connect timed out"
                }
            } else if !connected {
                lastError = "connect: errno \(errno)"
            }
            if connected {
                _ = fcntl(fd, F_SETFL, flags)
                return .success(fd)
            }
            close(fd)
        }
        return .failure(.notSent(lastError))
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let left = ContinuousClock.now.duration(to: deadline).components
        guard left.seconds >= 0 else { return 0 }
        return Int32(clamping: left.seconds * 1000 + left.attoseconds / 1_000_000_000_000_000)
    }

    /// Makes each blocking read and write give up at the deadline.
    private static func setTimeouts(_ fd: Int32, deadline: ContinuousClock.Instant) {
        let left = max(1, Int(milliseconds(until: deadline)))
        var value = timeval(tv_sec: left / 1000, tv_usec: (left % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// A complete HTTP/1.x answer: status and de-chunked body.
struct HTTPAnswer: Hashable, Sendable {
    var status: Int
    var body: [UInt8]

    /// Parses `bytes` when they hold a complete answer; `atEnd` says the server closed the
    /// connection, which completes an answer without a length.
    static func parse(_ bytes: [UInt8], atEnd: Bool) -> HTTPAnswer? {
        var reader = HTTPAnswerReader()
        if let whole = reader.append(bytes) { return whole }
        return atEnd ? reader.finish() : nil
    }
}

/// Reads an HTTP/1.x answer as it arrives, looking at each byte a bounded number of times: the
/// head is parsed once, a sized body is only counted, and chunks are taken as each completes.
/// (Parsing the whole answer again after every read would be quadratic in its size, and LND's
/// payment stream arrives in many small reads.)
struct HTTPAnswerReader {
    private struct Head {
        var status: Int
        var contentLength: Int?
        var chunked: Bool
        var bodyStart: Int
    }

    /// A chunk-size line longer than this is not HTTP (sizes are a few hex digits and extensions).
    private static let maximumChunkLine = 4096

    private var bytes: [UInt8] = []
    private var head: Head?
    /// Where the search for the end of the head resumes (three bytes back: the separator may straddle reads).
    private var headSearchFrom = 0
    /// The head or the chunk framing is not HTTP: the answer can never complete.
    private var malformed = false
    /// Chunked bodies: the start of the next chunk-size line, and the body so far.
    private var chunkCursor = 0
    private var chunkedBody: [UInt8] = []

    /// Bytes received so far.
    var count: Int { bytes.count }

    /// Takes the next bytes; the answer once it is complete.
    mutating func append(_ more: [UInt8]) -> HTTPAnswer? {
        bytes += more
        return complete(atEnd: false)
    }

    /// The server closed the connection: the answer, if what arrived is a complete one.
    mutating func finish() -> HTTPAnswer? {
        complete(atEnd: true)
    }

    private mutating func complete(atEnd: Bool) -> HTTPAnswer? {
        guard !malformed else { return nil }
        if head == nil {
            guard let end = Self.find([13, 10, 13, 10], in: bytes, from: headSearchFrom) else {
                headSearchFrom = max(0, bytes.count - 3)
                return nil
            }
            guard let parsed = Self.parseHead(bytes[..<end], bodyStart: end + 4) else {
                malformed = true
                return nil
            }
            head = parsed
            chunkCursor = parsed.bodyStart
        }
        guard let head else { return nil }
        if head.chunked { return nextChunks(status: head.status) }
        let received = bytes.count - head.bodyStart
        if let length = head.contentLength {
            guard received >= length else { return nil }
            return HTTPAnswer(status: head.status, body: Array(bytes[head.bodyStart..<head.bodyStart + length]))
        }
        return atEnd ? HTTPAnswer(status: head.status, body: Array(bytes[head.bodyStart...])) : nil
    }

    /// Takes every chunk that has fully arrived; the answer after the last (zero-size) chunk.
    private mutating func nextChunks(status: Int) -> HTTPAnswer? {
        while true {
            guard let lineEnd = Self.find([13, 10], in: bytes, from: chunkCursor) else {
                if bytes.count - chunkCursor > Self.maximumChunkLine { malformed = true }
                return nil
            }
            guard lineEnd - chunkCursor <= Self.maximumChunkLine else {
                malformed = true
                return nil
            }
            let sizeText = String(decoding: bytes[chunkCursor..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                malformed = true
                return nil
            }
            let dataStart = lineEnd + 2
            if size == 0 { return HTTPAnswer(status: status, body: chunkedBody) }
            guard bytes.count >= dataStart + size + 2 else { return nil }
            chunkedBody += bytes[dataStart..<dataStart + size]
            chunkCursor = dataStart + size + 2
        }
    }

    private static func parseHead(_ headBytes: ArraySlice<UInt8>, bodyStart: Int) -> Head? {
        let text = String(decoding: headBytes, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/"), let status = Int(statusParts[1]) else { return nil }
        var contentLength: Int?
        var chunked = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" { contentLength = Int(value) }
            if name == "transfer-encoding", value.lowercased().contains("chunked") { chunked = true }
        }
        return Head(status: status, contentLength: contentLength, chunked: chunked, bodyStart: bodyStart)
    }

    /// The index where `pattern` starts in `bytes` at or after `start`.
    private static func find(_ pattern: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        return bytes[start...].firstRange(of: pattern)?.lowerBound
    }
}
