import Foundation
import LightningRail
import PayRail
import PayRailTestServers
import Testing

// LNbits and LND REST answers are read from a server the gate does not control. These tests put a
// hostile one on loopback: a body far over the limit, a body dripped past the timeout, a redirect to
// another server. Each failure must come at the limit or the deadline, say whether the request may
// have acted, and carry no key.

@Suite("URLSessionTransport against a hostile backend", .serialized)
struct URLSessionTransportBoundsTests {
    static let mib = 1 << 20
    static let key = "adm1n0000aaaabbbbccccddddeeeeffff"

    static func request(_ url: String, timeout: Duration = .seconds(10)) throws -> BackendRequest {
        BackendRequest(method: "POST", url: try #require(URL(string: url)), headers: [("X-Api-Key", key), ("Accept", "application/json")],
                       body: Array(#"{"out":true}"#.utf8), timeout: timeout)
    }

    /// The failure `send` ends with, or `nil` (recorded as an issue) when it answered.
    static func failure(_ transport: URLSessionTransport, _ request: BackendRequest) async -> TransportFailure? {
        do {
            let answer = try await transport.send(request)
            Issue.record("expected a failure, got HTTP \(answer.status) with \(answer.body.count) bytes")
            return nil
        } catch {
            return error
        }
    }

    @Test("a 50 MiB answer of undeclared length: noAnswer at the 4 MiB default, before the server sent it all")
    func oversizedAnswer() async throws {
        let total = 50 * Self.mib
        let server = try LoopbackBodyServer { _ in
            LazyAnswer(head: LazyAnswer.head("200 OK", length: nil), prefix: Array(#"{"payment_hash":""#.utf8),
                       chunk: [UInt8](repeating: 0x61, count: 65_536), bodyBytes: total)
        }
        defer { server.stop() }
        let transport = URLSessionTransport()
        #expect(transport.maxBodyBytes == 4 * Self.mib)
        let failure = await Self.failure(transport, try Self.request(server.origin + "/api/v1/payments"))
        let sentWhenItFailed = server.bodyBytesSent
        guard case .noAnswer(let why)? = failure else { Issue.record("expected noAnswer, got \(String(describing: failure))"); return }
        #expect(why.contains("larger than \(4 * Self.mib) bytes"), "\(why)")
        #expect(sentWhenItFailed < total, "the transport read \(sentWhenItFailed) bytes of a \(total)-byte answer")
    }

    @Test("a declared 50 MiB answer over a caller's 64 KiB limit: noAnswer before the body is read")
    func declaredOversizedAnswer() async throws {
        let total = 50 * Self.mib
        let server = try LoopbackBodyServer { _ in
            LazyAnswer(head: LazyAnswer.head("200 OK", length: total), chunk: [UInt8](repeating: 0x61, count: 65_536), bodyBytes: total)
        }
        defer { server.stop() }
        let failure = await Self.failure(URLSessionTransport(maxBodyBytes: 64 * 1024), try Self.request(server.origin + "/v1/payments"))
        let sentWhenItFailed = server.bodyBytesSent
        guard case .noAnswer(let why)? = failure else { Issue.record("expected noAnswer, got \(String(describing: failure))"); return }
        #expect(why.contains("larger than 65536 bytes"), "\(why)")
        #expect(sentWhenItFailed < total)
    }

    @Test("an answer dripped a byte every 200 ms: noAnswer at the 1 s timeout, not when the drip ends (10 s)")
    func drippedAnswer() async throws {
        let server = try LoopbackBodyServer { _ in
            .dripping(bytes: 50, pause: 0.2)
        }
        defer { server.stop() }
        let started = ContinuousClock.now
        let failure = await Self.failure(URLSessionTransport(), try Self.request(server.origin + "/api/v1/payments", timeout: .seconds(1)))
        let took = ContinuousClock.now - started
        guard case .noAnswer(let why)? = failure else { Issue.record("expected noAnswer, got \(String(describing: failure))"); return }
        #expect(why.contains("1 s timeout"), "\(why)")
        #expect(took < .seconds(4), "the call took \(took)")
    }

    @Test("a redirect is not followed: the 307 comes back as the answer and the key never reaches its target")
    func redirectNotFollowed() async throws {
        let target = try LoopbackBodyServer { _ in
            LazyAnswer(head: LazyAnswer.head("200 OK", length: 2), chunk: Array("{}".utf8), bodyBytes: 2)
        }
        defer { target.stop() }
        let location = target.origin + "/stolen"
        let server = try LoopbackBodyServer { _ in
            .redirect(to: location)
        }
        defer { server.stop() }
        let answer = try await URLSessionTransport().send(try Self.request(server.origin + "/api/v1/payments"))
        #expect(answer.status == 307)
        #expect(target.requests.isEmpty, "the redirect target got \(target.requests.map(\.head))")
        #expect(!target.requests.contains { $0.head.contains(Self.key) })

        // LNbits behind it: a redirect is a misconfiguration, refused without the key in the text.
        let backend = LNbitsBackend(baseURL: try #require(URL(string: server.origin)), adminKey: LNbitsAPIKey(Self.key), invoiceKey: nil,
                                    transport: URLSessionTransport())
        do {
            _ = try await backend.balanceMsat()
            Issue.record("a redirect answered a balance")
        } catch {
            #expect(!String(describing: error).contains(Self.key))
        }
        #expect(target.requests.isEmpty)
    }
}

/// The money-moving call: an LNbits `pay` whose answer is too large may have paid, so it is
/// `.timedOut` / `.afterLookup` (never "not sent"), and the lookup that follows finds the payment.
@Suite("LNbits pay with an unreadable answer from a real loopback server", .serialized)
struct LNbitsOversizedPayTests {
    @Test("pay answered with 50 MiB: timedOut/afterLookup without the key; the lookup then finds it paid")
    func oversizedPayAnswerIsOutcomeUnknown() async throws {
        let bolt11 = try LNbitsFixture.field("create-invoice", "bolt11")
        let paymentHash = try LNbitsFixture.field("create-invoice", "payment_hash")
        let preimage = try LNbitsFixture.field("pay", "preimage")
        let created = try LNbitsFixture.field("create-invoice", "time")
        let madeAt = try #require(ISO8601DateFormatter.lnbits.date(from: created))
        let feeReserve = try LNbitsFixture.body("fee-reserve")
        let paid = try LNbitsFixture.body("status-outgoing-paid")
        let total = 50 << 20
        let server = try LoopbackBodyServer.routing { request in
            let head = { (length: Int?) in LazyAnswer.head("200 OK", length: length) }
            if request.path.hasPrefix("/api/v1/payments/fee-reserve") {
                return LazyAnswer(head: head(feeReserve.count), chunk: feeReserve, bodyBytes: feeReserve.count)
            }
            if request.method == "POST" {
                return LazyAnswer(head: head(nil), prefix: Array(#"{"payment_hash":""#.utf8), chunk: [UInt8](repeating: 0x61, count: 65_536),
                                  bodyBytes: total)
            }
            return LazyAnswer(head: head(paid.count), chunk: paid, bodyBytes: paid.count)
        }
        defer { server.stop() }
        let backend = LNbitsBackend(
            baseURL: try #require(URL(string: server.origin)), adminKey: LNbitsAPIKey(URLSessionTransportBoundsTests.key), invoiceKey: nil,
            transport: URLSessionTransport(), requestTimeout: .seconds(10), clock: ManualClock(start: madeAt.addingTimeInterval(5)))
        do {
            _ = try await backend.pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(10))
            Issue.record("a 50 MiB answer to pay was taken as an answer")
        } catch {
            let rail = error as? RailError
            #expect(rail?.code == .timedOut && rail?.retry == .afterLookup, "\(error)")
            #expect(!String(describing: error).contains(URLSessionTransportBoundsTests.key))
        }
        #expect(server.bodyBytesSent < total)
        #expect(server.requests.filter { $0.method == "POST" }.count == 1)
        #expect(try await backend.outgoingStatus(paymentHash: paymentHash) == .succeeded(preimage: preimage, feeMsat: 0))
    }
}
