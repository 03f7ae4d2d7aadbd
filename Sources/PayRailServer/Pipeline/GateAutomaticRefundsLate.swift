import Foundation
import PayRail
import PayRailCrypto
import PayRailStore

// Late payments: money a rail took for an offer the gate will not grant any more. Three ways in, all
// through the rail's own lookup (`settlement(of:)`), so nothing is ever settled here only to be
// refunded: a credential presented after its challenge's presentation grace whose offer the rail
// reports settled (the gate settled it and failed to record it, then the payer came back too late),
// a rail that refuses to settle because it was paid after the offer expired (Stripe's `.expired` for
// an intent confirmed late), and an expired offer the purge finds paid but never presented
// (`discard` answers `.alreadySettled`). Each is recorded as a consumption whose grant ended the moment it was recorded
// and that has no response, so the challenge can never be granted, its settlement is never lost,
// and the automatic refund pass gives it back where the rail can (`GateAutomaticRefunds.swift`).
// The consumption is the same atomic step as a grant: of a late record and a grant racing for one
// challenge, exactly one wins.

extension Gate {
    /// Receipt ids of late records are this and the challenge id (they have no receipt token: nothing
    /// to replay); a granted receipt's id is the challenge id itself.
    static let lateReceiptPrefix = "late-"

    /// Whether a consumption is a late record (`recordLate`), never a grant.
    static func isLate(_ consumed: ConsumedChallenge) -> Bool {
        consumed.receipt.receiptID == lateReceiptPrefix + consumed.challengeID
    }

    /// A credential presented after its challenge's grace: nothing is settled (a payment the rail
    /// only holds stays with the rail, which gives it back itself), but a payment the rail already
    /// took for this offer and this gate never recorded (the store failed, or the process died,
    /// between the settlement and its record) is recorded now, and `refusal` says it is refunded.
    func presentedLate(paying paid: PaidOffer, refusal: GateRefusal) async -> GateRefusal {
        guard let rail = configuration.rails.first(where: { $0.id == paid.offer.rail }),
              let found = await recordedLate(paid.offer, record: paid.record, rail: rail) else { return refusal }
        return Self.lateRefusal(found, refusal: refusal, refundable: rail.capabilities.refundable)
    }

    /// The rail's settlement of an offer it reports paid, recorded as late; `nil` when it is not paid,
    /// the rail cannot tell, or it could not be recorded (the next presentation or purge tries again).
    @discardableResult
    func recordedLate(_ offer: Offer, record: ChallengeRecord, rail: any PayeeRail) async -> Settlement? {
        let found: Settlement?
        do { found = try await rail.settlement(of: offer) } catch {
            if error.code != .unsupported {
                log("late-lookup-failed rail=\(rail.id) challenge=\(Self.short(record.id)) code=\(error.code)")
            }
            return nil
        }
        guard let found, await recordLate(found, record: record, rail: rail) else { return nil }
        return found
    }

    /// Records a settlement the gate will never grant: consumed with a grant that is already over and
    /// no response. An authorization is voided instead (nothing was captured, nothing to refund).
    ///
    /// - Returns: whether the payment is recorded (by this call or an earlier one).
    func recordLate(_ settlement: Settlement, record: ChallengeRecord, rail: any PayeeRail) async -> Bool {
        let challenge = Self.short(record.id)
        guard settlement.kind.isFinal else {
            do { try await rail.finish(settlement, served: false) } catch {
                log("late-void-failed rail=\(rail.id) challenge=\(challenge) code=\(error.code)")
            }
            return false
        }
        let now = configuration.clock.now()
        let receipt = ReceiptRecord(receiptID: Self.lateReceiptPrefix + record.id,
                                    tokenHash: Data(SHA256.hash(Array(("payrail-late-v1:" + record.id).utf8))),
                                    resource: record.resource, issuedAt: now, grantExpiresAt: now, credentialHash: nil)
        do {
            switch try await configuration.store.consume(challengeID: record.id, settlement: settlement, receipt: receipt) {
            case .consumed:
                log("\(record.resource) late-payment recorded rail=\(rail.id) challenge=\(challenge) ref=\(settlement.reference) "
                    + "amount=\(settlement.amount) (never granted; "
                    + (rail.capabilities.refundable ? "refunded automatically)" : "the rail cannot refund: kept for the operator)"))
                return true
            case .alreadyConsumed(let winner):
                return winner.settlement.reference == settlement.reference
            }
        } catch {
            log("late-payment-unrecorded rail=\(rail.id) challenge=\(challenge) ref=\(settlement.reference) code=\(error.code)")
            return false
        }
    }

    /// The refusal a late payer gets: still a fresh challenge (nothing is granted), saying what
    /// happens to the money it paid.
    static func lateRefusal(_ settlement: Settlement, refusal: GateRefusal, refundable: Bool) -> GateRefusal {
        let next = refundable ? "it is refunded automatically" : "this rail cannot refund it automatically: contact the operator"
        var late = GateRefusal(credential: .paymentExpired,
                               detail: "the payment (reference \(settlement.reference)) came after the challenge expired and buys "
                                   + "nothing; \(next); pay the fresh challenge",
                               logReason: "expired paid-late ref=\(settlement.reference)", challengeID: refusal.challengeID)
        late.dialect = refusal.dialect
        return late
    }
}
