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
        guard let governor else {
            step.fail("no wallet to summarize")
            return
        }
        do {
            let ledger = try await governor.ledger()
            out.detail("ledger (\(ledger.count) spend\(ledger.count == 1 ? "" : "s")):")
            for record in ledger {
                var line = "  \(record.paymentID)  \(record.state.rawValue)  \(record.amount)  \(record.rail)  \(record.method) \(record.url)"
                if let receipt = record.receipt { line += "  receipt \(DemoOutput.shortToken(receipt))" }
                if let reference = record.reference { line += "  ref \(reference)" }
                out.detail(line)
            }
            step.expect(ledger.count == 1 && ledger.allSatisfy { $0.state == .committed && $0.proof == nil },
                        "the ledger should hold one committed spend and no proof")
            for total in try await governor.totals() {
                out.detail("totals \(total.unit.code): last hour \(total.lastHour), last day \(total.lastDay), "
                    + "committed \(total.committed), pending \(total.pending)")
                if total.unit == .sat {
                    step.expect(DemoRun.isSats(total.committed, MCPDemoServer.price) && total.pending.isZero
                                    && DemoRun.isSats(total.lastHour, MCPDemoServer.price),
                                "the totals should be \(MCPDemoServer.price)sat committed in the hour, nothing pending")
                }
            }
        } catch {
            step.fail("the ledger could not be read: \(error)")
        }
    }

    /// Fails the step if any secret the demo knows of was printed (a last line of defence).
    func checkNoSecretPrinted(_ step: inout DemoStep) {
        secrets.add(server.witness.proofValues)
        let printed = out.transcript
        let known = secrets.all
        let leaked = known.filter { printed.contains($0) }.count
        out.detail("secrets checked: \(leaked) of \(known.count) known secrets (account secrets, vouchers, credentials in _meta, "
            + "keys, full receipts) appear in this output")
        step.expect(leaked == 0, "\(leaked) secret value(s) were printed")
        step.expect(!server.witness.proofValues.isEmpty, "the server saw no credential in _meta, so the check proved nothing")
    }

    /// Closes the wallet and removes the temporary directory; an open SQLite file could otherwise
    /// write its WAL back after the directory is gone and leave it behind.
    func cleanUp(_ step: inout DemoStep) async {
        await walletStore?.close()
        do {
            try FileManager.default.removeItem(at: directory)
            out.detail("temporary directory removed")
        } catch {
            step.fail("the temporary directory \(directory.path) could not be removed: \(error)")
        }
        step.expect(!FileManager.default.fileExists(atPath: directory.path), "the temporary directory \(directory.path) is still there")
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
