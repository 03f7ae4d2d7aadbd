import Foundation
import PayRailHTTP
import PayRailServer
import PayRailWire
import Testing

// Issue 16 point 3 against a live `payrail serve --upstream`: the upstream says its answer is
// `public`; the proxy's paid answer, its replays and the same credential sent again are private.

@Suite("payrail serve --upstream: a paid answer is Cache-Control: private (issue 16, point 3)", .serialized)
struct ProxyReceiptCachingTests {
    @Test("an upstream's public Cache-Control never leaves the proxy with a receipt; its max-age stays")
    func upstreamCannotMakeReceiptsPublic() async throws {
        let upstream = HTTPServer(configuration: HTTPServerConfiguration(port: 0)) { _ in
            HTTPResponse(headers: ["Content-Type": "text/plain", "Cache-Control": "public, s-maxage=600, max-age=30"], text: "upstream")
        }
        let upstreamPort = try upstream.start()
        let server = try ServeProcess(["--upstream", "http://127.0.0.1:\(upstreamPort)", "--price", "GET /premium=100sat"])
        defer { server.kill() }

        let unpaid = try await exchange(server.url("/premium"))
        #expect(unpaid.status == 402 && unpaid.headers["Cache-Control"] == "no-store")
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .payment })
        let fields = try read.credentialFields(for: try await DemoPayer(dataDirectory: server.data).pay(read.offer))
        let paid = try await exchange(server.url("/premium"), headers: fields)
        #expect(paid.status == 200, "\(paid.text)")
        #expect(paid.headers[PaymentReceipt.fieldName] != nil)
        #expect(paid.headers.values("Cache-Control") == ["private, max-age=30"])

        let receipt = try #require(paid.headers[PlainReceipt.fieldName])
        for headers in [HTTPFields([("X-Receipt", receipt)]), fields] {
            let again = try await exchange(server.url("/premium"), headers: headers)
            #expect(again.status == 200 && again.text == "upstream")
            #expect(again.headers.values("Cache-Control") == ["private, max-age=30"])
        }
        #expect(server.stop() == 0)
        await upstream.shutdown()
    }
}
