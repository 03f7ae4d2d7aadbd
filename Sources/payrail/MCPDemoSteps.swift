import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailMCPPayments
import PayRailReceipts
import PayRailStore
import PayRailWire

// Steps 3 to 8 of `payrail demo --mcp`: the calls, as an MCP host makes them, and the summary.

extension MCPDemoStage {
    // MARK: 3. The free tool

    func callFreeTool(_ step: inout DemoStep) async {
        guard let paying else { return step.fail("no MCP session") }
        events.reset()
        let before = await server.balances()
        out.detail("tools/call \(MCPDemoServer.freeTool) {\"text\": \"\(MCPDemoRun.echoText)\"}")
        let answer: PaidToolResult
        do {
            answer = try await paying.callTool(name: MCPDemoServer.freeTool, arguments: ["text": .string(MCPDemoRun.echoText)])
        } catch {
            return step.fail("the free call failed: \(error)")
        }
        let text = answer.result.map(MCPCallPrinting.text) ?? ""
        out.detail("result: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        step.expect(answer.result?.isError == false, "the free call did not answer with a result: \(answer.outcome)")
        step.expect(text == MCPDemoServer.echoAnswer(MCPDemoRun.echoText) + "\n", "the result is not the echo")
        step.expect(answer.payment == nil, "the free call was paid")
        step.expect(events.names.isEmpty, "the paying client did something for a free tool: \(events.names)")
        let after = await server.balances()
        out.detail("nothing paid: balances \(after == before ? "unchanged" : "MOVED"): \(MCPDemoServer.agentAccount) \(after.agent)sat, "
            + "\(MCPDemoServer.merchantAccount) \(after.merchant)sat; ledger \(await ledgerRecords().count) spends")
        step.expect(after == before, "the balances moved: \(before) -> \(after)")
        step.expect(await ledgerRecords().isEmpty, "the wallet's ledger is not empty")
        step.expect(server.witness.runCount(MCPDemoServer.freeTool) == 1, "\(MCPDemoServer.freeTool) ran \(server.witness.runCount(MCPDemoServer.freeTool)) times, not once")
    }

    // MARK: 4. The payment-required answer

    func unpaidCall(_ step: inout DemoStep) async {
        guard let paying else { return step.fail("no MCP session") }
        let transport = paying.transport
        let before = await server.balances()
        let answer: PaymentAnswer
        let request: PaidRequest
        do {
            request = try transport.request(tool: MCPDemoServer.pricedTool, arguments: ["query": .string(MCPDemoRun.firstQuery)])
            // What any MCP host sees: one tools/call without payment in _meta.
            answer = try await transport.send(request, presenting: nil)
        } catch {
            return step.fail("the unpaid call failed: \(error)")
        }
        guard case .error(let error)? = MCPOutcomeJSON.decode(answer.body) else {
            return step.fail("the unpaid call was not answered with a JSON-RPC error")
        }
        out.detail("tools/call \(MCPDemoServer.pricedTool) without payment: JSON-RPC error \(error.code) \"\(error.message)\"")
        step.expect(error.code == MCPPaymentMeta.paymentRequiredCode, "the error is \(error.code), not \(MCPPaymentMeta.paymentRequiredCode)")
        let data = error.data?.objectValue ?? [:]
        let challenges = data["challenges"]?.arrayValue ?? []
        for challenge in challenges {
            let object = challenge.objectValue ?? [:]
            let request = object["request"]?.objectValue ?? [:]
            out.detail("  Payment  data.challenges[]: method \(object["method"]?.stringValue ?? "?"), intent \(object["intent"]?.stringValue ?? "?"), "
                + "amount \(request["amount"]?.stringValue ?? "?") \(request["currency"]?.stringValue ?? "?"), realm \(object["realm"]?.stringValue ?? "?")")
        }
        step.expect(!challenges.isEmpty, "no Payment challenge in data.challenges")
        let x402 = data[MCPPaymentMeta.x402PaymentRequired]?.objectValue
        for accept in x402?["accepts"]?.arrayValue ?? [] {
            let object = accept.objectValue ?? [:]
            out.detail("  x402     data[\"\(MCPPaymentMeta.x402PaymentRequired)\"].accepts[]: scheme \(object["scheme"]?.stringValue ?? "?"), "
                + "network \(object["network"]?.stringValue ?? "?"), amount \(object["amount"]?.stringValue ?? "?"), "
                + "payTo \(object["payTo"]?.stringValue ?? "?")")
        }
        step.expect(x402 != nil, "no x402 PaymentRequired in data[\"\(MCPPaymentMeta.x402PaymentRequired)\"]")
        readBack(answer, request: request, transport: transport, &step)
        step.expect(server.witness.runCount(MCPDemoServer.pricedTool) == 0, "\(MCPDemoServer.pricedTool) ran without payment")
        let after = await server.balances()
        out.detail("\(MCPDemoServer.pricedTool) did not run (\(server.witness.runCount(MCPDemoServer.pricedTool)) runs); balances "
            + "\(after == before ? "unchanged" : "MOVED"): \(MCPDemoServer.agentAccount) \(after.agent)sat, \(MCPDemoServer.merchantAccount) \(after.merchant)sat")
        step.expect(after == before, "the balances moved: \(before) -> \(after)")
        step.expect(await ledgerRecords().isEmpty, "the wallet's ledger is not empty")
    }

    /// The offers the paying client reads from that answer, as it reads them before paying.
    private func readBack(_ answer: PaymentAnswer, request: PaidRequest, transport: MCPPaymentTransport, _ step: inout DemoStep) {
        let reading = transport.challenges(in: answer, for: request, receivedAt: Date())
        out.detail("read back by the paying client (MCPPaymentTransport): \(reading.offers.count) offers")
        for offer in reading.offers {
            out.detail("  \(offer.dialect.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) rail \(offer.offer.rail)  "
                + "\(offer.offer.amount)  payee \(offer.offer.payee)")
        }
        for skipped in reading.skipped { out.detail("  skipped: \(skipped)") }
        let dialects = Set(reading.offers.map(\.dialect))
        for dialect in [PaymentDialect.payment, .x402] {
            step.expect(dialects.contains(dialect), "no \(dialect.rawValue) offer could be read back")
        }
        step.expect(reading.offers.allSatisfy { DemoRun.isSats($0.offer.amount, MCPDemoServer.price) && $0.offer.rail == .fake },
                    "an offer is not \(MCPDemoServer.price)sat on fake")
        step.expect(reading.skipped.isEmpty, "\(reading.skipped.count) challenge(s) could not be read")
    }

    // MARK: 5. Paying

    func paidCall(_ step: inout DemoStep) async {
        guard let paying else { return step.fail("no MCP session") }
        events.reset()
        let before = await server.balances()
        out.detail("tools/call \(MCPDemoServer.pricedTool) {\"query\": \"\(MCPDemoRun.firstQuery)\"} through the paying client, "
            + "payment id \(MCPDemoRun.firstCallID)")
        let paid: PaidToolResult
        do {
            paid = try await paying.callTool(name: MCPDemoServer.pricedTool, arguments: ["query": .string(MCPDemoRun.firstQuery)],
                                             paymentID: MCPDemoRun.firstCallID)
        } catch {
            return step.fail("the paid call failed: \(error)")
        }
        checkSearchResult(paid, &step)
        firstResult = paid.result
        let expected = ["challenged", "negotiated", "reserved", "paid", "presenting", "receipt", "committed"]
        step.expect(events.names == expected, "the steps were \(events.names), not \(expected)")
        guard let payment = paid.payment else { return step.fail("the call was not paid") }
        step.expect(payment.paymentID == MCPDemoRun.firstCallID, "the ledger id is \(payment.paymentID)")
        step.expect(DemoRun.isSats(payment.amount, MCPDemoServer.price) && payment.rail == .fake,
                    "paid \(payment.amount) on \(payment.rail), not \(MCPDemoServer.price)sat on fake")
        step.expect(!payment.resumed, "the first call finished an earlier payment instead of paying")
        if case .verified(let claims) = payment.receiptCheck {
            step.expect(claims.sub == Self.pricedResource, "the receipt is for \(claims.sub), not \(Self.pricedResource)")
        } else {
            step.fail("the paying client did not verify the receipt: \(payment.receiptCheck)")
        }
        showReceipts(paid, &step)
        if let receipt = payment.receipt {
            secrets.add([receipt])
            await verifyAgain(receipt, &step)
        } else {
            step.fail("no receipt came back")
        }
        let after = await server.balances()
        out.detail("balances: \(MCPDemoServer.agentAccount) \(before.agent)sat -> \(after.agent)sat, "
            + "\(MCPDemoServer.merchantAccount) \(before.merchant)sat -> \(after.merchant)sat")
        step.expect(after.agent == before.agent - MCPDemoServer.price && after.merchant == before.merchant + MCPDemoServer.price,
                    "the processor did not move exactly \(MCPDemoServer.price)sat from agent to merchant")
        let ledger = await ledgerRecords()
        step.expect(ledger.count == 1 && ledger.first?.state == .committed && ledger.first?.receipt == payment.receipt,
                    "the wallet should hold one committed spend with this receipt, it holds \(ledger.map(\.state.rawValue))")
        step.expect(server.witness.runCount(MCPDemoServer.pricedTool) == 1,
                    "\(MCPDemoServer.pricedTool) ran \(server.witness.runCount(MCPDemoServer.pricedTool)) times, not once")
    }

    /// The result must be the search's own answer, not an error result.
    private func checkSearchResult(_ paid: PaidToolResult, _ step: inout DemoStep) {
        let text = paid.result.map(MCPCallPrinting.text) ?? ""
        if case .error(let error) = paid.outcome { out.detail("answer: \(error)") } else {
            out.detail("result: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        step.expect(paid.result?.isError == false, "the call did not answer with a result")
        step.expect(text == MCPDemoServer.searchAnswer(MCPDemoRun.firstQuery) + "\n", "the result is not the search's answer")
    }

    /// The receipts the result carries in `_meta`, shown without the token itself.
    private func showReceipts(_ paid: PaidToolResult, _ step: inout DemoStep) {
        let token = paid.result?.meta[MCPPaymentMeta.payrailReceipt]?.stringValue
        out.detail("result _meta[\"\(MCPPaymentMeta.payrailReceipt)\"]: signed receipt \(token.map(DemoOutput.shortToken) ?? "MISSING")")
        step.expect(token != nil && token == paid.receiptToken, "the result's payrail/receipt is not the receipt the client recorded")
        let receipt = paid.paymentReceipt
        out.detail("result _meta[\"\(MCPPaymentMeta.paymentReceipt)\"]: status \(receipt?["status"]?.stringValue ?? "?"), "
            + "method \(receipt?["method"]?.stringValue ?? "?"), reference \(receipt?["reference"]?.stringValue ?? "?")")
        step.expect(receipt?["status"]?.stringValue == "success", "no successful Payment receipt in the result's _meta")
    }

    /// The demo checks the receipt itself too, with the keys the server publishes, not the client's word.
    private func verifyAgain(_ receipt: String, _ step: inout DemoStep) async {
        do {
            let jwks = try await DemoHTTP.get(try server.url(DemoServer.jwksPath))
            let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwksJSON: Data(jwks.body)))
            let claims = try verifier.verify(receipt, resource: Self.pricedResource)
            out.detail("checked again by the demo with the published JWKS: sub \"\(claims.sub)\", \(claims.amount) \(claims.currency), "
                + "method \(claims.method), ref \(claims.ref)")
            step.expect(claims.amount == String(MCPDemoServer.price) && claims.currency == "sat", "the receipt names \(claims.amount) \(claims.currency)")
        } catch {
            step.fail("the receipt does not verify against the published JWKS: \(error)")
        }
    }

    // MARK: 6. Replay

    func replayCall(_ step: inout DemoStep) async {
        guard let paying else { return step.fail("no MCP session") }
        events.reset()
        let before = await server.balances()
        let runs = server.witness.runCount(MCPDemoServer.pricedTool)
        out.detail("the same call again, same payment id \(MCPDemoRun.firstCallID)")
        let paid: PaidToolResult
        do {
            paid = try await paying.callTool(name: MCPDemoServer.pricedTool, arguments: ["query": .string(MCPDemoRun.firstQuery)],
                                             paymentID: MCPDemoRun.firstCallID)
        } catch {
            return step.fail("the replayed call failed: \(error)")
        }
        checkSearchResult(paid, &step)
        out.detail("the same result as in step 5, its receipts in _meta included: \(paid.result != nil && paid.result == firstResult ? "yes" : "NO")")
        step.expect(paid.result != nil && paid.result == firstResult,
                    "the replay's result (its receipts in _meta included) is not the stored result of the paid call")
        step.expect(paid.payment?.resumed == true && paid.payment?.paymentID == MCPDemoRun.firstCallID,
                    "the replay was not answered from the earlier payment")
        step.expect(events.names.contains("resuming"), "the replay did not present the earlier payment's receipt: \(events.names)")
        step.expect(!events.names.contains("paid") && !events.names.contains("reserved"), "the replay reserved or paid again: \(events.names)")
        let after = await server.balances()
        out.detail("balances \(after == before ? "unchanged" : "MOVED"): \(MCPDemoServer.agentAccount) \(after.agent)sat, "
            + "\(MCPDemoServer.merchantAccount) \(after.merchant)sat")
        step.expect(after == before, "the balances moved: \(before) -> \(after)")
        step.expect(server.witness.runCount(MCPDemoServer.pricedTool) == runs, "the tool ran again instead of the stored result replaying")
        let ledger = await ledgerRecords()
        step.expect(ledger.count == 1, "the wallet holds \(ledger.count) spends, not 1")
    }

    // MARK: 7. Over budget

    func overBudgetCall(_ step: inout DemoStep) async {
        guard let paying else { return step.fail("no MCP session") }
        events.reset()
        let before = await server.balances()
        let runs = server.witness.runCount(MCPDemoServer.pricedTool)
        out.detail("a new call, payment id \(MCPDemoRun.secondCallID): \(MCPDemoServer.price)sat more would make "
            + "\(MCPDemoServer.price * 2)sat in the hour, over \(MCPDemoRun.perHour)sat")
        do {
            let paid = try await paying.callTool(name: MCPDemoServer.pricedTool, arguments: ["query": .string(MCPDemoRun.secondQuery)],
                                                 paymentID: MCPDemoRun.secondCallID)
            step.fail("the call over budget was not refused: \(paid.outcome)")
        } catch {
            out.detail("refused (\(error.code), \(error.payment?.code.rawValue ?? "no payment code")): "
                + "\(error.payment?.budget?.description ?? error.reason)")
            step.expect(error.code == .payment && error.payment?.code == .overBudget,
                        "refused with \(error.code)/\(error.payment?.code.rawValue ?? "none"), not payment/overBudget")
            step.expect(error.payment?.budget?.window == .hour,
                        "the refusing budget is \(error.payment?.budget.map { $0.window.rawValue } ?? "none"), not the hourly one")
        }
        step.expect(!events.names.contains("reserved") && !events.names.contains("paid"), "budget was reserved or paid: \(events.names)")
        let after = await server.balances()
        out.detail("balances \(after == before ? "unchanged" : "MOVED"): \(MCPDemoServer.agentAccount) \(after.agent)sat, "
            + "\(MCPDemoServer.merchantAccount) \(after.merchant)sat")
        step.expect(after == before, "the balances moved: \(before) -> \(after)")
        step.expect(server.witness.runCount(MCPDemoServer.pricedTool) == runs, "the tool ran although the call was refused")
        let ledger = await ledgerRecords()
        step.expect(ledger.count == 1, "the wallet holds \(ledger.count) spends, not 1")
    }
}

