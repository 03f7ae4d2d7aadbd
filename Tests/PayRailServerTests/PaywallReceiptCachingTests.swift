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

/// Issue #16, point 3, on the wire: the paywall (and so `payrail serve --upstream`, which runs the
/// upstream's answer through it) sends `Cache-Control: private` with every receipt, even when the
/// handler behind it (the upstream) says its answer is `public`; replays and a failed upstream too.
@Suite("Paywall: receipts are private on the wire (issue 16)") struct PaywallReceiptCachingTests {
    @Test("a paid answer the handler calls public goes out private, and so does its replay and a failed answer's receipt")
    func handlerCannotMakeAReceiptPublic() async throws {
        let world = try await GateWorld.make()
        var configuration = world.configuration
        configuration.pricing = try PricingTable(parsing: ["GET /premium=100sat", "GET /broken=100sat", "GET /missing=100sat"], rails: [.fake])
        let gate = Gate(configuration: configuration)
        var router = Router()
        router.get("/premium") { _ in
            HTTPResponse(status: .ok, headers: ["Cache-Control": "public, max-age=60", "Content-Type": "text/plain",
                                                "CDN-Cache-Control": "public, max-age=600", "Surrogate-Control": "max-age=600"],
                         body: Array("paid".utf8))
        }
        router.get("/broken") { _ in HTTPResponse(status: .badGateway, headers: ["Cache-Control": "public"], body: Array("down".utf8)) }
        // A 4xx is stored for the grant and replayed: it must not gain a Payment-Receipt on replay either.
        router.get("/missing") { _ in HTTPResponse(status: .notFound, headers: ["Cache-Control": "public"], body: Array("gone".utf8)) }
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0, threadCount: 1),
                                handler: chain([Paywall.middleware(gate)], handler: router.handler))
        let port = try server.start()
        defer { Task { await server.shutdown(grace: .seconds(2)) } }
        let session = URLSession(configuration: .ephemeral)

        for path in ["/premium", "/broken", "/missing"] {
            let unpaid = try await PaywallLiveTests.send(session, port, "GET", path)
            #expect(unpaid.headers["Cache-Control"] == "no-store")
            let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body,
                                                     receivedAt: world.clock.now())
            let read = try #require(reading.offers.first { $0.dialect == .payment })
            let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
            let paid = try await PaywallLiveTests.send(session, port, "GET", path, headers: fields)
            // draft-httpauth-payment "Payment-Receipt Header": servers MUST NOT return it on an error
            // response; the error keeps X-Receipt, which fetches the resource again at no charge.
            let isError = path != "/premium"
            #expect((paid.headers[PaymentReceipt.fieldName] == nil) == isError, "\(path)")
            // The handler's max-age is kept; its `public` is not.
            #expect(paid.headers["Cache-Control"] == (path == "/premium" ? "private, max-age=60" : "private"), "\(path)")
            let receipt = try #require(paid.headers[PlainReceipt.fieldName])
            let replayed = try await PaywallLiveTests.send(session, port, "GET", path, headers: HTTPFields([("X-Receipt", receipt)]))
            #expect(replayed.headers["Cache-Control"]?.hasPrefix("private") == true, "\(path)")
            #expect(replayed.headers["Cache-Control"]?.contains("public") == false, "\(path)")
            #expect((replayed.headers[PaymentReceipt.fieldName] == nil) == (replayed.status >= 400), "\(path): \(replayed.status)")
            for name in ["CDN-Cache-Control", "Surrogate-Control"] {
                #expect(paid.headers[name] == nil && replayed.headers[name] == nil, "\(path): \(name) would let a CDN store a receipt")
            }
        }
    }
}
