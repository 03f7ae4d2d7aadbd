import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// Issue #16 point 7, end to end: a gate's x402 grant answers with `PAYMENT-RESPONSE` carrying the
/// settled `amount` and the gate's signed receipt in the `offer-receipt` extension (format jws).
@Suite("x402 grant: settlement amount and the receipt in offer-receipt")
struct X402GrantReceiptTests {
    @Test("the PAYMENT-RESPONSE of a paid x402 request carries amount and the receipt token, which verifies")
    func grantCarriesAmountAndReceipt() async throws {
        let clock = ManualClock()
        let key = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: key, clock: clock)
        let merchant = try await processor.openAccount("merchant")
        let agent = try await processor.openAccount("agent")
        try await processor.deposit(Money(amount: 1_000, unit: .sat), into: "agent")
        let payee = FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant, clock: clock)
        let payer = FakePayerRail(processor: processor, processorKey: key.publicKey, account: agent, clock: clock)
        let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "gate-1")
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock)
        let gate = Gate(configuration: GateConfiguration(
            realm: "api.example.com", rails: [payee], pricing: try PricingTable(parsing: ["GET /premium=100sat"], rails: [.fake]),
            store: MemoryGateStore(clock: clock), keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)),
            signer: signer, verifier: verifier, clock: clock, log: { _ in }))

        guard case .respond(let challenge) = await gate.handle(GateRequest(method: "GET", path: "/premium", headers: HTTPFields(), clientAddress: "10.0.0.1")) else {
            Issue.record("expected a 402"); return
        }
        let reading = PaymentResponseReader.read(status: challenge.status, headers: challenge.headers, body: challenge.body, receivedAt: clock.now())
        let read = try #require(reading.offers.first { $0.dialect == .x402 })
        let fields = try read.credentialFields(for: try await payer.pay(read.offer))
        guard case .pass(let pass) = await gate.handle(GateRequest(method: "GET", path: "/premium", headers: fields, clientAddress: "10.0.0.1")),
              let grant = pass.grant else {
            Issue.record("expected a grant"); return
        }
        let settlement = try X402Codec.decodePaymentResponse(try #require(pass.responseHeaders[X402HeaderName.paymentResponse]))
        #expect(settlement.success && settlement.amount == "100")
        #expect(settlement.offerReceiptJWS == grant.receiptToken)
        let claims = try verifier.verify(try #require(settlement.offerReceiptJWS), resource: "GET /premium")
        #expect(claims.jti == grant.challengeID)
    }
}
