import Foundation
import PayRail
import PayRailStore

// The gate's automatic refunds on PostgreSQL: the same two listings as SQLite's (see
// `AutomaticRefundStore`), each one bounded statement. An authorization is voided by the rail's
// `finish`, never refunded, so it is never listed as unserved.

extension PostgresGateStore: AutomaticRefundStore {
    /// Unserved consumptions (see `AutomaticRefundStore.unservedConsumptions`).
    public func unservedConsumptions(grantEndedBefore: Date, limit: Int) async throws(StoreError) -> [ConsumedChallenge] {
        let cutoff = StoreTime.milliseconds(grantEndedBefore)
        return try await database.run("list unserved payments") { connection throws(PostgresFailure) -> [ConsumedChallenge] in
            let rows = try connection.query("""
                SELECT \(PostgresGateSchema.consumedColumns) FROM consumed_challenges c
                WHERE c.grant_expires_at_ms < $1 AND c.response_status IS NULL AND c.authorization_expires_at_ms IS NULL
                  AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.challenge_id = c.challenge_id)
                  AND NOT EXISTS (SELECT 1 FROM payment_events e WHERE e.challenge_id = c.challenge_id
                                  AND e.type LIKE 'charge.dispute.%')
                ORDER BY c.grant_expires_at_ms, c.challenge_id LIMIT $2
                """, [.integer(cutoff), .integer(Int64(max(0, limit)))]).rows
            return try rows.map(Self.consumed)
        }
    }

    /// Pending refunds (see `AutomaticRefundStore.pendingRefunds`).
    public func pendingRefunds(updatedBefore: Date, limit: Int) async throws(StoreError) -> [RefundRecord] {
        let cutoff = StoreTime.milliseconds(updatedBefore)
        return try await database.run("list pending refunds") { connection throws(PostgresFailure) -> [RefundRecord] in
            let rows = try connection.query("""
                SELECT challenge_id, refund_key, amount_minor, unit_code, unit_exponent, reason, rail_refund_id, created_at_ms, updated_at_ms
                FROM refunds r WHERE status = 'pending' AND updated_at_ms < $1
                  AND EXISTS (SELECT 1 FROM consumed_challenges c WHERE c.challenge_id = r.challenge_id)
                ORDER BY updated_at_ms, challenge_id, refund_key LIMIT $2
                """, [.integer(cutoff), .integer(Int64(max(0, limit)))]).rows
            var records: [RefundRecord] = []
            for row in rows {
                let amount = try row.integer(2), exponent = try row.integer(4), created = try row.integer(7), updated = try row.integer(8)
                records.append(try Self.decode { () throws(StoreError) in
                    RefundRecord(challengeID: row.text(0), key: row.text(1), amount: try Coding.money(amount, code: row.text(3), exponent: exponent),
                                 reason: row.optionalText(5), status: .pending, railRefundID: row.optionalText(6),
                                 createdAt: StoreTime.date(milliseconds: created), updatedAt: StoreTime.date(milliseconds: updated))
                })
            }
            return records
        }
    }
}
