import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import StripeRail
import Testing

/// Stripe as canned exchanges for the Shared Payment Token form, which localstripe cannot run (it has
/// no `shared_payment` endpoints). Answers are built from the fixtures of `Tests/StripeRailTests/Fixtures`
/// (shaped by `stripe/openapi`: `pi_succeeded.json` is `resources.payment_intent`, `spt_issued.json`
/// `resources["shared_payment.issued_token"]`), with the amount, currency and metadata the request
/// asked for, as Stripe would echo them. Every request is recorded.
final class TokenStripe: StripeTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [StripeHTTPRequest] = []
    private var intents = 0

    var requests: [StripeHTTPRequest] { lock.withLock { sent } }

    static func fixture(_ name: String) -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("StripeRailTests/Fixtures/\(name)")
        return ((try? Data(contentsOf: url)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }) ?? [:]
    }

    /// The form body as pairs, decoded.
    static func form(_ request: StripeHTTPRequest) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    func send(_ request: StripeHTTPRequest) async throws(StripeTransportFailure) -> StripeHTTPResponse {
        let form = Self.form(request)
        var object: [String: Any]
        switch (request.method, request.url.path) {
        case ("POST", "/v1/shared_payment/issued_tokens"):
            object = Self.fixture("spt_issued.json")
            object["usage_limits"] = ["currency": form["usage_limits[currency]"] ?? "", "max_amount": Int(form["usage_limits[max_amount]"] ?? "") ?? 0,
                                      "expires_at": Int(form["usage_limits[expires_at]"] ?? "") ?? 0]
        case ("POST", "/v1/payment_intents"):
            object = Self.fixture("pi_succeeded.json")
            let amount = Int(form["amount"] ?? "") ?? 0
            object["amount"] = amount
            object["amount_received"] = amount
            object["currency"] = form["currency"] ?? ""
            object["metadata"] = ["payrail_challenge": form["metadata[payrail_challenge]"] ?? "", "payrail_offer": form["metadata[payrail_offer]"] ?? ""]
            object["created"] = 1_800_000_000
        default:
            throw .notSent("no canned answer for \(request.method) \(request.url.path)")
        }
        lock.withLock {
            sent.append(request)
            if request.url.path == "/v1/payment_intents" { intents += 1 }
        }
        let body = (try? JSONSerialization.data(withJSONObject: object)).map(Array.init) ?? []
        return StripeHTTPResponse(status: 200, headers: ["Request-Id": "req_canned"], body: body)
    }
}

@Suite("Shared Payment Token through the gate (canned Stripe): Authorization: Payment and X-Receipt: Payment pay the stored offer once")
struct StripeTokenGateTests {
    struct World {
        let clock = ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000))
        let seller = TokenStripe()
        let buyer = TokenStripe()
        let gate: Gate
        let payer: StripePayerRail

        init() throws {
            let key = try StripeSecretKey("sk_test_51TokenGateSecretNeverPrinted00")
            let api = try #require(URL(string: "https://api.stripe.com"))
            let payee = StripePayeeRail(client: try StripeClient(apiBase: api, key: key, transport: seller),
                                        form: .sharedPaymentToken(networkID: "profile_fixture_seller"), clock: clock)
            payer = try StripePayerRail(client: try StripeClient(apiBase: api, key: key, transport: buyer), paymentMethod: "pm_1QfixtureMethod01",
                                        clock: clock)
            let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "gate-1")
            let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock)
            gate = Gate(configuration: GateConfiguration(
                realm: "api.example.com", rails: [payee], pricing: try PricingTable(parsing: ["GET /premium=0.50usd"], rails: [.stripe]),
                store: MemoryGateStore(clock: clock), keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)),
                signer: signer, verifier: verifier, clock: clock))
        }

        func request(_ headers: HTTPFields = HTTPFields()) -> GateRequest {
            GateRequest(method: "GET", path: "/premium", headers: headers, clientAddress: "10.0.0.1")
        }

        /// A 402 read back like an agent: its Payment offer.
        func paymentOffer() async throws -> ReadOffer {
            guard case .respond(let response) = await gate.handle(request()) else { throw ServeTestFailure("expected a 402") }
            #expect(response.status == 402)
            let reading = PaymentResponseReader.read(status: response.status, headers: response.headers, body: response.body, receivedAt: clock.now())
            // Neither x402 nor the plain X-Receipt can carry a token: the Payment scheme only.
            #expect(!reading.offers.contains { $0.dialect == .x402 })
            return try #require(reading.offers.first { $0.dialect == .payment && $0.offer.rail == .stripe }, "\(reading.skipped)")
        }
    }

    static let ok = GateResponse(status: 200, headers: HTTPFields([("Content-Type", "text/plain")]), body: Array("premium".utf8))

    @Test("Authorization: Payment with an SPT: one PaymentIntent created for the stored offer, a grant, and the same bytes replay without a second charge")
    func paysInThePaymentScheme() async throws {
        let world = try World()
        let read = try await world.paymentOffer()
        let credential = try await world.payer.pay(read.offer)
        #expect(credential.payload["spt"] == "spt_1QfixtureTokenAAAA")
        let issued = try #require(world.buyer.requests.first)
        #expect(TokenStripe.form(issued)["usage_limits[max_amount]"] == "50" && TokenStripe.form(issued)["usage_limits[currency]"] == "usd")
        #expect(TokenStripe.form(issued)["seller_details[network_business_profile]"] == "profile_fixture_seller")

        let fields = try read.credentialFields(for: credential)
        guard case .pass(let pass) = await world.gate.handle(world.request(fields)) else {
            Issue.record("the SPT was not granted"); return
        }
        let settlement = try #require(pass.grant?.settlement)
        #expect(settlement.offerID == read.offer.details["externalId"] && settlement.reference == "pi_3QfixtureIntent01")
        try await world.gate.complete(pass, response: Self.ok)

        let charges = world.seller.requests
        #expect(charges.count == 1)
        let charge = try #require(charges.first)
        let form = TokenStripe.form(charge)
        #expect(charge.method == "POST" && charge.url.path == "/v1/payment_intents")
        #expect(form["amount"] == "50" && form["currency"] == "usd" && form["confirm"] == "true")
        #expect(form["payment_method_data[shared_payment_granted_token]"] == "spt_1QfixtureTokenAAAA")
        #expect(form["metadata[payrail_offer]"] == settlement.offerID)
        #expect(charge.header("Idempotency-Key")?.hasPrefix("payrail-settle-spt-") == true)
        #expect(charge.header("Stripe-Version") == StripeClient.defaultAPIVersion)

        // The same credential bytes again: the stored response, no second PaymentIntent.
        guard case .replay(let replayed) = await world.gate.handle(world.request(fields)) else {
            Issue.record("the same credential was not replayed"); return
        }
        #expect(replayed.status == 200 && world.seller.requests.count == 1)
    }

    @Test("X-Receipt: Payment <credential> (the plain dialect carrying the Payment credential) pays the same way")
    func paysInXReceipt() async throws {
        let world = try World()
        let read = try await world.paymentOffer()
        let credential = try await world.payer.pay(read.offer)
        guard case .payment(let challenge) = read.answer else { Issue.record("not a Payment offer"); return }
        let value = try PaymentCharge.credential(answering: challenge, with: credential).headerValue()
        guard case .pass(let pass) = await world.gate.handle(world.request(HTTPFields([("X-Receipt", value)]))) else {
            Issue.record("the SPT in X-Receipt was not granted"); return
        }
        #expect(pass.grant?.settlement.offerID == read.offer.details["externalId"])
        #expect(world.seller.requests.count == 1)
        // A bare token in X-Receipt names no offer: refused, nothing charged.
        guard case .respond(let refused) = await world.gate.handle(world.request(HTTPFields([("X-Receipt", "spt_1QfixtureTokenAAAA")]))) else {
            Issue.record("a bare token was not refused"); return
        }
        #expect(refused.status == 402 && world.seller.requests.count == 1)
    }
}
