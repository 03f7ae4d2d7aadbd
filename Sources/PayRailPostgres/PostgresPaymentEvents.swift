import Foundation
import PayRail
import PayRailStore

// Refunds and rail events in PostgreSQL, as `SQLitePaymentEvents` does them in SQLite. A refund is
// reserved with the paid consumption's row locked (`SELECT … FOR UPDATE`), so `payrail refund` on one
// machine and a webhook on another can never both reserve the last refundable amount.

extension PostgresGateStore {
    /// The consumption whose settlement has this reference (or, failing that, this offer id), if any.
    public func consumedChallenge(settlementReference reference: String) async throws(StoreError) -> ConsumedChallenge? {
        if let found = try await consumed(where: "settlement_reference = $1", .text(reference)) { return found }
        return try await consumed(where: "offer_id = $1", .text(reference))
    }

    /// Every refund recorded for a challenge, oldest first.
    public func refunds(challengeID: String) async throws(StoreError) -> [RefundRecord] {
        try await database.run("read refunds") { connection throws(PostgresFailure) in try Self.refunds(challengeID, connection) }
    }

    /// Records a pending refund, in one transaction (see `PaymentEventStore.reserveRefund`).
    public func reserveRefund(_ refund: RefundRecord) async throws(StoreError) -> RefundReservation {
        let keep = StoreTime.milliseconds(clock.now()) + Int64(RefundRules.consumptionRetention * 1000)
        let outcome = try await database.transaction("reserve a refund") { connection throws(PostgresFailure) -> RefundOutcome in
            let rows = try connection.query("""
                SELECT \(PostgresGateSchema.consumedColumns) FROM consumed_challenges WHERE challenge_id = $1 FOR UPDATE
                """, [.text(refund.challengeID)]).rows
            guard let row = rows.first else { return .notPaid }
            let paid = try Self.consumed(row)
            var earlier = try Self.refunds(refund.challengeID, connection)
            if let existing = earlier.first(where: { $0.key == refund.key }), existing.counts { return .done(.existing(existing)) }
            earlier.removeAll { $0.key == refund.key }
            do throws(StoreError) {
                try RefundRules.check(refund, paid: paid.settlement.amount, earlier: earlier)
            } catch {
                return .refused(error)
            }
            try connection.query("UPDATE consumed_challenges SET keep_until_ms = GREATEST(keep_until_ms, $1) WHERE challenge_id = $2",
                                 [.integer(keep), .text(refund.challengeID)])
            try connection.query("""
                INSERT INTO refunds (challenge_id, refund_key, amount_minor, unit_code, unit_exponent, reason, status,
                    rail_refund_id, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (challenge_id, refund_key) DO UPDATE SET amount_minor = excluded.amount_minor,
                    unit_code = excluded.unit_code, unit_exponent = excluded.unit_exponent, reason = excluded.reason,
                    status = excluded.status, rail_refund_id = excluded.rail_refund_id,
                    created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms
                """, [.text(refund.challengeID), .text(refund.key), .integer(refund.amount.amount), .text(refund.amount.unit.code),
                      .integer(Int64(refund.amount.unit.exponent)), Self.optional(refund.reason), .text(refund.status.rawValue),
                      Self.optional(refund.railRefundID), .integer(StoreTime.milliseconds(refund.createdAt)),
                      .integer(StoreTime.milliseconds(refund.updatedAt))])
            return .done(.reserved(refund))
        }
        switch outcome {
        case .done(let reservation): return reservation
        case .refused(let error): throw error
        case .notPaid: throw StoreError(code: .notFound, reason: "no consumed challenge \(refund.challengeID)", isRetrySafe: false)
        }
    }

    /// Records the rail's answer for a reserved refund.
    public func completeRefund(challengeID: String, key: String, status: RefundStatus, railRefundID: String?) async throws(StoreError) -> RefundRecord {
        let now = StoreTime.milliseconds(clock.now())
        let record = try await database.transaction("complete a refund") { connection throws(PostgresFailure) -> RefundRecord? in
            let changed = try connection.query("""
                UPDATE refunds SET status = $1, rail_refund_id = COALESCE($2, rail_refund_id), updated_at_ms = $3
                WHERE challenge_id = $4 AND refund_key = $5
                """, [.text(status.rawValue), Self.optional(railRefundID), .integer(now), .text(challengeID), .text(key)])
            guard changed.affected == 1 else { return nil }
            return try Self.refunds(challengeID, connection).first { $0.key == key }
        }
        guard let record else { throw StoreError(code: .notFound, reason: "no refund \(key) for \(challengeID)", isRetrySafe: false) }
        return record
    }

    /// Ends a receipt's grant now.
    public func endGrant(challengeID: String) async throws(StoreError) {
        // A millisecond back (see MemoryGateStore.endGrant): the grant is over the moment this returns.
        let now = StoreTime.milliseconds(clock.now()) - 1
        _ = try await database.run("end a grant") { connection throws(PostgresFailure) in
            try connection.query("""
                UPDATE consumed_challenges SET grant_expires_at_ms = $1 WHERE challenge_id = $2 AND grant_expires_at_ms > $1
                """, [.integer(now), .text(challengeID)])
        }
    }

    /// Records an event once; `false` for an id seen before.
    public func recordEvent(_ event: PaymentEventRecord) async throws(StoreError) -> Bool {
        guard !event.id.isEmpty else { throw StoreError.invalid("an event id must not be empty") }
        return try await database.run("record a rail event") { connection throws(PostgresFailure) -> Bool in
            try connection.query("""
                INSERT INTO payment_events (id, type, object_id, challenge_id, received_at_ms) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (id) DO NOTHING
                """, [.text(event.id), .text(event.type), .text(event.objectID), Self.optional(event.challengeID),
                      .integer(StoreTime.milliseconds(event.receivedAt))]).affected == 1
        }
    }

    /// Whether an event id was recorded.
    public func knownEvent(id: String) async throws(StoreError) -> Bool {
        try await database.run("read a rail event") { connection throws(PostgresFailure) -> Bool in
            !(try connection.query("SELECT 1 FROM payment_events WHERE id = $1", [.text(id)]).rows.isEmpty)
        }
    }

    private enum RefundOutcome: Sendable {
        case done(RefundReservation)
        case refused(StoreError)
        case notPaid
    }

    private static func refunds(_ challengeID: String, _ connection: PostgresConnection) throws(PostgresFailure) -> [RefundRecord] {
        let rows = try connection.query("""
            SELECT refund_key, amount_minor, unit_code, unit_exponent, reason, status, rail_refund_id, created_at_ms, updated_at_ms
            FROM refunds WHERE challenge_id = $1 ORDER BY created_at_ms, refund_key
            """, [.text(challengeID)]).rows
        var records: [RefundRecord] = []
        for row in rows {
            let amount = try row.integer(1), exponent = try row.integer(3), created = try row.integer(7), updated = try row.integer(8)
            guard let status = RefundStatus(rawValue: row.text(5)) else {
                throw PostgresFailure(sqlState: "XX001", message: "a refund has status \(row.text(5))")
            }
            records.append(try decode { () throws(StoreError) in
                RefundRecord(challengeID: challengeID, key: row.text(0), amount: try Coding.money(amount, code: row.text(2), exponent: exponent),
                             reason: row.optionalText(4), status: status, railRefundID: row.optionalText(6),
                             createdAt: StoreTime.date(milliseconds: created), updatedAt: StoreTime.date(milliseconds: updated))
            })
        }
        return records
    }
}
