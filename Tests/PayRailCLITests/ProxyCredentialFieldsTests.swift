import Foundation
import PayRailHTTP
import PayRailServer
import PayRailWire
import Testing

// Issue 15 point 5 against a live `payrail serve --upstream`: no field any dialect reads a credential
// from reaches the upstream (`Payment-Authorization` did), while an Authorization of the upstream's
// own scheme still passes.

@Suite("payrail serve --upstream: no credential reaches the upstream (issue 15, point 5)", .serialized)
struct ProxyCredentialFieldsTests {
    @Test("every credential field is removed before forwarding, on free and paid routes")
    func credentialsStayAtTheGate() async throws {
        let seen = SeenRequests()
        let (upstream, upstreamPort) = try recordingUpstream(seen)
        let server = try ServeProcess(["--upstream", "http://127.0.0.1:\(upstreamPort)", "--price", "GET /premium=100sat"])
        defer { server.kill() }
        let port = try originPort(server.origin)

        let credentials: [(String, String)] = [
            ("Payment-Authorization", "Payment eyJhIjoxfQ"), ("X-Receipt", "secret-voucher.part"), ("PAYMENT-SIGNATURE", "eyJ4NDAyVmVyc2lvbiI6Mn0"),
            ("X-PAYMENT", "eyJ4NDAyVmVyc2lvbiI6MX0"), ("Macaroon", "0201abcd"), ("Grpc-Metadata-Macaroon", "0201abcd"),
            ("Authorization", "Bearer upstream-key, Payment id=\"x\""), ("Authorization", "L402 AgEB:00"), ("authorization", "lsat AgEB:00"),
            ("Authorization", "Payment eyJhIjoxfQ"),
        ]
        #expect(try await rawProxyExchange(port: port, target: "/free", fields: credentials) == 200)
        let forwarded = try #require(seen.all.last)
        for field in forwarded.headers {
            #expect(!CredentialFields.isCredential(name: field.name, value: field.value), "\(field.name) reached the upstream")
        }
        for name in CredentialFields.dedicated { #expect(forwarded.headers[name] == nil, "\(name) reached the upstream") }
        #expect(forwarded.headers["Authorization"] == nil)

        // The upstream's own Authorization passes, beside a payment credential in its own field.
        let own: [(String, String)] = [("Authorization", "Bearer upstream-key"), ("Payment-Authorization", "Payment eyJhIjoxfQ")]
        #expect(try await rawProxyExchange(port: port, target: "/free", fields: own) == 200)
        let withKey = try #require(seen.all.last)
        #expect(withKey.headers.values(for: "Authorization") == ["Bearer upstream-key"])
        #expect(withKey.headers["Payment-Authorization"] == nil)

        // A paid request: the credential that paid stays at the gate.
        let unpaid = try await exchange(server.url("/premium"))
        #expect(unpaid.status == 402)
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .plain })
        let credential = try await DemoPayer(dataDirectory: server.data).pay(read.offer)
        let paid = try await exchange(server.url("/premium"), headers: try read.credentialFields(for: credential))
        #expect(paid.status == 200, "\(paid.text)")
        let paidForward = try #require(seen.all.last)
        #expect(paidForward.path == "/premium")
        for field in paidForward.headers {
            #expect(!CredentialFields.isCredential(name: field.name, value: field.value), "\(field.name) reached the upstream")
        }
        #expect(server.stop() == 0)
        await upstream.shutdown()
    }
}
