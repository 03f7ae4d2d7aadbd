import Foundation
import PayRailTestPeers
import Testing

/// PayRail against SDKs nobody here wrote, in both directions (issue #16's proof): the Payment scheme's
/// Python SDK (PyPI `pympp`), the x402 SDK (PyPI `x402`), L402 clients (PyPI `l402-requests`, `pyl402`)
/// and an L402 server (PyPI `l402kit`). Their pinned, unmodified packages run from `.build/peers`; only
/// the methods and wallets they need plugged in are the tests' own (`Fixtures/interop`). Lightning runs
/// through a real LNbits on loopback. A missing peer is a failure with a message, never a skip.
@Suite("Interop with SDKs nobody here wrote (pympp, x402, l402-requests, pyl402, l402kit)", .serialized)
struct InteropSDKTests {
    static let priceSats: Int64 = 100

    // MARK: Their clients pay payrail serve

    @Test("pympp's client pays payrail serve on the fake rail and reads our Payment-Receipt; the response is private")
    func pymppClientPaysServeOnFake() throws {
        let server = try ServeProcess(["--realm", "interop.test"])
        defer { server.kill() }
        let report = try InteropFixtures.runJSON(
            "pympp_client.py", [server.url("/premium").absoluteString, "fake", server.data.appendingPathComponent("fake-payer.json").path])
        #expect(report["status"] as? Int == 200, "\(report)")
        #expect((report["body"] as? String)?.contains("\"paidWith\":\"fake\"") == true)
        #expect(report["credentials"] as? Int == 1)
        let receipt = try #require(report["receipt"] as? [String: Any], "pympp found no Payment-Receipt: \(report)")
        #expect(receipt["status"] as? String == "success")
        #expect(receipt["method"] as? String == "fake")
        #expect((receipt["reference"] as? String)?.isEmpty == false)
        // draft-httpauth-payment-02 "Caching": a response carrying Payment-Receipt MUST be private.
        #expect((report["cacheControl"] as? String)?.lowercased().contains("private") == true, "\(report["cacheControl"] ?? "none")")
    }

    @Test("pympp's client pays payrail serve --rail lightning through LNbits: the price moves once")
    func pymppClientPaysServeOnLightning() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let shop = try await lnbits.createWallet(name: "pympp-shop")
        let agent = try await lnbits.createWallet(name: "pympp-agent")
        try await lnbits.fund(agent, sats: 1_000)
        let server = try ServeProcess.lightning(lnbits: lnbits.baseURL, invoiceKey: shop.invoiceKey)
        defer { server.kill() }
        let report = try InteropFixtures.runJSON(
            "pympp_client.py", [server.url("/premium").absoluteString, "lightning", lnbits.baseURL.absoluteString, agent.adminKey])
        #expect(report["status"] as? Int == 200, "\(report)")
        let receipt = try #require(report["receipt"] as? [String: Any], "pympp found no Payment-Receipt: \(report)")
        #expect(receipt["method"] as? String == "lightning" && receipt["status"] as? String == "success")
        #expect(try await lnbits.balanceMsat(shop) == Self.priceSats * 1_000)
        #expect(try await lnbits.balanceMsat(agent) == 1_000_000 - Self.priceSats * 1_000)
    }

    @Test("the x402 SDK's client pays payrail serve through a plugged-in payrail:fake scheme and decodes our PAYMENT-RESPONSE")
    func x402ClientPaysServe() throws {
        let server = try ServeProcess(["--realm", "interop.test"])
        defer { server.kill() }
        let report = try InteropFixtures.runJSON(
            "x402_client.py", [server.url("/premium").absoluteString, server.data.appendingPathComponent("fake-payer.json").path])
        #expect(report["status"] as? Int == 200, "\(report)")
        #expect(report["paid"] as? Int == 1)
        let settlement = try #require(report["settlement"] as? [String: Any], "no PAYMENT-RESPONSE: \(report)")
        #expect(settlement["success"] as? Bool == true)
        #expect(settlement["network"] as? String == "payrail:fake")
        #expect((settlement["transaction"] as? String)?.isEmpty == false)
        // x402 v2 SettlementResponse.amount: what was settled, in the requirement's atomic units.
        #expect(settlement["amount"] as? String == "100", "\(settlement)")
    }

    @Test("L402 clients from PyPI pay payrail serve --rail lightning; l402-requests reuses its token",
          arguments: ["l402-requests", "pyl402"])
    func l402ClientsPayServe(_ library: String) async throws {
        let lnbits = try await LNbitsPeer.shared()
        let shop = try await lnbits.createWallet(name: "\(library)-shop")
        let agent = try await lnbits.createWallet(name: "\(library)-agent")
        try await lnbits.fund(agent, sats: 1_000)
        let server = try ServeProcess.lightning(lnbits: lnbits.baseURL, invoiceKey: shop.invoiceKey)
        defer { server.kill() }
        let report = try InteropFixtures.runJSON(
            "l402_client.py", [library, server.url("/premium").absoluteString, lnbits.baseURL.absoluteString, agent.adminKey])
        let statuses = report["statuses"] as? [Int] ?? []
        #expect(statuses == [200, 200], "\(report)")
        #expect((report["bodies"] as? [String])?.first?.contains("\"paidWith\":\"lightning\"") == true)
        let paid = report["invoicesPaid"] as? Int ?? 0
        if library == "l402-requests" {
            // bLIP-26: a paid token is reusable; the second request must not pay again.
            #expect(paid == 1, "\(report)")
        } else {
            // pyl402 0.1.2 sends its stored token as "L402 L402 <token>" (its own bug), which we refuse
            // as malformed, so it pays a second invoice: each payment is still granted exactly once.
            #expect(paid == 2, "\(report)")
        }
        #expect(try await lnbits.balanceMsat(shop) == Int64(paid) * Self.priceSats * 1_000)
    }

    // MARK: payrail fetch pays their servers

    struct PymppVariant: CustomTestStringConvertible, Sendable {
        let charge: String
        let header: String
        var testDescription: String { "\(charge) charge, credential in \(header)" }
    }

    @Test("payrail fetch pays pympp's server a Lightning charge with and without recipient/paymentHash, in Authorization and Payment-Authorization",
          arguments: [PymppVariant(charge: "full", header: "authorization"), PymppVariant(charge: "bare", header: "authorization"),
                      PymppVariant(charge: "full", header: "payment-authorization"), PymppVariant(charge: "bare", header: "payment-authorization")])
    func fetchPaysPymppServer(_ variant: PymppVariant) async throws {
        let lnbits = try await LNbitsPeer.shared()
        let shop = try await lnbits.createWallet(name: "pympp-server-shop")
        let agent = try await lnbits.createWallet(name: "pympp-server-agent")
        try await lnbits.fund(agent, sats: 1_000)
        let peer = try PythonServerPeer("pympp_lightning_server.py",
                                        [lnbits.baseURL.absoluteString, shop.invoiceKey, String(Self.priceSats), variant.charge, variant.header])
        defer { #expect(throws: Never.self) { try peer.stop() } }
        let wallet = try temporaryDirectory().appendingPathComponent("wallet.sqlite").path
        let run = try AgentRun.run(
            ["fetch", peer.url("/paid"), "--wallet", wallet, "--rail", "lightning", "--lnbits-url", lnbits.baseURL.absoluteString, "--json", "--explain"],
            environment: ["PAYRAIL_LNBITS_ADMIN_KEY": agent.adminKey])
        #expect(run.status == 0, "\(run.stderr)\n\(peer.errors.suffix(1500))")
        #expect(run.json["status"] as? Int == 200, "\(run.stdout)")
        #expect((run.json["body"] as? String)?.contains("\"paid\": true") == true)
        let payment = run.json["payment"] as? [String: Any] ?? [:]
        #expect(payment["dialect"] as? String == "payment" && payment["rail"] as? String == "lightning", "\(payment)")
        #expect((payment["standardReceipt"] as? [String: Any])?["trust"] as? String == "unsigned", "\(payment)")
        #expect(try await lnbits.balanceMsat(shop) == Self.priceSats * 1_000)
        let granted = try await exchange(try #require(URL(string: peer.url("/granted"))))
        let hashes = granted.json["granted"] as? [String] ?? []
        #expect(hashes.count == 1, "\(granted.text)")

        // pympp answers with the spec's own, unsigned Payment-Receipt: the ledger keeps its reference
        // and says it was only recorded (draft-httpauth-payment "Payment-Receipt Header").
        let ledger = try AgentRun.run(["ledger", "--wallet", wallet, "--json"])
        let spend = try #require((ledger.json["spends"] as? [[String: Any]])?.first, "\(ledger.stdout)")
        let standard = try #require(spend["standardReceipt"] as? [String: Any], "\(spend)")
        #expect(standard["trust"] as? String == "unsigned" && standard["signed"] as? Bool == false, "\(standard)")
        #expect(standard["status"] as? String == "success" && standard["method"] as? String == "lightning")
        #expect(standard["reference"] as? String == hashes.first, "\(standard)")
        #expect(spend["reference"] as? String == hashes.first, "the ledger's reference is the server's: \(spend)")
    }

    @Test("payrail fetch pays l402kit's server, whose token is not a macaroon: opaque, bound by the invoice's payment hash")
    func fetchPaysL402KitServer() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let shop = try await lnbits.createWallet(name: "l402kit-shop")
        let agent = try await lnbits.createWallet(name: "l402kit-agent")
        try await lnbits.fund(agent, sats: 1_000)
        let peer = try PythonServerPeer("l402kit_server.py", [lnbits.baseURL.absoluteString, shop.invoiceKey, String(Self.priceSats)])
        defer { #expect(throws: Never.self) { try peer.stop() } }
        let wallet = try temporaryDirectory().appendingPathComponent("wallet.sqlite").path
        let run = try AgentRun.run(
            ["fetch", peer.url("/premium"), "--wallet", wallet, "--rail", "lightning", "--lnbits-url", lnbits.baseURL.absoluteString, "--json", "--explain"],
            environment: ["PAYRAIL_LNBITS_ADMIN_KEY": agent.adminKey])
        #expect(run.status == 0, "\(run.stderr)\n\(peer.errors.suffix(1500))")
        #expect(run.json["status"] as? Int == 200, "\(run.stdout)")
        #expect((run.json["body"] as? String)?.contains("\"paid\":true") == true, "\(run.json["body"] ?? "")")
        #expect((run.json["payment"] as? [String: Any])?["dialect"] as? String == "l402")
        #expect(try await lnbits.balanceMsat(shop) == Self.priceSats * 1_000)
    }
}
