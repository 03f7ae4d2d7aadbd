import Foundation
import PayRail
import PayRailCrypto

// x402 card `auth-capture`, payee side (x402-foundation/x402 specs/schemes/auth-capture/
// scheme_auth_capture_card.md, v0.2.0 DRAFT; "§" below are its sections). The gate is resource
// server and facilitator in one, so the first settle (§4.5 step 1) is this `settle`: it authorizes
// the presented token for the offer's amount with `capture_method=manual`; the grant is given on
// `requires_capture`, and the rail's `finish` captures at most the authorized amount (served) or
// voids (not served) (§4.5 step 3, §4.6).
//
// Deduplication on `payTo` and `paymentId` (§4.5, §6.2) is kept twice:
// - in this process (`StripeCardPayments`): a `paymentId` is bound to its first token, amount,
//   currency and offer, and anything else under it is refused before Stripe is called;
// - at Stripe, durably: the Idempotency-Key is derived from `payTo` and `paymentId` only, and the
//   request carries the token, amount and offer. The same payment sent again replays the first
//   answer (the same intent: one hold, one grant); the same `paymentId` with another token, amount
//   or offer is Stripe's `idempotency_error`, which this path reads as the duplicate it is. A
//   declined authorization is replayed as declined, never resubmitted (§7.3).

/// The `paymentId`s this process has authorized under, each bound to what it was first used with.
actor StripeCardPayments {
    /// What a `paymentId` was first presented with.
    struct Binding: Equatable {
        let tokenDigest: [UInt8]
        let amount: Money
        let offerID: String
    }

    /// Bounded like `StripeSettlements`; a forgotten entry is still refused by Stripe for 24 hours.
    static let capacity = 100_000
    private var bindings: [String: Binding] = [:]
    private var intents: [String: String] = [:]
    private var order: [String] = []

    /// Binds `paymentID` to `binding`, or refuses when it is already bound to something else.
    func bind(_ paymentID: String, to binding: Binding) -> Bool {
        if let known = bindings[paymentID] { return known == binding }
        bindings[paymentID] = binding
        order.append(paymentID)
        if order.count > Self.capacity {
            let oldest = order.removeFirst()
            bindings[oldest] = nil
            intents[oldest] = nil
        }
        return true
    }

    /// Remembers the PaymentIntent a `paymentId` authorized, so a retry in this process looks it up
    /// instead of creating another (localstripe, unlike Stripe, ignores Idempotency-Key).
    func record(_ paymentID: String, intent: String) {
        if bindings[paymentID] != nil { intents[paymentID] = intent }
    }

    /// The PaymentIntent a `paymentId` authorized in this process, if any.
    func intent(for paymentID: String) -> String? { intents[paymentID] }
}

/// The RailError codes of the x402 card form (scheme_auth_capture_card.md §6.3).
public enum StripeCardCodes {
    /// The issuer refused the authorization; every hard decline is this one code on the wire (§8.2),
    /// while the rail error's reason keeps Stripe's `decline_code` for the payee's logs.
    public static let cardDeclined = RailError.Code.declined
    /// The issuer requires cardholder authentication (3-D Secure) that an agent cannot complete in
    /// the exchange (§7.2); the PaymentIntent is cancelled and nothing is held.
    public static let cardAuthenticationRequired = RailError.Code.authenticationRequired
    /// The `paymentId` was used before with another token, amount or offer (§4.5): refused, never a
    /// second hold.
    public static let paymentIdReused = RailError.Code.mismatch
}

extension StripePayeeRail {
    /// The shortest and longest `paymentId` (§4.4, Table 3).
    static let paymentIDLengths = 16...128

    /// Settles an x402 card payload `{token, paymentId}` for an `.x402Card` offer: one authorization.
    func settleCard(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        let (token, paymentID) = try Self.cardPayload(credential)
        let proof = SHA256.hash(Array(("x402-card\u{0}" + token + "\u{0}" + paymentID).utf8))
        await settled.acquire(offer.id)
        do {
            let settlement = try await settleCardAlone(token: token, paymentID: paymentID, proof: proof, offer: offer)
            await settled.release(offer.id)
            return settlement
        } catch {
            await settled.release(offer.id)
            throw error
        }
    }

    /// The token (`pm_…` or `spt_…`: never card data, §8.1) and the `paymentId` (§4.4).
    static func cardPayload(_ credential: Credential) throws(RailError) -> (token: String, paymentID: String) {
        guard let token = credential.payload["token"], !token.isEmpty, let paymentID = credential.payload["paymentId"], !paymentID.isEmpty else {
            throw RailError(.malformed, "the x402 card payload needs token and paymentId", rail: .stripe)
        }
        guard StripeClient.isIdentifier(token), token.hasPrefix("pm_") || token.hasPrefix("spt_") else {
            throw RailError(.malformed, "the card token must be a Stripe payment method (pm_…) or Shared Payment Token (spt_…)", rail: .stripe)
        }
        let allowed = paymentID.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
        }
        guard paymentIDLengths.contains(paymentID.utf8.count), allowed else {
            throw RailError(.malformed, "paymentId is 16 to 128 letters, digits, '_' and '-'", rail: .stripe)
        }
        return (token, paymentID)
    }

    /// The part of `settleCard` that runs alone per offer.
    private func settleCardAlone(token: String, paymentID: String, proof: [UInt8], offer: Offer) async throws(RailError) -> Settlement {
        if let earlier = await settled.settlement(for: offer.id) {
            guard constantTimeEquals(earlier.proof, proof) else {
                throw RailError(StripeCardCodes.paymentIdReused, "this offer was authorized with another token or paymentId", rail: id)
            }
            throw RailError(.alreadySettled, "this offer was already settled", rail: id)
        }
        let binding = StripeCardPayments.Binding(tokenDigest: SHA256.hash(Array(token.utf8)), amount: offer.amount, offerID: offer.id)
        guard await cardPayments.bind(paymentID, to: binding) else {
            throw RailError(StripeCardCodes.paymentIdReused,
                            "this paymentId was used with another token, amount or offer; a new payment needs a new paymentId", rail: id)
        }
        var intent: StripePaymentIntent
        if let known = await cardPayments.intent(for: paymentID) {
            do { intent = try await client.retrievePaymentIntent(known) } catch { throw error.railError("looking the authorization up") }
        } else {
            intent = try await authorize(token: token, paymentID: paymentID, proof: proof, offer: offer)
            await cardPayments.record(paymentID, intent: intent.id)
        }
        guard boundTo(offer, intent), intent.metadata["payrail_offer"] == Self.metadataOfferID(offer.id), intent.metadata["payrail_payment_id"] == paymentID else {
            throw RailError(.mismatch, "the PaymentIntent is for another amount, currency, challenge or paymentId", rail: id)
        }
        try await judgeAuthorization(intent)
        if cardCapture == .beforeGrant, intent.status == "requires_capture" {
            intent = try await captureBeforeGrant(intent, offer: offer)
        }
        let settlement = try await settlement(offer, intent)
        guard await settled.claim(settlement, proof: proof) else {
            throw RailError(.alreadySettled, "this offer was already settled", rail: id)
        }
        return settlement
    }

    /// `POST /v1/payment_intents` creating and confirming the authorization (§4.5 step 1). The
    /// Idempotency-Key is `payTo` and `paymentId` (see the file header); the metadata binds the intent
    /// to the challenge, the offer and the `paymentId`.
    private func authorize(token: String, paymentID: String, proof: [UInt8], offer: Offer) async throws(RailError) -> StripePaymentIntent {
        // As for tokens: a first authorization after the expiry is refused; one sent in time whose
        // answer was lost is sent again with its key, so a hold placed in time is never lost.
        if clock.now() > offer.expiresAt, await !settled.attempted(offer.id, proof: proof) {
            throw RailError(.expired, "the offer expired before the card token was presented", rail: id)
        }
        await settled.recordAttempt(offer.id, proof: proof)
        var form = StripeForm()
        form.add("amount", String(offer.amount.amount))
        form.add("currency", offer.amount.unit.code)
        form.add("confirm", "true")
        form.add("capture_method", StripeCaptureMethod.manual.rawValue)
        form.add("payment_method_types[]", "card")
        if token.hasPrefix("spt_") {
            form.add("payment_method_data[shared_payment_granted_token]", token)
        } else {
            form.add("payment_method", token)
        }
        form.add("metadata[payrail_challenge]", offer.details["challenge"])
        form.add("metadata[payrail_offer]", Self.metadataOfferID(offer.id))
        form.add("metadata[payrail_payment_id]", paymentID)
        let key = StripeIdempotency.key("authorize-card", [payee, paymentID])
        do {
            return try await client.createPaymentIntent(form, idempotencyKey: key).value
        } catch {
            throw Self.authorizationError(error)
        }
    }

    /// `.beforeGrant`: captures the whole hold now (the same Idempotency-Key `finish` would use), so
    /// the settlement is final. A capture refused for certain voids the hold: nothing charged, nothing
    /// granted. One whose outcome is unknown is left for the retry, which captures with the same key.
    private func captureBeforeGrant(_ intent: StripePaymentIntent, offer: Offer) async throws(RailError) -> StripePaymentIntent {
        let amount = offer.amount.amount
        if let capturable = intent.amountCapturable, capturable < amount {
            _ = try? await client.cancelPaymentIntent(intent.id, reason: nil, idempotencyKey: StripeIdempotency.key("void", [intent.id]))
            throw RailError(.mismatch, "Stripe holds \(capturable) of \(amount); the hold was voided", rail: id)
        }
        let captured: StripePaymentIntent
        do {
            captured = try await client.capturePaymentIntent(intent.id, amountToCapture: amount,
                                                             idempotencyKey: StripeIdempotency.key("capture", [intent.id, String(amount)])).value
        } catch {
            // Captured already (a retry): Stripe says `payment_intent_unexpected_state`, localstripe only 400.
            if case .api(let api) = error, api.status == 400, let now = try? await client.retrievePaymentIntent(intent.id), now.status == "succeeded" {
                return now
            }
            if case .api(let api) = error, api.retry == .fixConfiguration || api.retry == .newPaymentMethod {
                _ = try? await client.cancelPaymentIntent(intent.id, reason: nil, idempotencyKey: StripeIdempotency.key("void", [intent.id]))
            }
            throw error.railError("capturing the authorization before the grant")
        }
        guard captured.status == "succeeded" else {
            throw RailError(.unavailable, "the capture left the PaymentIntent \(captured.status); present the payment again", retry: .afterLookup, rail: id)
        }
        return captured
    }

    /// A failed authorization in x402 card terms: a decline keeps Stripe's decline code in the
    /// reason; an `idempotency_error` is a `paymentId` reused with other parameters (§4.5).
    static func authorizationError(_ error: StripeError) -> RailError {
        guard case .api(let api) = error else { return error.railError("authorizing the card") }
        if api.type == "idempotency_error" {
            return RailError(StripeCardCodes.paymentIdReused,
                             "Stripe holds this paymentId with another token, amount or offer; a new payment needs a new paymentId", rail: .stripe)
        }
        if api.isCardError {
            let code = api.declineCode ?? api.code ?? "declined"
            return RailError(StripeCardCodes.cardDeclined, "card_declined: the issuer declined the authorization (\(code))", rail: .stripe)
        }
        if api.code == "resource_missing" || api.param == "payment_method" || api.param?.contains("shared_payment_granted_token") == true {
            return RailError(.invalidProof, "Stripe does not know this card token on the payee's account (\(api.code ?? "invalid"))", rail: .stripe)
        }
        return error.railError("authorizing the card")
    }

    /// Grants `requires_capture` (the hold) and `succeeded`; `requires_action` is cancelled and
    /// refused (§7.2); a decline is refused with its decline code.
    private func judgeAuthorization(_ intent: StripePaymentIntent) async throws(RailError) {
        switch intent.status {
        case "requires_capture":
            guard intent.captureMethod == "manual" else {
                throw RailError(.mismatch, "the PaymentIntent holds funds but was not made for manual capture", rail: id)
            }
        case "succeeded":
            if let received = intent.amountReceived, received < intent.amount {
                throw RailError(.mismatch, "Stripe received \(received) of \(intent.amount)", rail: id)
            }
        case "requires_action":
            let key = StripeIdempotency.key("cancel-action", [intent.id])
            _ = try? await client.cancelPaymentIntent(intent.id, reason: nil, idempotencyKey: key)
            throw RailError(StripeCardCodes.cardAuthenticationRequired,
                            "card_authentication_required: the issuer asks for 3-D Secure, which an agent cannot complete; the PaymentIntent was cancelled, nothing is held",
                            rail: id)
        case "requires_payment_method" where intent.lastPaymentErrorCode != nil:
            let code = intent.lastPaymentErrorDeclineCode ?? intent.lastPaymentErrorCode ?? "declined"
            throw RailError(StripeCardCodes.cardDeclined, "card_declined: the issuer declined the authorization (\(code))", rail: id)
        case "processing":
            throw RailError(StripeRailCodes.pending, "Stripe is still processing the authorization; present the payment again later", retry: .afterLookup, rail: id)
        case "canceled":
            throw RailError(.expired, "the authorization was cancelled; pay a fresh challenge with a new paymentId", rail: id)
        default:
            throw RailError(.invalidProof, "the card was not authorized (\(intent.status))", rail: id)
        }
    }
}

extension StripePayeeRail {
    /// The offer id as kept in an intent's metadata: itself when short, else `sha256:` and its hex
    /// digest (Stripe keeps at most 500 characters per metadata value; a bound offer id, which carries
    /// its challenge, can be longer).
    static func metadataOfferID(_ offerID: String) -> String {
        guard offerID.utf8.count > 100 else { return offerID }
        return "sha256:" + Hex.encode(SHA256.hash(Array(offerID.utf8)))
    }
}
