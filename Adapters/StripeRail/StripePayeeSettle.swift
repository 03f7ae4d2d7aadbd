import Foundation
import PayRail
import PayRailCrypto

// Settling: judge the credential without Stripe first (rail, offer, shape), then under the offer's
// queue ask Stripe, judge the intent's state, and claim the settlement once. No error text carries a
// credential value (intent id or token), which the contract suite checks.

extension StripePayeeRail {
    /// Settles a credential once: the plain form's `paymentIntent` (the offer's own intent, paid),
    /// or the token form's `spt` (charged now).
    public func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        guard credential.rail == id, offer.rail == id else {
            throw RailError(.mismatch, "the credential or offer is for another rail than stripe", rail: id)
        }
        guard credential.offerID == offer.id else {
            throw RailError(.mismatch, "the credential pays another offer", rail: id)
        }
        if offer.details["form"] == StripeOfferForm.x402CardTag { return try await settleCard(credential, for: offer) }
        let isToken = offer.details["form"] == "spt"
        let proof = isToken ? credential.payload["spt"] : credential.payload["paymentIntent"]
        guard let proof, !proof.isEmpty else {
            throw RailError(.malformed, "the credential carries no \(isToken ? "spt" : "paymentIntent")", rail: id)
        }
        guard StripeClient.isIdentifier(proof), proof.hasPrefix(isToken ? "spt_" : "pi_") else {
            throw RailError(.malformed, isToken ? "a Shared Payment Token is spt_ and letters" : "a PaymentIntent id is pi_ and letters", rail: id)
        }
        if !isToken, proof != offer.id {
            throw RailError(.mismatch, "the credential names another PaymentIntent than the offer's", rail: id)
        }
        let digest = SHA256.hash(Array(proof.utf8))
        await settled.acquire(offer.id)
        do {
            let settlement = try await settleAlone(proof: proof, digest: digest, isToken: isToken, offer: offer)
            await settled.release(offer.id)
            return settlement
        } catch {
            await settled.release(offer.id)
            throw error
        }
    }

    /// The part of `settle` that runs alone per offer.
    private func settleAlone(proof: String, digest: [UInt8], isToken: Bool, offer: Offer) async throws(RailError) -> Settlement {
        if let earlier = await settled.settlement(for: offer.id) {
            guard constantTimeEquals(earlier.proof, digest) else {
                throw RailError(.mismatch, "this offer was paid with another credential", rail: id)
            }
            throw RailError(.alreadySettled, "this offer was already settled", rail: id)
        }
        let intent = isToken ? try await charge(token: proof, digest: digest, offer: offer) : try await retrieve(offer)
        guard boundTo(offer, intent) else {
            throw RailError(.mismatch, "the PaymentIntent is for another amount, currency or challenge", rail: id)
        }
        try await judge(intent, offer: offer)
        var chargeCreated: Int64?
        if !isToken, let chargeID = intent.latestChargeID { chargeCreated = try await refuseRefundedOrDisputed(chargeID) }
        let settlement = try await settlement(offer, intent, chargeCreated: chargeCreated)
        if settlement.settledAt > offer.expiresAt, !isToken {
            throw RailError(.expired, "the PaymentIntent was paid after the offer expired", rail: id)
        }
        guard await settled.claim(settlement, proof: digest) else {
            throw RailError(.alreadySettled, "this offer was already settled", rail: id)
        }
        return settlement
    }

    /// The offer's own PaymentIntent, as Stripe has it now.
    private func retrieve(_ offer: Offer) async throws(RailError) -> StripePaymentIntent {
        do { return try await client.retrievePaymentIntent(offer.id) } catch {
            if case .api(let api) = error, api.status == 404 {
                throw RailError(.invalidProof, "Stripe knows no such PaymentIntent on this account", rail: id)
            }
            throw error.railError("retrieving the PaymentIntent")
        }
    }

    /// Creates and confirms a PaymentIntent with the Shared Payment Token. The Idempotency-Key is the
    /// offer's and the token's, so a retry after a timeout replays the first attempt instead of charging again.
    private func charge(token: String, digest: [UInt8], offer: Offer) async throws(RailError) -> StripePaymentIntent {
        // Charging is the payment, so a first charge after the expiry is refused. A charge sent in
        // time whose answer was lost is retried with its key even after the expiry: Stripe replays
        // it (or makes it, if it never arrived), and a payment made in time is never lost.
        if clock.now() > offer.expiresAt, await !settled.attempted(offer.id, proof: digest) {
            throw RailError(.expired, "the offer expired before the token was presented", rail: id)
        }
        await settled.recordAttempt(offer.id, proof: digest)
        var form = StripeForm()
        form.add("amount", String(offer.amount.amount))
        form.add("currency", offer.amount.unit.code)
        form.add("confirm", "true")
        form.add("capture_method", captureMethod.rawValue)
        form.add("payment_method_data[shared_payment_granted_token]", token)
        form.add("metadata[payrail_challenge]", offer.details["challenge"])
        form.add("metadata[payrail_offer]", offer.id)
        let key = StripeIdempotency.key("settle-spt", [offer.id, Hex.encode(digest)])
        do {
            // A replay (`Idempotent-Replayed: true`) is our own earlier attempt's answer: judged the same way.
            return try await client.createPaymentIntent(form, idempotencyKey: key).value
        } catch {
            if case .api(let api) = error, api.code == "resource_missing" || api.param?.contains("shared_payment_granted_token") == true,
               !api.isCardError {
                throw RailError(.invalidProof, "Stripe does not accept this Shared Payment Token (\(api.code ?? "invalid"))", rail: id)
            }
            throw error.railError("charging the Shared Payment Token")
        }
    }

    /// A PaymentIntent stays `succeeded` after a refund or a dispute, and a webhook telling of one may
    /// have come before the `pi_…` was presented (or to another gate): the charge itself decides.
    /// Returns the charge's creation time (when the payment was made).
    private func refuseRefundedOrDisputed(_ chargeID: String) async throws(RailError) -> Int64 {
        let charge: StripeCharge
        do { charge = try await client.retrieveCharge(chargeID) } catch { throw error.railError("looking up the payment's charge") }
        if let refunded = charge.amountRefunded, refunded > 0 {
            throw RailError(.mismatch, "the payment was refunded (\(refunded) of it); it buys nothing", rail: id)
        }
        if charge.disputed == true { throw RailError(.mismatch, "the payment is disputed; it buys nothing", rail: id) }
        return charge.created
    }

    /// Grants `succeeded`, and `requires_capture` in the manual-capture flow; refuses the rest.
    /// `requires_action` (3-D Secure) cannot be completed by an agent: the intent is cancelled.
    private func judge(_ intent: StripePaymentIntent, offer: Offer) async throws(RailError) {
        switch intent.status {
        case "succeeded":
            if let received = intent.amountReceived, received < intent.amount {
                throw RailError(.mismatch, "Stripe received \(received) of \(intent.amount)", rail: id)
            }
        case "requires_capture":
            guard captureMethod == .manual, intent.captureMethod == "manual" else {
                throw RailError(.mismatch, "the PaymentIntent is only authorized, and this rail captures at once", rail: id)
            }
        case "processing":
            throw RailError(StripeRailCodes.pending, "Stripe is still processing the payment; present the credential again later", retry: .afterLookup, rail: id)
        case "requires_action":
            let key = StripeIdempotency.key("cancel-action", [intent.id])
            _ = try? await client.cancelPaymentIntent(intent.id, reason: nil, idempotencyKey: key)
            throw RailError(.declined, "the card requires authentication (3-D Secure), which an agent cannot complete; the PaymentIntent was cancelled", rail: id)
        case "requires_payment_method" where intent.lastPaymentErrorCode != nil:
            let code = intent.lastPaymentErrorDeclineCode ?? intent.lastPaymentErrorCode ?? "declined"
            throw RailError(.declined, "the card was declined (\(code))", rail: id, declineCode: intent.lastPaymentErrorDeclineCode)
        case "canceled":
            throw RailError(.expired, "the PaymentIntent was cancelled", rail: id)
        default:
            throw RailError(.invalidProof, "the PaymentIntent is not paid (\(intent.status))", rail: id)
        }
    }
}
