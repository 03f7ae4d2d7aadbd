import Foundation
import PayRail
import PayRailAgent
import PayRailMCPPayments
import PayRailStore

// The summary of `payrail demo --mcp` and the host's events as lines: what was paid, what the ledger
// holds, that no secret was printed, and that nothing was left behind.

extension MCPDemoStage {
    // MARK: 8. Summary

    func summarize(_ step: inout DemoStep) async {
        let balances = await server.balances()
        out.detail("payer \(MCPDemoServer.agentAccount): \(balances.agent)sat (started with \(MCPDemoServer.agentFunds)sat)")
        out.detail("payee \(MCPDemoServer.merchantAccount): \(balances.merchant)sat")
        step.expect(balances.agent == MCPDemoServer.agentFunds - MCPDemoServer.price && balances.merchant == MCPDemoServer.price,
                    "exactly one payment of \(MCPDemoServer.price)sat should have moved")
        out.detail("tool runs: \(MCPDemoServer.freeTool) \(server.witness.runCount(MCPDemoServer.freeTool)), "
            + "\(MCPDemoServer.pricedTool) \(server.witness.runCount(MCPDemoServer.pricedTool))")
        step.expect(server.witness.runCount(MCPDemoServer.pricedTool) == 1, "the priced tool should have run exactly once")
        await DemoChecks.ledger(&step, governor: governor, price: MCPDemoServer.price, out: out)
    }

    /// Fails the step if any secret the demo knows of was printed (a last line of defence).
    func checkNoSecretPrinted(_ step: inout DemoStep) {
        DemoChecks.noSecretPrinted(&step, secrets: secrets, proofs: server.witness.proofValues,
                                   kinds: "account secrets, vouchers, credentials in _meta, keys, full receipts", out: out)
    }

    /// Closes the wallet and removes the temporary directory.
    func cleanUp(_ step: inout DemoStep) async {
        await DemoChecks.cleanUp(&step, walletStore: walletStore, directory: directory, out: out)
    }

    // MARK: Events

    /// What the host's paying client did, one or more lines per event; never a credential, voucher
    /// or receipt token.
    ///
    /// - Parameter replaying: whether this call is finishing an earlier one (it presents a receipt, not a payment).
    static func lines(for event: PayingClientEvent, replaying: Bool) -> [String] {
        let tool = MCPDemoServer.pricedTool
        switch event {
        case .challenged(let offers, let skipped):
            let dialects = offers.map(\.dialect.rawValue).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return ["host: \(MCPPaymentMeta.paymentRequiredCode) read, \(offers.count) offers (\(dialects.joined(separator: ", ")))"
                + (skipped.isEmpty ? "" : ", \(skipped.count) unreadable")]
        case .negotiated(let negotiation):
            return ["host: negotiation (policy: rail fake only, at most \(MCPDemoRun.maxPerCall)sat per call):"]
                + negotiation.explanationLines.map { "  " + $0 }
        case .reserved(let id, let amount, let rail, let dialect):
            return ["host: reserved \(amount) of budget for \(rail) via \(dialect.rawValue) (payment id \(id))"]
        case .released(let id, let reason):
            return ["host: released the reservation \(id): \(reason)"]
        case .paid(_, let rail, _):
            return ["host: paid on \(rail): the processor debited the agent and signed a voucher (not shown)"]
        case .presenting(let attempt, _) where replaying:
            return ["host: called \(tool) again with its receipt in _meta[\"\(MCPPaymentMeta.payrailReceipt)\"] (attempt \(attempt))"]
        case .presenting(let attempt, let dialect):
            let member = dialect == .x402 ? MCPPaymentMeta.x402Payment : MCPPaymentMeta.paymentCredential
            return ["host: called \(tool) again with the \(dialect.rawValue) credential in _meta[\"\(member)\"] (attempt \(attempt))"]
        case .resuming(let id, let state):
            return ["host: payment id \(id) is already \(state.rawValue) in the wallet: presenting its receipt instead of paying"]
        case .receipt(let check):
            switch check {
            case .verified(let claims):
                return ["host: receipt verified against the server's JWKS (\(claims.sub), \(claims.amount) \(claims.currency))"]
            case .unverifiable(let why): return ["host: receipt not checked: \(why)"]
            case .invalid(let why): return ["host: receipt INVALID: \(why)"]
            }
        case .committed(let id, let amount):
            return ["host: committed \(amount) to the ledger (payment id \(id))"]
        }
    }
}
