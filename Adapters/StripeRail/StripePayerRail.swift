import Foundation
import PayRail

// The agent side of the plain form: the offer names a PaymentIntent made for this request; the agent
// sets its own payment method (`pm_…`, a saved card: never a card number) on it, confirms it, and
// presents the intent's id. Both POSTs carry Idempotency-Keys derived from the offer and the payment
// method, and `pay` first looks the intent up, so paying again after a timeout returns the same
// proof without a second charge.
//
// The two-step update-then-confirm (rather than `confirm` with `payment_method`) is what localstripe
// supports; real Stripe accepts both with the secret key of the account that owns the intent.

/// The agent side of the Stripe rail: confirms the offered PaymentIntent (plain form), issues a
/// Shared Payment Token for the offer from the agent's own account (Payment scheme `stripe` charge),
/// or presents its payment method as an x402 card token (`auth-capture`; see StripePayerCard).
public struct StripePayerRail: PayerRail {
    /// Always `.stripe`.
    public let id: RailID = .stripe
    /// The Stripe client the agent confirms with.
    public let client: StripeClient
    /// The agent's payment method, `pm_…`.
    public let paymentMethod: String
    let clock: any PayRailClock

    /// Creates a payer rail.
    ///
    /// - Throws: `StripeConfigurationError` when `paymentMethod` is not a `pm_…` id (a card number
    ///   or anything else is refused: the agent never sends card details).
    public init(client: StripeClient, paymentMethod: String, clock: any PayRailClock = SystemClock()) throws(StripeConfigurationError) {
        guard StripeClient.isIdentifier(paymentMethod), paymentMethod.hasPrefix("pm_") else {
            throw StripeConfigurationError(reason: "the payment method must be a pm_… id (never card details)")
        }
        self.client = client
        self.paymentMethod = paymentMethod
        self.clock = clock
    }

    /// The amount itself (the payee pays Stripe's fee), after checking the offer is coherent and valid.
    public func quote(_ offer: Offer) async -> QuoteDecision {
        do throws(RailError) {
            try check(offer)
            guard clock.now() <= offer.expiresAt else { throw RailError(.expired, "the offer has expired", rail: id) }
            return .payable(Quote.free(offer.amount))
        } catch {
            return .refused(error)
        }
    }

    /// Confirms the offer's PaymentIntent with the agent's payment method and returns its id as the
    /// proof; for a token offer, issues a Shared Payment Token limited to the offer; for an x402 card
    /// entry, presents the payment method with a `paymentId` stable per offer (no Stripe call).
    public func pay(_ offer: Offer) async throws(RailError) -> Credential {
        try check(offer)
        if Self.isCardOffer(offer) { return try cardCredential(for: offer) }
        if Self.isTokenOffer(offer) { return try await issueToken(for: offer) }
        // Look up before the expiry check: an intent paid just before the expiry gives its proof back.
        let current = try await retrieve(offer)
        if let done = try outcome(current, offer: offer) { return done }
        guard clock.now() <= offer.expiresAt else { throw RailError(.expired, "the offer has expired", rail: id) }
        var form = StripeForm()
        form.add("payment_method", paymentMethod)
        do {
            if current.status != "requires_confirmation" {
                _ = try await client.updatePaymentIntent(offer.id, form, idempotencyKey: StripeIdempotency.key("attach", [offer.id, paymentMethod]))
            }
            let confirmed = try await client.confirmPaymentIntent(offer.id, idempotencyKey: StripeIdempotency.key("confirm", [offer.id, paymentMethod]))
            if let done = try outcome(confirmed.value, offer: offer) { return done }
            throw RailError(.declined, "the PaymentIntent is \(confirmed.value.status) after confirmation", rail: id)
        } catch let error as StripeError {
            throw error.railError("confirming the PaymentIntent")
        } catch let error as RailError {
            throw error
        } catch {
            throw RailError(.unavailable, "confirming the PaymentIntent failed unexpectedly", retry: .afterLookup, rail: id)
        }
    }

    private func retrieve(_ offer: Offer) async throws(RailError) -> StripePaymentIntent {
        let intent: StripePaymentIntent
        do { intent = try await client.retrievePaymentIntent(offer.id) } catch {
            throw error.railError("retrieving the offered PaymentIntent")
        }
        guard intent.amount == offer.amount.amount, intent.currency == offer.amount.unit.code else {
            throw RailError(.mismatch, "the PaymentIntent asks another amount or currency than the offer", rail: id)
        }
        return intent
    }

    /// The credential when the intent is paid, `nil` when it still needs confirming, an error otherwise.
    private func outcome(_ intent: StripePaymentIntent, offer: Offer) throws(RailError) -> Credential? {
        switch intent.status {
        case "succeeded", "requires_capture":
            return Credential(rail: id, offerID: offer.id, payload: ["paymentIntent": intent.id])
        case "processing":
            throw RailError(.timedOut, "Stripe is still processing the payment; look it up later", retry: .afterLookup, rail: id)
        case "requires_action":
            throw RailError(.declined, "the card requires authentication (3-D Secure), which this agent cannot complete", rail: id)
        case "canceled":
            throw RailError(.expired, "the PaymentIntent was cancelled; ask for a fresh challenge", rail: id)
        case "requires_payment_method" where intent.lastPaymentErrorCode != nil:
            let code = intent.lastPaymentErrorDeclineCode ?? intent.lastPaymentErrorCode ?? "declined"
            throw RailError(.declined, "the card was declined (\(code))", rail: id)
        default:
            return nil
        }
    }

    /// Refuses an offer that is not a coherent Stripe offer of a form this rail pays.
    private func check(_ offer: Offer) throws(RailError) {
        guard offer.rail == id else { throw RailError(.unsupported, "this rail pays stripe offers, not \(offer.rail)", rail: id) }
        // An offer read from a Payment-scheme challenge carries no `form`: its `networkId` and the
        // absence of a PaymentIntent make it a token charge.
        switch Self.isCardOffer(offer) ? "x402-card" : Self.isTokenOffer(offer) ? "spt" : offer.details["form"] {
        case "x402-card":
            guard !offer.id.isEmpty, !offer.payee.isEmpty else { throw RailError(.malformed, "the card offer names no offer or payee", rail: id) }
        case "intent":
            guard StripeClient.isIdentifier(offer.id), offer.id.hasPrefix("pi_"), offer.details["paymentIntent"] == offer.id else {
                throw RailError(.malformed, "the offer does not name its PaymentIntent", rail: id)
            }
        case "spt":
            guard let network = offer.details["networkId"], !network.isEmpty, !offer.id.isEmpty else {
                throw RailError(.malformed, "the token offer names no Stripe network id", rail: id)
            }
        default:
            throw RailError(.unsupported, "the offer is neither a PaymentIntent nor a Shared Payment Token charge", rail: id)
        }
        guard offer.details["amount"].map({ $0 == String(offer.amount.amount) }) ?? !offer.id.hasPrefix("pi_"),
              offer.details["currency"].map({ $0 == offer.amount.unit.code }) ?? !offer.id.hasPrefix("pi_") else {
            throw RailError(.mismatch, "the offer's Stripe amount or currency differs from its price", rail: id)
        }
        guard offer.amount.unit.kind == .iso4217, offer.amount.amount > 0 else {
            throw RailError(.unsupported, "Stripe charges a positive amount of an ISO 4217 currency", rail: id)
        }
    }

    /// Whether the offer asks for a Shared Payment Token: PayRail's own `form`, or a Payment-scheme
    /// `stripe` charge (a `networkId` and no PaymentIntent).
    static func isTokenOffer(_ offer: Offer) -> Bool {
        offer.details["form"] == "spt" || (offer.details["form"] == nil && offer.details["networkId"] != nil && offer.details["paymentIntent"] == nil)
    }

    /// `POST /v1/shared_payment/issued_tokens`: a token for the agent's payment method, usable once
    /// for at most the offer's amount in its currency until the offer expires, for the seller the
    /// offer names. The Idempotency-Key is the offer's and the payment method's, so paying again
    /// after a timeout gets the same token back instead of a second one.
    private func issueToken(for offer: Offer) async throws(RailError) -> Credential {
        guard clock.now() <= offer.expiresAt else { throw RailError(.expired, "the offer has expired", rail: id) }
        var form = StripeForm()
        form.add("payment_method", paymentMethod)
        form.add("usage_limits[currency]", offer.amount.unit.code)
        form.add("usage_limits[max_amount]", String(offer.amount.amount))
        form.add("usage_limits[expires_at]", String(Int64(offer.expiresAt.timeIntervalSince1970.rounded(.up))))
        form.add("seller_details[network_business_profile]", offer.details["networkId"])
        let key = StripeIdempotency.key("issue-spt", [offer.id, paymentMethod, String(offer.amount.amount), offer.amount.unit.code])
        let token: StripeIssuedToken
        do { token = try await client.issueSharedPaymentToken(form, idempotencyKey: key).value } catch {
            throw error.railError("issuing the Shared Payment Token")
        }
        guard token.id.hasPrefix("spt_"), StripeClient.isIdentifier(token.id) else {
            throw RailError(.unavailable, "Stripe issued something other than a Shared Payment Token", retry: .afterLookup, rail: id)
        }
        if let limits = token.usageLimits, limits.maxAmount != offer.amount.amount || limits.currency != offer.amount.unit.code {
            throw RailError(.unavailable, "Stripe issued a token with other limits than asked", retry: .afterLookup, rail: id)
        }
        return Credential(rail: id, offerID: offer.id, payload: ["spt": token.id])
    }
}
