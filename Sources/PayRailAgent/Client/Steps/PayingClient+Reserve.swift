import Foundation
import PayRail
import PayRailStore

// Reserve: budget is taken in the ledger before any wallet is asked to pay, under a ledger id this
// task has claimed, so a crash after the wallet paid leaves a pending spend to finish, never a payment
// the ledger does not know.

extension PayingClient {
    /// What reserving a candidate came to, when it did not throw.
    enum Reservation {
        /// Reserved, under this ledger id, which the caller holds in `inFlight` and must release.
        case reserved(ledgerID: String)
        /// The budget refused it: nothing was written, and the next candidate may fit.
        case overBudget(PayingClientError)
    }

    /// Reserves `amount` for `candidate` under the call's next free ledger id.
    ///
    /// - Throws: `.ledger` when the payment id used all its ledger ids or the ledger refused,
    ///   `.paymentInProgress` / `.paymentIDAlreadyPaid` when the id is taken by a spend not released.
    func reserve(
        _ candidate: Candidate, amount: Money, call: ChallengedCall, ledgerIndex: inout Int
    ) async throws(PayingClientError) -> Reservation {
        let negotiation = call.negotiation
        let context = SpendContext(paymentID: call.paymentID, offer: candidate.offer, bodyDigest: call.request.bodyDigest,
                                   challenge: call.challenge, receivedAt: call.receivedAt)
        // Each reservation of the call takes the next free ledger id: a released one (nothing was paid
        // under it) is skipped, so a payment id whose earlier attempt was released pays afresh.
        while true {
            guard ledgerIndex < Self.maximumLedgerIDs else {
                throw PayingClientError(.ledger, "payment id \(call.paymentID) has used all \(Self.maximumLedgerIDs) ledger ids; use a new id",
                                        negotiation: negotiation)
            }
            let ledgerID = Self.ledgerID(call.paymentID, index: ledgerIndex)
            ledgerIndex += 1
            // Claimed before the reservation exists, so no other task of this client can take the
            // new reserved spend for an abandoned one and pay it at the same time.
            guard inFlight.claim(ledgerID) else {
                throw PayingClientError(.paymentInProgress, "payment id \(call.paymentID) is being paid by another call right now; "
                                            + "call again when it ends and it will be finished, not paid twice",
                                        negotiation: negotiation, paymentID: ledgerID)
            }
            let spend = SpendRequest(paymentID: ledgerID, amount: amount, rail: candidate.offer.offer.rail,
                                     host: call.negotiationRequest.host, method: call.request.method,
                                     url: call.request.url.absoluteString, offerID: candidate.offer.offer.id, context: context.encoded())
            do {
                _ = try await configuration.governor.reserve(spend)
                return .reserved(ledgerID: ledgerID)
            } catch {
                inFlight.release(ledgerID)
                if error.code == .overBudget {
                    ledgerIndex -= 1  // nothing was written under this id
                    return .overBudget(PayingClientError(.overBudget, error.refusal?.description ?? error.reason,
                                                         negotiation: negotiation, budget: error.refusal))
                }
                if error.code == .duplicate, let existing = error.record {
                    if existing.state == .released, ledgerIndex < Self.maximumLedgerIDs { continue }
                    throw Self.reuseError(existing, paymentID: call.paymentID, negotiation: negotiation)
                }
                throw PayingClientError(.ledger, "the spend ledger refused the reservation: \(error)", negotiation: negotiation)
            }
        }
    }

    /// The amount to reserve, in the unit the owner budgets: a millisatoshi total counts against a
    /// satoshi budget (rounded up) when only satoshis are budgeted, so one budget covers both units
    /// Lightning prices come in, instead of two budgets each as large.
    func budgetAmount(_ total: Money) async -> Money {
        let limits = await configuration.governor.limits
        // An offer in a unit the owner set no budget for is budgeted in the policy's unit, converted
        // through the owner's rate table, rounded up (the negotiator ranked it the same way); with no
        // rate it stays as it is and the governor refuses it.
        let policy = configuration.negotiator.policy
        if total.unit != .msat, limits.limit(for: total.unit) == nil, limits.limit(for: policy.unit) != nil,
           let converted = try? policy.exchangeRates.convert(total, to: policy.unit, at: Date()) {
            return converted
        }
        guard total.unit == .msat else { return total }
        guard limits.limit(for: .msat) == nil, limits.limit(for: .sat) != nil else { return total }
        let sats = total.amount / 1000 + (total.amount % 1000 == 0 ? 0 : 1)
        return (try? Money(amount: sats, unit: .sat)) ?? total
    }

    /// The most ledger ids one payment id may use (its reservations and fresh attempts after releases).
    static let maximumLedgerIDs = 64

    /// The ledger id of a payment id's `index`th reservation: the id itself, then `id.1`, `id.2`, ...
    static func ledgerID(_ paymentID: String, index: Int) -> String {
        index == 0 ? paymentID : "\(paymentID).\(index)"
    }
}

/// The ledger ids this client is working on right now, so a concurrent call never "resumes" them.
final class InFlightSet: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: Set<String> = []
    /// Takes `id` for the caller; false when another task holds it (test and set in one step).
    func claim(_ id: String) -> Bool { lock.withLock { ids.insert(id).inserted } }
    /// Gives back an id this caller claimed.
    func release(_ id: String) { lock.withLock { _ = ids.remove(id) } }
    func contains(_ id: String) -> Bool { lock.withLock { ids.contains(id) } }
}
