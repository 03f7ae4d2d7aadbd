import Foundation
import PayRail

// Refunds, through the Rail contract (`refund(_:amount:reason:idempotencyKey:)`, what `payrail
// refund` calls) and the older `refund(_:amount:reference:)`. Never more than what was captured and
// not yet refunded: Stripe refuses an over-refund itself, localstripe does not, and the rail must not
// depend on the server for that. The Idempotency-Key of the contract form is derived from the
// intent and the caller's key only (not the amount), so a retry after a timeout replays at Stripe;
// localstripe ignores keys, so the gate's store keeps its own record of each refund as well.

extension StripePayeeRail {
    /// Refunds `amount` (default: all that is left) of a final settlement.
    ///
    /// - Parameter reference: the caller's name for this refund (a receipt id, a ticket): with the
    ///   settlement and the amount it makes the Idempotency-Key, so repeating the same refund after a
    ///   timeout never refunds twice, while a second, deliberate refund takes another reference.
    /// - Throws: `.unsupported` for an authorization (void it with `finish(_:served: false)`), another
    ///   unit, a non-positive amount or more than is left to refund; Stripe errors as `railError`.
    public func refund(_ settlement: Settlement, amount: Money? = nil, reference: String) async throws(RailError) -> StripeRefund {
        try await createRefund(settlement, amount: amount) { intentID, wanted in
            StripeIdempotency.key("refund", [intentID, String(wanted.amount), wanted.unit.code, reference])
        }
    }

    /// Refunds through the Rail contract; `reason` is kept by the caller, not sent (localstripe
    /// refuses refund `reason`, and Stripe accepts only its own three values). The caller's key goes
    /// into the refund's metadata as well as the Idempotency-Key, and the intent's refunds are listed
    /// first: a refund already made under this key is returned without a second POST, even by a
    /// server that ignores Idempotency-Key (localstripe) or after Stripe forgot the key (24 hours).
    public func refund(_ settlement: Settlement, amount: Money?, reason: String?, idempotencyKey: String) async throws(RailError) -> Refund {
        let intentID = settlement.reference.hasPrefix("pi_") ? settlement.reference : settlement.offerID
        let earlierUnderKey = settlement.rail == id && settlement.kind.isFinal
            ? try await earlierRefunds(intentID, key: idempotencyKey) : []
        // Refunds Stripe gave up on (failed, canceled) moved nothing: the caller may try again under the
        // same key, and each new attempt gets its own Stripe Idempotency-Key (the old one would replay the
        // failure, or be an idempotency_error when the amount changed).
        let failedAttempts = earlierUnderKey.filter { Self.refundStatus($0.status) == .failed }.count
        if let earlier = earlierUnderKey.first(where: { Self.refundStatus($0.status) != .failed }) {
            let money = (try? Money(amount: earlier.amount, unit: settlement.amount.unit)) ?? settlement.amount
            guard amount == nil || amount == money else {
                throw RailError(.mismatch, "refund key already used for \(money), not \(amount.map(\.description) ?? "the rest")", rail: id)
            }
            return Refund(rail: id, id: earlier.id, settlementReference: settlement.reference, amount: money,
                          status: Self.refundStatus(earlier.status))
        }
        let refund = try await createRefund(settlement, amount: amount, metadataKey: idempotencyKey) { intentID, _ in
            StripeIdempotency.key("refund", [intentID, "contract", idempotencyKey] + (failedAttempts > 0 ? ["attempt-\(failedAttempts + 1)"] : []))
        }
        let money = (try? Money(amount: refund.amount, unit: settlement.amount.unit)) ?? settlement.amount
        return Refund(rail: id, id: refund.id, settlementReference: settlement.reference, amount: money,
                      status: Self.refundStatus(refund.status))
    }

    /// `GET /v1/refunds?payment_intent=…&limit=100`: the refunds made under `key`.
    private func earlierRefunds(_ intentID: String, key: String) async throws(RailError) -> [StripeKeyedRefund] {
        do {
            let list: StripeKeyedRefundList = try await client.get(
                "/v1/refunds?payment_intent=" + StripeClient.checked(intentID, prefix: "pi_") + "&limit=100").value
            return list.data.filter { $0.metadata?[Self.refundKeyMetadata] == key }
        } catch {
            throw error.railError("listing the refunds")
        }
    }

    /// The metadata name the caller's refund key is kept under.
    static let refundKeyMetadata = "payrail_refund_key"

    /// Stripe's refund status as the contract's; an unknown or missing one is `.pending` (look again).
    static func refundStatus(_ status: String?) -> RefundStatus {
        switch status {
        case "succeeded": return .succeeded
        case "failed", "canceled": return .failed
        default: return .pending
        }
    }

    private func createRefund(_ settlement: Settlement, amount: Money?, metadataKey: String? = nil,
                              key: (String, Money) -> String) async throws(RailError) -> StripeRefund {
        guard settlement.rail == id, settlement.kind.isFinal else {
            throw RailError(.unsupported, "only a captured Stripe settlement can be refunded (void an authorization instead)", rail: id)
        }
        let intentID = settlement.reference.hasPrefix("pi_") ? settlement.reference : settlement.offerID
        let charge = try await refundableCharge(intentID)
        let wanted = amount ?? (try? Money(amount: charge.refundable, unit: settlement.amount.unit)) ?? .zero(settlement.amount.unit)
        guard wanted.unit == settlement.amount.unit, wanted.amount > 0, wanted.amount <= charge.refundable else {
            throw RailError(.unsupported, "\(wanted) cannot be refunded: \(charge.refundable) \(settlement.amount.unit) is left of \(settlement.amount)", rail: id)
        }
        do {
            guard let metadataKey else {
                return try await client.createRefund(paymentIntent: intentID, amount: wanted.amount, idempotencyKey: key(intentID, wanted)).value
            }
            var form = StripeForm()
            form.add("payment_intent", intentID)
            form.add("amount", String(wanted.amount))
            form.add("metadata[\(Self.refundKeyMetadata)]", metadataKey)
            let reply: StripeReply<StripeRefund> = try await client.post("/v1/refunds", form, idempotencyKey: key(intentID, wanted))
            return reply.value
        } catch {
            throw error.railError("refunding")
        }
    }

    private func refundableCharge(_ intentID: String) async throws(RailError) -> StripeCharge {
        do {
            let intent = try await client.retrievePaymentIntent(intentID)
            guard let chargeID = intent.latestChargeID else {
                throw RailError(.unsupported, "the PaymentIntent has no charge to refund", rail: id)
            }
            return try await client.retrieveCharge(chargeID)
        } catch let error as StripeError {
            throw error.railError("looking the charge up")
        } catch let error as RailError {
            throw error
        } catch {
            throw RailError(.unavailable, "looking the charge up failed unexpectedly", retry: .afterLookup, rail: id)
        }
    }
}

/// A refund with the metadata the contract form reads back (schema `refund`).
struct StripeKeyedRefund: Sendable, Decodable {
    let id: String
    let amount: Int64
    let status: String?
    let metadata: [String: String]?
}

/// `GET /v1/refunds` (schema `RefundList`).
struct StripeKeyedRefundList: Sendable, Decodable {
    let data: [StripeKeyedRefund]
}
