import Foundation
import PayRail
import PayRailWire
import Testing

/// PayRail's x402 card form (issue #17, "x402 card auth-capture"): the `card:*` entry written for a
/// Stripe offer of form `auth-capture`, the `{token, paymentId}` payload read back, and the offer id
/// the entry carries so the gate finds the challenge a payment answers
/// (x402-foundation/x402 specs/schemes/auth-capture/scheme_auth_capture_card.md, v0.2.0 DRAFT).
@Suite("x402 card auth-capture: PayRail's card entry and payload on the wire")
struct X402CardFormTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// An offer as `StripePayeeRail(form: .x402Card)` prepares it.
    static func offer(id: String = "payrail_0123456789abcdef0123456789abcdef", amount: Int64 = 50, form: String? = "auth-capture") throws -> Offer {
        var details = ["amount": String(amount), "currency": "usd", "challenge": "ch_1", "network": "stripe", "psp": "stripe", "paymentFlow": "escrow"]
        if let form { details["form"] = form }
        return Offer(rail: .stripe, amount: try Money(amount: amount, unit: .usd), payee: "acct_1Nxyz", expiresAt: now.addingTimeInterval(300),
                     id: id, details: details)
    }

    @Test("the entry: auth-capture on card:visa, USD, minor units, payTo, maxTimeoutSeconds, extra psp/paymentFlow and the offer id (§4.3)")
    func entry() throws {
        let written = try X402PaymentRequirements.requirements(for: try Self.offer(), context: X402OfferContext(now: Self.now))
        #expect(written.count == 1)
        let entry = try #require(written.first)
        #expect(entry.scheme == "auth-capture" && entry.network == "card:visa" && X402Network.isCAIP2(entry.network))
        #expect(entry.asset == "USD" && entry.amount == "50" && entry.payTo == "acct_1Nxyz" && entry.maxTimeoutSeconds == 300)
        #expect(entry.extra == ["psp": .string("stripe"), "paymentFlow": .string("escrow"),
                                X402PaymentRequirements.cardOfferIDKey: .string("payrail_0123456789abcdef0123456789abcdef")])
        // Through the header and back, as an x402 client reads it.
        let message = X402PaymentRequired(resource: X402ResourceInfo(url: "http://127.0.0.1/premium"), accepts: written)
        let decoded = try X402Codec.decodePaymentRequired(try X402Codec.encodePaymentRequired(message))
        #expect(decoded.accepts == written)
        // Two challenges at the same price make two entries that differ (the gate keys them apart).
        let other = try X402PaymentRequirements(offer: try Self.offer(id: "payrail_ffffffffffffffffffffffffffffffff"),
                                                context: X402OfferContext(now: Self.now))
        #expect(other != entry)
    }

    @Test("the agent's payload {token, paymentId} is read back as a credential for the offer the entry names")
    func payloadRoundTrip() throws {
        let offer = try Self.offer()
        let entry = try X402PaymentRequirements(offer: offer, context: X402OfferContext(now: Self.now))
        let agentOffer = try X402Agent.offer(from: entry, receivedAt: Self.now)
        #expect(agentOffer.rail == .stripe && agentOffer.amount == offer.amount && agentOffer.payee == "acct_1Nxyz")
        #expect(agentOffer.details["cardNetwork"] == "visa" && agentOffer.details["psp"] == "stripe" && agentOffer.details["paymentFlow"] == "escrow")
        let credential = Credential(rail: .stripe, offerID: agentOffer.id,
                                    payload: ["token": "pm_card_visa", "paymentId": "pay_7d5d747be160e280504c099d984bcfe0"])
        let payload = try X402Agent.payload(answering: entry, with: credential)
        #expect(payload.payload == ["token": .string("pm_card_visa"), "paymentId": .string("pay_7d5d747be160e280504c099d984bcfe0")])
        let header = try X402Codec.encodePaymentSignature(payload)
        let (read, serverCredential) = try X402Server.readCredential(header)
        #expect(read.accepted == entry && X402Server.accepted(read.accepted, matches: entry))
        #expect(serverCredential.rail == .stripe && serverCredential.offerID == offer.id)
        #expect(serverCredential.payload == ["token": "pm_card_visa", "paymentId": "pay_7d5d747be160e280504c099d984bcfe0"])
    }

    @Test("a member a client adds to extra changes neither the offer the payment answers nor the match")
    func clientAdditions() throws {
        let offer = try Self.offer()
        let entry = try X402PaymentRequirements(offer: offer, context: X402OfferContext(now: Self.now))
        var echoed = entry
        echoed.extra["clientNote"] = .string("added")
        let payload = X402PaymentPayload(accepted: echoed, payload: ["token": .string("pm_card_visa"), "paymentId": .string("pay_7d5d747be160e280504c099d984bcfe0")])
        let (_, credential) = try X402Server.readCredential(try X402Codec.encodePaymentSignature(payload))
        #expect(credential.offerID == offer.id)
        #expect(X402Server.accepted(echoed, matches: entry))
        // Another offer id in the echo names another key, and no longer matches this offer's entry.
        var moved = entry
        moved.extra[X402PaymentRequirements.cardOfferIDKey] = .string("payrail_other")
        #expect(!X402Server.accepted(moved, matches: entry))
        var garbage = entry
        garbage.extra[X402PaymentRequirements.cardOfferIDKey] = .string(String(repeating: "a", count: X402PaymentRequirements.cardOfferIDMaximum + 1))
        let bad = X402PaymentPayload(accepted: garbage, payload: ["token": .string("pm_card_visa"), "paymentId": .string("pay_7d5d747be160e280504c099d984bcfe0")])
        #expect(throws: WireError.self) { try X402Server.credential(from: bad) }
    }

    @Test("a card number is refused as a token on both sides, and the paymentId must be 16-128 of [A-Za-z0-9_-] (§4.4, §8.1)")
    func refusedPayloads() throws {
        let entry = try X402PaymentRequirements(offer: try Self.offer(), context: X402OfferContext(now: Self.now))
        for (token, paymentID) in [("4242424242424242", "pay_7d5d747be160e280504c099d984bcfe0"), ("pm_card_visa", "pay_short"),
                                   ("pm_card_visa", "pay_with space_000000000")] {
            let payload = X402PaymentPayload(accepted: entry, payload: ["token": .string(token), "paymentId": .string(paymentID)])
            #expect(throws: WireError.self) { try X402Server.credential(from: payload) }
        }
        let missing = X402PaymentPayload(accepted: entry, payload: ["token": .string("pm_card_visa")])
        #expect((#expect(throws: WireError.self) { try X402Server.credential(from: missing) })?.code == .missingField)
    }

    @Test("the Stripe forms that cannot settle {token, paymentId} still get no card entry; a form-less offer keeps the draft's exact extra")
    func otherForms() throws {
        let intent = try Self.offer(id: "pi_3Abc", form: "intent")
        #expect(throws: WireError.self) { try X402PaymentRequirements.requirements(for: intent, context: X402OfferContext(now: Self.now)) }
        let formless = try Self.offer(form: nil)
        let entry = try X402PaymentRequirements(offer: formless, context: X402OfferContext(now: Self.now))
        #expect(entry.extra == ["psp": .string("stripe"), "paymentFlow": .string("escrow")])
    }
}
