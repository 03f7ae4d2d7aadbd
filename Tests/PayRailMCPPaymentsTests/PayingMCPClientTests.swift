import FakeRail
import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing
@testable import PayRailMCPPayments

/// The paying side over the paywall, in process: `PayingMCPClient` pays tool calls with the same
/// negotiator, budget, ledger and wallet as HTTP, refuses a lying remote, asks its approver, and never
/// loses a payment whose tool failed after settlement.
@Suite("Paying MCP client: tools/call paid like HTTP (issue 19)", .serialized)
struct PayingMCPClientTests {
    @Test("a paid call returns the tool's result with a receipt that verifies, settles once and commits the spend")
    func paidCallWithReceipt() async throws {
        let world = try await MCPWorld()
        let (client, governor) = try world.payingClient()
        _ = try await client.listTools()
        let paid = try await client.callTool(name: "search", arguments: ["q": .string("swift")])
        #expect(paid.outcome.firstText == "results for swift")
        let payment = try #require(paid.payment)
        #expect(payment.amount == (try Money(parsing: "10sat")))
        #expect(payment.dialect == .payment)
        guard case .verified(let claims) = payment.receiptCheck else {
            Issue.record("the receipt must verify: \(payment.receiptCheck)")
            return
        }
        #expect(claims.sub == "POST /mcp/tools/search")
        let receipt = try #require(paid.paymentReceipt)
        #expect(receipt["status"]?.text == "success")
        #expect(receipt["method"]?.text == "fake")
        #expect(receipt["challengeId"]?.text?.isEmpty == false)
        #expect(receipt["timestamp"]?.text != nil)
        #expect(paid.result?.meta["payrail/receipt"]?.text == paid.receiptToken)
        #expect(world.tools.count("search") == 1)
        #expect(await world.balance("merchant") == 10)
        #expect(await world.balance("agent") == 990)
        let ledger = try await governor.ledger()
        #expect(ledger.map(\.state) == [.committed])
        // The credential travelled as the Payment transport's JSON object, its request not base64url.
        let sent = try #require(world.caller.sentMetas.last?["org.paymentauth/credential"])
        guard case .object = sent["challenge"]?["request"] else { Issue.record("request must be a JSON object"); return }
    }

    @Test("over x402's MCP transport: the payload goes in _meta[x402/payment], the settlement comes back in x402/payment-response")
    func paidOverX402() async throws {
        let world = try await MCPWorld()
        let (client, _) = try world.payingClient(dialects: [.x402, .payment])
        let paid = try await client.callTool(name: "search", arguments: ["q": .string("x")])
        #expect(paid.outcome.firstText == "results for x")
        #expect(paid.payment?.dialect == .x402)
        #expect(world.caller.sentMetas.last?["x402/payment"]?["x402Version"] == .number(2))
        #expect(paid.result?.meta["x402/payment-response"]?["success"] == .bool(true))
        if case .verified = paid.payment?.receiptCheck {} else { Issue.record("the receipt must verify") }
        #expect(await world.balance("merchant") == 10)
    }

    @Test("a paywall answering with x402's tool-result binding (isError + PaymentRequired) is read and paid over x402")
    func paysX402ToolResultBinding() async throws {
        let world = try await MCPWorld(unpaidAnswer: .x402ToolResult)
        let (client, _) = try world.payingClient()
        let paid = try await client.callTool(name: "search", arguments: ["q": .string("b")])
        #expect(paid.outcome.firstText == "results for b")
        #expect(paid.payment?.dialect == .x402)
        #expect(await world.balance("merchant") == 10)
    }

    @Test("a free tool is called once and nothing is paid")
    func freeTool() async throws {
        let world = try await MCPWorld()
        let (client, governor) = try world.payingClient()
        let answer = try await client.callTool(name: "echo", arguments: ["q": .string("hi")])
        #expect(answer.outcome.firstText == "echo hi meta=")
        #expect(answer.payment == nil)
        #expect(try await governor.ledger().isEmpty)
    }

    @Test("a remote whose challenge asks more than tools/list advertised is refused: typed error, nothing paid")
    func lyingRemote() async throws {
        let world = try await MCPWorld(advertise: { tools in
            tools.map { tool in
                var lied = tool
                if tool.name == "search" {
                    lied.meta["payrail/price"] = .object(["amount": .string("5"), "unit": .string("sat")])
                }
                return lied
            }
        })
        let (client, governor) = try world.payingClient()
        _ = try await client.listTools()
        do throws(PayingMCPError) {
            _ = try await client.callTool(name: "search", arguments: [:])
            Issue.record("the remote lied about the price: the call must fail")
        } catch {
            #expect(error.code == .priceAboveAdvertised)
            #expect(error.lie?.asked == (try Money(parsing: "10sat")))
            #expect(error.lie?.advertised == (try Money(parsing: "5sat")))
        }
        #expect(await world.balance("agent") == 1_000)
        #expect(try await governor.ledger().isEmpty)
        #expect(world.tools.count("search") == 0)
    }

    @Test("a remote asking in another unit than advertised is refused too")
    func lyingRemoteUnit() async throws {
        let world = try await MCPWorld(advertise: { tools in
            tools.map { tool in
                var lied = tool
                if tool.name == "search" {
                    lied.meta["payrail/price"] = .object(["amount": .string("1000"), "unit": .string("usd")])
                }
                return lied
            }
        })
        let (client, _) = try world.payingClient()
        _ = try await client.listTools()
        do throws(PayingMCPError) {
            _ = try await client.callTool(name: "search", arguments: [:])
            Issue.record("another unit than advertised must be refused")
        } catch {
            #expect(error.code == .priceAboveAdvertised)
        }
        #expect(await world.balance("agent") == 1_000)
    }

    @Test("a call over the per-request budget pays nothing")
    func budgetRefusal() async throws {
        let world = try await MCPWorld()
        let (client, governor) = try world.payingClient(perRequest: "5sat")
        do throws(PayingMCPError) {
            _ = try await client.callTool(name: "search", arguments: [:])
            Issue.record("10sat is over the 5sat budget")
        } catch {
            #expect(error.code == .payment)
            #expect(error.payment?.code == .overBudget)
        }
        #expect(await world.balance("agent") == 1_000)
        #expect(world.tools.count("search") == 0)
        #expect(try await governor.ledger().allSatisfy { $0.state != .committed })
    }

    @Test("above the approval threshold the approver is asked with the price and the tool; a no pays nothing, a yes pays")
    func approvalHook() async throws {
        let world = try await MCPWorld()
        let asked = AskLog()
        let declining = MCPToolApprover { cost, tool in
            asked.append("\(cost.amount)\(cost.unit.code) \(tool)")
            return false
        }
        let (client, _) = try world.payingClient(approvalThreshold: try Money(parsing: "5sat"), approver: declining)
        do throws(PayingMCPError) {
            _ = try await client.callTool(name: "search", arguments: [:])
            Issue.record("the approver declined")
        } catch {
            #expect(error.payment?.code == .refusedByPolicy)
        }
        // Asked once per call, though the same offer is carried in two dialects (the "no" is remembered).
        #expect(asked.entries == ["10sat search"])
        #expect(await world.balance("agent") == 1_000)

        let (approved, _) = try world.payingClient(approvalThreshold: try Money(parsing: "5sat"), approver: MCPToolApprover { _, _ in true })
        let paid = try await approved.callTool(name: "search", arguments: ["q": .string("ok")])
        #expect(paid.outcome.firstText == "results for ok")
        #expect(await world.balance("agent") == 990)
    }

    @Test("the tool fails after settlement: the same credential is served again at no charge; one payment, result delivered")
    func upstreamFailureIsReplayable() async throws {
        let world = try await MCPWorld(flakyFailures: 1)
        let (client, governor) = try world.payingClient(deliveryAttempts: 3)
        let paid = try await client.callTool(name: "flaky", arguments: ["q": .string("z")])
        #expect(paid.outcome.firstText == "results for z")
        #expect(world.tools.count("flaky") == 2)
        #expect(await world.balance("merchant") == 10)
        #expect(await world.balance("agent") == 990)
        #expect(try await governor.ledger().map(\.state) == [.committed])
    }

    @Test("the tool never recovers: the payer gets the tool's error with its payment and receipt; the unserved payment is refunded")
    func upstreamFailureIsRefunded() async throws {
        let world = try await MCPWorld()
        let (client, governor) = try world.payingClient(deliveryAttempts: 2)
        let answer = try await client.callTool(name: "broken", arguments: [:])
        // Paid and granted, not served: the error comes back with the payment and the receipt that
        // would serve the call at no charge within the grant.
        #expect(answer.outcome.error?.code == MCPError.internalError)
        #expect(answer.outcome.error?.data?["httpStatus"] == .number(502))
        #expect(answer.payment?.amount == (try Money(parsing: "10sat")))
        #expect(answer.receiptToken != nil)
        #expect(world.tools.count("broken") == 2)
        #expect(await world.balance("merchant") == 10)
        #expect(try await governor.ledger().count == 1)
        // After the grant (and the refund margin), the automatic refund pass gives the payment back.
        let later = world.clock.now().addingTimeInterval(3600 + 300)
        let report = try await world.gate.refundUnserved(now: later, policy: AutomaticRefunds(margin: 120))
        #expect(report.refunded == 1)
        #expect(await world.balance("agent") == 1_000)
        #expect(await world.balance("merchant") == 0)
    }
}

/// What an approver was asked.
final class AskLog: @unchecked Sendable {
    // @unchecked: `asked` is touched under `lock` only.
    private let lock = NSLock()
    private var asked: [String] = []
    func append(_ entry: String) { lock.withLock { asked.append(entry) } }
    var entries: [String] { lock.withLock { asked } }
}
