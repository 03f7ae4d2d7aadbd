import Foundation
import PayRail
import PayRailCrypto
import PayRailMCP
import Testing
@testable import PayRailMCPPayments

/// Counts the runs of the tool below the paywall; each run waits, then fails (the upstream is down).
private final class SlowFailingTool: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var runs: Int { lock.withLock { count } }

    func run(_ call: MCPToolCall) async -> MCPToolOutcome {
        lock.withLock { count += 1 }
        try? await Task.sleep(for: .milliseconds(300))
        return .error(MCPError(code: MCPError.internalError, message: "the upstream is down"))
    }
}

@Suite("MCP paywall: a receipt re-serves only the paid call, one at a time")
struct ReceiptRegrantTests {
    /// A paid call of `broken` whose result was never stored, and the receipt that can re-serve it.
    private func unservedReceipt(_ world: MCPWorld) async throws -> String {
        let (client, _) = try world.payingClient(deliveryAttempts: 1)
        let answer = try await client.callTool(name: "broken", arguments: ["q": .string("paid")])
        return try #require(answer.receiptToken)
    }

    private func call(_ arguments: [String: JSONValue], token: String, id: Int64) -> MCPToolCall {
        MCPToolCall(name: "broken", arguments: arguments, meta: ["payrail/receipt": .string(token)], requestID: .number(id),
                    clientAddress: "127.0.0.1")
    }

    @Test("the receipt of a call never served does not serve the tool with other arguments")
    func otherArgumentsRefused() async throws {
        let world = try await MCPWorld()
        let token = try await unservedReceipt(world)
        let tool = SlowFailingTool()
        let other = await world.paywall.callTool(call(["q": .string("something else")], token: token, id: 1)) { await tool.run($0) }
        #expect(tool.runs == 0, "a free service for one payment")
        #expect(other.error?.code == MCPPaymentMeta.paymentVerificationFailedCode, "\(String(describing: other.error))")
        let same = await world.paywall.callTool(call(["q": .string("paid")], token: token, id: 2)) { await tool.run($0) }
        #expect(tool.runs == 1, "the paid call itself is served again at no charge")
        #expect(same.error?.code == MCPError.internalError)
        #expect(await world.balance("agent") == 990)
    }

    @Test("20 concurrent re-servings of one unserved payment: the tool runs once, the others are told to retry")
    func concurrentRegrantsServeOnce() async throws {
        let world = try await MCPWorld()
        let token = try await unservedReceipt(world)
        let tool = SlowFailingTool()
        let outcomes = await withTaskGroup(of: MCPToolOutcome.self) { group in
            for index in 0..<20 {
                group.addTask { await world.paywall.callTool(call(["q": .string("paid")], token: token, id: Int64(index))) { await tool.run($0) } }
            }
            var all: [MCPToolOutcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(tool.runs == 1, "one payment, one serving at a time")
        let retries = outcomes.filter { $0.error?.data?["httpStatus"] == .number(409) }
        #expect(retries.count == 19, "\(outcomes.map { $0.error?.message ?? "result" })")
        #expect(await world.balance("agent") == 990)
    }
}
