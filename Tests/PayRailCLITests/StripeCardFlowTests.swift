import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailTestPeers
import PayRailWire
import StripeRail
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// x402 card `auth-capture` over processes (issue #17; x402-foundation/x402
/// specs/schemes/auth-capture/scheme_auth_capture_card.md, v0.2.0 DRAFT): `payrail serve --rail stripe
/// --stripe-x402-card` offers a `card:visa` entry and calls no Stripe endpoint for the 402;
/// `payrail fetch --rail stripe --stripe-payment-method pm_…` presents `{token, paymentId}` in
/// `PAYMENT-SIGNATURE`; the gate authorizes (`capture_method=manual`) in a real localstripe and, since
/// the SQLite gate store of `payrail serve` cannot record a pending capture, captures the hold before
/// it grants (`StripeCardCapture.beforeGrant`; the grant-on-hold escrow flow is StripeCardGateTests
/// below). Each test has a localstripe of its own, so its PaymentIntents can be counted.
@Suite("Stripe x402 card end to end: payrail serve and payrail fetch through localstripe", .serialized)
struct StripeCardFlowTests {
    struct World {
        let stripe: LocalStripePeer
        let server: ServeProcess
        let wallet: String

        init(stripe: LocalStripePeer) throws {
            self.stripe = stripe
            server = try ServeProcess.stripe(api: stripe.baseURL, extra: ["--stripe-x402-card", "--stripe-account", "acct_1PayRailCardTest"])
            wallet = try temporaryDirectory().appendingPathComponent("wallet.sqlite").path
        }

        func fetch(_ extra: [String], paymentMethod: String = "pm_card_visa") throws -> AgentRun {
            try AgentRun.run(
                ["fetch", server.url("/premium").absoluteString, "--wallet", wallet, "--rail", "stripe",
                 "--stripe-api-base", stripe.baseURL.absoluteString, "--stripe-payment-method", paymentMethod,
                 "--max", "0.50usd", "--json"] + extra,
                environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret])
        }

        /// Every PaymentIntent localstripe holds.
        func intents() async throws -> [[String: Any]] {
            let (status, body) = try await stripe.raw("GET", "/v1/payment_intents?limit=100")
            guard status == 200, let list = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["data"] as? [[String: Any]] else {
                throw LocalStripePeer.Failure(description: "localstripe listed no intents (\(status)): \(String(decoding: body, as: UTF8.self))")
            }
            return list
        }

        func spends() throws -> [[String: Any]] {
            (try AgentRun.run(["ledger", "--wallet", wallet, "--json"]).json["spends"] as? [[String: Any]]) ?? []
        }
    }

    @Test("--stripe-x402-card with --stripe-network-id is a usage error naming both flags, before anything is written")
    func formsExcludeEachOther() throws {
        let data = try temporaryDirectory().appendingPathComponent("data")
        let run = try AgentRun.run(["serve", "--rail", "stripe", "--stripe-x402-card", "--stripe-network-id", "profile_1",
                                    "--price", "GET /premium=0.50usd", "--data", data.path],
                                   environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret])
        #expect(run.status == 2, "\(run.stdout) \(run.stderr)")
        #expect(run.stderr.contains("--stripe-x402-card") && run.stderr.contains("--stripe-network-id"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data.path))
        #expect(!run.stderr.contains("51FlowSecret"))
    }

    @Test("--stripe-account must be an acct_ id")
    func accountMustBeAnAccountID() throws {
        let data = try temporaryDirectory().appendingPathComponent("data")
        let run = try AgentRun.run(["serve", "--rail", "stripe", "--stripe-x402-card", "--stripe-account", "acct_1/../x",
                                    "--price", "GET /premium=0.50usd", "--data", data.path],
                                   environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret])
        #expect(run.status == 2 && run.stderr.contains("--stripe-account"), "\(run.stdout) \(run.stderr)")
    }

    @Test("the 402 offers auth-capture on card:visa (USD, minor units, psp stripe, escrow) and no Stripe call is made for it")
    func challengeOffersTheCardEntry() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        #expect(world.server.log.contains("form=x402-card"), "\(world.server.log)")
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let (_, response) = try await session.data(from: world.server.url("/premium"))
        let http = try #require(response as? HTTPURLResponse)
        #expect(http.statusCode == 402)
        let header = try #require(http.value(forHTTPHeaderField: "PAYMENT-REQUIRED"))
        let message = try X402Codec.decodePaymentRequired(header)
        let entry = try #require(message.accepts.first { $0.network.hasPrefix("card:") }, "\(message.accepts)")
        #expect(entry.scheme == "auth-capture" && entry.network == "card:visa" && entry.asset == "USD" && entry.amount == "50")
        #expect(entry.payTo == "acct_1PayRailCardTest", "\(entry)")
        #expect(entry.extraString("psp") == "stripe" && entry.extraString("paymentFlow") == "escrow")
        // A stateless 402 (issue 18): the offer id is bound, carrying its challenge and the gate's MAC.
        #expect(entry.extraString(X402PaymentRequirements.cardOfferIDKey).map(BoundOfferToken.looksBound) == true, "\(entry)")
        #expect(entry.maxTimeoutSeconds >= 1)
        #expect(try await world.intents().isEmpty, "a 402 called Stripe")
    }

    @Test("fetch pays the card entry: 200, receipt verified, one PaymentIntent authorized (manual) and captured, ledger committed; the same payment id pays nothing more")
    func paysThroughAuthCapture() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }

        let run = try world.fetch(["--dialect", "x402", "--payment-id", "stripe-card-flow-1"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr) \(world.server.log) \(world.server.errors)")
        #expect(run.json["status"] as? Int == 200)
        let payment = try #require(run.json["payment"] as? [String: Any], "\(run.stdout)")
        #expect(payment["dialect"] as? String == "x402" && payment["rail"] as? String == "stripe", "\(payment)")
        #expect(payment["amount"] as? String == "0.50usd", "\(payment)")
        let reference = try #require(payment["reference"] as? String, "\(payment)")
        #expect(reference.hasPrefix("pi_"), "\(payment)")
        #expect(payment["receiptVerified"] as? Bool == true, "\(payment["receiptProblem"] ?? "")")

        // Authorized first (manual capture, the agent's card), granted on the hold, then captured by the
        // gate once the response was served (the escrow flow): the capture may trail the answer a moment.
        var intents = try await world.intents()
        for _ in 0..<50 where intents.first?["status"] as? String != "succeeded" {
            try await Task.sleep(for: .milliseconds(100))
            intents = try await world.intents()
        }
        #expect(intents.count == 1, "\(intents)")
        let intent = try #require(intents.first)
        #expect(intent["id"] as? String == reference && intent["capture_method"] as? String == "manual", "\(intent)")
        #expect(intent["status"] as? String == "succeeded", "\(intent)")
        let metadata = intent["metadata"] as? [String: String]
        #expect(metadata?["payrail_payment_id"]?.hasPrefix("pay_") == true && metadata?["payrail_offer"]?.hasPrefix("sha256:") == true, "\(intent)")
        let charge = intent["latest_charge"] as? [String: Any]
        #expect(charge?["captured"] as? Bool == true && charge?["amount"] as? Int == 50, "\(intent)")
        var spends = try world.spends()
        #expect(spends.count == 1 && spends.first?["state"] as? String == "committed", "\(spends)")
        #expect(spends.first?["amount"] as? String == "0.50usd", "\(spends)")

        let again = try world.fetch(["--dialect", "x402", "--payment-id", "stripe-card-flow-1"])
        #expect(again.status == 0, "\(again.stdout) \(again.stderr)")
        intents = try await world.intents()
        #expect(intents.count == 1, "\(intents)")
        spends = try world.spends()
        #expect(spends.count == 1 && spends.first?["state"] as? String == "committed", "\(spends)")
        for text in [world.server.log, world.server.errors, run.stdout, run.stderr] {
            #expect(!text.contains("51FlowSecret"), "the secret key was printed")
            #expect(!text.contains("4242424242424242"), "a card number was printed")
        }
    }

    @Test("the x402 SDK's client (PyPI x402, a card scheme plugged in) pays the card entry: 200, PAYMENT-RESPONSE on card:visa naming the intent, captured")
    func x402SDKClientPays() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        let report = try InteropFixtures.runJSON("x402_card_client.py", [world.server.url("/premium").absoluteString, "pm_card_visa"])
        #expect(report["status"] as? Int == 200, "\(report) \(world.server.log)")
        #expect(report["paid"] as? Int == 1, "\(report)")
        let chosen = (report["chosen"] as? [[String: Any]])?.first
        #expect((chosen?["extra"] as? [String: String])?["psp"] == "stripe", "\(report)")
        let settlement = try #require(report["settlement"] as? [String: Any], "no PAYMENT-RESPONSE: \(report)")
        #expect(settlement["success"] as? Bool == true && settlement["network"] as? String == "card:visa", "\(settlement)")
        #expect(settlement["amount"] as? String == "50", "\(settlement)")
        let intents = try await world.intents()
        #expect(intents.count == 1 && intents.first?["id"] as? String == settlement["transaction"] as? String, "\(intents)")
        #expect(intents.first?["status"] as? String == "succeeded" && intents.first?["capture_method"] as? String == "manual", "\(intents)")
    }

    @Test("without --dialect the agent pays the card entry (the only one its Stripe wallet can pay) once")
    func paysWithoutChoosingADialect() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        let run = try world.fetch(["--payment-id", "stripe-card-flow-any-1"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr) \(world.server.log)")
        #expect((run.json["payment"] as? [String: Any])?["dialect"] as? String == "x402", "\(run.stdout)")
        let intents = try await world.intents()
        #expect(intents.count == 1 && intents.first?["status"] as? String == "succeeded", "\(intents)")
    }

    @Test("a declined card (4000000000000341): refused naming the decline, nothing held or captured; the agent books the token it handed over as paid-and-refused")
    func declinedCard() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        let run = try world.fetch(["--dialect", "x402", "--payment-id", "stripe-card-flow-decline-1"], paymentMethod: "pm_card_chargeCustomerFail")
        #expect(run.status != 0, "\(run.stdout)")
        let error = try #require(run.json["error"] as? [String: Any], "\(run.stdout)")
        #expect(error["code"] as? String == "paidButRefused", "\(error)")
        #expect((error["reason"] as? String)?.contains("the payment was refused (declined)") == true, "\(error)")
        let statuses = try await world.intents().map { $0["status"] as? String }
        #expect(!statuses.contains("requires_capture") && !statuses.contains("succeeded"), "\(statuses)")
        // The agent cannot see the payee's Stripe account, so a token it handed over counts against
        // its budget even when the server says it was refused (never under-count a possible charge).
        let spends = try world.spends()
        #expect(spends.count == 1 && (spends.first?["note"] as? String)?.contains("refused by the server") == true, "\(spends)")
    }
}

/// The escrow flow through the gate itself, against localstripe: a gate whose store records an
/// authorization (the memory store) grants on `requires_capture`, and `complete` captures the hold
/// after serving while `abandon` voids it (scheme_auth_capture_card.md §4.5). `payrail serve` cannot
/// run this flow yet: its SQLite gate store refuses authorizations, so it captures before the grant.
@Suite("Stripe x402 card escrow through the gate (memory store) against localstripe", .serialized)
struct StripeCardGateTests {
    struct World {
        let stripe: LocalStripePeer
        let gate: Gate
        let payee: StripePayeeRail

        init(stripe: LocalStripePeer) throws {
            self.stripe = stripe
            let key = try StripeSecretKey(StripeFlowTests.secret)
            payee = StripePayeeRail(client: try StripeClient(apiBase: stripe.baseURL, key: key, timeout: .seconds(20)), form: .x402Card,
                                    payee: "acct_localstripe", cardCapture: .afterServing)
            let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "gate-1")
            let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])))
            gate = Gate(configuration: GateConfiguration(
                realm: "api.example.com", rails: [payee], pricing: try PricingTable(parsing: ["GET /premium=0.50usd"], rails: [.stripe]),
                store: MemoryGateStore(), keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)),
                signer: signer, verifier: verifier))
        }

        func payer(_ paymentMethod: String = "pm_card_visa") throws -> StripePayerRail {
            try StripePayerRail(client: try StripeClient(apiBase: stripe.baseURL, key: try StripeSecretKey(StripeFlowTests.secret)),
                                paymentMethod: paymentMethod)
        }

        func request(_ headers: HTTPFields = HTTPFields()) -> GateRequest {
            GateRequest(method: "GET", path: "/premium", headers: headers, clientAddress: "10.0.0.1")
        }

        /// A 402 read back like an agent: its x402 card offer.
        func cardOffer() async throws -> ReadOffer {
            guard case .respond(let response) = await gate.handle(request()) else { throw ServeTestFailure("expected a 402") }
            #expect(response.status == 402)
            let reading = PaymentResponseReader.read(status: response.status, headers: response.headers, body: response.body, receivedAt: Date())
            return try #require(reading.offers.first { $0.dialect == .x402 && $0.offer.rail == .stripe }, "\(reading.skipped)")
        }

        func intent(_ id: String) async throws -> [String: Any] {
            let (_, body) = try await stripe.raw("GET", "/v1/payment_intents/\(id)")
            return (try JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
        }

        func intentCount() async throws -> Int {
            let (_, body) = try await stripe.raw("GET", "/v1/payment_intents?limit=100")
            return ((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["data"] as? [Any])?.count ?? -1
        }
    }

    static let ok = GateResponse(status: 200, headers: HTTPFields([("Content-Type", "text/plain")]), body: Array("premium".utf8))

    @Test("grant on requires_capture; complete captures the hold; the same payment again replays; another token under its paymentId is refused")
    func grantOnHoldThenCapture() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        let read = try await world.cardOffer()
        let credential = try await world.payer().pay(read.offer)
        #expect(credential.payload["token"] == "pm_card_visa" && credential.payload["paymentId"]?.hasPrefix("pay_") == true)
        let fields = try read.credentialFields(for: credential)
        guard case .pass(let pass) = await world.gate.handle(world.request(fields)) else { Issue.record("the card was not granted"); return }
        let settlement = try #require(pass.grant?.settlement)
        guard case .authorization = settlement.kind else { Issue.record("not an authorization: \(settlement.kind)"); return }
        #expect(try await world.intent(settlement.reference)["status"] as? String == "requires_capture")

        try await world.gate.complete(pass, response: Self.ok)
        let captured = try await world.intent(settlement.reference)
        #expect(captured["status"] as? String == "succeeded" && captured["capture_method"] as? String == "manual", "\(captured)")
        #expect((captured["latest_charge"] as? [String: Any])?["captured"] as? Bool == true, "\(captured)")

        // The same PAYMENT-SIGNATURE again: the stored response, no second intent.
        guard case .replay(let replayed) = await world.gate.handle(world.request(fields)) else {
            Issue.record("the same payment was not replayed"); return
        }
        #expect(replayed.status == 200 && replayed.body == Array("premium".utf8))
        // Another token under the same paymentId and offer: refused, nothing authorized.
        var other = credential.payload
        other["token"] = "pm_card_visa_chargeDeclined"
        let otherFields = try read.credentialFields(for: Credential(rail: .stripe, offerID: credential.offerID, payload: other))
        guard case .respond(let refused) = await world.gate.handle(world.request(otherFields)) else {
            Issue.record("another token under the paymentId was granted"); return
        }
        #expect(refused.status == 402)
        #expect(try await world.intentCount() == 1)
    }

    @Test("20 concurrent presentations of one PAYMENT-SIGNATURE: one pass, one PaymentIntent in localstripe")
    func concurrentPresentations() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        let read = try await world.cardOffer()
        let fields = try read.credentialFields(for: try await world.payer().pay(read.offer))
        let decisions = await withTaskGroup(of: GateDecision.self) { group in
            for _ in 0..<20 { group.addTask { await world.gate.handle(world.request(fields)) } }
            var all: [GateDecision] = []
            for await decision in group { all.append(decision) }
            return all
        }
        var passes: [GatePass] = []
        var statuses: [Int] = []
        for decision in decisions {
            switch decision {
            case .pass(let pass): passes.append(pass)
            case .respond(let response), .replay(let response): statuses.append(response.status)
            }
        }
        #expect(passes.count == 1, "\(statuses)")
        #expect(statuses.allSatisfy { [402, 409].contains($0) }, "\(statuses)")
        if let pass = passes.first { try await world.gate.complete(pass, response: Self.ok) }
        #expect(try await world.intentCount() == 1)
    }

    @Test("abandon (the resource was not served) voids the hold: the intent is canceled and nothing is captured")
    func abandonVoids() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        let read = try await world.cardOffer()
        let fields = try read.credentialFields(for: try await world.payer().pay(read.offer))
        guard case .pass(let pass) = await world.gate.handle(world.request(fields)) else { Issue.record("the card was not granted"); return }
        let reference = try #require(pass.grant?.settlement.reference)
        await world.gate.abandon(pass)
        let voided = try await world.intent(reference)
        #expect(voided["status"] as? String == "canceled", "\(voided)")
        #expect((voided["latest_charge"] as? [String: Any])?["captured"] as? Bool == false, "\(voided)")
    }

    @Test("a 3-D Secure card: the gate answers with the payment-action-required problem, and the intent is cancelled")
    func threeDSecureIsActionRequired() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        let (status, body) = try await stripe.raw("POST", "/v1/payment_methods", form: [
            ("type", "card"), ("card[number]", "4000002500003155"), ("card[exp_month]", "12"), ("card[exp_year]", "2034"), ("card[cvc]", "123"),
        ])
        let method = try #require((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? String, "\(status)")
        let read = try await world.cardOffer()
        let fields = try read.credentialFields(for: try await world.payer(method).pay(read.offer))
        guard case .respond(let refused) = await world.gate.handle(world.request(fields)) else { Issue.record("a 3-D Secure card was granted"); return }
        #expect(refused.status == 402)
        let plain = (try JSONSerialization.jsonObject(with: Data(refused.body)) as? [String: Any]) ?? [:]
        #expect(plain["problem"] as? String == PaymentProblemType.paymentActionRequired.uri, "\(plain)")
        let required = try X402Codec.decodePaymentRequired(try #require(refused.headers[X402HeaderName.paymentRequired]))
        #expect(required.error?.contains("authenticationRequired") == true, "\(required.error ?? "")")
        let (_, list) = try await stripe.raw("GET", "/v1/payment_intents?limit=100")
        let intents = ((try JSONSerialization.jsonObject(with: list) as? [String: Any])?["data"] as? [[String: Any]]) ?? []
        #expect(intents.count == 1 && intents.first?["status"] as? String == "canceled", "\(intents)")
    }
}
