import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailWire

/// Calls a remote's tools, paying the ones that ask, through a `PayingClient` (negotiator, budgets,
/// ledger, wallets) over an `MCPPaymentTransport`.
///
/// ```swift
/// let client = PayingMCPClient(caller: mcpClient, configuration: configuration)
/// _ = try await client.listTools()          // remembers advertised prices
/// let paid = try await client.callTool(name: "search", arguments: ["q": .string("swift")])
/// ```
public final class PayingMCPClient: Sendable {
    /// The transport calls go through (it remembers advertised prices).
    public let transport: MCPPaymentTransport
    /// The paying client that decides, pays and records.
    public let payingClient: PayingClient

    /// Creates a client over `caller`.
    ///
    /// - Parameters:
    ///   - server: a name for the remote in the ledger and price memory (`mcp://<server>/…`).
    ///   - bindingServer: the URI x402 `lnbtc` invoices must bind, when known (`MCPPaymentTransport`).
    public init(caller: any MCPToolCaller, configuration: PayingClientConfiguration, server: String = "mcp-server",
                bindingServer: String? = nil) {
        self.transport = MCPPaymentTransport(caller: caller, server: server, bindingServer: bindingServer)
        self.payingClient = PayingClient(configuration: configuration, transport: transport)
    }

    /// The remote's tools, remembering each priced tool's advertised price: a challenge asking more
    /// is then refused without paying.
    public func listTools() async throws(MCPError) -> [MCPTool] {
        try await transport.listTools()
    }

    /// Calls `name`, paying its challenge if policy, approval and budget allow.
    ///
    /// - Parameter paymentID: the call's stable payment id; calling again with the same id (after a
    ///   lost answer) presents the same credential instead of paying again.
    /// - Returns: the tool's outcome (a result, or a JSON-RPC error that needed no payment or was not
    ///   a payment matter) and what was paid.
    /// - Throws: `PayingMCPError`; its `isRetrySafe` says whether the same call may be made again.
    public func callTool(name: String, arguments: [String: JSONValue] = [:], paymentID: String? = nil) async throws(PayingMCPError) -> PaidToolResult {
        let request: PaidRequest
        do { request = try transport.request(tool: name, arguments: arguments, paymentID: paymentID) } catch {
            throw PayingMCPError(.invalidRequest, error.reason, payment: nil)
        }
        let response: PaidResponse
        do { response = try await payingClient.send(request) } catch {
            if let id = request.paymentID, let lie = transport.priceLie(forPaymentID: id) {
                throw PayingMCPError(.priceAboveAdvertised, lie.description + "; nothing was paid", payment: error, lie: lie)
            }
            throw PayingMCPError(.payment, error.description, payment: error)
        }
        guard let outcome = MCPOutcomeJSON.decode(response.body) else {
            throw PayingMCPError(.malformedAnswer, "the answer (status \(response.status)) is not a tool result", payment: nil)
        }
        return PaidToolResult(outcome: outcome, payment: response.payment, negotiation: response.negotiation)
    }
}

/// A tool call's outcome and what it cost.
public struct PaidToolResult: Sendable {
    /// The tool's result, or the JSON-RPC error the call ended in.
    public let outcome: MCPToolOutcome
    /// The payment, `nil` when the tool was free (or a replay answered without paying).
    public let payment: PaymentOutcome?
    /// How the offers were chosen, when the call was challenged.
    public let negotiation: Negotiation?

    /// The result, if the call produced one.
    public var result: MCPToolResult? {
        if case .result(let result) = outcome { return result }
        return nil
    }

    /// The Payment scheme's receipt object from the result's `_meta`, if any.
    public var paymentReceipt: [String: JSONValue]? {
        guard case .object(let receipt)? = result?.meta[MCPPaymentMeta.paymentReceipt] else { return nil }
        return receipt
    }

    /// PayRail's signed receipt token (checked by the paying client: see `payment?.receiptCheck`).
    public var receiptToken: String? { payment?.receipt }
}

/// Why a paid tool call failed, and whether calling again is safe.
public struct PayingMCPError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable identifier.
        public let rawValue: String
        /// Creates a code.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The tool name or arguments make no call.
        public static let invalidRequest = Code(rawValue: "invalidRequest")
        /// The challenge asked more than `tools/list` advertised for the tool (or another unit): the
        /// remote lies, nothing was paid.
        public static let priceAboveAdvertised = Code(rawValue: "priceAboveAdvertised")
        /// The paying client failed; `payment` says how (policy, budget, approval, delivery).
        public static let payment = Code(rawValue: "payment")
        /// The answer was not an MCP outcome.
        public static let malformedAnswer = Code(rawValue: "malformedAnswer")
        /// The identifier.
        public var description: String { rawValue }
    }

    /// What kind of failure.
    public let code: Code
    /// One line a person understands, with what to do next.
    public let reason: String
    /// The paying client's error, when it failed (its `code` tells budget, policy and approval apart).
    public let payment: PayingClientError?
    /// The lie, for `.priceAboveAdvertised`.
    public let lie: MCPPriceLie?

    /// Creates an error.
    public init(_ code: Code, _ reason: String, payment: PayingClientError?, lie: MCPPriceLie? = nil) {
        self.code = code
        self.reason = reason
        self.payment = payment
        self.lie = lie
    }

    /// Whether the same call (same payment id) may be made again without paying twice.
    public var isRetrySafe: Bool { payment?.isRetrySafe ?? false }

    /// The code and reason.
    public var description: String { "paying MCP client: \(code): \(reason)" }
}

/// An `Approver` that asks `approve(price, tool)` about a tool call above the policy's approval
/// threshold (`Policy.approvalThreshold`): the bridge asks a person through MCP elicitation. Put it
/// in the `Negotiator`; a call it declines pays nothing.
///
/// One call's offer often comes in two dialects (Payment and x402); the negotiator moves to the next
/// candidate after a "no", so a "no" is remembered for the same call (same URL, same moment, same
/// cost) and the person is asked once.
public final class MCPToolApprover: Approver, @unchecked Sendable {
    // @unchecked: `declined` is touched under `lock` only.
    /// Decides one payment: its cost in the owner's unit and the tool's name.
    public let approve: @Sendable (Money, String) async -> Bool
    private let lock = NSLock()
    private var declined: [String] = []

    /// Creates an approver.
    public init(_ approve: @escaping @Sendable (Money, String) async -> Bool) {
        self.approve = approve
    }

    /// Asks `approve` with the cost and the tool the request's URL names (`false` when it names none).
    public func approve(_ request: ApprovalRequest) async -> Bool {
        let url = request.request.url
        let path = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? url.path
        guard let tool = MCPToolRoute.tool(inPath: path) else { return false }
        let key = "\(url.absoluteString) \(request.request.now.timeIntervalSince1970) \(request.cost)"
        if lock.withLock({ declined.contains(key) }) { return false }
        let answer = await approve(request.cost, tool)
        if !answer { lock.withLock { declined = Array((declined + [key]).suffix(64)) } }
        return answer
    }
}
