import Foundation
import PayRail
import PayRailTestPeers
import Testing

/// `payrail fetch --rail fake,stripe`: offers in sat and in usd, one budget in usd, the owner's rate
/// table deciding which is cheaper (issue 17, "the negotiator chooses across units through the owner's
/// exchange-rate table"). The server sells the same route for 1000 sat on the fake rail or 0.50 usd
/// through Stripe (a real localstripe); the owner budgets in usd only.
@Suite("payrail fetch across units: the owner's --rate table picks the rail", .serialized)
struct CrossUnitFetchTests {
    private func fetch(_ server: ServeProcess, stripe: LocalStripePeer, wallet: String, rates: [String]) throws -> AgentRun {
        try AgentRun.run(
            ["fetch", server.url("/premium").absoluteString, "--wallet", wallet, "--rail", "fake,stripe",
             "--fake-payer", server.data.appendingPathComponent("fake-payer.json").path,
             "--stripe-api-base", stripe.baseURL.absoluteString, "--stripe-payment-method", "pm_card_visa",
             "--max", "0.50usd", "--budget-hour", "5usd", "--budget-day", "20usd", "--json"] + rates.flatMap { ["--rate", $0] },
            environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret])
    }

    @Test("1000 sat at 100 sat per cent is 0.10 usd: the fake rail wins; at 10 sat per cent it is 1.00 usd, over --max: Stripe wins; no rate: Stripe only")
    func rateTablePicksTheRail() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let server = try ServeProcess(["--rail", "fake,stripe", "--price", "GET /premium=fake:1000sat,stripe:0.50usd",
                                       "--stripe-api-base", stripe.baseURL.absoluteString],
                                      environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret], captureErrors: true)
        defer { server.kill() }
        let wallet = try temporaryDirectory().appendingPathComponent("wallet.sqlite").path

        let cheapSats = try fetch(server, stripe: stripe, wallet: wallet, rates: ["0.01usd=100sat"])
        #expect(cheapSats.status == 0, "\(cheapSats.stdout) \(cheapSats.stderr)")
        let first = try #require(cheapSats.json["payment"] as? [String: Any], "\(cheapSats.stdout)")
        #expect(first["rail"] as? String == "fake", "\(first)")

        let dearSats = try fetch(server, stripe: stripe, wallet: wallet, rates: ["0.01usd=10sat"])
        #expect(dearSats.status == 0, "\(dearSats.stdout) \(dearSats.stderr)")
        #expect((dearSats.json["payment"] as? [String: Any])?["rail"] as? String == "stripe", "\(dearSats.stdout)")

        let noRate = try fetch(server, stripe: stripe, wallet: wallet, rates: [])
        #expect(noRate.status == 0, "\(noRate.stdout) \(noRate.stderr)")
        #expect((noRate.json["payment"] as? [String: Any])?["rail"] as? String == "stripe", "\(noRate.stdout)")

        // Every spend is budgeted in usd: the fake payment counted as 0.10 usd (1000 sat at 100 sat per cent).
        let spends = (try AgentRun.run(["ledger", "--wallet", wallet, "--json"]).json["spends"] as? [[String: Any]]) ?? []
        let amounts = spends.compactMap { $0["amount"] as? String }.sorted()
        #expect(amounts == ["0.10usd", "0.50usd", "0.50usd"], "\(spends)")

        #expect(try AgentRun.run(["fetch", server.url("/premium").absoluteString, "--rate", "10sat", "--wallet", wallet]).status == 2)
    }
}
