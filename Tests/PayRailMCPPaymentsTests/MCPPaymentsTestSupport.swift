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
@testable import PayRailMCPPayments

/// Tools of the test's own: `search` (priced by the tests), `echo` (free), `flaky` (fails with a
/// JSON-RPC error until `flakyFailures` calls have failed), `broken` (always fails). Counts every run.
final class CountingTools: MCPToolProvider, @unchecked Sendable {
    // @unchecked: the counters are touched under `lock` only.
    private let lock = NSLock()
    private var runs: [String: Int] = [:]
    private let flakyFailures: Int

    init(flakyFailures: Int = 1) { self.flakyFailures = flakyFailures }

    func count(_ tool: String) -> Int { lock.withLock { runs[tool] ?? 0 } }

    func listTools() async throws(MCPError) -> [MCPTool] {
        ["search", "echo", "flaky", "broken"].map { MCPTool(name: $0, description: "the \($0) tool") }
    }

    func callTool(_ call: MCPToolCall) async -> MCPToolOutcome {
        let run = lock.withLock { () -> Int in
            runs[call.name, default: 0] += 1
            return runs[call.name] ?? 0
        }
        let query: String
        if case .string(let text)? = call.arguments["q"] { query = text } else { query = "" }
        switch call.name {
        case "flaky" where run <= flakyFailures, "broken":
            return .error(MCPError(code: MCPError.internalError, message: "the upstream failed"))
        case "search", "flaky":
            return .result(.text("results for \(query)"))
        case "echo":
            return .result(.text("echo \(query) meta=\(call.meta.keys.sorted().joined(separator: ","))"))
        default:
            return .error(MCPError(code: MCPError.invalidParams, message: "unknown tool \(call.name)"))
        }
    }
}

/// An in-process `MCPToolCaller`: each call goes through the paywall to the tools, as a server would
/// route it. Records the `_meta` of every call; `advertise` can replace what `tools/list` shows (a
/// lying remote).
final class InProcessCaller: MCPToolCaller, @unchecked Sendable {
    // @unchecked: the recorded calls are touched under `lock` only.
    let paywall: MCPPaywall
    let tools: CountingTools
    private let lock = NSLock()
    private var metas: [[String: JSONValue]] = []
    private var nextID: Int64 = 0
    private let advertise: (@Sendable ([MCPTool]) -> [MCPTool])?

    init(paywall: MCPPaywall, tools: CountingTools, advertise: (@Sendable ([MCPTool]) -> [MCPTool])? = nil) {
        self.paywall = paywall
        self.tools = tools
        self.advertise = advertise
    }

    var sentMetas: [[String: JSONValue]] { lock.withLock { metas } }

    func listTools() async throws(MCPError) -> [MCPTool] {
        let listed = paywall.listTools(try await tools.listTools())
        return advertise?(listed) ?? listed
    }

    func callTool(name: String, arguments: [String: JSONValue], meta: [String: JSONValue]) async throws(MCPTransportError) -> MCPToolOutcome {
        let id = lock.withLock { () -> Int64 in
            metas.append(meta)
            nextID += 1
            return nextID
        }
        let call = MCPToolCall(name: name, arguments: arguments, meta: meta, requestID: .number(id), clientAddress: "10.0.0.7")
        let tools = self.tools
        return await paywall.callTool(call) { await tools.callTool($0) }
    }
}

/// A merchant's gate on the fake rail, its tools, and an agent's wallet, in one process.
struct MCPWorld {
    let processor: FakeProcessor
    let processorKey: Ed25519.PrivateKey
    let agent: FakeAccountCredentials
    let merchant: FakeAccountCredentials
    let gate: Gate
    let paywall: MCPPaywall
    let tools: CountingTools
    let caller: InProcessCaller
    let signer: ReceiptSigner
    let clock: ManualClock

    static let searchPrice = "search=10sat"

    init(prices: [String] = [MCPWorld.searchPrice, "flaky=10sat", "broken=10sat"], rateLimit: TokenBucketPolicy? = nil,
         presentationGrace: TimeInterval = 86_400, unpaidAnswer: MCPPaywall.UnpaidAnswer = .paymentError,
         flakyFailures: Int = 1, advertise: (@Sendable ([MCPTool]) -> [MCPTool])? = nil) async throws {
        let clock = ManualClock(start: Date())
        let key = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: key, clock: clock)
        let merchant = try await processor.openAccount("merchant")
        let agent = try await processor.openAccount("agent")
        try await processor.deposit(Money(amount: 1_000, unit: .sat), into: "agent")
        let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "mcp-1")
        let pricing = try MCPToolPrice.pricingTable(try prices.map { (text) throws(PricingError) in try MCPToolPrice(parsing: text, rails: [.fake]) })
        var configuration = GateConfiguration(
            realm: "tools.test", rails: [FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant, clock: clock)],
            pricing: pricing, store: MemoryGateStore(clock: clock),
            keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)), signer: signer,
            verifier: ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock),
            rateLimit: rateLimit, clock: clock)
        configuration.presentationGrace = presentationGrace
        let gate = Gate(configuration: configuration)
        let tools = CountingTools(flakyFailures: flakyFailures)
        let paywall = MCPPaywall(gate: gate, unpaidAnswer: unpaidAnswer)
        self.processor = processor
        self.processorKey = key
        self.agent = agent
        self.merchant = merchant
        self.gate = gate
        self.paywall = paywall
        self.tools = tools
        self.caller = InProcessCaller(paywall: paywall, tools: tools, advertise: advertise)
        self.signer = signer
        self.clock = clock
    }

    func balance(_ account: String) async -> Int64 { await processor.balance(ofAccount: account, unit: .sat).amount }

    /// The agent's wallet on the fake rail.
    var payer: FakePayerRail { FakePayerRail(processor: processor, processorKey: processorKey.publicKey, account: agent, clock: clock) }

    /// A paying client over this world's caller.
    func payingClient(
        perRequest: String = "500sat", approvalThreshold: Money? = nil, approver: (any Approver)? = nil,
        dialects: [PaymentDialect] = Preferences.defaultDialects, deliveryAttempts: Int = 3, caller: (any MCPToolCaller)? = nil
    ) throws -> (PayingMCPClient, SpendGovernor) {
        let limits = SpendLimits([.sat: .init(perRequest: try Money(parsing: perRequest), perHour: try Money(parsing: "1000sat"),
                                              perDay: try Money(parsing: "10000sat"))])
        let governor = SpendGovernor(store: MemorySpendStore(), limits: limits, clock: clock)
        var policy = Policy(unit: .sat, rules: [])
        policy.approvalThreshold = approvalThreshold
        policy.preferences = Preferences(dialects: dialects)
        let negotiator = Negotiator(policy: policy, wallets: WalletRegistry([payer]), approver: approver)
        let keys = try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK]))
        let configuration = PayingClientConfiguration(negotiator: negotiator, governor: governor, receiptKeys: .pinned(keys),
                                                      deliveryAttempts: deliveryAttempts, clock: clock)
        return (PayingMCPClient(caller: caller ?? self.caller, configuration: configuration, server: "tools.test"), governor)
    }
}

extension JSONValue {
    /// The member `name` of an object.
    subscript(_ name: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[name]
    }

    /// The text of a string value.
    var text: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    /// The elements of an array value.
    var elements: [JSONValue]? {
        guard case .array(let elements) = self else { return nil }
        return elements
    }
}

extension MCPToolOutcome {
    var error: MCPError? {
        guard case .error(let error) = self else { return nil }
        return error
    }

    var result: MCPToolResult? {
        guard case .result(let result) = self else { return nil }
        return result
    }

    /// The text of the first content block of a result.
    var firstText: String? { result?.content.first?["text"]?.text }
}
