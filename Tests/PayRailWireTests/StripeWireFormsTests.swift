import Foundation
import PayRail
import PayRailWire
import Testing

/// Which dialect carries which Stripe form (issue #17): the plain `X-Receipt` carries a PaymentIntent
/// id or a Shared Payment Token, told apart by the proof; x402's auth-capture card entry is written
/// only for an offer that can be settled with `{token, paymentId}`.
@Suite("Stripe forms on the wire: pi_ and spt_ in X-Receipt, card entries only for auth-capture offers")
struct StripeWireFormsTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func offer(form: String?, id: String = "pi_3Abc") throws -> Offer {
        var details = ["amount": "50", "currency": "usd", "challenge": "ch_1"]
        if let form { details["form"] = form }
        if form == "intent" { details["paymentIntent"] = id }
        return Offer(rail: .stripe, amount: try Money(amount: 50, unit: .usd), payee: "stripe", expiresAt: now.addingTimeInterval(300),
                     id: id, details: details)
    }

    @Test("an agent answers a PaymentIntent offer with X-Receipt: pi_…, and the server reads it back as paymentIntent")
    func paymentIntentRoundTrip() throws {
        let offer = try Self.offer(form: "intent")
        let receipt = try PlainReceipt.answering(offer, with: Credential(rail: .stripe, offerID: offer.id, payload: ["paymentIntent": offer.id]))
        #expect(try receipt.headerValue() == "pi_3Abc")
        let parsed = try PlainReceipt.parse(try receipt.headerValue())
        #expect(parsed == .railProof("pi_3Abc"))
        let credential = try parsed.credential(for: offer)
        #expect(credential.payload == ["paymentIntent": "pi_3Abc"] && credential.offerID == offer.id)
        // A token still reads as `spt`.
        let token = try PlainReceipt.parse("spt_1N4Z").credential(for: try Self.offer(form: "spt", id: "payrail_1"))
        #expect(token.payload == ["spt": "spt_1N4Z"])
        // Another rail's proof starting with pi_ is not a PaymentIntent.
        let fake = Offer(rail: .fake, amount: offer.amount, payee: "p", expiresAt: offer.expiresAt, id: "r")
        #expect(try PlainReceipt.parse("pi_x").credential(for: fake).payload == ["voucher": "pi_x"])
    }

    @Test("a Stripe proof in the wrong member, or none, is refused before anything is sent")
    func wrongMemberRefused() throws {
        let offer = try Self.offer(form: "intent")
        #expect((#expect(throws: WireError.self) {
            try PlainReceipt.answering(offer, with: Credential(rail: .stripe, offerID: offer.id, payload: ["paymentIntent": "spt_1"]))
        })?.code == .malformed)
        #expect((#expect(throws: WireError.self) {
            try PlainReceipt.answering(offer, with: Credential(rail: .stripe, offerID: offer.id, payload: ["spt": "pi_3Abc"]))
        })?.code == .malformed)
        #expect((#expect(throws: WireError.self) {
            try PlainReceipt.answering(offer, with: Credential(rail: .stripe, offerID: offer.id, payload: [:]))
        })?.code == .missingField)
    }

    @Test("the plain reader skips PayRail's token-form Stripe offer (an spt_ in X-Receipt names no offer) and reads the PaymentIntent one")
    func plainReaderSkipsTokenOffers() throws {
        let token = try PlainChallenge.offerObject(try Self.offer(form: "spt", id: "payrail_1"), now: Self.now)
        #expect((#expect(throws: WireError.self) { try PlainChallenge.offer(from: token, receivedAt: Self.now) })?.code == .unsupported)
        let intent = try PlainChallenge.offerObject(try Self.offer(form: "intent"), now: Self.now)
        #expect(try PlainChallenge.offer(from: intent, receivedAt: Self.now).id == "pi_3Abc")
    }

    @Test("x402 writes card entries for an auth-capture (or form-less) Stripe offer, none for the PaymentIntent or token forms")
    func cardEntriesOnlyForAuthCapture() throws {
        let context = X402OfferContext(now: Self.now)
        for form in ["intent", "spt"] {
            #expect((#expect(throws: WireError.self) {
                try X402PaymentRequirements.requirements(for: try Self.offer(form: form), context: context)
            })?.code == .unsupported, "\(form)")
        }
        for form in ["auth-capture", nil] {
            let written = try X402PaymentRequirements.requirements(for: try Self.offer(form: form, id: "offer_1"), context: context)
            #expect(written.map(\.network) == ["card:visa"] && written.first?.scheme == "auth-capture")
        }
    }
}
