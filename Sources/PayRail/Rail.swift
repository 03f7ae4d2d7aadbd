import Foundation

// The rail contract. A server gets paid (PayeeRail) and an agent pays (PayerRail); one rail adapter
// usually provides both. The shapes were checked against Lightning (invoice/payment hash/preimage),
// Stripe (PaymentIntent confirmed with a shared payment token) and the fake processor (signed
// vouchers): all three express their request in `Offer.details` and their proof in
// `Credential.payload`, and all three can say "settled exactly once" in `settle`.

/// Who bears a rail's fees, which decides how a payer's quote relates to the offer's amount.
public enum FeeModel: String, Hashable, Sendable, Codable {
    /// No fee on either side (the fake processor).
    case free
    /// The payer pays a network fee on top of the amount (Lightning routing); quotes give a maximum.
    case payerPaysNetworkFee
    /// The payee's proceeds are reduced by a processing fee (Stripe); the payer pays exactly the amount.
    case payeePaysProcessingFee
}

/// The amounts a rail accepts in one unit.
public struct AmountLimit: Hashable, Sendable {
    /// The smallest amount accepted.
    public let minimum: Money
    /// The largest amount accepted.
    public let maximum: Money

    /// Creates a limit.
    ///
    /// - Throws: `MoneyError.unitMismatch` when the bounds differ in unit, `malformed` when the
    ///   minimum exceeds the maximum.
    public init(minimum: Money, maximum: Money) throws(MoneyError) {
        guard try minimum.compare(maximum) <= 0 else {
            throw MoneyError.malformed("minimum \(minimum) is above maximum \(maximum)")
        }
        self.minimum = minimum
        self.maximum = maximum
    }

    /// The unit of both bounds.
    public var unit: MoneyUnit { minimum.unit }
}

/// What a payee rail can take, so servers price only what it accepts and agents pre-filter offers.
public struct RailCapabilities: Hashable, Sendable {
    /// Accepted amounts per unit; a unit absent here is not accepted at all.
    public let limits: [AmountLimit]
    /// Typical time from payment to settlement (Lightning: seconds; cards: immediate authorization).
    public let settlementTime: Duration
    /// Whether the rail can refund a settled payment.
    public let refundable: Bool
    /// Who pays the rail's fees.
    public let feeModel: FeeModel

    /// Creates capabilities.
    public init(limits: [AmountLimit], settlementTime: Duration, refundable: Bool, feeModel: FeeModel) {
        self.limits = limits
        self.settlementTime = settlementTime
        self.refundable = refundable
        self.feeModel = feeModel
    }

    /// The units accepted, in declaration order.
    public var units: [MoneyUnit] { limits.map(\.unit) }

    /// The limit for one unit, or `nil` when the unit is not accepted.
    public func limit(for unit: MoneyUnit) -> AmountLimit? {
        limits.first { $0.unit == unit }
    }

    /// Refuses an amount this rail cannot take, with the `.unsupported` error a `prepare` should throw.
    ///
    /// - Throws: `RailError` with code `.unsupported` naming the accepted range.
    public func check(_ amount: Money, rail: RailID) throws(RailError) {
        guard let limit = limit(for: amount.unit) else {
            let accepted = units.map(\.code).joined(separator: ", ")
            throw RailError(.unsupported, "\(amount.unit) is not accepted (accepted: \(accepted))", rail: rail)
        }
        // Same unit, so the comparisons cannot throw; treat an impossible failure as out of range.
        let tooSmall = (try? amount.isLess(than: limit.minimum)) ?? true
        let tooLarge = (try? limit.maximum.isLess(than: amount)) ?? true
        guard !tooSmall, !tooLarge else {
            throw RailError(
                .unsupported, "\(amount) is outside \(limit.minimum)...\(limit.maximum)", rail: rail)
        }
    }
}

/// The server side of a rail: turns a charge into an offer, and a credential into a settlement.
public protocol PayeeRail: Sendable {
    /// This rail's name.
    var id: RailID { get }
    /// What this rail accepts.
    var capabilities: RailCapabilities { get }

    /// Creates the rail's payment request for a charge (an invoice, a Stripe charge description, a
    /// fake processor request). The offer's amount equals the charge's and it expires no later.
    ///
    /// - Throws: `.unsupported` for an amount outside `capabilities`; `.unavailable` when the rail's
    ///   backend cannot be reached.
    func prepare(_ charge: Charge) async throws(RailError) -> Offer

    /// Verifies a credential against the offer it claims to pay and settles it, at most once.
    ///
    /// Concurrent calls with the same credential give exactly one settlement; the others get
    /// `.alreadySettled`. A refused credential (mismatch, invalidProof, malformed) consumes nothing.
    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement

    /// Looks up how `offer` was settled, without settling anything.
    ///
    /// A server calls it after `settle` answered `.alreadySettled` and it has no record of that
    /// settlement (its store failed between the rail's settlement and its own write, or it crashed):
    /// the payer's money moved, so the grant must still be given, once. The default implementation
    /// throws `.unsupported`; rails whose backend can answer (an invoice's status, a PaymentIntent,
    /// the fake processor's request) implement it.
    ///
    /// - Returns: the settlement, or `nil` when the offer is not settled.
    /// - Throws: `.unsupported` when the rail cannot look settlements up; `.unavailable`/`.timedOut`
    ///   when the backend did not answer (retry later).
    func settlement(of offer: Offer) async throws(RailError) -> Settlement?

    /// Ends a payment flow once the gate knows whether the paid response was served: captures an
    /// authorization (`served`) or voids it (not served). Called once per granted settlement, after
    /// the response; never for a regrant of an earlier one. The default does nothing, which is right
    /// for every final settlement (Lightning, the fake processor, a captured card payment).
    ///
    /// - Throws: `RailError`; `.unavailable`/`.timedOut` when the backend did not answer (the gate
    ///   reports it; the rail must make a later call with the same settlement safe).
    func finish(_ settlement: Settlement, served: Bool) async throws(RailError)

    /// Cancels an offer whose challenge expired unpaid as far as the gate knows (a PaymentIntent
    /// created for a 402), so that nothing can pay it later. Called when the gate purges expired
    /// challenges, possibly more than once for one offer. The default does nothing: an expired
    /// invoice or fake request cannot be paid anyway.
    ///
    /// - Throws: `.alreadySettled` when the offer was in fact paid but never presented within the
    ///   gate's presentation grace: it must not be cancelled, and the rail owes the payer a refund
    ///   (the gate logs its reference); `.unavailable`/`.timedOut` when the backend did not answer
    ///   (the gate keeps the challenge and tries again at its next purge).
    func discard(_ offer: Offer) async throws(RailError)

    /// Gives `amount` of a final settlement back to its payer, at most once per `idempotencyKey`.
    ///
    /// Rails declaring `capabilities.refundable` implement it: never more than was paid minus what was
    /// already refunded (checked against the rail's own record, not the caller's), and the same key
    /// again returns the first refund without moving money twice. The default throws `.unsupported`.
    ///
    /// - Parameters:
    ///   - settlement: a final settlement this rail returned.
    ///   - amount: how much to refund, in the settlement's unit; `nil` refunds all that is left.
    ///   - reason: a note for the operator's records (never sent where the backend refuses it).
    ///   - idempotencyKey: the caller's key for this refund; repeat it after `.timedOut`.
    /// - Throws: `.unsupported` when the rail cannot refund or the amount exceeds what is left;
    ///   `.timedOut` (`.afterLookup`) when the outcome is unknown: call again with the same key.
    func refund(_ settlement: Settlement, amount: Money?, reason: String?, idempotencyKey: String) async throws(RailError) -> Refund
}

extension PayeeRail {
    /// Rails without a lookup: a settlement the server lost cannot be recovered through the rail.
    public func settlement(of offer: Offer) async throws(RailError) -> Settlement? {
        throw RailError(.unsupported, "rail \(id) cannot look up settlements", rail: id)
    }

    /// Final settlements need nothing after the response: the money already moved.
    public func finish(_ settlement: Settlement, served: Bool) async throws(RailError) {}

    /// Offers that cost nothing to leave unpaid (an invoice, a fake request) simply expire.
    public func discard(_ offer: Offer) async throws(RailError) {}

    /// Rails that cannot send money back refuse, saying what the operator can do instead.
    public func refund(_ settlement: Settlement, amount: Money?, reason: String?, idempotencyKey: String) async throws(RailError) -> Refund {
        throw RailError(.unsupported, "rail \(id) cannot refund; pay the payer back outside PayRail "
                        + "(the settlement reference is \(settlement.reference))", rail: id)
    }
}

/// A payer's answer to "would you pay this offer, and for how much in total?".
public enum QuoteDecision: Hashable, Sendable {
    /// The rail can pay; the quote says what it will cost.
    case payable(Quote)
    /// The rail will not pay; the error says why and whether asking again can help.
    case refused(RailError)
}

/// The agent side of a rail: prices and pays offers.
public protocol PayerRail: Sendable {
    /// This rail's name.
    var id: RailID { get }

    /// What paying `offer` would cost, or why this rail will not pay it. Moves no money.
    func quote(_ offer: Offer) async -> QuoteDecision

    /// Pays an offer and returns the proof to present to the payee.
    ///
    /// Rails make this idempotent per offer where the backend allows it, so that after `.timedOut`
    /// (advice `.afterLookup`) calling `pay` again returns the same proof without paying twice.
    func pay(_ offer: Offer) async throws(RailError) -> Credential
}
