import Foundation
import PayRailHTTP
import PayRailServer
import PayRailWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

// Issue 15 points 1 and 2 against a live `payrail serve --upstream`: the spellings of a priced route
// an upstream may serve never reach it unpaid, the upstream gets exactly the canonical target, and
// no target reaches another host or climbs out of the upstream's base path. Requests are written
// on raw sockets, since URLSession would normalise the very spellings under test.

/// One raw HTTP/1.1 exchange on loopback (`Connection: close`, read to the end), on its own thread
/// so blocking I/O stays off the cooperative pool that runs the in-process upstream.
func rawProxyExchange(port: UInt16, method: String = "GET", target: String, fields: [(String, String)] = []) async throws -> Int {
    var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (name, value) in fields { head += "\(name): \(value)\r\n" }
    let bytes = Array((head + "\r\n").utf8)
    let answer: String? = await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: rawRoundTrip(port: port, bytes)) }.start()
    }
    guard let answer, let status = answer.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap({ Int($0) }) else {
        throw ServeTestFailure("no HTTP answer to \(method) \(target.debugDescription)")
    }
    return status
}

/// Sends `bytes` and reads until the peer closes (at most 30 s: a hang guard, not a timing).
private func rawRoundTrip(port: UInt16, _ bytes: [UInt8]) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    var offset = 0
    while offset < bytes.count {
        let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent > 0 else { return nil }
        offset += sent
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { break }
        received.append(contentsOf: buffer[0..<count])
    }
    return received.isEmpty ? nil : String(decoding: received, as: UTF8.self)
}

/// The port of an `http://host:port` origin.
func originPort(_ origin: String) throws -> UInt16 {
    try #require(origin.split(separator: ":").last.flatMap { UInt16($0) })
}

/// An upstream on loopback that records every request it receives and answers 200.
func recordingUpstream(_ seen: SeenRequests) throws -> (HTTPServer, UInt16) {
    let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0)) { request in
        seen.append(request)
        return HTTPResponse(headers: ["Content-Type": "text/plain"], text: "upstream \(request.method) \(request.path)")
    }
    return (server, try server.start())
}

@Suite("payrail serve --upstream: one canonical target (issue 15, points 1 and 2)", .serialized)
struct ProxyCanonicalTargetTests {
    @Test("spellings of a priced route are priced or refused, never forwarded free")
    func pricedSpellingsNeverReachTheUpstream() async throws {
        let seen = SeenRequests()
        let (upstream, upstreamPort) = try recordingUpstream(seen)
        let server = try ServeProcess(["--upstream", "http://127.0.0.1:\(upstreamPort)", "--price", "GET /premium=100sat"])
        defer { server.kill() }
        let port = try originPort(server.origin)

        let spellings = [
            "/premium", "//premium", "/./premium", "/x/../premium", "/premium#x", "@127.0.0.1:\(upstreamPort)/premium",
            "http://127.0.0.1:\(upstreamPort)/premium", "/%70remium", "/PREMIUM", "/Premium", "/premium/", "/premium%2f",
            "/premium%2F", "/%2e/premium", "/%2E/premium", "/premium/.", "/premium/x/..", "/premium;x", "/premium%3Bx",
            "/premium%00", "/premium\\", "/\\premium", "/%2e%2e/premium", "/premium?a=1", "///premium//", "/%50REMIUM%2f.",
            "/premium%09", "/pre%6Dium/%2e",
        ]
        for target in spellings {
            let status = try await rawProxyExchange(port: port, target: target)
            #expect(status == 402 || status == 400, "GET \(target) answered \(status)")
        }
        for method in ["get", "Get", "gEt"] {
            let status = try await rawProxyExchange(port: port, method: method, target: "/premium")
            #expect(status == 400, "\(method) /premium answered \(status)")
        }
        #expect(seen.all.isEmpty, "reached the upstream unpaid: \(seen.all.map { "\($0.method) \($0.path)" })")

        // A method override is removed: the upstream gets the POST the gate priced (free here).
        let overrides = RequestTarget.overrideFields.map { ($0, $0.hasSuffix("URL") ? "/premium" : "GET") }
        let post = try await rawProxyExchange(port: port, method: "POST", target: "/premium", fields: overrides + [("Content-Length", "0")])
        #expect(post == 200)
        let forwardedPost = try #require(seen.all.last)
        #expect(forwardedPost.method == "POST" && forwardedPost.path == "/premium")
        for name in RequestTarget.overrideFields { #expect(forwardedPost.headers[name] == nil, "\(name) reached the upstream") }
        #expect(seen.all.count == 1)
        #expect(server.stop() == 0)
        await upstream.shutdown()
    }

    @Test("the upstream receives exactly the canonical target the gate priced")
    func forwardsTheCanonicalForm() async throws {
        let seen = SeenRequests()
        let (upstream, upstreamPort) = try recordingUpstream(seen)
        let server = try ServeProcess(["--upstream", "http://127.0.0.1:\(upstreamPort)", "--price", "GET /premium=100sat"])
        defer { server.kill() }
        let port = try originPort(server.origin)

        let cases: [(sent: String, path: String, query: String)] = [
            ("/free/./a/../b/%7e%41%2a?q=%2F1&r=a/b", "/free/b/~A%2A", "q=%2F1&r=a/b"), ("//free", "/free", ""),
            ("/%66ree/", "/free/", ""), ("/free/x/.", "/free/x/", ""), ("/a;p=1/%c3%a9", "/a;p=1/%C3%A9", ""),
        ]
        for (sent, path, query) in cases {
            let status = try await rawProxyExchange(port: port, target: sent)
            #expect(status == 200, "GET \(sent) answered \(status)")
            let forwarded = try #require(seen.all.last)
            #expect(forwarded.path == path && forwarded.query == query, "\(sent) was forwarded as \(forwarded.path)?\(forwarded.query)")
            #expect(forwarded.method == "GET")
        }
        // Methods go as received (uppercase tokens), never re-cased.
        for method in ["DELETE", "PATCH", "PURGE"] {
            #expect(try await rawProxyExchange(port: port, method: method, target: "/free", fields: [("Content-Length", "0")]) == 200)
            #expect(seen.all.last?.method == method)
        }
        #expect(server.stop() == 0)
        await upstream.shutdown()
    }

    @Test("no target reaches another host or leaves the upstream's base path")
    func noServerSideRequestForgery() async throws {
        let seen = SeenRequests()
        let (upstream, upstreamPort) = try recordingUpstream(seen)
        let elsewhere = SeenRequests()
        let (other, otherPort) = try recordingUpstream(elsewhere)
        let server = try ServeProcess(["--upstream", "http://127.0.0.1:\(upstreamPort)/api/", "--price", "GET /premium=100sat"])
        defer { server.kill() }
        let port = try originPort(server.origin)

        let hostile = [
            "@127.0.0.1:\(otherPort)/x", "@127.0.0.1:\(otherPort)", ":\(otherPort)/x", "/../admin", "/%2e%2e/admin", "/a/../../admin",
            "/.%2e/admin", "/..%2fadmin", "/..\\admin", "http://127.0.0.1:\(otherPort)/x", "//127.0.0.1:\(otherPort)/x",
            "/%2F127.0.0.1:\(otherPort)/x",
        ]
        for target in hostile {
            let status = try await rawProxyExchange(port: port, target: target)
            #expect(status == 400 || status == 200, "GET \(target) answered \(status)")
        }
        #expect(elsewhere.all.isEmpty, "reached another host: \(elsewhere.all.map(\.path))")
        for request in seen.all {
            #expect(request.path.hasPrefix("/api/"), "left the base path: \(request.path)")
        }
        #expect(try await rawProxyExchange(port: port, target: "/free?x=1") == 200)
        #expect(seen.all.last?.path == "/api/free" && seen.all.last?.query == "x=1")
        #expect(try await rawProxyExchange(port: port, target: "/") == 200)
        #expect(seen.all.last?.path == "/api/")
        #expect(server.stop() == 0)
        await upstream.shutdown()
        await other.shutdown()
    }

    @Test("--upstream with a base path that has no canonical form, and a bad --upstream-connections, are usage errors")
    func upstreamSettings() throws {
        for arguments in [["serve", "--upstream", "http://127.0.0.1:1/a/../../x"], ["serve", "--upstream", "http://127.0.0.1:1/a%2Fb"],
                          ["serve", "--upstream", "http://u:p@127.0.0.1:1"], ["serve", "--upstream-connections", "0"],
                          ["serve", "--upstream-connections", "many"]] {
            let result = try PayRail.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(try PayRail.run(["serve", "--help"]).stdout.contains("--upstream-connections"))
    }
}
