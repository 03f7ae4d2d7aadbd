import Foundation
import PayRail
import PayRailTesting
import PayRailTestPeers
import Testing
@testable import StripeRail

/// The Stripe payee rail as it will be once it declares `refundable` (a one-line change in
/// StripePayeeRail.capabilities, left to its owner): everything forwarded, refunds included.
private struct DeclaredRefundable: PayeeRail {
    let rail: StripePayeeRail
    var id: RailID { rail.id }
    var capabilities: RailCapabilities {
        let declared = rail.capabilities
        return RailCapabilities(limits: declared.limits, settlementTime: declared.settlementTime, refundable: true, feeModel: declared.feeModel)
    }
    func prepare(_ charge: Charge) async throws(RailError) -> Offer { try await rail.prepare(charge) }
    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement { try await rail.settle(credential, for: offer) }
    func settlement(of offer: Offer) async throws(RailError) -> Settlement? { try await rail.settlement(of: offer) }
    func finish(_ settlement: Settlement, served: Bool) async throws(RailError) { try await rail.finish(settlement, served: served) }
    func discard(_ offer: Offer) async throws(RailError) { try await rail.discard(offer) }
    func refund(_ settlement: Settlement, amount: Money?, reason: String?, idempotencyKey: String) async throws(RailError) -> Refund {
        try await rail.refund(settlement, amount: amount, reason: reason, idempotencyKey: idempotencyKey)
    }
}

@Suite("Stripe refunds through the Rail contract")
struct StripeRefundContractTests {
    @Test("against localstripe: refunded once per key, never more than captured, the money is back in localstripe")
    func contractAgainstLocalstripe() async throws {
        let peer = try await LocalStripePeer.shared()
        let (payee, payer) = try StripeLocalstripeTests.rails(peer)
        let suite = RailContractSuite(payee: DeclaredRefundable(rail: payee), payer: payer,
                                      makeCharge: { StripeLocalstripeTests.charge(lifetime: 300) }, clock: SystemClock(),
                                      expiry: .advance(ManualClock()))
        try await suite.run(.refundsOnceNeverMoreThanPaid)
    }

    @Test("the contract's refund sends one POST /v1/refunds whose Idempotency-Key depends on the caller's key, not the amount")
    func idempotencyKey() async throws {
        let canned = CannedStripe([
            Fixture.answer("GET", "/v1/refunds?payment_intent=\(TestKeys.intent)&limit=100", 200, "refund_list_empty.json"),
            Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 200, "pi_succeeded.json"),
            Fixture.answer("GET", "/v1/charges/ch_3QfixtureCharge01", 200, "charge_succeeded.json"),
            Fixture.answer("POST", "/v1/refunds", 200, "refund_succeeded.json"),
        ])
        let rail = StripePayeeRail(client: try TestKeys.client(canned), payee: "acct_fixture")
        let settlement = Settlement(rail: .stripe, offerID: TestKeys.intent, reference: "ch_3QfixtureCharge01",
                                    amount: try Money(amount: 50, unit: .usd), settledAt: Date())
        let refund = try await rail.refund(settlement, amount: nil, reason: "late", idempotencyKey: "refund-key-1")
        #expect(refund.rail == .stripe && refund.id.hasPrefix("re_") && refund.status == .succeeded)
        let post = try #require(canned.requests.last)
        let key = post.headers.first { $0.name == "Idempotency-Key" }?.value
        #expect(key == StripeIdempotency.key("refund", [TestKeys.intent, "contract", "refund-key-1"]))
        let body = String(decoding: post.body, as: UTF8.self)
        #expect(!body.contains("reason"), "localstripe refuses refund reason; it stays in the gate's record")
        #expect(body.contains("metadata%5Bpayrail_refund_key%5D=refund-key-1") || body.contains("metadata[payrail_refund_key]=refund-key-1"), "\(body)")
        #expect(canned.unused == 0)
    }

    @Test("a refund Stripe gave up on under the same key is tried again under a new Idempotency-Key (the old one would replay the failure)")
    func failedAttemptGetsANewKey() async throws {
        let canned = CannedStripe([
            Fixture.answer("GET", "/v1/refunds?payment_intent=\(TestKeys.intent)&limit=100", 200, "refund_list_one_failed.json"),
            Fixture.answer("GET", "/v1/payment_intents/\(TestKeys.intent)", 200, "pi_succeeded.json"),
            Fixture.answer("GET", "/v1/charges/ch_3QfixtureCharge01", 200, "charge_succeeded.json"),
            Fixture.answer("POST", "/v1/refunds", 200, "refund_succeeded.json"),
        ])
        let rail = StripePayeeRail(client: try TestKeys.client(canned), payee: "acct_fixture")
        let settlement = Settlement(rail: .stripe, offerID: TestKeys.intent, reference: "ch_3QfixtureCharge01",
                                    amount: try Money(amount: 50, unit: .usd), settledAt: Date())
        let refund = try await rail.refund(settlement, amount: nil, reason: nil, idempotencyKey: "refund-key-1")
        #expect(refund.status == .succeeded && refund.id == "re_3QfixtureRefund01", "the failed refund was returned again")
        let post = try #require(canned.requests.last)
        let key = post.headers.first { $0.name == "Idempotency-Key" }?.value
        #expect(key != StripeIdempotency.key("refund", [TestKeys.intent, "contract", "refund-key-1"]), "the failed attempt's key was reused")
        #expect(canned.unused == 0)
    }

    @Test("Lightning and rails without refunds refuse with .unsupported and say what to do")
    func defaultRefusal() async throws {
        struct NoRefunds: PayeeRail {
            let id: RailID = .fake
            let capabilities = RailCapabilities(limits: [], settlementTime: .zero, refundable: false, feeModel: .free)
            func prepare(_ charge: Charge) async throws(RailError) -> Offer { throw RailError(.unsupported, "no", rail: id) }
            func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement { throw RailError(.unsupported, "no", rail: id) }
        }
        let settlement = Settlement(rail: .fake, offerID: "o", reference: "r", amount: try Money(amount: 1, unit: .sat), settledAt: Date())
        await #expect { _ = try await NoRefunds().refund(settlement, amount: nil, reason: nil, idempotencyKey: "k") } throws: { error in
            guard let error = error as? RailError else { return false }
            return error.code == .unsupported && error.reason.contains("cannot refund") && error.reason.contains("settlement reference is r")
        }
    }
}
