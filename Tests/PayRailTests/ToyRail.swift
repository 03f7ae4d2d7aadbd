import Foundation
import PayRail
import Testing

// A small but honest rail used to test the contract suite itself: an offer's proof is a random
// secret revealed by paying (like a Lightning preimage). Each `ToyBug` switches on one realistic
// defect, so the suite can be shown to catch it.

/// One deliberate defect the toy rail can have.
enum ToyBug: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case settlesTwice
    case racySettle
    case ignoresOfferBinding
    case acceptsAnyProof
    /// Refuses a credential presented after the offer expired although it was paid in time (the
    /// payment is then lost; this was the contract's rule before issue 15).
    case losesLatePayment
    case ignoresCapabilities
    case leaksSecretInErrors
    case wrongRetryAdvice
    case offerOutlivesCharge
    case shortchangesSettlement
    case consumesOnRefusal

    var testDescription: String { rawValue }
}

/// The toy processor's books: offers, their secrets, which are paid and settled.
actor ToyLedger {
    struct Record {
        let amount: Money
        let expiresAt: Date
        let secret: String
    }

    private var records: [String: Record] = [:]
    private var settled: Set<String> = []
    private var paidAt: [String: Date] = [:]
    private var counter = 0

    func register(amount: Money, expiresAt: Date) -> String {
        counter += 1
        let id = "toy-\(counter)"
        let secret = (UUID().uuidString + UUID().uuidString).replacingOccurrences(of: "-", with: "").lowercased()
        records[id] = Record(amount: amount, expiresAt: expiresAt, secret: secret)
        return id
    }

    func record(_ id: String) -> Record? { records[id] }

    func offerID(forSecret secret: String) -> String? {
        records.first { $0.value.secret == secret }?.key
    }

    /// Atomic: marks settled and says whether this call was the first.
    func markSettled(_ id: String) -> Bool {
        settled.insert(id).inserted
    }

    func isSettled(_ id: String) -> Bool { settled.contains(id) }

    /// Records when the payer paid (the first time only).
    func markPaid(_ id: String, at date: Date) {
        if paidAt[id] == nil { paidAt[id] = date }
    }

    /// When the payer paid, if it did.
    func paymentTime(_ id: String) -> Date? { paidAt[id] }
}

struct ToyPayee: PayeeRail {
    let ledger: ToyLedger
    let clock: any PayRailClock
    let bug: ToyBug?

    var id: RailID { .fake }

    var capabilities: RailCapabilities {
        // Fixed valid bounds; `try?` keeps the test helper free of force unwraps.
        let limit = (try? AmountLimit(minimum: Money(amount: 1, unit: .sat), maximum: Money(amount: 100_000, unit: .sat)))
        return RailCapabilities(limits: limit.map { [$0] } ?? [], settlementTime: .zero, refundable: false, feeModel: .free)
    }

    func prepare(_ charge: Charge) async throws(RailError) -> Offer {
        if bug != .ignoresCapabilities {
            try capabilities.check(charge.amount, rail: id)
        }
        let expiresAt = bug == .offerOutlivesCharge ? charge.expiresAt.addingTimeInterval(60) : charge.expiresAt
        let offerID = await ledger.register(amount: charge.amount, expiresAt: expiresAt)
        return Offer(rail: id, amount: charge.amount, payee: "toy-merchant", expiresAt: expiresAt, id: offerID)
    }

    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        guard credential.rail == id else { throw RailError(.mismatch, "credential is for another rail", rail: id) }
        guard let secret = credential.payload["secret"] else {
            throw RailError(.malformed, "the payload has no secret", rail: id)
        }
        var target = offer.id
        if bug == .ignoresOfferBinding {
            target = await ledger.offerID(forSecret: secret) ?? offer.id
        } else {
            guard credential.offerID == offer.id else {
                throw RailError(.mismatch, "credential pays another offer", rail: id)
            }
        }
        guard let record = await ledger.record(target) else {
            throw RailError(.mismatch, "unknown offer", rail: id)
        }
        // Late is fine for a payment made in time; one never made in time is not settled.
        if clock.now() > record.expiresAt {
            let paidInTime = await ledger.paymentTime(target).map { $0 <= record.expiresAt } ?? false
            if bug == .losesLatePayment || !paidInTime {
                throw RailError(.expired, "offer expired at \(record.expiresAt)", rail: id)
            }
        }
        if bug != .acceptsAnyProof, secret != record.secret {
            if bug == .consumesOnRefusal { _ = await ledger.markSettled(target) }
            throw RailError(.invalidProof, "the secret does not match", rail: id)
        }
        switch bug {
        case .settlesTwice:
            break
        case .racySettle:
            guard await !ledger.isSettled(target) else {
                throw RailError(.alreadySettled, "offer already settled", rail: id)
            }
            try? await Task.sleep(for: .milliseconds(20))
            _ = await ledger.markSettled(target)
        default:
            guard await ledger.markSettled(target) else {
                let reason = bug == .leaksSecretInErrors ? "offer already settled with \(secret)" : "offer already settled"
                let retry: RetryAdvice? = bug == .wrongRetryAdvice ? .safe : nil
                throw RailError(.alreadySettled, reason, retry: retry, rail: id)
            }
        }
        var amount = record.amount
        if bug == .shortchangesSettlement {
            amount = (try? Money(amount: record.amount.amount / 2, unit: record.amount.unit)) ?? record.amount
        }
        return Settlement(rail: id, offerID: target, reference: "ref-\(target)", amount: amount, settledAt: clock.now())
    }
}

struct ToyPayer: PayerRail {
    let ledger: ToyLedger
    let clock: any PayRailClock

    var id: RailID { .fake }

    func quote(_ offer: Offer) async -> QuoteDecision {
        guard offer.rail == id else { return .refused(RailError(.unsupported, "not a toy offer", rail: id)) }
        guard clock.now() <= offer.expiresAt else { return .refused(RailError(.expired, "offer expired", rail: id)) }
        return .payable(.free(offer.amount))
    }

    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        guard clock.now() <= offer.expiresAt else { throw RailError(.expired, "offer expired", rail: id) }
        guard let record = await ledger.record(offer.id) else { throw RailError(.mismatch, "unknown offer", rail: id) }
        await ledger.markPaid(offer.id, at: clock.now())
        return Credential(rail: id, offerID: offer.id, payload: ["secret": record.secret], payerID: "toy-agent")
    }
}
