import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing
@testable import PayRailAgent

/// A transport that hands requests straight to a `Gate` in this process and serves its passes, and
/// loses the answer of the first paid pass (the gate abandons it: nothing stored), as a crash or a
/// reset between grant and answer would. Answers are classified as the HTTP transport does.
final class LosingGateTransport: PaymentTransport, @unchecked Sendable {
    private let gate: Gate
    private let lock = NSLock()
    private var lose = true
    private var sent: [HTTPFields] = []

    init(gate: Gate) { self.gate = gate }

    var presentations: [HTTPFields] { lock.withLock { sent } }

    func validate(_ request: PaidRequest) throws(PaymentTransportError) {}

    func send(_ request: PaidRequest, presenting presentation: PaymentPresentation?) async throws(PaymentTransportError) -> PaymentAnswer {
        var headers = request.headers
        if let presentation {
            for field in presentation.fields { headers.set(field.name, field.value) }
            lock.withLock { sent.append(presentation.fields) }
        }
        let decision = await gate.handle(GateRequest(method: request.method, path: request.url.path, headers: headers, clientAddress: "10.0.0.9"))
        switch decision {
        case .respond(let response), .replay(let response):
            return PaymentAnswer(status: response.status, headers: response.headers, body: response.body)
        case .pass(let pass):
            if lock.withLock({ () -> Bool in defer { lose = false }; return lose && !pass.isFree }) {
                await gate.abandon(pass)
                throw PaymentTransportError("the connection was reset before the answer arrived")
            }
            var fields = HTTPFields([("Content-Type", "text/plain")])
            for field in pass.responseHeaders { fields.set(field.name, field.value) }
            let response = GateResponse(status: 200, headers: fields, body: Array("premium content".utf8))
            try? await gate.complete(pass, response: response)
            return PaymentAnswer(status: 200, headers: fields, body: response.body)
        }
    }

    func challenges(in answer: PaymentAnswer, for request: PaidRequest, receivedAt: Date) -> PaymentResponseReading {
        PaymentResponseReader.read(status: answer.status, headers: answer.headers, body: answer.body, receivedAt: receivedAt)
    }

    func classify(_ answer: PaymentAnswer, presented: Bool) -> PaymentAnswerKind {
        HTTPPaymentTransport.classify(answer, presented: presented)
    }
}

/// Issue #16, point 4, from the agent's side: the lost-answer recovery keeps working through single
/// use. The same proof presented again after a grant that stored nothing is not served again; the
/// gate hands back the grant's receipt (409 `grant-not-stored`), the agent presents that, and gets
/// the resource once, paying once.
@Suite("PayingClient: a lost answer is recovered through the handed-back receipt (issue 16)", .serialized)
struct LostAnswerThroughGateTests {
    @Test("paid, answer lost, same proof again -> 409 with the receipt -> the receipt serves it; one payment, committed with its receipt")
    func lostAnswerIsRecoveredOnce() async throws {
        let key = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: key)
        let merchant = try await processor.openAccount("merchant")
        let agent = try await processor.openAccount("agent")
        try await processor.deposit(Money(amount: 1_000, unit: .sat), into: "agent")
        let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "lost-1")
        let gate = Gate(configuration: GateConfiguration(
            realm: "seller.test", rails: [FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant)],
            pricing: try PricingTable(parsing: ["GET /premium=100sat"], rails: [.fake]), store: MemoryGateStore(),
            keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)), signer: signer,
            verifier: ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])))))
        let transport = LosingGateTransport(gate: gate)
        let limits = SpendLimits([.sat: .init(perRequest: try Money(parsing: "500sat"), perHour: try Money(parsing: "1000sat"),
                                              perDay: try Money(parsing: "10000sat"))])
        let governor = SpendGovernor(store: MemorySpendStore(), limits: limits)
        let payer = FakePayerRail(processor: processor, processorKey: key.publicKey, account: agent)
        let negotiator = Negotiator(policy: Policy(unit: .sat, rules: [MaximumPerRequest([try Money(parsing: "500sat")])]),
                                    wallets: WalletRegistry([payer]))
        let client = PayingClient(configuration: PayingClientConfiguration(negotiator: negotiator, governor: governor, deliveryAttempts: 4),
                                  transport: transport)

        let response = try await client.send(PaidRequest(url: try #require(URL(string: "https://seller.test/premium")),
                                                         paymentID: "lost-answer-00001"))
        #expect(response.status == 200 && String(decoding: response.body, as: UTF8.self) == "premium content")
        // Proof, the same proof (answered 409 with the receipt), then the receipt.
        let sent = transport.presentations
        #expect(sent.count == 3)
        #expect(sent.count == 3 && sent[0] == sent[1])
        #expect(sent.last?[PlainReceipt.fieldName]?.split(separator: ".").count == 3)
        #expect(await processor.balance(ofAccount: "agent", unit: .sat).amount == 900)
        #expect(await processor.balance(ofAccount: "merchant", unit: .sat).amount == 100)
        let record = try #require(try await governor.ledger().first)
        #expect(record.state == .committed && record.receipt != nil)
    }
}
