import Foundation
import PayRailTestPeers
import Testing

/// A paid MCP tool on Stripe: `payrail mcp proxy --rail stripe --stripe-x402-card` in front of the
/// official Python SDK server, against localstripe; `payrail mcp call --rail stripe` pays with a card.
@Suite("payrail mcp on Stripe through localstripe (live, loopback)", .serialized)
struct MCPStripeTests {
    @Test("x402 card auth-capture over MCP: authorized, granted on the hold, captured after the tool answered; paid once")
    func paysToolWithCard() async throws {
        let stripe = try await LocalStripePeer.start()
        defer { stripe.stop() }
        let proxy = try MCPProxyProcess(
            ["--rail", "stripe", "--stripe-api-base", stripe.baseURL.absoluteString, "--stripe-x402-card",
             "--stripe-account", "acct_1PayRailCardTest", "--price", "tool:echo=0.50usd", "--upstream-command", try MCPPeers.upstreamCommand()],
            environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret])
        defer { proxy.stop() }
        let wallet = try temporaryDirectory().appendingPathComponent("wallet.sqlite").path
        let arguments = ["mcp", "call", proxy.endpoint, "echo", "--args", #"{"text":"paid by card"}"#, "--rail", "stripe",
                         "--stripe-api-base", stripe.baseURL.absoluteString, "--stripe-payment-method", "pm_card_visa",
                         "--max", "0.50usd", "--wallet", wallet, "--payment-id", "mcp-stripe-card-1", "--json"]
        let run = try AgentRun.run(arguments, environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr) \(proxy.log)")
        let payment = try #require(run.json["payment"] as? [String: Any], "\(run.stdout) \(run.stderr)")
        #expect(payment["rail"] as? String == "stripe" && payment["dialect"] as? String == "x402", "\(payment)")
        #expect(payment["amount"] as? String == "0.50usd" && payment["receiptVerified"] as? Bool == true, "\(payment)")
        let content = (run.json["result"] as? [String: Any])?["content"] as? [[String: Any]]
        #expect(content?.first?["text"] as? String == "paid by card")

        var intents: [[String: Any]] = []
        for _ in 0..<50 {
            let (status, body) = try await stripe.raw("GET", "/v1/payment_intents?limit=100")
            #expect(status == 200)
            intents = ((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["data"] as? [[String: Any]]) ?? []
            if intents.first?["status"] as? String == "succeeded" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(intents.count == 1 && intents.first?["status"] as? String == "succeeded", "captured once: \(intents)")
        #expect(intents.first?["capture_method"] as? String == "manual", "\(intents)")

        let again = try AgentRun.run(arguments, environment: ["PAYRAIL_STRIPE_SECRET_KEY": StripeFlowTests.secret])
        #expect(again.status == 0, "\(again.stderr)")
        let (_, body) = try await stripe.raw("GET", "/v1/payment_intents?limit=100")
        let after = ((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["data"] as? [[String: Any]]) ?? []
        #expect(after.count == 1, "the same payment id made no second intent: \(after)")
        for text in [proxy.log, run.stdout, run.stderr, again.stderr] {
            #expect(!text.contains("51FlowSecret"), "the secret key was printed")
        }
    }
}
