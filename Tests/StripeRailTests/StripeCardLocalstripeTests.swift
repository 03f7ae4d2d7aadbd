import Foundation
import PayRail
import PayRailTestPeers
import Testing
@testable import StripeRail

/// x402 card `auth-capture` against a real local Stripe server (localstripe 1.15.10): the payee
/// authorizes the payer's `pm_…` with `capture_method=manual`, grants on `requires_capture`, then
/// captures or voids; 3-D Secure and a decline as localstripe produces them. localstripe ignores
/// `Idempotency-Key`, so only the in-process deduplication is exercised here (Stripe's own refusal is
/// in StripeCardCannedTests).
@Suite("Stripe rail, x402 card auth-capture, against localstripe", .serialized)
struct StripeCardLocalstripeTests {
    static func rails(_ peer: LocalStripePeer, paymentMethod: String = "pm_card_visa") throws -> (StripePayeeRail, StripePayerRail) {
        (StripePayeeRail(client: try StripeLocalstripeTests.client(peer), form: .x402Card, payee: "acct_localstripe"),
         try StripePayerRail(client: try StripeLocalstripeTests.client(peer), paymentMethod: paymentMethod))
    }

    /// The payee's offer as the agent reads it from the x402 card entry (PayRailWire's `X402Agent`).
    static func agentOffer(_ offer: Offer) -> Offer {
        Offer(rail: .stripe, amount: offer.amount, payee: offer.payee, expiresAt: offer.expiresAt, id: offer.id,
              details: ["cardNetwork": "visa", "psp": "stripe", "paymentFlow": "escrow"])
    }

    /// The intents localstripe holds for an offer (localstripe has no search endpoint: listed and filtered).
    static func intents(_ peer: LocalStripePeer, offer: Offer) async throws -> [[String: Any]] {
        let (_, body) = try await peer.raw("GET", "/v1/payment_intents?limit=100")
        let list = ((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["data"] as? [[String: Any]]) ?? []
        return list.filter { ($0["metadata"] as? [String: String])?["payrail_offer"] == offer.id }
    }

    static func intent(_ peer: LocalStripePeer, _ id: String) async throws -> [String: Any] {
        let (_, body) = try await peer.raw("GET", "/v1/payment_intents/\(id)")
        return (try JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
    }

    @Test("authorize pm_card_visa: requires_capture grants an authorization; finish captures it (served) or voids it (not served)")
    func authorizeThenCaptureOrVoid() async throws {
        let peer = try await LocalStripePeer.start()
        defer { peer.stop() }
        let (payee, payer) = try Self.rails(peer)
        for served in [true, false] {
            let offer = try await payee.prepare(StripeLocalstripeTests.charge(lifetime: 300))
            let credential = try await payer.pay(Self.agentOffer(offer))
            let settlement = try await payee.settle(credential, for: offer)
            guard case .authorization = settlement.kind else { Issue.record("not an authorization: \(settlement.kind)"); return }
            #expect(settlement.reference.hasPrefix("pi_"))
            var intent = try await Self.intent(peer, settlement.reference)
            #expect(intent["status"] as? String == "requires_capture" && intent["capture_method"] as? String == "manual", "\(intent)")
            let metadata = intent["metadata"] as? [String: String]
            #expect(metadata?["payrail_offer"] == offer.id && metadata?["payrail_payment_id"] == credential.payload["paymentId"], "\(intent)")
            try await payee.finish(settlement, served: served)
            intent = try await Self.intent(peer, settlement.reference)
            #expect(intent["status"] as? String == (served ? "succeeded" : "canceled"), "\(intent)")
            // Finishing again (a retried completion) is what was asked for, not an error.
            try await payee.finish(settlement, served: served)
            // The same payment presented again grants nothing more; another token under its paymentId is refused.
            await #expect { _ = try await payee.settle(credential, for: offer) } throws: { ($0 as? RailError)?.code == .alreadySettled }
            var other = credential.payload
            other["token"] = "pm_card_visa_chargeDeclined"
            await #expect { _ = try await payee.settle(Credential(rail: .stripe, offerID: offer.id, payload: other), for: offer) } throws: {
                ($0 as? RailError)?.code == StripeCardCodes.paymentIdReused
            }
        }
    }

    @Test("beforeGrant (payrail serve's timing): settle authorizes then captures, the settlement is final, finish does nothing, and a refund gives it back")
    func captureBeforeGrantThenRefund() async throws {
        let peer = try await LocalStripePeer.start()
        defer { peer.stop() }
        let payee = StripePayeeRail(client: try StripeLocalstripeTests.client(peer), form: .x402Card, payee: "acct_localstripe",
                                    cardCapture: .beforeGrant)
        let payer = try StripePayerRail(client: try StripeLocalstripeTests.client(peer), paymentMethod: "pm_card_visa")
        let offer = try await payee.prepare(StripeLocalstripeTests.charge(lifetime: 300))
        let credential = try await payer.pay(Self.agentOffer(offer))
        let settlement = try await payee.settle(credential, for: offer)
        #expect(settlement.kind == .final && settlement.reference.hasPrefix("pi_"))
        let intent = try await Self.intent(peer, settlement.reference)
        #expect(intent["status"] as? String == "succeeded" && intent["capture_method"] as? String == "manual", "\(intent)")
        #expect((intent["latest_charge"] as? [String: Any])?["captured"] as? Bool == true, "\(intent)")
        try await payee.finish(settlement, served: false)  // final: nothing to void
        #expect(try await Self.intent(peer, settlement.reference)["status"] as? String == "succeeded")
        let refund = try await payee.refund(settlement, amount: nil, reason: nil, idempotencyKey: "card-refund-1")
        #expect(refund.amount == offer.amount && refund.settlementReference == settlement.reference)
        // Presented again in this process: already settled, and Stripe holds one intent for the offer.
        await #expect { _ = try await payee.settle(credential, for: offer) } throws: { ($0 as? RailError)?.code == .alreadySettled }
        #expect(try await Self.intents(peer, offer: offer).count == 1)
    }

    @Test("a 3-D Secure card (4000002500003155): the intent is cancelled and the payment refused as authenticationRequired")
    func threeDSecure() async throws {
        let peer = try await LocalStripePeer.start()
        defer { peer.stop() }
        let method = try await StripeLocalstripeTests.paymentMethod(peer, card: "4000002500003155")
        let (payee, payer) = try Self.rails(peer, paymentMethod: method)
        let offer = try await payee.prepare(StripeLocalstripeTests.charge(lifetime: 300))
        let credential = try await payer.pay(Self.agentOffer(offer))
        await #expect { _ = try await payee.settle(credential, for: offer) } throws: {
            ($0 as? RailError)?.code == StripeCardCodes.cardAuthenticationRequired
        }
        let found = try await Self.intents(peer, offer: offer)
        #expect(found.count == 1 && found.first?["status"] as? String == "canceled", "\(found)")
    }

    @Test("a declined card (4000000000000341): refused as declined, naming card_declined; nothing held")
    func declined() async throws {
        let peer = try await LocalStripePeer.start()
        defer { peer.stop() }
        let method = try await StripeLocalstripeTests.paymentMethod(peer, card: "4000000000000341")
        let (payee, payer) = try Self.rails(peer, paymentMethod: method)
        let offer = try await payee.prepare(StripeLocalstripeTests.charge(lifetime: 300))
        let credential = try await payer.pay(Self.agentOffer(offer))
        await #expect { _ = try await payee.settle(credential, for: offer) } throws: { error in
            let rail = error as? RailError
            return rail?.code == StripeCardCodes.cardDeclined && rail?.reason.contains("card_declined") == true
        }
        let found = try await Self.intents(peer, offer: offer).map { $0["status"] as? String }
        #expect(!found.contains("requires_capture") && !found.contains("succeeded"), "\(found)")
    }
}
