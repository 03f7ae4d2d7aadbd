import Foundation
import PayRail
import PayRailCrypto

// x402 card `auth-capture`, payer side (x402-foundation/x402 specs/schemes/auth-capture/
// scheme_auth_capture_card.md, v0.2.0 DRAFT). The client payload is the token and a `paymentId`
// (§4.4): the agent presents its saved payment method (`pm_…`, never card data: §8.1) and calls no
// Stripe endpoint; the payee authorizes it. The `paymentId` is derived from the offer, so every
// retry of this payment (a timeout, a crash, a resumed spend) presents the same one and the payee
// resumes its one hold instead of placing a second (§4.4: "reused unchanged on every retry").

extension StripePayerRail {
    /// Whether the offer is an x402 card entry for Stripe, as PayRailWire reads one
    /// (`cardNetwork`, `psp` `stripe`, `paymentFlow` `escrow`: §4.3).
    static func isCardOffer(_ offer: Offer) -> Bool {
        offer.details["cardNetwork"] != nil && offer.details["psp"] == "stripe" && offer.details["paymentFlow"] == "escrow"
    }

    /// The stable `paymentId` of an offer: `pay_` and 32 hex of SHA-256 over the offer id and payee.
    /// The payment method is left out on purpose: the same offer paid with another method must be
    /// refused by the payee as a duplicate (§4.5), not become a second hold.
    public static func paymentID(for offer: Offer) -> String {
        let digest = SHA256.hash(Array(("payrail-x402-card-payment-id\u{0}" + offer.payee + "\u{0}" + offer.id).utf8))
        return "pay_" + String(Hex.encode(digest).prefix(32))
    }

    /// `{token, paymentId}` for a card offer. A token minted by another PSP than `extra.psp` must not
    /// be presented (§4.2): this rail holds Stripe payment methods only, and pays `psp` `stripe` only.
    func cardCredential(for offer: Offer) throws(RailError) -> Credential {
        guard clock.now() <= offer.expiresAt else { throw RailError(.expired, "the offer has expired", rail: id) }
        return Credential(rail: id, offerID: offer.id, payload: ["token": paymentMethod, "paymentId": Self.paymentID(for: offer)])
    }
}
