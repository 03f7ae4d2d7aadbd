import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailPostgres
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// Two gates behind a load balancer, each with its own `PostgresGateStore` on one database and the
/// same keys: a client may get its 402 from one and pay at the other, and a payment is granted once.
@Suite("Two gates on one PostgreSQL database")
struct PostgresTwoGatesTests {
    struct Gates {
        let a: Gate
        let b: Gate
        let payer: FakePayerRail
        let processor: FakeProcessor
        let clock: ManualClock
    }

    static let body = GateResponse(status: 200, headers: HTTPFields([("Content-Type", "text/plain")]), body: Array("premium".utf8))

    static func gates(_ prefix: String) async throws -> Gates {
        let url = try await PostgresFixture(prefix).url
        let clock = ManualClock()
        let key = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: key, clock: clock)
        let merchant = try await processor.openAccount("merchant")
        let agent = try await processor.openAccount("agent")
        try await processor.deposit(Money(amount: 100_000, unit: .sat), into: "agent")
        let payer = FakePayerRail(processor: processor, processorKey: key.publicKey, account: agent, clock: clock)
        // What every gate of a deployment shares besides the database: the receipt key and the challenge secret.
        let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "gate")
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock)
        let secret = try SecureRandom.bytes(count: 32)
        var gates: [Gate] = []
        for _ in 0..<2 {
            let payee = FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant, clock: clock)
            let store = try await PostgresGateStore.open(url: url, options: PostgresFixture.options, clock: clock)
            gates.append(Gate(configuration: GateConfiguration(
                realm: "api.example.com", rails: [payee], pricing: try PricingTable(parsing: ["GET /premium=100sat"], rails: [.fake]),
                store: store, keyring: try ChallengeIDKeyring(currentSecret: secret), signer: signer, verifier: verifier, clock: clock)))
        }
        return Gates(a: gates[0], b: gates[1], payer: payer, processor: processor, clock: clock)
    }

    static func request(_ headers: HTTPFields = HTTPFields()) -> GateRequest {
        GateRequest(method: "GET", path: "/premium", headers: headers, clientAddress: "10.0.0.1")
    }

    /// A 402 from `gate`, paid in the plain dialect: the credential fields to present.
    static func paidCredential(_ gates: Gates, from gate: Gate) async throws -> HTTPFields {
        guard case .respond(let response) = await gate.handle(request()) else {
            Issue.record("expected a 402")
            return HTTPFields()
        }
        let reading = PaymentResponseReader.read(status: response.status, headers: response.headers, body: response.body,
                                                 receivedAt: gates.clock.now())
        let read = try #require(reading.offers.first { $0.dialect == .plain })
        return try read.credentialFields(for: try await gates.payer.pay(read.offer))
    }

    @Test("a 402 from gate A paid at gate B is granted; the credential and the receipt replay at gate A")
    func payAtTheOtherGate() async throws {
        let gates = try await Self.gates("two_gates")
        let fields = try await Self.paidCredential(gates, from: gates.a)
        guard case .pass(let pass) = await gates.b.handle(Self.request(fields)) else {
            Issue.record("gate B must grant a payment for gate A's challenge")
            return
        }
        try await gates.b.complete(pass, response: Self.body)
        let token = try #require(pass.grant?.receiptToken)
        guard case .replay(let again) = await gates.a.handle(Self.request(fields)) else {
            Issue.record("gate A must replay the grant gate B made")
            return
        }
        #expect(again.body == Self.body.body)
        guard case .replay(let byReceipt) = await gates.a.handle(Self.request(HTTPFields([("X-Receipt", token)]))) else {
            Issue.record("gate B's receipt must replay at gate A")
            return
        }
        #expect(byReceipt.body == Self.body.body)
        #expect(await gates.processor.balance(ofAccount: "merchant", unit: .sat).amount == 100)
    }

    @Test("one credential presented 20 times at once across both gates is granted exactly once")
    func racedAcrossGates() async throws {
        let gates = try await Self.gates("two_gates_race")
        let fields = try await Self.paidCredential(gates, from: gates.b)
        let decisions = await withTaskGroup(of: GateDecision.self) { group in
            for index in 0..<20 {
                let gate = index.isMultiple(of: 2) ? gates.a : gates.b
                group.addTask { await gate.handle(Self.request(fields)) }
            }
            return await group.reduce(into: [GateDecision]()) { $0.append($1) }
        }
        let passes = decisions.filter { if case .pass = $0 { true } else { false } }
        #expect(passes.count == 1, "\(decisions)")
        #expect(await gates.processor.balance(ofAccount: "merchant", unit: .sat).amount == 100)
        #expect(await gates.processor.balance(ofAccount: "agent", unit: .sat).amount == 99_900)
    }
}
