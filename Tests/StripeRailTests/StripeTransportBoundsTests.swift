import Foundation
import PayRail
import PayRailTestServers
import Testing
@testable import StripeRail

// Stripe's answers are read from a server the gate does not control (or anything between). These
// tests put a hostile one on loopback: each failure must come at the limit or the deadline, say
// whether the request may have acted, and never carry the secret key.

/// Whether the confirmation was asked for yet, shared with the loopback server's threads.
private final class ConfirmSeen: @unchecked Sendable {
    // @unchecked: `seen` is guarded by `lock`.
    private let lock = NSLock()
    private var seen = false
    var value: Bool { lock.withLock { seen } }
    func set() { lock.withLock { seen = true } }
}

@Suite("StripeURLSessionTransport against a hostile server", .serialized)
struct StripeTransportBoundsTests {
    static let mib = 1 << 20

    static func request(_ url: String, timeout: Duration = .seconds(10)) throws -> StripeHTTPRequest {
        StripeHTTPRequest(method: "POST", url: try #require(URL(string: url)),
                          headers: [StripeHeader("Authorization", "Bearer \(TestKeys.secret)"), StripeHeader("Idempotency-Key", "payrail-confirm-x")],
                          body: Array("a=1".utf8), timeout: timeout)
    }

    static func failure(_ transport: StripeURLSessionTransport, _ request: StripeHTTPRequest) async -> StripeTransportFailure? {
        do {
            let answer = try await transport.send(request)
            Issue.record("expected a failure, got HTTP \(answer.status) with \(answer.body.count) bytes")
            return nil
        } catch {
            return error
        }
    }

    @Test("a 50 MiB answer of undeclared length: noAnswer at the 1 MiB default, before the server sent it all")
    func oversizedAnswer() async throws {
        let total = 50 * Self.mib
        let server = try LoopbackBodyServer { _ in
            LazyAnswer(head: LazyAnswer.head("200 OK", length: nil), prefix: Array(#"{"id":""#.utf8), chunk: [UInt8](repeating: 0x61, count: 65_536),
                       bodyBytes: total)
        }
        defer { server.stop() }
        let transport = StripeURLSessionTransport()
        #expect(transport.maxBodyBytes == Self.mib)
        let failure = await Self.failure(transport, try Self.request(server.origin + "/v1/payment_intents/pi_x/capture"))
        let sentWhenItFailed = server.bodyBytesSent
        guard case .noAnswer(let why)? = failure else { Issue.record("expected noAnswer, got \(String(describing: failure))"); return }
        #expect(why.contains("larger than \(Self.mib) bytes"), "\(why)")
        #expect(sentWhenItFailed < total, "the transport read \(sentWhenItFailed) bytes of a \(total)-byte answer")
        #expect(!why.contains(TestKeys.secret))
    }

    @Test("an answer dripped a byte every 200 ms: noAnswer at the 1 s timeout, not when the drip ends (10 s)")
    func drippedAnswer() async throws {
        let server = try LoopbackBodyServer { _ in
            .dripping(bytes: 50, pause: 0.2)
        }
        defer { server.stop() }
        let started = ContinuousClock.now
        let failure = await Self.failure(StripeURLSessionTransport(), try Self.request(server.origin + "/v1/payment_intents", timeout: .seconds(1)))
        let took = ContinuousClock.now - started
        guard case .noAnswer(let why)? = failure else { Issue.record("expected noAnswer, got \(String(describing: failure))"); return }
        #expect(why.contains("1 s timeout"), "\(why)")
        #expect(took < .seconds(4), "the call took \(took)")
    }

    @Test("a redirect is not followed: the 307 comes back and the secret key never reaches its target")
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
        let answer = try await StripeURLSessionTransport().send(try Self.request(server.origin + "/v1/payment_intents"))
        #expect(answer.status == 307 && answer.headers["location"] == location)
        #expect(target.requests.isEmpty, "the redirect target got \(target.requests.map(\.head))")
        #expect(!target.requests.contains { $0.head.contains(TestKeys.secret) })
    }

    @Test("a confirmation answered with 50 MiB is timedOut/afterLookup; paying again finds it paid without a second confirmation")
    func oversizedConfirmationIsOutcomeUnknown() async throws {
        let offer = try await StripeIntentCannedTests.offer()
        let intentPath = StripeIntentCannedTests.intentPath
        let waiting = Fixture.bytes("pi_requires_payment_method.json")
        let succeeded = Fixture.bytes("pi_succeeded.json")
        let total = 50 * Self.mib
        let confirmed = ConfirmSeen()
        let server = try LoopbackBodyServer.routing { request in
            if request.path.hasSuffix("/confirm") {
                confirmed.set()
                return LazyAnswer(head: LazyAnswer.head("200 OK", length: nil), prefix: Array(#"{"id":""#.utf8),
                                  chunk: [UInt8](repeating: 0x61, count: 65_536), bodyBytes: total)
            }
            let body = request.path.hasPrefix(intentPath) && confirmed.value ? succeeded : waiting
            return LazyAnswer(head: LazyAnswer.head("200 OK", length: body.count), chunk: body, bodyBytes: body.count)
        }
        defer { server.stop() }
        let client = try StripeClient(apiBase: try #require(URL(string: server.origin)), key: StripeSecretKey(TestKeys.secret),
                                      timeout: .seconds(10), transport: StripeURLSessionTransport())
        let payer = try StripePayerRail(client: client, paymentMethod: "pm_1QfixtureMethod01", clock: StripeIntentCannedTests.clock)
        do {
            _ = try await payer.pay(offer)
            Issue.record("a 50 MiB answer to a confirmation was taken as an answer")
        } catch {
            let rail = error as? RailError
            #expect(rail?.code == .timedOut && rail?.retry == .afterLookup, "\(error)")
            #expect(!String(describing: error).contains(TestKeys.secret))
        }
        #expect(server.bodyBytesSent < total)
        #expect(try await payer.pay(offer).payload["paymentIntent"] == TestKeys.intent)
        #expect(server.requests.filter { $0.path.hasSuffix("/confirm") }.count == 1)
    }
}
