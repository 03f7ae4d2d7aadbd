import Foundation
import PayRail

// Refunds are not part of the Rail contract yet (issue 17 asks for `payrail refund` across rails);
// until they are, the Stripe payee rail offers them as its own method, for the same settlements it
// returned. Never more than what was captured and not yet refunded: Stripe refuses an over-refund
// itself, localstripe does not, and the rail must not depend on the server for that.

extension StripePayeeRail {
    /// Refunds `amount` (default: all that is left) of a final settlement.
    ///
    /// - Parameter reference: the caller's name for this refund (a receipt id, a ticket): with the
    ///   settlement and the amount it makes the Idempotency-Key, so repeating the same refund after a
    ///   timeout never refunds twice, while a second, deliberate refund takes another reference.
    /// - Throws: `.unsupported` for an authorization (void it with `finish(_:served: false)`), another
    ///   unit, a non-positive amount or more than is left to refund; Stripe errors as `railError`.
    public func refund(_ settlement: Settlement, amount: Money? = nil, reference: String) async throws(RailError) -> StripeRefund {
        guard settlement.rail == id, settlement.kind.isFinal else {
            throw RailError(.unsupported, "only a captured Stripe settlement can be refunded (void an authorization instead)", rail: id)
        }
        let intentID = settlement.reference.hasPrefix("pi_") ? settlement.reference : settlement.offerID
        let charge: StripeCharge
        do {
            let intent = try await client.retrievePaymentIntent(intentID)
            guard let chargeID = intent.latestChargeID else {
                throw RailError(.unsupported, "the PaymentIntent has no charge to refund", rail: id)
            }
            charge = try await client.retrieveCharge(chargeID)
        } catch let error as StripeError {
            throw error.railError("looking the charge up")
        } catch let error as RailError {
            throw error
        } catch {
            throw RailError(.unavailable, "looking the charge up failed unexpectedly", retry: .afterLookup, rail: id)
        }
        let wanted = amount ?? (try? Money(amount: charge.refundable, unit: settlement.amount.unit)) ?? .zero(settlement.amount.unit)
        guard wanted.unit == settlement.amount.unit, wanted.amount > 0, wanted.amount <= charge.refundable else {
            throw RailError(.unsupported, "\(wanted) cannot be refunded: \(charge.refundable) \(settlement.amount.unit) is left of \(settlement.amount)", rail: id)
        }
        let key = StripeIdempotency.key("refund", [intentID, String(wanted.amount), wanted.unit.code, reference])
        do {
            return try await client.createRefund(paymentIntent: intentID, amount: wanted.amount, idempotencyKey: key).value
        } catch {
            throw error.railError("refunding")
        }
    }
}
