import Foundation
import PayRail
import PayRailCrypto
import PayRailStore

// Refunds of consumed challenges, for `payrail refund` (and any host): find the consumption by its
// receipt token (by hash, as the gate looks receipts up) or its settlement reference, reserve the
// refund in the store (never above what was paid, in one transaction), ask the rail that was paid
// with the same idempotency key, record its answer and end the receipt's grant. A refund whose
// outcome is unknown (timeout, lost connection) stays pending and ends the grant too (the money may
// have moved): running the same refund again asks the rail again with the same key, which never
// refunds twice. A refund the rail refused is recorded as failed and leaves the grant alone.

/// Why a refund was not made (or not finished).
public struct GateRefundError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Sendable {
        /// No consumption has this receipt token or reference (never paid here, or purged).
        case notFound
        /// The amount is refused: nothing left, another unit, or more than is left.
        case refused
        /// The rail that was paid is not configured, or cannot refund.
        case unsupported
        /// The refund is recorded as pending but the rail's answer is unknown: run the same refund again.
        case pending
        /// The store failed; nothing or only the reservation was written (safe to run again).
        case store
    }

    /// The kind.
    public let kind: Kind
    /// One sentence, with what to do; never a token or a secret.
    public let message: String

    /// The message.
    public var description: String { message }
}

/// The outcome of a refund request.
public struct GateRefundOutcome: Sendable {
    /// The consumed challenge refunded.
    public let challengeID: String
    /// The settlement refunded.
    public let settlement: Settlement
    /// The refund as recorded after this call.
    public let record: RefundRecord
    /// Whether this call found the refund already made (an identical earlier call), moving nothing.
    public let alreadyRecorded: Bool
    /// What is left to refund after this one.
    public let remaining: Money
}

/// Refunds consumed challenges through their rails; see the file comment.
public struct GateRefunder: Sendable {
    /// The gate's store (the same file `payrail serve` uses: refunds are recorded in one transaction).
    public let store: any GateStore & PaymentEventStore
    /// The payee rails, by id.
    public let rails: [RailID: any PayeeRail]

    /// Creates a refunder.
    public init(store: any GateStore & PaymentEventStore, rails: [any PayeeRail]) {
        self.store = store
        var byID: [RailID: any PayeeRail] = [:]
        for rail in rails { byID[rail.id] = rail }
        self.rails = byID
    }

    /// The consumption a receipt token or a settlement reference names.
    public func consumption(_ tokenOrReference: String) async throws(GateRefundError) -> ConsumedChallenge {
        let trimmed = tokenOrReference.trimmingCharacters(in: .whitespacesAndNewlines)
        let hash = Data(SHA256.hash(Array(trimmed.utf8)))
        let found: ConsumedChallenge?
        do {
            if let byToken = try await store.consumedChallenge(receiptTokenHash: hash) {
                found = byToken
            } else {
                found = try await store.consumedChallenge(settlementReference: trimmed)
            }
        } catch {
            throw GateRefundError(kind: .store, message: "the store failed (\(error)); nothing was refunded, try again")
        }
        guard let found else {
            throw GateRefundError(kind: .notFound, message: "no payment with this receipt or reference is recorded here "
                                  + "(check --data/--db; a consumption is kept until its grant and challenge expired)")
        }
        return found
    }

    /// Refunds `amount` (default: all that is left) of the payment a receipt token or reference names.
    ///
    /// The idempotency key is derived from the challenge, the requested amount (or "rest") and the
    /// reason, so the same command run twice refunds once; a second deliberate partial refund of the
    /// same amount takes another `reason`.
    public func refund(_ tokenOrReference: String, amount: Money?, reason: String?) async throws(GateRefundError) -> GateRefundOutcome {
        let consumed = try await consumption(tokenOrReference)
        let paid = consumed.settlement.amount
        guard let rail = rails[consumed.settlement.rail] else {
            throw GateRefundError(kind: .unsupported, message: "the payment was made on rail \(consumed.settlement.rail), "
                                  + "which is not configured here: pass the same --rail and settings as payrail serve")
        }
        let key = Self.key(challengeID: consumed.challengeID, amount: amount, reason: reason)
        let earlier = try await storeCall { () async throws(StoreError) in try await store.refunds(challengeID: consumed.challengeID) }
        var record: RefundRecord
        if let known = earlier.first(where: { $0.key == key && $0.counts }) {
            record = known
        } else {
            let left = paid.amount - earlier.filter(\.counts).reduce(Int64(0)) { $0 + $1.amount.amount }
            let wanted = amount ?? ((try? Money(amount: left, unit: paid.unit)) ?? .zero(paid.unit))
            guard wanted.unit == paid.unit, wanted.amount > 0, wanted.amount <= left else {
                throw GateRefundError(kind: .refused, message: "\(wanted) cannot be refunded: \(left) \(paid.unit.code) of \(paid) is left")
            }
            let now = Date()
            let pending = RefundRecord(challengeID: consumed.challengeID, key: key, amount: wanted, reason: reason, status: .pending,
                                       railRefundID: nil, createdAt: now, updatedAt: now)
            switch try await storeCall({ () async throws(StoreError) in try await store.reserveRefund(pending) }) {
            case .reserved(let reserved): record = reserved
            case .existing(let existing): record = existing
            }
        }
        let already = record.status == .succeeded
        if record.status == .pending { record = try await askRail(rail, consumed, record) }
        // A refund the rail gave up on moved nothing: the payer keeps the grant it paid for.
        guard record.status != .failed else {
            throw GateRefundError(kind: .refused, message: "the rail reports the refund of \(record.amount) failed"
                                  + (record.railRefundID.map { " (\($0))" } ?? "") + "; nothing was refunded and the grant stands")
        }
        try await storeCall { () async throws(StoreError) in try await store.endGrant(challengeID: consumed.challengeID) }
        let total = try await storeCall { () async throws(StoreError) in try await store.refunds(challengeID: consumed.challengeID) }
        let refunded = total.filter(\.counts).reduce(Int64(0)) { $0 + $1.amount.amount }
        return GateRefundOutcome(challengeID: consumed.challengeID, settlement: consumed.settlement, record: record,
                                 alreadyRecorded: already,
                                 remaining: (try? Money(amount: paid.amount - refunded, unit: paid.unit)) ?? .zero(paid.unit))
    }

    /// Asks the rail with the record's key and records the answer; an unknown outcome stays pending.
    private func askRail(_ rail: any PayeeRail, _ consumed: ConsumedChallenge, _ record: RefundRecord) async throws(GateRefundError) -> RefundRecord {
        do {
            let refund = try await rail.refund(consumed.settlement, amount: record.amount, reason: record.reason, idempotencyKey: record.key)
            return try await storeCall { () async throws(StoreError) in
                try await store.completeRefund(challengeID: consumed.challengeID, key: record.key, status: refund.status,
                                               railRefundID: refund.id)
            }
        } catch let error as RailError where error.retry == .safe {
            // Nothing reached the rail: release the reservation and leave the grant; running the same
            // command again tries again.
            _ = try? await store.completeRefund(challengeID: consumed.challengeID, key: record.key, status: .failed, railRefundID: nil)
            throw GateRefundError(kind: .refused, message: "nothing was refunded (\(error.reason)); the grant stands: run the same command again")
        } catch let error as RailError where error.retry == .afterLookup {
            try? await store.endGrant(challengeID: consumed.challengeID)  // the money may have moved
            throw GateRefundError(kind: .pending, message: "the refund of \(record.amount) is recorded as pending: \(error.reason); "
                                  + "run the same command again (the same idempotency key never refunds twice)")
        } catch let error as RailError {
            _ = try? await store.completeRefund(challengeID: consumed.challengeID, key: record.key, status: .failed, railRefundID: nil)
            throw GateRefundError(kind: error.code == .unsupported ? .unsupported : .refused,
                                  message: "the rail refused the refund: \(error.reason)")
        } catch let error as GateRefundError {
            // The rail refunded but the store did not record it: the money moved, so the grant ends
            // (best effort); the same command again records the rail's answer under the same key.
            try? await store.endGrant(challengeID: consumed.challengeID)
            throw error
        } catch {
            try? await store.endGrant(challengeID: consumed.challengeID)
            throw GateRefundError(kind: .pending, message: "the refund of \(record.amount) is recorded as pending; run the same command again")
        }
    }

    /// `refund-<48 hex>` over the challenge, the requested amount (or "rest") and the reason.
    public static func key(challengeID: String, amount: Money?, reason: String?) -> String {
        let parts = [challengeID, amount.map { "\($0.amount) \($0.unit.code)" } ?? "rest", reason ?? ""]
        var bytes = Array("payrail-refund-v1".utf8)
        for part in parts { bytes += [0] + Array(String(part.utf8.count).utf8) + [0x3A] + Array(part.utf8) }
        return "refund-" + String(Hex.encode(SHA256.hash(bytes)).prefix(48))
    }

    private func storeCall<T>(_ body: () async throws(StoreError) -> T) async throws(GateRefundError) -> T {
        do { return try await body() } catch {
            let kind: GateRefundError.Kind = error.code == .invalidArgument ? .refused : error.code == .notFound ? .notFound : .store
            throw GateRefundError(kind: kind, message: kind == .store ? "the store failed (\(error)); run the same command again" : error.reason)
        }
    }
}
