import Foundation
import PayRail
import PayRailCrypto

// The server side of the Stripe rail, through the Rail contract only. Two ways to be paid:
//
// - `.paymentIntent` (the founding article's plain form): `prepare` creates a PaymentIntent for the
//   challenge (metadata binds it); the payer confirms it with its own payment method and presents
//   its id; `settle` retrieves it and grants only when it succeeded for this amount, currency and
//   challenge, once. `discard` cancels it when its challenge expired unpaid.
// - `.sharedPaymentToken` (the Payment scheme's `stripe` charge): `prepare` calls nothing; `settle`
//   creates and confirms a PaymentIntent with the presented Shared Payment Token (`spt_…`).
// - `.x402Card` (x402's card binding of `auth-capture`): `prepare` calls nothing; the 402 carries a
//   `card:*` entry; `settle` authorizes the presented `{token, paymentId}` (see StripeCardSettle).
//
// Either form captures at once (`.automatic`) or authorizes and captures in `finish` (`.manual`:
// the grant is given on `requires_capture`, as the authorize/escrow flows ask).

/// How the payee collects a Stripe payment.
public enum StripeOfferForm: Sendable, Hashable {
    /// One PaymentIntent per 402, confirmed by the payer (calls Stripe for every 402).
    case paymentIntent
    /// A Shared Payment Token charged at settle time (no Stripe call to issue the 402).
    case sharedPaymentToken(networkID: String, paymentMethodTypes: [String] = ["card"])
    /// x402 card `auth-capture` (x402-foundation/x402 `specs/schemes/auth-capture/scheme_auth_capture_card.md`,
    /// v0.2.0 DRAFT): the payer presents a payment-method token and a `paymentId`; settle authorizes
    /// (`capture_method=manual`, always) and `finish` captures or voids. No Stripe call for a 402.
    case x402Card

    /// The `form` value in an offer's details.
    var tag: String {
        switch self {
        case .paymentIntent: return "intent"
        case .sharedPaymentToken: return "spt"
        case .x402Card: return Self.x402CardTag
        }
    }

    /// The x402 card form's tag: the one PayRailWire writes a `card:*` entry for
    /// (`X402PaymentRequirements.cardSettleableForm`).
    static let x402CardTag = "auth-capture"
}

/// When an x402 card authorization is captured.
public enum StripeCardCapture: String, Sendable, Hashable {
    /// The grant is given on the hold (`requires_capture`); `finish` captures it after serving, or
    /// voids it when the gate did not serve (scheme_auth_capture_card.md §4.5). Needs a gate store
    /// that records an authorization (memory, SQLite from schema 5, PostgreSQL from gate schema 2);
    /// `payrail serve` uses it.
    case afterServing
    /// The hold is captured inside `settle`, before the grant, and the settlement is final: for a gate
    /// whose store cannot record a pending capture (a store written elsewhere that refuses
    /// authorizations, so a grant on a hold could never be finished). A capture that fails for certain voids the hold and
    /// grants nothing; a resource that then fails is paid for and is refunded (the gate's automatic
    /// refunds of unserved payments, or `refund`), not voided.
    case beforeGrant
}

/// When the money moves: at confirmation, or at `finish` after an authorization.
public enum StripeCaptureMethod: String, Sendable, Hashable {
    /// `capture_method=automatic`: `succeeded` grants, and the settlement is final.
    case automatic
    /// `capture_method=manual`: `requires_capture` grants an authorization that `finish` captures
    /// (served) or cancels (not served).
    case manual
}

/// The server side of the Stripe rail.
public struct StripePayeeRail: PayeeRail {
    /// Always `.stripe`.
    public let id: RailID = .stripe
    /// The Stripe client, with the payee account's secret key.
    public let client: StripeClient
    /// How payments are collected.
    public let form: StripeOfferForm
    /// When money moves.
    public let captureMethod: StripeCaptureMethod
    /// Who gets paid, as offers name it (the Stripe account id or a label for it). Never empty.
    public let payee: String
    /// How long Stripe keeps an authorization capturable (7 days for cards).
    public let authorizationLifetime: TimeInterval
    /// When the x402 card form captures its authorizations.
    public let cardCapture: StripeCardCapture
    let clock: any PayRailClock
    let settled = StripeSettlements()
    let cardPayments = StripeCardPayments()

    /// Creates a payee rail. The x402 card form always authorizes first (`captureMethod` is `.manual`
    /// whatever is passed): its binding is escrow (scheme_auth_capture_card.md section 4.5).
    public init(client: StripeClient, form: StripeOfferForm = .paymentIntent, captureMethod: StripeCaptureMethod = .automatic,
                payee: String = "stripe", authorizationLifetime: TimeInterval = 7 * 24 * 3600, cardCapture: StripeCardCapture = .afterServing,
                clock: any PayRailClock = SystemClock()) {
        self.client = client
        self.form = form
        self.captureMethod = form == .x402Card ? .manual : captureMethod
        self.payee = payee.isEmpty ? "stripe" : payee
        self.authorizationLifetime = authorizationLifetime
        self.cardCapture = cardCapture
        self.clock = clock
    }

    /// Stripe's minimum charge per currency, in ISO 4217 minor units
    /// (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts): usd 0.50, gbp 0.30,
    /// jpy 50 (zero-decimal: whole yen), and so on. Currencies Stripe treats specially (HUF and TWD,
    /// sent as two-decimal amounts that must be whole; ISK and UGX, zero-decimal currencies sent with
    /// two decimals; three-decimal ones, sent rounded to 10) are left out: their wire amount is not
    /// simply the minor-unit amount.
    public static let minimumCharges: [String: Int64] = [
        "usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "aed": 200, "aud": 50, "brl": 50, "cad": 50, "chf": 50,
        "czk": 1500, "dkk": 250, "hkd": 400, "inr": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50,
        "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
    ]

    /// The currencies offered, each from its `minimumCharges` entry to Stripe's maximum of 99,999,999
    /// minor units. The payee pays Stripe's fee. `refundable`: refunds go through the Rail contract's
    /// `refund` (never more than captured minus refunded, idempotent by key; see StripeRefunds).
    public var capabilities: RailCapabilities {
        let limits = Self.minimumCharges.sorted { $0.key < $1.key }.compactMap { code, minimum -> AmountLimit? in
            guard let unit = try? MoneyUnit(code: code) else { return nil }
            return try? AmountLimit(minimum: Money(amount: minimum, unit: unit), maximum: Money(amount: 99_999_999, unit: unit))
        }
        return RailCapabilities(limits: limits, settlementTime: .seconds(2), refundable: true, feeModel: .payeePaysProcessingFee)
    }

    /// The offer for a charge: a new PaymentIntent (`.paymentIntent`) or a description of the charge
    /// for a Shared Payment Token (`.sharedPaymentToken`, no Stripe call).
    public func prepare(_ charge: Charge) async throws(RailError) -> Offer {
        try capabilities.check(charge.amount, rail: id)
        guard charge.expiresAt.timeIntervalSince(clock.now()) >= 1 else {
            throw RailError(.expired, "the charge expires before a card payment could be made", rail: id)
        }
        switch form {
        case .sharedPaymentToken:
            let offerID = "payrail_" + String(Hex.encode(SHA256.hash(Array(("stripe-offer\u{0}" + charge.challengeID).utf8))).prefix(32))
            return tokenOffer(charge, offerID: offerID)
        case .x402Card:
            let offerID = "payrail_" + String(Hex.encode(SHA256.hash(Array(("stripe-card-offer\u{0}" + charge.challengeID).utf8))).prefix(32))
            return tokenOffer(charge, offerID: offerID)
        case .paymentIntent:
            let intent = try await createIntent(for: charge)
            var details = baseDetails(charge)
            details["paymentIntent"] = intent.id
            details["clientSecret"] = intent.clientSecret
            return Offer(rail: id, amount: charge.amount, payee: payee, expiresAt: charge.expiresAt, id: intent.id, details: details)
        }
    }

    private func baseDetails(_ charge: Charge) -> [String: String] {
        ["form": form.tag, "amount": String(charge.amount.amount), "currency": charge.amount.unit.code,
         "challenge": charge.challengeID, "network": "stripe"]
    }

    /// The offer of a form that needs no Stripe call for a 402 (a Shared Payment Token, an x402 card
    /// token), computed from the charge and the offer id alone.
    func tokenOffer(_ charge: Charge, offerID: String) -> Offer {
        var details = baseDetails(charge)
        switch form {
        case .sharedPaymentToken(let networkID, let types):
            details["networkId"] = networkID
            details["paymentMethodTypes"] = types.joined(separator: ",")
            // The Payment scheme's `externalId` (the merchant's reference) names the offer, so a
            // credential read back from the wire can be matched to it (see the report on #17).
            details["externalId"] = offerID
        case .x402Card:
            // The offer names no secret: x402 writes its id into the entry's `extra`, in clear.
            details["psp"] = "stripe"
            details["paymentFlow"] = "escrow"
        case .paymentIntent:
            break
        }
        return Offer(rail: id, amount: charge.amount, payee: payee, expiresAt: charge.expiresAt, id: offerID, details: details)
    }

    private func createIntent(for charge: Charge) async throws(RailError) -> StripePaymentIntent {
        var form = StripeForm()
        form.add("amount", String(charge.amount.amount))
        form.add("currency", charge.amount.unit.code)
        form.add("payment_method_types[]", "card")
        form.add("capture_method", captureMethod.rawValue)
        form.add("metadata[payrail_challenge]", charge.challengeID)
        form.add("metadata[payrail_resource]", charge.resource.description)
        form.add("metadata[payrail_expires_at]", String(Int64(charge.expiresAt.timeIntervalSince1970)))
        let key = StripeIdempotency.key("create-intent", [charge.challengeID, String(charge.amount.amount), charge.amount.unit.code])
        let intent: StripePaymentIntent
        do { intent = try await client.createPaymentIntent(form, idempotencyKey: key).value } catch {
            throw error.railError("creating the PaymentIntent")
        }
        guard intent.amount == charge.amount.amount, intent.currency == charge.amount.unit.code,
              intent.metadata["payrail_challenge"] == charge.challengeID, intent.clientSecret?.isEmpty == false else {
            throw RailError(.unavailable, "Stripe created a PaymentIntent other than the one asked for", retry: .afterLookup, rail: id)
        }
        return intent
    }

    /// The settlement made in this process, or else Stripe's word: the offer's PaymentIntent
    /// (`.paymentIntent`) or the one found by the offer in its metadata (`.sharedPaymentToken`,
    /// through Stripe's eventually consistent search). `nil` when it is not paid.
    public func settlement(of offer: Offer) async throws(RailError) -> Settlement? {
        if let known = await settled.settlement(for: offer.id) { return known.settlement }
        let intent: StripePaymentIntent?
        do {
            if Self.chargesAtSettle(offer) {
                intent = try await client.searchPaymentIntents(metadataKey: "payrail_offer", value: offer.id).first
            } else {
                intent = try await client.retrievePaymentIntent(offer.id)
            }
        } catch {
            throw error.railError("looking the payment up")
        }
        guard let intent, boundTo(offer, intent) else { return nil }
        // A hold the card form should have captured before its grant was never granted: it lapses.
        let holdGrants = captureMethod == .manual && !(offer.details["form"] == StripeOfferForm.x402CardTag && cardCapture == .beforeGrant)
        guard intent.status == "succeeded" || (intent.status == "requires_capture" && holdGrants) else { return nil }
        return try await settlement(offer, intent)
    }

    /// Captures an authorization the gate served, cancels one it did not; final settlements need nothing.
    public func finish(_ settlement: Settlement, served: Bool) async throws(RailError) {
        guard case .authorization = settlement.kind else { return }
        let intentID = settlement.reference.hasPrefix("pi_") ? settlement.reference : settlement.offerID
        do {
            if served {
                let key = StripeIdempotency.key("capture", [intentID, String(settlement.amount.amount)])
                _ = try await client.capturePaymentIntent(intentID, amountToCapture: settlement.amount.amount, idempotencyKey: key)
            } else {
                _ = try await client.cancelPaymentIntent(intentID, reason: nil, idempotencyKey: StripeIdempotency.key("void", [intentID]))
            }
        } catch {
            // A capture or void already made (a retry of this call) is what was asked for. Stripe says
            // `payment_intent_unexpected_state`; localstripe only 400, so the state is looked up.
            if case .api(let api) = error, api.status == 400,
               let now = try? await client.retrievePaymentIntent(intentID),
               now.status == (served ? "succeeded" : "canceled") { return }
            throw error.railError(served ? "capturing the authorization" : "voiding the authorization")
        }
    }

    // No `cancellation_reason` is sent: it is optional at Stripe and localstripe refuses it.

    /// Cancels the PaymentIntent of an offer whose challenge expired unpaid (`.paymentIntent` only:
    /// a Shared Payment Token offer created nothing at Stripe).
    ///
    /// - Throws: `.alreadySettled` when the intent was paid after all (it is not cancelled; the
    ///   payer is owed a refund or a grant).
    public func discard(_ offer: Offer) async throws(RailError) {
        guard !Self.chargesAtSettle(offer), offer.id.hasPrefix("pi_") else { return }
        let intent: StripePaymentIntent
        do { intent = try await client.retrievePaymentIntent(offer.id) } catch { throw error.railError("looking the unpaid PaymentIntent up") }
        switch intent.status {
        case "canceled": return
        case "succeeded", "requires_capture", "processing":
            throw RailError(.alreadySettled, "the expired offer's PaymentIntent was paid (\(intent.status)); it is not cancelled", rail: id)
        default:
            do {
                _ = try await client.cancelPaymentIntent(offer.id, reason: nil, idempotencyKey: StripeIdempotency.key("discard", [offer.id]))
            } catch {
                throw error.railError("cancelling the unpaid PaymentIntent")
            }
        }
    }

    /// Whether the offer's PaymentIntent is made at settle time (token and x402 card forms), so it is
    /// found by the offer in its metadata and named by its own id.
    static func chargesAtSettle(_ offer: Offer) -> Bool {
        offer.details["form"] == "spt" || offer.details["form"] == StripeOfferForm.x402CardTag
    }

    /// Whether an intent is the one this offer asked for: amount, currency and challenge.
    func boundTo(_ offer: Offer, _ intent: StripePaymentIntent) -> Bool {
        intent.amount == offer.amount.amount && intent.currency == offer.amount.unit.code
            && intent.metadata["payrail_challenge"] == offer.details["challenge"]
    }

    /// The settlement for a paid intent. The reference is the charge (`ch_…`) in the plain form, whose
    /// credential carries the intent id, and the intent in the token form; the time is the charge's,
    /// so a lookup after a restart gives the same settlement.
    func settlement(_ offer: Offer, _ intent: StripePaymentIntent, chargeCreated: Int64? = nil) async throws(RailError) -> Settlement {
        var paidAt = chargeCreated ?? intent.latestChargeCreated
        if paidAt == nil, let chargeID = intent.latestChargeID {
            paidAt = try? await client.retrieveCharge(chargeID).created
        }
        let settledAt = paidAt.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? clock.now()
        let reference: String
        if Self.chargesAtSettle(offer) {
            reference = intent.id
        } else {
            reference = intent.latestChargeID ?? ("stripe-" + String(Hex.encode(SHA256.hash(Array(intent.id.utf8))).prefix(24)))
        }
        let kind: SettlementKind = intent.status == "requires_capture"
            ? .authorization(expiresAt: settledAt.addingTimeInterval(authorizationLifetime)) : .final
        return Settlement(rail: id, offerID: offer.id, reference: reference, amount: offer.amount, settledAt: settledAt, kind: kind)
    }
}
