import Foundation
import PayRail

// What the gate's automatic refunds need to find: payments whose grant ended without a response
// ever being stored (the resource was never served), and refunds left pending (the rail's answer
// was lost, or it could not be reached). Both lists are read by a periodic task, so they are
// bounded (`limit`) and ordered oldest first; a store that cannot list them simply never refunds
// automatically (the operator's `payrail refund` still works).
//
// "Handled" is recorded in the refunds table itself: a consumption with any refund row (pending,
// succeeded, or failed: a rail that refused, a rail that cannot refund) is never listed as
// unserved again, so a payment is considered at most once and never refunded twice by this path.

/// Lists the payments the gate should refund on its own, and the refunds it should finish.
public protocol AutomaticRefundStore: Sendable {
    /// Up to `limit` consumptions with a final settlement whose grant ended before `grantEndedBefore`,
    /// with no response stored, no refund recorded (in any status) and no dispute recorded
    /// (`charge.dispute.*` events), oldest grant end first.
    func unservedConsumptions(grantEndedBefore: Date, limit: Int) async throws(StoreError) -> [ConsumedChallenge]

    /// Up to `limit` refunds still `pending` whose status last changed before `updatedBefore` and whose
    /// payment is still stored (it is kept 30 days after the reservation), oldest first.
    func pendingRefunds(updatedBefore: Date, limit: Int) async throws(StoreError) -> [RefundRecord]
}

extension MemoryGateStore: AutomaticRefundStore {
    /// Unserved consumptions (see `AutomaticRefundStore.unservedConsumptions`).
    public func unservedConsumptions(grantEndedBefore: Date, limit: Int) async throws(StoreError) -> [ConsumedChallenge] {
        let cutoff = StoreTime.normalized(grantEndedBefore)
        return lock.withLock {
            let disputed = Set(events.values.filter { $0.type.hasPrefix("charge.dispute.") }.compactMap(\.challengeID))
            let found = consumed.values.filter {
                $0.settlement.kind.isFinal && $0.receipt.grantExpiresAt < cutoff && $0.receipt.response == nil
                    && (refundsByChallenge[$0.challengeID] ?? []).isEmpty && !disputed.contains($0.challengeID)
            }
            let ordered = found.sorted { ($0.receipt.grantExpiresAt, $0.challengeID) < ($1.receipt.grantExpiresAt, $1.challengeID) }
            return Array(ordered.prefix(max(0, limit)))
        }
    }

    /// Pending refunds (see `AutomaticRefundStore.pendingRefunds`).
    public func pendingRefunds(updatedBefore: Date, limit: Int) async throws(StoreError) -> [RefundRecord] {
        let cutoff = StoreTime.normalized(updatedBefore)
        return lock.withLock {
            let pending = refundsByChallenge.values.joined().filter {
                $0.status == .pending && $0.updatedAt < cutoff && consumed[$0.challengeID] != nil
            }
            let ordered = pending.sorted { ($0.updatedAt, $0.challengeID, $0.key) < ($1.updatedAt, $1.challengeID, $1.key) }
            return Array(ordered.prefix(max(0, limit)))
        }
    }
}

extension SQLiteGateStore: AutomaticRefundStore {
    /// Unserved consumptions (see `AutomaticRefundStore.unservedConsumptions`). This schema records
    /// final settlements only, so every row qualifies on that count.
    public func unservedConsumptions(grantEndedBefore: Date, limit: Int) async throws(StoreError) -> [ConsumedChallenge] {
        let cutoff = StoreTime.milliseconds(grantEndedBefore)
        let limit = Int64(max(0, limit))
        return try await perform { connection throws(StoreError) in
            try connection.query("""
                SELECT \(Self.consumedColumns) FROM consumed_challenges c
                WHERE c.grant_expires_at_ms < ? AND c.response_status IS NULL
                  AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.challenge_id = c.challenge_id)
                  AND NOT EXISTS (SELECT 1 FROM payment_events e WHERE e.challenge_id = c.challenge_id
                                  AND e.type LIKE 'charge.dispute.%')
                ORDER BY c.grant_expires_at_ms, c.challenge_id LIMIT ?
                """, [.integer(cutoff), .integer(limit)], row: Self.consumed)
        }
    }

    /// Pending refunds (see `AutomaticRefundStore.pendingRefunds`).
    public func pendingRefunds(updatedBefore: Date, limit: Int) async throws(StoreError) -> [RefundRecord] {
        let cutoff = StoreTime.milliseconds(updatedBefore)
        let limit = Int64(max(0, limit))
        return try await perform { connection throws(StoreError) in
            try connection.query("""
                SELECT challenge_id, refund_key, amount_minor, unit_code, unit_exponent, reason, rail_refund_id, created_at_ms, updated_at_ms
                FROM refunds r WHERE status = 'pending' AND updated_at_ms < ?
                  AND EXISTS (SELECT 1 FROM consumed_challenges c WHERE c.challenge_id = r.challenge_id)
                ORDER BY updated_at_ms, challenge_id, refund_key LIMIT ?
                """, [.integer(cutoff), .integer(limit)]) { row throws(StoreError) in
                RefundRecord(challengeID: row.text(0), key: row.text(1),
                             amount: try Coding.money(row.integer(2), code: row.text(3), exponent: row.integer(4)),
                             reason: row.optionalText(5), status: .pending, railRefundID: row.optionalText(6),
                             createdAt: StoreTime.date(milliseconds: row.integer(7)),
                             updatedAt: StoreTime.date(milliseconds: row.integer(8)))
            }
        }
    }
}
