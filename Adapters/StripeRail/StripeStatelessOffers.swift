import Foundation
import PayRail

// Stateless 402s (issue 18) for the Stripe forms that need no Stripe call to issue a 402: a Shared
// Payment Token charge and an x402 card token. Their offer is computed from the charge alone, so the
// gate can mint a bound offer id (the challenge's terms and a MAC) and store nothing; the Payment
// scheme carries the id back as the charge's `externalId` (inside the HMAC-bound request), x402 as
// the entry's `extra.payrailOfferId`. The PaymentIntent-per-402 form creates an intent for every 402
// and keeps its stored challenge.

extension StripePayeeRail: StatelessOfferRail {
    /// The account every offer names as payee.
    public var statelessPayee: String { payee }

    /// Only the token forms: a PaymentIntent per 402 must be created, and remembered.
    public var makesStatelessOffers: Bool {
        if case .paymentIntent = form { return false }
        return true
    }

    /// The token form's offer under the bound id, as `prepare` would write it.
    public func statelessOffer(_ charge: Charge, boundID: String) throws(RailError) -> Offer {
        try capabilities.check(charge.amount, rail: id)
        guard makesStatelessOffers else {
            throw RailError(.unsupported, "a PaymentIntent per 402 is created by prepare, not bound", rail: id)
        }
        return tokenOffer(charge, offerID: boundID)
    }
}
