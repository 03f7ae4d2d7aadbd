import Foundation
import PayRail
import PayRailTestPeers
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// x402 card `auth-capture` over processes (issue #17; x402-foundation/x402
/// specs/schemes/auth-capture/scheme_auth_capture_card.md, v0.2.0 DRAFT): `payrail serve --rail stripe
/// --stripe-x402-card` offers a `card:visa` entry and calls no Stripe endpoint for the 402;
/// `payrail fetch --rail stripe --stripe-payment-method pm_…` presents `{token, paymentId}` in
/// `PAYMENT-SIGNATURE`; the gate authorizes (`capture_method=manual`) in a real localstripe, grants on
/// `requires_capture`, serves, and captures. Each test has a localstripe of its own, so its
/// PaymentIntents can be counted.
@Suite("Stripe x402 card end to end: payrail serve and payrail fetch through localstripe", .serialized)
struct StripeCardFlowTests {
    struct World {
        let stripe: LocalStripePeer
        let server: ServeProcess
        let wallet: String

        init(stripe: LocalStripePeer) throws {
            self.stripe = stripe
            server = try ServeProcess.stripe(api: stripe.baseURL, extra: ["--stripe-x402-card"])
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
        #expect(entry.extraString("psp") == "stripe" && entry.extraString("paymentFlow") == "escrow")
        #expect(entry.extraString(X402PaymentRequirements.cardOfferIDKey)?.hasPrefix("payrail_") == true)
        #expect(entry.maxTimeoutSeconds >= 1)
        #expect(try await world.intents().isEmpty, "a 402 called Stripe")
    }

    @Test("fetch pays the card entry: 200, receipt verified, one PaymentIntent authorized (manual) then captured, ledger committed; the same payment id pays nothing more")
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

        var intents = try await world.intents()
        #expect(intents.count == 1, "\(intents)")
        let intent = try #require(intents.first)
        // Authorized first (manual capture, the agent's card), then captured after serving.
        #expect(intent["id"] as? String == reference && intent["capture_method"] as? String == "manual", "\(intent)")
        #expect(intent["status"] as? String == "succeeded", "\(intent)")
        let metadata = intent["metadata"] as? [String: String]
        #expect(metadata?["payrail_payment_id"]?.hasPrefix("pay_") == true && metadata?["payrail_offer"]?.hasPrefix("payrail_") == true, "\(intent)")
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

    @Test("a declined card (4000000000000341): refused, nothing held or captured, nothing committed")
    func declinedCard() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        let run = try world.fetch(["--dialect", "x402", "--payment-id", "stripe-card-flow-decline-1"], paymentMethod: "pm_card_chargeCustomerFail")
        #expect(run.status != 0, "\(run.stdout)")
        let error = try #require(run.json["error"] as? [String: Any], "\(run.stdout)")
        #expect((error["reason"] as? String)?.contains("declined") == true, "\(error)")
        let statuses = try await world.intents().map { $0["status"] as? String }
        #expect(!statuses.contains("requires_capture") && !statuses.contains("succeeded"), "\(statuses)")
        let spends = try world.spends()
        #expect(!spends.contains { $0["state"] as? String == "committed" }, "\(spends)")
        #expect(world.server.log.contains("settle-declined"), "\(world.server.log)")
    }
}
