import Foundation
import PayRail
import PayRailTestPeers
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension ServeProcess {
    /// `payrail serve --rail stripe --price "GET /premium=0.50usd"` in front of localstripe, the secret
    /// key given only in the environment.
    static func stripe(api: URL, extra: [String] = []) throws -> ServeProcess {
        try ServeProcess(["--rail", "stripe", "--price", "GET /premium=0.50usd", "--stripe-api-base", api.absoluteString] + extra,
                         environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret], captureErrors: true)
    }
}

/// The whole flow over processes: `payrail serve --rail stripe` creating a PaymentIntent per 402 in a
/// real localstripe, `payrail fetch --rail stripe` confirming it with a saved payment method and
/// presenting `X-Receipt: pi_…` (the founding article's plain form). Each test has a localstripe of
/// its own, so its PaymentIntents can be counted.
@Suite("Stripe end to end: payrail serve and payrail fetch through localstripe", .serialized)
struct StripeFlowTests {
    static let secret = "sk_test_51FlowSecretNeverPrinted0000000"

    struct World {
        let stripe: LocalStripePeer
        let server: ServeProcess
        let wallet: String

        init(stripe: LocalStripePeer) throws {
            self.stripe = stripe
            server = try ServeProcess.stripe(api: stripe.baseURL)
            wallet = try temporaryDirectory().appendingPathComponent("wallet.sqlite").path
        }

        /// `payrail fetch --rail stripe --json` with a 0.50 usd budget, the key in the environment only.
        func fetch(_ extra: [String], paymentMethod: String = "pm_card_visa") throws -> AgentRun {
            try AgentRun.run(
                ["fetch", server.url("/premium").absoluteString, "--wallet", wallet, "--rail", "stripe",
                 "--stripe-api-base", stripe.baseURL.absoluteString, "--stripe-payment-method", paymentMethod,
                 "--max", "0.50usd", "--json"] + extra,
                environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret])
        }

        /// Every PaymentIntent localstripe holds, by status.
        func intents() async throws -> [String: Int] {
            let (status, body) = try await stripe.raw("GET", "/v1/payment_intents?limit=100")
            guard status == 200, let list = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["data"] as? [[String: Any]] else {
                throw LocalStripePeer.Failure(description: "localstripe listed no intents (\(status)): \(String(decoding: body, as: UTF8.self))")
            }
            var counts: [String: Int] = [:]
            for intent in list { counts[intent["status"] as? String ?? "?", default: 0] += 1 }
            return counts
        }

        func spends() throws -> [[String: Any]] {
            (try AgentRun.run(["ledger", "--wallet", wallet, "--json"]).json["spends"] as? [[String: Any]]) ?? []
        }

        /// No key appears in anything the processes printed.
        func expectNoKeyPrinted(_ runs: [AgentRun]) {
            for text in [server.log, server.errors] + runs.flatMap({ [$0.stdout, $0.stderr] }) {
                #expect(!text.contains("51FlowSecret"), "the secret key was printed")
            }
        }
    }

    @Test("plain dialect: 402 with a PaymentIntent, fetch confirms it and presents pi_, 200 with a verified receipt; the same payment id pays nothing more")
    func paysInThePlainDialect() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        #expect(world.server.log.contains("form=paymentintent"), "\(world.server.log)")

        let run = try world.fetch(["--dialect", "plain", "--payment-id", "stripe-flow-plain-1"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr) \(world.server.log)")
        #expect(run.json["status"] as? Int == 200)
        let payment = try #require(run.json["payment"] as? [String: Any], "\(run.stdout)")
        #expect(payment["dialect"] as? String == "plain" && payment["rail"] as? String == "stripe", "\(payment)")
        #expect(payment["amount"] as? String == "0.50usd", "\(payment)")
        #expect((payment["reference"] as? String)?.hasPrefix("ch_") == true, "\(payment)")
        #expect(payment["receiptVerified"] as? Bool == true, "\(payment["receiptProblem"] ?? "")")
        var intents = try await world.intents()
        #expect(intents["succeeded"] == 1, "\(intents)")
        var spends = try world.spends()
        #expect(spends.count == 1 && spends.first?["state"] as? String == "committed", "\(spends)")
        #expect(spends.first?["amount"] as? String == "0.50usd" && (spends.first?["offerId"] as? String)?.hasPrefix("pi_") == true, "\(spends)")

        // The same payment id again is the same call: answered, nothing more paid.
        let again = try world.fetch(["--dialect", "plain", "--payment-id", "stripe-flow-plain-1"])
        #expect(again.status == 0, "\(again.stdout) \(again.stderr)")
        intents = try await world.intents()
        #expect(intents["succeeded"] == 1, "\(intents)")
        spends = try world.spends()
        #expect(spends.count == 1 && spends.first?["state"] as? String == "committed", "\(spends)")
        world.expectNoKeyPrinted([run, again])
    }

    @Test("without --dialect the agent finds the only dialect that carries the PaymentIntent form and pays once")
    func paysWithoutChoosingADialect() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        let run = try world.fetch(["--payment-id", "stripe-flow-any-1"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr) \(world.server.log)")
        #expect((run.json["payment"] as? [String: Any])?["dialect"] as? String == "plain", "\(run.stdout)")
        #expect(try await world.intents()["succeeded"] == 1)
    }

    @Test("100 concurrent presentations of one paid pi_: one grant, one PaymentIntent charged once, every 200 the same receipt")
    func concurrentPresentations() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        let url = world.server.url("/premium")
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let (body, _) = try await session.data(from: url)
        let payment = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["payment"] as? [String: Any]
        let intent = try #require((payment?["details"] as? [String: String])?["paymentIntent"], "\(String(decoding: body, as: UTF8.self))")
        // The payer's part, done directly in localstripe: set the card, confirm.
        _ = try await stripe.raw("POST", "/v1/payment_intents/\(intent)", form: [("payment_method", "pm_card_visa")])
        let (confirmed, _) = try await stripe.raw("POST", "/v1/payment_intents/\(intent)/confirm")
        #expect(confirmed == 200)
        let answers = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for _ in 0..<100 {
                group.addTask {
                    var request = URLRequest(url: url)
                    request.setValue(intent, forHTTPHeaderField: "X-Receipt")
                    let (_, response) = try await session.data(for: request)
                    let http = response as? HTTPURLResponse
                    return (http?.statusCode ?? 0, http?.value(forHTTPHeaderField: "X-Receipt"))
                }
            }
            var all: [(Int, String?)] = []
            for try await answer in group { all.append(answer) }
            return all
        }
        let served = answers.filter { $0.0 == 200 }
        #expect(!served.isEmpty && answers.allSatisfy { [200, 409].contains($0.0) }, "\(answers.map(\.0))")
        // One grant: every 200 (the winner and the replays of its stored response) carries its one receipt token.
        #expect(served.allSatisfy { $0.1 != nil } && Set(served.compactMap(\.1)).count == 1, "more than one receipt")
        let intents = try await world.intents()
        #expect(intents["succeeded"] == 1 && intents.values.reduce(0, +) == 1, "\(intents)")
        let (_, charges) = try await stripe.raw("GET", "/v1/charges?limit=100")
        let list = (try JSONSerialization.jsonObject(with: charges) as? [String: Any])?["data"] as? [[String: Any]]
        #expect(list?.count == 1, "\(String(decoding: charges, as: UTF8.self))")
    }

    @Test("a declined card (4000000000000341): a clear error naming the decline, nothing charged, nothing committed")
    func declinedCard() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let world = try World(stripe: stripe)
        defer { world.server.kill() }
        let (status, body) = try await stripe.raw("POST", "/v1/payment_methods", form: [
            ("type", "card"), ("card[number]", "4000000000000341"), ("card[exp_month]", "12"), ("card[exp_year]", "2034"), ("card[cvc]", "123"),
        ])
        let method = try #require((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? String, "\(status)")
        let run = try world.fetch(["--dialect", "plain", "--payment-id", "stripe-flow-decline-1"], paymentMethod: method)
        #expect(run.status == 3, "\(run.stdout)")
        let error = try #require(run.json["error"] as? [String: Any], "\(run.stdout)")
        #expect(error["code"] as? String == "paymentFailed", "\(error)")
        #expect((error["reason"] as? String)?.contains("the card was declined (card_declined)") == true, "\(error)")
        #expect(run.stderr.contains("declined"), "\(run.stderr)")
        let intents = try await world.intents()
        #expect(intents["succeeded"] == nil && intents["requires_capture"] == nil, "\(intents)")
        let spends = try world.spends()
        #expect(!spends.contains { $0["state"] as? String == "committed" || $0["state"] as? String == "paid" }, "\(spends)")
        world.expectNoKeyPrinted([run])
    }
}
