import Foundation
import PayRail
import PayRailHTTP
import PayRailServer
import PayRailTestServers
import PayRailWire
import Testing

// `payrail serve --upstream` against a hostile upstream started here on loopback: an answer far
// above --max-body, one dripped past --upstream-timeout, and one exactly at the limit. The proxy
// must count the body as it arrives and cut the call (never hold the answer whole in memory or a
// handler for ever), and the paying client must lose nothing: the failure is a 5xx problem carrying
// its X-Receipt, which fetches the resource later at no further charge.

/// What the test's upstream does next, switched while it runs.
private final class UpstreamSwitch: @unchecked Sendable {
    // @unchecked: `on` is guarded by `lock`; read from the upstream's threads, set by the test.
    private let lock = NSLock()
    private var on: Bool

    init(_ on: Bool) { self.on = on }
    var isOn: Bool { lock.withLock { on } }
    func set(_ value: Bool) { lock.withLock { on = value } }
}

@Suite("payrail serve --upstream: upstream answers bounded by --max-body and --upstream-timeout", .serialized)
struct ProxyUpstreamBoundsTests {
    static let mib = 1 << 20
    static let goodBody = Array(#"{"from":"upstream"}"#.utf8)

    /// A status line and fields; `length` nil means a body delimited by closing the connection.
    static func head(_ status: String, length: Int?, type: String = "application/octet-stream") -> String {
        LazyAnswer.head(status, length: length, type: type)
    }

    /// The well-behaved answer: a small JSON body of declared length.
    static func goodAnswer() -> LazyAnswer {
        LazyAnswer(head: head("200 OK", length: goodBody.count, type: "application/json"), chunk: goodBody, bodyBytes: goodBody.count)
    }

    /// Pays the 402 of `path` through the demo payer; the fields that present the credential.
    static func paidFields(_ server: ServeProcess, _ path: String) async throws -> HTTPFields {
        let unpaid = try await exchange(server.url(path))
        #expect(unpaid.status == 402)
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .plain })
        let credential = try await DemoPayer(dataDirectory: server.data).pay(read.offer)
        return try read.credentialFields(for: credential)
    }

    @Test("a paid 64 MiB answer against --max-body 1 MiB: 502 upstream-too-large before the upstream is done, not held in memory; the receipt re-grants later")
    func oversizedAnswerIsCutAndTheReceiptRegrants() async throws {
        let total = 64 * Self.mib
        let hostile = UpstreamSwitch(true)
        let upstream = try LoopbackBodyServer.routing { _ in
            // Undeclared length: only counting the body as it arrives can catch it.
            hostile.isOn
                ? LazyAnswer(head: Self.head("200 OK", length: nil), chunk: [UInt8](repeating: 0x61, count: 65_536), bodyBytes: total)
                : Self.goodAnswer()
        }
        defer { upstream.stop() }
        let server = try ServeProcess(["--upstream", upstream.origin, "--price", "GET /premium=100sat", "--max-body", "\(Self.mib)"])
        defer { server.kill() }

        let credential = try await Self.paidFields(server, "/premium")
        let peakBefore = MeasuredRun.highWaterMarkKiB(server.process.processIdentifier)
        let started = ContinuousClock.now
        let failed = try await exchange(server.url("/premium"), headers: credential)
        let took = ContinuousClock.now - started
        let sentWhenAnswered = upstream.bodyBytesSent
        let peakAfter = MeasuredRun.highWaterMarkKiB(server.process.processIdentifier)

        #expect(failed.status == 502, "\(failed.text)")
        #expect(failed.headers["Content-Type"] == "application/problem+json")
        #expect((failed.json["type"] as? String)?.hasSuffix("upstream-too-large") == true, "\(failed.text)")
        #expect(sentWhenAnswered < total, "the proxy read \(sentWhenAnswered) bytes of a \(total)-byte answer before failing")
        #expect(took < .seconds(10), "the 502 took \(took)")
        if let peakBefore, let peakAfter {
            #expect(peakAfter - peakBefore < 32 * 1024, "the gate's peak memory grew by \(peakAfter - peakBefore) KiB")
        }
        // The payment was settled and the grant kept: the receipt travels with the problem.
        let token = try #require(failed.headers["X-Receipt"])
        #expect(failed.headers["Payment-Receipt"] == nil)

        // The same answer again is refused again, at no charge, and the receipt still holds.
        let again = try await exchange(server.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(again.status == 502 && (again.json["type"] as? String)?.hasSuffix("upstream-too-large") == true, "\(again.text)")

        hostile.set(false)
        let served = try await exchange(server.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(served.status == 200, "\(served.text)")
        #expect(served.body == Self.goodBody)
        #expect(served.headers["X-Receipt"] == token)

        let metrics = try await exchange(server.url("/metrics")).text
        #expect(metric(metrics, "payrail_settlements_total{rail=\"fake\"}") == 1, "one payment, one settlement")
        #expect(metric(metrics, "payrail_upstream_failures_total") == 2)
        #expect(server.stop() == 0)
    }

    @Test("a paid answer dripped a byte every 200 ms (20 s in all): 504 upstream-timeout at --upstream-timeout 1, with the receipt")
    func drippedAnswerIsCutAtTheDeadline() async throws {
        let upstream = try LoopbackBodyServer.routing { _ in
            LazyAnswer(head: Self.head("200 OK", length: 100), chunk: [UInt8(ascii: " ")], bodyBytes: 100, pause: 0.2)
        }
        defer { upstream.stop() }
        let server = try ServeProcess(["--upstream", upstream.origin, "--price", "GET /premium=100sat", "--upstream-timeout", "1"])
        defer { server.kill() }

        let credential = try await Self.paidFields(server, "/premium")
        let started = ContinuousClock.now
        let failed = try await exchange(server.url("/premium"), headers: credential)
        let took = ContinuousClock.now - started
        #expect(failed.status == 504, "\(failed.text)")
        #expect(failed.headers["Content-Type"] == "application/problem+json")
        #expect((failed.json["type"] as? String)?.hasSuffix("upstream-timeout") == true, "\(failed.text)")
        #expect(took < .seconds(5), "the 504 took \(took); the drip lasts 20 s")
        #expect(failed.headers["X-Receipt"] != nil, "the payer keeps its receipt")
        #expect(failed.headers["Payment-Receipt"] == nil)
        #expect(server.stop() == 0)
    }

    @Test("an answer of exactly --max-body bytes passes (declared or not), one byte more is 502 upstream-too-large, a HEAD passes")
    func answerAtTheLimitPasses() async throws {
        let limit = Self.mib
        let upstream = try LoopbackBodyServer.routing { request in
            let chunk = [UInt8](repeating: 0x62, count: 65_536)
            switch request.path {
            case "/exact": return LazyAnswer(head: Self.head("200 OK", length: nil), chunk: chunk, bodyBytes: limit)
            case "/exact-declared": return LazyAnswer(head: Self.head("200 OK", length: limit), chunk: chunk, bodyBytes: limit)
            // A HEAD answer's Content-Length is the GET's body size; no body follows.
            case "/large-file": return LazyAnswer(head: Self.head("200 OK", length: 64 * limit), chunk: chunk, bodyBytes: 0)
            default: return LazyAnswer(head: Self.head("200 OK", length: nil), chunk: chunk, bodyBytes: limit + 1)
            }
        }
        defer { upstream.stop() }
        let server = try ServeProcess(["--upstream", upstream.origin, "--price", "GET /premium=100sat", "--max-body", "\(limit)"])
        defer { server.kill() }

        for path in ["/exact", "/exact-declared"] {
            let answer = try await exchange(server.url(path))
            #expect(answer.status == 200, "\(path): \(answer.status) \(answer.text.prefix(300))")
            #expect(answer.body.count == limit, "\(path): \(answer.body.count) bytes")
        }
        let over = try await exchange(server.url("/over"))
        #expect(over.status == 502)
        #expect((over.json["type"] as? String)?.hasSuffix("upstream-too-large") == true, "\(over.text)")
        let head = try await exchange(server.url("/large-file"), method: "HEAD")
        #expect(head.status == 200)
        #expect(server.stop() == 0)
    }
}
