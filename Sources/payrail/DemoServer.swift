import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailPaywall
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire

// The seller half of `payrail demo`: the same pieces `payrail serve` uses (gate, SQLite store, paywall
// middleware, libmicrohttpd), wired in process so the demo needs no second terminal and no setup.

/// A gated server on loopback selling `GET /premium`, with the fake processor both sides pay through.
final class DemoServer: Sendable {
    static let resourcePath = "/premium"
    static let resourceBody = "premium content: paid for over HTTP 402\n"
    static let price: Int64 = 100
    static let agentFunds: Int64 = 1_000
    static let merchantAccount = "merchant"
    static let agentAccount = "agent"

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
    /// What reached the server: proof header values (for the secret check) and resource calls.
    let witness: DemoWitness

    private let server: HTTPServer
    private let store: SQLiteGateStore

    /// Starts the server in `directory` (created by the caller, mode 0700).
    init(directory: URL) async throws {
        let base = try await DemoFoundation(directory: directory, agentFunds: Self.agentFunds)
        (challengeSecret, receiptKeyID, receiptAlgorithm) = (base.challengeSecret, base.keys.signer.keyID, base.keys.signer.algorithm.rawValue)
        (signingKeyPath, databasePath, store) = (base.signingKeyPath, base.databasePath, base.store)
        (processor, processorKey) = (base.processor, base.processorKey)
        (merchantCredentials, agentCredentials) = (base.merchantCredentials, base.agentCredentials)
        let pricing = try PricingTable(parsing: ["GET \(Self.resourcePath)=\(Self.price)sat"], rails: [.fake])
        let jwks = base.jwks
        let witness = DemoWitness()
        self.witness = witness
        var router = Router()
        router.get(Self.resourcePath) { _ in
            witness.countResourceCall()
            return HTTPResponse(headers: ["Content-Type": "text/plain; charset=utf-8"], text: Self.resourceBody)
        }
        router.get(DemoServer.jwksPath) { _ in
            HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "max-age=300"], body: jwks)
        }
        // The gate needs the public origin (x402 names the resource URL), known only once the port is bound.
        let gates = GateBox()
        let watch: HTTPMiddleware = { request, next in
            witness.sawRequest(request)
            return await next(request)
        }
        server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, threadCount: 2, diagnostics: { _ in }),
            handler: chain([watch, Paywall.middleware(resolving: { gates.current })], handler: router.handler))
        let port = try server.start()
        origin = "http://127.0.0.1:\(port)"
        gates.set(try base.gate(realm: "payrail-demo", pricing: pricing, origin: origin))
    }

    static let jwksPath = "/.well-known/payrail/jwks.json"

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

/// What the server saw, kept in memory for the demo's own checks; never printed.
final class DemoWitness: @unchecked Sendable {
    /// Headers that carry a payment proof or a receipt: their values must never reach the output.
    static let proofHeaders = ["Authorization", "Payment-Authorization", "PAYMENT-SIGNATURE", "X-PAYMENT", "X-Receipt"]

    private let lock = NSLock()
    private var proofs: [String] = []
    private var resourceCalls = 0

    func sawRequest(_ request: HTTPRequest) {
        let values = Self.proofHeaders.flatMap { request.headers.values(for: $0) }
        guard !values.isEmpty else { return }
        lock.withLock { proofs += values }
    }

    func countResourceCall() { lock.withLock { resourceCalls += 1 } }

    var proofValues: [String] { lock.withLock { proofs } }
    var handlerCalls: Int { lock.withLock { resourceCalls } }
}

/// The agent's fake wallet, remembering each credential it made so the demo can prove none is printed.
struct DemoWallet: PayerRail {
    let wallet: FakePayerRail
    let issued: DemoSecrets

    var id: RailID { wallet.id }

    func quote(_ offer: Offer) async -> QuoteDecision { await wallet.quote(offer) }

    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        let credential = try await wallet.pay(offer)
        issued.add(Array(credential.payload.values))
        return credential
    }
}

/// Secret values the demo knows of (account secrets, vouchers, proofs, keys), checked against its output.
final class DemoSecrets: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []

    func add(_ more: [String]) { lock.withLock { values += more.filter { $0.count >= 8 } } }
    var all: [String] { lock.withLock { values } }
}
