import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailMCP
import PayRailMCPPayments
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire

// The seller half of `payrail demo --mcp`: the pieces `payrail mcp proxy --listen http://…` uses (gate,
// SQLite store, MCPPaywall, Streamable HTTP on libmicrohttpd), with tools written in process instead
// of an upstream, so the demo needs no second program and no setup.

/// An MCP server on loopback (Streamable HTTP at `/mcp`) with a free `echo` tool and a `search` tool
/// priced at 10 sat behind `MCPPaywall`, and the fake processor both sides pay through.
final class MCPDemoServer: Sendable {
    static let mcpPath = "/mcp"
    static let freeTool = "echo"
    static let pricedTool = "search"
    static let price: Int64 = 10
    static let agentFunds: Int64 = 1_000
    static let merchantAccount = DemoServer.merchantAccount
    static let agentAccount = DemoServer.agentAccount
    static let realm = "payrail-demo"

    /// What `search` answers for `query`: fixed text, so the demo and its tests can check it.
    static func searchAnswer(_ query: String) -> String {
        "3 results for \"\(query)\": RFC 9110 section 15.5.3 (402 Payment Required); draft-payment-transport-mcp; x402 MCP transport"
    }

    /// What `echo` answers for `text`.
    static func echoAnswer(_ text: String) -> String { "echo: \(text)" }

    let processor: FakeProcessor
    /// The agent's account at the processor; its secret is only handed to the agent's wallet.
    let agentCredentials: FakeAccountCredentials
    let merchantCredentials: FakeAccountCredentials
    let processorKey: Ed25519.PublicKey
    let origin: String
    let receiptKeyID: String
    let receiptAlgorithm: String
    let databasePath: String
    /// The receipt signing key file, read back only to prove the demo never prints it.
    let signingKeyPath: String
    let challengeSecret: [UInt8]
    /// What reached the tools and the paywall: credentials and receipts (for the secret check), tool runs.
    let witness: MCPDemoWitness

    private let server: HTTPServer
    private let store: SQLiteGateStore

    /// Starts the server in `directory` (created by the caller, mode 0700).
    init(directory: URL) async throws {
        let base = try await DemoFoundation(directory: directory, agentFunds: Self.agentFunds)
        (challengeSecret, receiptKeyID, receiptAlgorithm) = (base.challengeSecret, base.keys.signer.keyID, base.keys.signer.algorithm.rawValue)
        (signingKeyPath, databasePath, store) = (base.signingKeyPath, base.databasePath, base.store)
        (processor, processorKey) = (base.processor, base.processorKey)
        (merchantCredentials, agentCredentials) = (base.merchantCredentials, base.agentCredentials)
        let pricing = try MCPToolPrice.pricingTable([MCPToolPrice(tool: Self.pricedTool, amount: Money(amount: Self.price, unit: .sat),
                                                                  rails: [.fake])])
        let jwks = base.jwks
        let witness = MCPDemoWitness()
        self.witness = witness
        // The MCP endpoint needs the gate, and the gate the public origin (x402 names the resource),
        // known only once the port is bound: the handler is set right after.
        let mcp = MCPHandlerBox()
        var router = Router()
        for method in ["POST", "GET", "DELETE"] { router.add(method, Self.mcpPath) { await mcp.handle($0) } }
        router.get(DemoServer.jwksPath) { _ in
            HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "max-age=300"], body: jwks)
        }
        server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, threadCount: 2, diagnostics: { _ in }),
                            handler: router.handler)
        let port = try server.start()
        origin = "http://127.0.0.1:\(port)"
        let gate = try base.gate(realm: Self.realm, pricing: pricing, origin: origin)
        let mcpServer = MCPServer(info: MCPImplementation(name: "payrail-demo", version: PayRailVersion.current),
                                  provider: Self.tools(witness), middleware: [MCPDemoWatch(witness: witness), MCPPaywall(gate: gate)],
                                  diagnostics: { line in witness.diagnose(line) })
        mcp.set(MCPStreamableHTTPServer(server: mcpServer, options: .init(path: Self.mcpPath)).handler)
    }

    /// The in-process tools: `echo` (free) and `search` (priced by the gate, not here: the tools do
    /// not know they are sold).
    private static func tools(_ witness: MCPDemoWitness) -> MCPToolRegistry {
        let registry = MCPToolRegistry()
        let textSchema: JSONValue = .object([
            "type": .string("object"),
            "properties": .object(["text": .object(["type": .string("string")])]),
            "required": .array([.string("text")]),
        ])
        registry.register(MCPTool(name: freeTool, description: "Repeats the text it is given.", inputSchema: textSchema)) { call, _ in
            witness.countRun(freeTool)
            return .text(echoAnswer(call.arguments["text"]?.stringValue ?? ""))
        }
        let querySchema: JSONValue = .object([
            "type": .string("object"),
            "properties": .object(["query": .object(["type": .string("string")])]),
            "required": .array([.string("query")]),
        ])
        registry.register(MCPTool(name: pricedTool, description: "Searches the payment specifications.", inputSchema: querySchema)) { call, _ in
            witness.countRun(pricedTool)
            return .text(searchAnswer(call.arguments["query"]?.stringValue ?? ""))
        }
        return registry
    }

    var mcpURL: URL {
        get throws(CommandFailure) { try url(Self.mcpPath) }
    }

    func url(_ path: String) throws(CommandFailure) -> URL {
        guard let url = URL(string: origin + path) else { throw .refused("cannot form a URL for \(path)") }
        return url
    }

    func balances() async -> (agent: Int64, merchant: Int64) {
        (await processor.balance(ofAccount: Self.agentAccount, unit: .sat).amount,
         await processor.balance(ofAccount: Self.merchantAccount, unit: .sat).amount)
    }

    func stop() async {
        await server.shutdown(grace: .seconds(2))
        await store.close()
    }
}

/// The outermost layer of the demo's MCP server: it only watches what reaches the paywall, so the
/// demo can check that no credential or receipt it saw was printed, and never changes a call.
struct MCPDemoWatch: MCPToolMiddleware {
    let witness: MCPDemoWitness

    func listTools(_ below: [MCPTool]) -> [MCPTool] { below }

    func callTool(_ call: MCPToolCall, next: @Sendable (MCPToolCall) async -> MCPToolOutcome) async -> MCPToolOutcome {
        witness.sawCall(call)
        return await next(call)
    }
}

/// What the MCP server saw, kept in memory for the demo's own checks; never printed.
final class MCPDemoWitness: @unchecked Sendable {
    /// `_meta` members that carry a payment proof or a receipt: their values must never reach the output.
    static let proofMembers = [MCPPaymentMeta.paymentCredential, MCPPaymentMeta.x402Payment, MCPPaymentMeta.payrailReceipt]

    private let lock = NSLock()
    private var proofs: [String] = []
    private var runs: [String: Int] = [:]
    private var diagnostics: [String] = []

    func sawCall(_ call: MCPToolCall) {
        let values = Self.proofMembers.compactMap { call.meta[$0] }.flatMap(Self.secrets)
        guard !values.isEmpty else { return }
        lock.withLock { proofs += values }
    }

    func countRun(_ tool: String) { lock.withLock { runs[tool, default: 0] += 1 } }

    func diagnose(_ line: String) { lock.withLock { diagnostics.append(line) } }

    /// The secret parts of one proof: a receipt token, or a credential's `payload` strings (the
    /// voucher; the echoed challenge beside it is public) and the whole credential as JSON.
    static func secrets(_ proof: JSONValue) -> [String] {
        switch proof {
        case .string(let token): return [token]
        case .object(let members):
            let whole = (try? CanonicalJSON.serialize(proof)).map { String(decoding: $0, as: UTF8.self) }
            return (members["payload"].map(strings) ?? []) + (whole.map { [$0] } ?? [])
        default: return []
        }
    }

    private static func strings(_ value: JSONValue) -> [String] {
        switch value {
        case .string(let text): return [text]
        case .array(let items): return items.flatMap(strings)
        case .object(let members): return members.values.flatMap(strings)
        default: return []
        }
    }

    var proofValues: [String] { lock.withLock { proofs } }
    func runCount(_ tool: String) -> Int { lock.withLock { runs[tool] ?? 0 } }
    /// What the MCP server reported (never a message body): shown only when a step fails.
    var diagnosticLines: [String] { lock.withLock { diagnostics } }
}
