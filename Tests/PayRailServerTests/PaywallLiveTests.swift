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

/// The README's "your own handlers behind the gate" shape, live over loopback: PayRail's HTTP server,
/// a router with the user's handlers, and `Paywall.middleware` in front.
@Suite("Paywall middleware, live over loopback") struct PaywallLiveTests {
    struct Answer {
        let status: Int
        let headers: HTTPFields
        let body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func send(_ session: URLSession, _ port: UInt16, _ method: String, _ path: String,
                     headers: HTTPFields = HTTPFields(), body: [UInt8]? = nil) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.httpMethod = method
        for field in headers { request.setValue(field.value, forHTTPHeaderField: field.name) }
        if let body { request.httpBody = Data(body) }
        let (data, response) = try await session.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var fields = HTTPFields()
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields.append(key, value) }
        }
        return Answer(status: http.statusCode, headers: fields, body: Array(data))
    }

    @Test("unpaid 402, paid 200 from the user's handler, receipt replay, body-bound POST")
    func paywallInFrontOfOwnHandlers() async throws {
        let world = try await GateWorld.make()
        var configuration = world.configuration
        configuration.pricing = try PricingTable(parsing: ["GET /premium=100sat", "POST /jobs=50sat"], rails: [.fake])
        let gate = Gate(configuration: configuration)
        let handlerCalls = Counter()

        var router = Router()
        router.get("/premium") { _ in
            handlerCalls.increment()
            let paidWith = Paywall.pass?.grant?.settlement.amount.description ?? "nothing"
            return HTTPResponse(status: .ok, text: "premium content, paid \(paidWith)")
        }
        router.get("/free") { _ in HTTPResponse(status: .ok, text: "free content") }
        router.post("/jobs") { request in HTTPResponse(status: .ok, text: "job accepted: \(request.body.count) bytes") }
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0, threadCount: 1),
                                handler: chain([Middleware.requestID(), Paywall.middleware(gate)], handler: router.handler))
        let port = try server.start()
        defer { Task { await server.shutdown(grace: .seconds(2)) } }
        let session = URLSession(configuration: .ephemeral)

        #expect(try await Self.send(session, port, "GET", "/free").text == "free content")
        let unpaid = try await Self.send(session, port, "GET", "/premium")
        #expect(unpaid.status == 402)
        #expect(handlerCalls.value == 0)

        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: world.clock.now())
        let read = try #require(reading.offers.first { $0.dialect == .x402 })
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let paid = try await Self.send(session, port, "GET", "/premium", headers: fields)
        #expect(paid.status == 200)
        #expect(paid.text == "premium content, paid 100sat")
        let receipt = try #require(paid.headers[PlainReceipt.fieldName])
        #expect(paid.headers[X402HeaderName.paymentResponse] != nil)

        let replayed = try await Self.send(session, port, "GET", "/premium", headers: HTTPFields([("X-Receipt", receipt)]))
        #expect(replayed.status == 200 && replayed.text == paid.text)
        #expect(handlerCalls.value == 1)
        #expect(await world.agentBalance() == 99_900)

        // A POST is bound to its body: paid for one body, refused with another.
        let job = Array(#"{"task":"resize","width":640}"#.utf8)
        let jobChallenge = try await Self.send(session, port, "POST", "/jobs", body: job)
        #expect(jobChallenge.status == 402)
        let jobReading = PaymentResponseReader.read(status: 402, headers: jobChallenge.headers, body: jobChallenge.body, receivedAt: world.clock.now())
        let jobOffer = try #require(jobReading.offers.first { $0.dialect == .payment })
        let jobFields = try jobOffer.credentialFields(for: try await world.payer.pay(jobOffer.offer))
        let otherBody = try await Self.send(session, port, "POST", "/jobs", headers: jobFields, body: Array(#"{"task":"delete-all"}"#.utf8))
        #expect(otherBody.status == 402)
        let sameBody = try await Self.send(session, port, "POST", "/jobs", headers: jobFields, body: job)
        #expect(sameBody.status == 200 && sameBody.text == "job accepted: \(job.count) bytes")
    }
}

/// A thread-safe call counter for handlers.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
