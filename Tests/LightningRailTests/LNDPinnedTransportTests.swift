import Foundation
import PayRailTestPeers
import PayRail
import Testing
@testable import LightningRail
#if canImport(Glibc)
import Glibc
#endif

// The pin is proved against a real TLS server: `openssl s_server` on 127.0.0.1 with throwaway
// self-signed certificates made by the `openssl` CLI (as LND makes its tls.cert), serving canned
// HTTP answers from files (`-HTTP`: each file holds the whole answer, headers included).

/// A self-signed certificate and its key, written by `openssl req`.
struct TestCertificate {
    let certificate: URL
    let key: URL

    /// Makes a P-256 certificate for 127.0.0.1/localhost; `reusingKey` signs a new certificate with
    /// an existing key (same key and subject, different certificate).
    static func make(in directory: URL, name: String, reusingKey: URL? = nil) throws -> TestCertificate {
        let certificate = directory.appendingPathComponent("\(name).cert"), key = reusingKey ?? directory.appendingPathComponent("\(name).key")
        var arguments = ["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-out", certificate.path]
        if let reusingKey {
            arguments += ["-key", reusingKey.path]
        } else {
            arguments += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key.path]
        }
        try OpenSSLServer.runOpenSSL(arguments)
        return TestCertificate(certificate: certificate, key: key)
    }

    /// Makes a certificate (subject CN=leaf) signed by `issuer`'s key.
    static func issued(by issuer: TestCertificate, in directory: URL, name: String) throws -> TestCertificate {
        let key = directory.appendingPathComponent("\(name).key"), request = directory.appendingPathComponent("\(name).csr")
        let certificate = directory.appendingPathComponent("\(name).cert")
        try OpenSSLServer.runOpenSSL(["req", "-new", "-nodes", "-subj", "/CN=leaf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                      "-keyout", key.path, "-out", request.path])
        try OpenSSLServer.runOpenSSL(["x509", "-req", "-in", request.path, "-CA", issuer.certificate.path, "-CAkey", issuer.key.path,
                                      "-set_serial", "2", "-days", "2", "-out", certificate.path])
        return TestCertificate(certificate: certificate, key: key)
    }
}

/// `openssl s_server -HTTP` on 127.0.0.1 and a free port, stopped by its PID.
final class OpenSSLServer {
    let port: Int
    private let process: Process
    private let input = Pipe()

    init(certificate: TestCertificate, serving directory: URL) throws {
        port = try Self.freePort()
        process = Process()
        process.executableURL = try Self.openssl()
        process.arguments = ["s_server", "-quiet", "-HTTP", "-accept", "127.0.0.1:\(port)", "-cert", certificate.certificate.path, "-key", certificate.key.path]
        process.currentDirectoryURL = directory
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Stopped by `stop()`; the watchdog stops it if this test process is killed first.
        try PeerWatchdog.watch(pid: process.processIdentifier, signal: SIGKILL)
        try waitUntilListening()
    }

    func stop() {
        if process.isRunning {
            // SIGKILL: the child inherits the test thread's signal mask, in which SIGTERM is blocked.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? input.fileHandleForWriting.close()
    }

    deinit { stop() }

    private func waitUntilListening() throws {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            guard process.isRunning else { throw Failure("openssl s_server exited early") }
            if Self.canConnect(port) { return }
            usleep(20_000)
        }
        throw Failure("openssl s_server did not listen on 127.0.0.1:\(port)")
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func openssl() throws -> URL {
        for path in ["/usr/bin/openssl", "/usr/local/bin/openssl"] where FileManager.default.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        throw Failure("the openssl CLI is missing (Debian package openssl)")
    }

    static func runOpenSSL(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = try openssl()
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure("openssl \(arguments.first ?? "") exited \(process.terminationStatus)") }
    }

    private static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket failed") }
        defer { close(fd) }
        var address = loopback(0)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw Failure("bind failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }
}

@Suite("LND pinned TLS transport", .serialized) struct LNDPinnedTransportTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-lnd-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("v1/balance"), withIntermediateDirectories: true)
        // What LND's REST gateway would answer, as s_server -HTTP sends it: the file is the answer.
        let balance = try LNDFixture.bytes("lnd-balance.json")
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(balance.count)\r\n\r\n"
        try Data(Array(head.utf8) + balance).write(to: directory.appendingPathComponent("v1/balance/channels"))
        let lines = try LNDFixture.bytes("lnd-send-succeeded.jsonl")
        var chunked = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for line in lines.split(separator: UInt8(ascii: "\n")) {
            chunked += Array("\(String(line.count + 1, radix: 16))\r\n".utf8) + line + [0x0A, 0x0D, 0x0A]
        }
        chunked += Array("0\r\n\r\n".utf8)
        try Data(chunked).write(to: directory.appendingPathComponent("stream"))
        try Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".utf8).write(to: directory.appendingPathComponent("cut"))
    }

    private func cleanUp() { try? FileManager.default.removeItem(at: directory) }

    @Test func pinnedCertificateIsAcceptedAndTheAnswerRead() async throws {
        defer { cleanUp() }
        let node = try TestCertificate.make(in: directory, name: "node")
        let server = try OpenSSLServer(certificate: node, serving: directory)
        defer { server.stop() }
        let macaroon = directory.appendingPathComponent("admin.macaroon")
        try Data(LNDFixture.macaroonBytes).write(to: macaroon)
        let backend = try LNDBackend.pinned(baseURL: URL(string: "https://127.0.0.1:\(server.port)")!, macaroonFile: macaroon, tlsCertificateFile: node.certificate)
        #expect(try await backend.balanceMsat() == 250_000_123)

        let transport = try LNDPinnedTransport(certificateFile: node.certificate)
        let stream = try await transport.send(BackendRequest(method: "GET", url: URL(string: "https://127.0.0.1:\(server.port)/stream")!, timeout: .seconds(5)))
        #expect(stream.status == 200)
        #expect(stream.body == (try LNDFixture.bytes("lnd-send-succeeded.jsonl")))
        #expect(try LNDBackend.readPaymentStream(stream) == .succeeded(preimage: LNDFixture.preimage, feeMsat: 1_005))
    }

    @Test func differentCertificateIsRefusedBeforeAnythingIsSent() async throws {
        defer { cleanUp() }
        let node = try TestCertificate.make(in: directory, name: "node")
        let impostor = try TestCertificate.make(in: directory, name: "impostor")
        let server = try OpenSSLServer(certificate: impostor, serving: directory)
        defer { server.stop() }
        let transport = try LNDPinnedTransport(certificateFile: node.certificate)
        let url = URL(string: "https://127.0.0.1:\(server.port)/v1/balance/channels")!
        let failure = await #expect(throws: TransportFailure.self) { try await transport.send(BackendRequest(method: "GET", url: url, timeout: .seconds(5))) }
        guard case .notSent = failure else { Issue.record("expected notSent, got \(String(describing: failure))"); return }

        let backend = try LNDBackend(baseURL: URL(string: "https://127.0.0.1:\(server.port)")!, macaroon: LNDMacaroon(bytes: LNDFixture.macaroonBytes), transport: transport)
        let error = await #expect(throws: RailError.self) { try await backend.balanceMsat() }
        #expect(error?.code == .unavailable)
        #expect(error?.retry == .safe)
        // The same refusal while paying means nothing was paid.
        let payError = await #expect(throws: RailError.self) { try await backend.pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 1, timeout: .seconds(5)) }
        #expect(payError?.retry == .safe)
    }

    @Test func sameKeyAndSubjectButAnotherCertificateIsRefused() async throws {
        defer { cleanUp() }
        let node = try TestCertificate.make(in: directory, name: "node")
        let reissued = try TestCertificate.make(in: directory, name: "reissued", reusingKey: node.key)
        #expect(try Data(contentsOf: node.certificate) != (try Data(contentsOf: reissued.certificate)))
        let failure = try await refusal(pinning: node, serverUses: reissued)
        guard case .notSent = failure else { Issue.record("expected notSent, got \(String(describing: failure))"); return }
    }

    @Test func certificateIssuedByThePinnedOneIsRefusedByTheByteComparison() async throws {
        // LND's tls.cert is a CA (CA:TRUE), so a certificate it signed passes the handshake's chain
        // check against the pinned anchor; only the byte-for-byte comparison refuses it.
        defer { cleanUp() }
        let node = try TestCertificate.make(in: directory, name: "node")
        let leaf = try TestCertificate.issued(by: node, in: directory, name: "leaf")
        let failure = try await refusal(pinning: node, serverUses: leaf)
        #expect(failure == .notSent("the server's certificate is not the pinned tls.cert"))
    }

    private func refusal(pinning pinned: TestCertificate, serverUses served: TestCertificate) async throws -> TransportFailure? {
        let server = try OpenSSLServer(certificate: served, serving: directory)
        defer { server.stop() }
        let transport = try LNDPinnedTransport(certificateFile: pinned.certificate)
        let url = URL(string: "https://127.0.0.1:\(server.port)/v1/balance/channels")!
        return await #expect(throws: TransportFailure.self) { try await transport.send(BackendRequest(method: "GET", url: url, timeout: .seconds(5))) }
    }

    @Test func answerCutShortIsNoAnswerAndClosedPortIsNotSent() async throws {
        defer { cleanUp() }
        let node = try TestCertificate.make(in: directory, name: "node")
        let transport = try LNDPinnedTransport(certificateFile: node.certificate)
        do {
            let server = try OpenSSLServer(certificate: node, serving: directory)
            defer { server.stop() }
            let failure = await #expect(throws: TransportFailure.self) {
                try await transport.send(BackendRequest(method: "GET", url: URL(string: "https://127.0.0.1:\(server.port)/cut")!, timeout: .seconds(5)))
            }
            guard case .noAnswer = failure else { Issue.record("expected noAnswer, got \(String(describing: failure))"); return }
        }
        let closed = try OpenSSLServer.freePort()
        let failure = await #expect(throws: TransportFailure.self) {
            try await transport.send(BackendRequest(method: "GET", url: URL(string: "https://127.0.0.1:\(closed)/")!, timeout: .seconds(2)))
        }
        guard case .notSent = failure else { Issue.record("expected notSent, got \(String(describing: failure))"); return }
    }

    @Test func certificateFileWithoutACertificateIsMalformed() throws {
        defer { cleanUp() }
        let error = #expect(throws: RailError.self) { try LNDPinnedTransport(certificatePEM: Array("not a certificate".utf8)) }
        #expect(error?.code == .malformed)
        let garbage = Array("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8)
        #expect(throws: RailError.self) { try LNDPinnedTransport(certificatePEM: garbage) }
    }

    @Test func httpAnswersAreCompleteOnlyWhenWhole() {
        defer { cleanUp() }
        let chunked = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n".utf8)
        #expect(HTTPAnswer.parse(chunked, atEnd: false) == nil)
        #expect(HTTPAnswer.parse(chunked + Array("0\r\n\r\n".utf8), atEnd: false) == HTTPAnswer(status: 200, body: Array("abcde".utf8)))
        let sized = Array("HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nab".utf8)
        #expect(HTTPAnswer.parse(sized, atEnd: true) == nil)
        #expect(HTTPAnswer.parse(sized + Array("cdEXTRA".utf8), atEnd: false) == HTTPAnswer(status: 404, body: Array("abcd".utf8)))
        #expect(HTTPAnswer.parse(Array("HTTP/1.0 200 ok\r\n\r\nbody".utf8), atEnd: false) == nil)
        #expect(HTTPAnswer.parse(Array("HTTP/1.0 200 ok\r\n\r\nbody".utf8), atEnd: true)?.body == Array("body".utf8))
        #expect(HTTPAnswer.parse(Array("garbage\r\n\r\n".utf8), atEnd: true) == nil)
    }

    @Test func answersReadInSmallPiecesCompleteExactlyAsWholeOnes() {
        defer { cleanUp() }
        let chunked = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".utf8)
        let sized = Array("HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nabcdEXTRA".utf8)
        // The last chunk's size line ends the body (no trailers are read); a sized body ends at its length.
        let cases = [(chunked, HTTPAnswer(status: 200, body: Array("abcde".utf8)), chunked.count - 2),
                     (sized, HTTPAnswer(status: 404, body: Array("abcd".utf8)), sized.count - 5)]
        for (answer, expected, completeAt) in cases {
            // One byte per read: the answer completes at its last needed byte, not before.
            var reader = HTTPAnswerReader()
            var result: HTTPAnswer?
            var fed = 0
            while result == nil, fed < answer.count {
                result = reader.append([answer[fed]])
                fed += 1
            }
            #expect(result == expected)
            #expect(fed == completeAt)
        }

        // LND's payment stream: many chunks arriving in small reads, the body whole and in order.
        var stream = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var body: [UInt8] = []
        for index in 0..<2000 {
            let piece = Array("{\"result\":{\"status\":\"IN_FLIGHT\",\"n\":\(index)}}\n".utf8)
            stream += Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
            body += piece
        }
        stream += Array("0\r\n\r\n".utf8)
        var reader = HTTPAnswerReader()
        var result: HTTPAnswer?
        var index = 0
        while result == nil, index < stream.count {
            let end = min(stream.count, index + 7)
            result = reader.append(Array(stream[index..<end]))
            index = end
        }
        #expect(result == HTTPAnswer(status: 200, body: body))

        // A chunk-size line that never ends is refused instead of being searched again on every read.
        var endless = HTTPAnswerReader()
        #expect(endless.append(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)) == nil)
        #expect(endless.append([UInt8](repeating: UInt8(ascii: "1"), count: 5000)) == nil)
        #expect(endless.append(Array("\r\n0\r\n\r\n".utf8)) == nil)
        #expect(endless.finish() == nil)
    }
}
