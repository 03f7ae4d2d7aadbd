import FakeRail
import Foundation
import PayRail
import PayRailHTTP
import PayRailPaywall
import PayRailServer
import PayRailWire
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An upstream that fails (502) until told to recover, counting its calls.
private final class Upstream: @unchecked Sendable {
    private let lock = NSLock()
    private var healthy = false
    private var count = 0
    func recover() { lock.withLock { healthy = true } }
    var calls: Int { lock.withLock { count } }
    func answer() -> HTTPResponse {
        lock.withLock {
            count += 1
            return healthy ? HTTPResponse(status: .ok, text: "premium content") : HTTPResponse(status: .badGateway, text: "upstream down")
        }
    }
}

/// Automatic refunds through PayRail's HTTP server and the Paywall middleware, live over loopback: a
/// handler that answers 502 is never stored, so the paid grant ends unserved.
@Suite("Automatic refunds behind the Paywall, live over loopback", .serialized)
struct GateAutomaticRefundsLiveTests {
    /// Pays `/premium` over HTTP in the plain dialect: the first answer and the receipt it carried.
    func payOnce(_ world: GateWorld, _ session: URLSession, _ port: UInt16) async throws -> (PaywallLiveTests.Answer, String) {
        let unpaid = try await PaywallLiveTests.send(session, port, "GET", "/premium")
        #expect(unpaid.status == 402)
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: world.clock.now())
        let read = try #require(reading.offers.first { $0.dialect == .plain })
        let paid = try await PaywallLiveTests.send(session, port, "GET", "/premium",
                                                   headers: try read.credentialFields(for: try await world.payer.pay(read.offer)))
        return (paid, try #require(paid.headers[PlainReceipt.fieldName], "a failed paid answer still carries its receipt for a retry"))
    }

    @Test("an upstream that fails on the payment and on every retry within the grant: the payment is refunded after it, once",
          arguments: [false, true])
    func failingUpstreamRefunded(recovers: Bool) async throws {
        let world = try await GateWorld.make()
        let upstream = Upstream()
        var router = Router()
        router.get("/premium") { _ in upstream.answer() }
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0, threadCount: 1),
                                handler: chain([Paywall.middleware(world.gate)], handler: router.handler))
        let port = try server.start()
        defer { Task { await server.shutdown(grace: .seconds(2)) } }
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }

        let (paid, receipt) = try await payOnce(world, session, port)
        #expect(paid.status == 502)
        #expect(await world.agentBalance() == 99_900)
        world.clock.advance(by: 1800)
        if recovers { upstream.recover() }
        let retried = try await PaywallLiveTests.send(session, port, "GET", "/premium", headers: HTTPFields([("X-Receipt", receipt)]))
        #expect(retried.status == (recovers ? 200 : 502), "the receipt is served again within its grant, without paying")
        #expect(upstream.calls == 2)

        world.clock.advance(by: 1800 + 121)
        let round = try await world.gate.maintain()
        try await world.gate.maintain()
        #expect(round.refunds.refunded == (recovers ? 0 : 1))
        #expect(await world.agentBalance() == (recovers ? 99_900 : 100_000), "served: kept; never served: refunded")
        #expect(await world.merchantBalance() == (recovers ? 100 : 0))
    }
}
