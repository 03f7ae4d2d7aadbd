import Foundation
import PayRailTestPeers
import PayRailWire
import Testing

/// Paid MCP tools on real Lightning: `payrail mcp proxy --rail lightning` on a shop wallet of a real
/// LNbits (FakeWallet), `payrail mcp call --rail lightning` paying from an agent wallet of it.
@Suite("payrail mcp on Lightning through a real LNbits (live, loopback)", .serialized)
struct MCPLightningTests {
    static let priceMsat: Int64 = 21_000

    @Test("a priced tool paid over Lightning in each dialect MCP carries: the price moves once, the receipt verifies",
          arguments: [PaymentDialect.payment, .x402])
    func paysToolOnLightning(_ dialect: PaymentDialect) async throws {
        let lnbits = try await LNbitsPeer.shared()
        let shop = try await lnbits.createWallet(name: "mcp-shop")
        let agent = try await lnbits.createWallet(name: "mcp-agent")
        try await lnbits.fund(agent, sats: 1_000)
        let proxy = try MCPProxyProcess(
            ["--rail", "lightning", "--lnbits-url", lnbits.baseURL.absoluteString, "--price", "tool:echo=21sat",
             "--upstream-command", try MCPPeers.upstreamCommand()],
            environment: ["PAYRAIL_LNBITS_INVOICE_KEY": shop.invoiceKey])
        defer { proxy.stop() }
        let wallet = try temporaryDirectory().appendingPathComponent("wallet.sqlite").path
        let arguments = ["mcp", "call", proxy.endpoint, "echo", "--args", #"{"text":"over lightning"}"#, "--rail", "lightning",
                         "--lnbits-url", lnbits.baseURL.absoluteString, "--wallet", wallet, "--dialect", dialect.rawValue,
                         "--payment-id", "mcp-lightning-\(dialect.rawValue)", "--json"]
        let run = try AgentRun.run(arguments, environment: ["PAYRAIL_LNBITS_ADMIN_KEY": agent.adminKey])
        #expect(run.status == 0, "\(run.stderr)")
        let payment = try #require(run.json["payment"] as? [String: Any], "\(run.stdout) \(run.stderr)")
        #expect(payment["rail"] as? String == "lightning" && payment["dialect"] as? String == dialect.rawValue)
        #expect(payment["receiptVerified"] as? Bool == true, "\(payment["receiptProblem"] ?? "")")
        let content = (run.json["result"] as? [String: Any])?["content"] as? [[String: Any]]
        #expect(content?.first?["text"] as? String == "over lightning")
        #expect(try await lnbits.balanceMsat(shop) == Self.priceMsat)
        #expect(try await lnbits.balanceMsat(agent) == 1_000_000 - Self.priceMsat)

        // The same payment id again: the same proof, answered, nothing more paid.
        let again = try AgentRun.run(arguments, environment: ["PAYRAIL_LNBITS_ADMIN_KEY": agent.adminKey])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try await lnbits.balanceMsat(shop) == Self.priceMsat)
        for text in [proxy.log, run.stdout, run.stderr, again.stderr] {
            #expect(!text.contains(shop.invoiceKey) && !text.contains(agent.adminKey), "a key was printed")
        }
    }
}
