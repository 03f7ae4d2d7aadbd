import Foundation
import PayRail

// Refunds and rail events in the SQLite file (schema 4). Every read-then-write runs in
// `BEGIN IMMEDIATE`, so `payrail refund` in one process and `payrail serve` in another (sharing the
// file in WAL mode, each waiting up to its busy timeout for the other's write lock) can never both
// reserve the last refundable amount.

extension SQLiteGateStore {
    /// The consumption whose settlement has this reference (or, failing that, this offer id), if any.
    public func consumedChallenge(settlementReference reference: String) async throws(StoreError) -> ConsumedChallenge? {
        try await perform { connection throws(StoreError) in
            if let found = try connection.query("SELECT \(Self.consumedColumns) FROM consumed_challenges WHERE settlement_reference = ?",
                                                [.text(reference)], row: Self.consumed).first {
                return found
            }
            return try connection.query("SELECT \(Self.consumedColumns) FROM consumed_challenges WHERE offer_id = ? LIMIT 1",
                                        [.text(reference)], row: Self.consumed).first
        }
    }

    /// Every refund recorded for a challenge, oldest first.
    public func refunds(challengeID: String) async throws(StoreError) -> [RefundRecord] {
        try await perform { connection throws(StoreError) in try Self.refunds(challengeID, connection) }
    }

    /// Records a pending refund, in one transaction (see `PaymentEventStore.reserveRefund`).
    public func reserveRefund(_ refund: RefundRecord) async throws(StoreError) -> RefundReservation {
        let keep = StoreTime.milliseconds(clock.now()) + Int64(RefundRules.consumptionRetention * 1000)
        return try await perform { connection throws(StoreError) -> RefundReservation in
            try connection.immediateTransaction { () throws(StoreError) -> RefundReservation in
                let paid = try connection.query("SELECT \(Self.consumedColumns) FROM consumed_challenges WHERE challenge_id = ?",
                                                [.text(refund.challengeID)], row: Self.consumed).first
                guard let paid else {
                    throw StoreError(code: .notFound, reason: "no consumed challenge \(refund.challengeID)", isRetrySafe: false)
                }
                var earlier = try Self.refunds(refund.challengeID, connection)
                if let existing = earlier.first(where: { $0.key == refund.key }), existing.counts { return .existing(existing) }
                earlier.removeAll { $0.key == refund.key }
                try RefundRules.check(refund, paid: paid.settlement.amount, earlier: earlier)
                try connection.run("UPDATE consumed_challenges SET keep_until_ms = MAX(keep_until_ms, ?) WHERE challenge_id = ?",
                                   [.integer(keep), .text(refund.challengeID)])
                try connection.run("""
                    INSERT OR REPLACE INTO refunds (challenge_id, refund_key, amount_minor, unit_code, unit_exponent, reason, status,
                        rail_refund_id, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.text(refund.challengeID), .text(refund.key), .integer(refund.amount.amount), .text(refund.amount.unit.code),
                          .integer(Int64(refund.amount.unit.exponent)), refund.reason.map { .text($0) } ?? .null,
                          .text(refund.status.rawValue), refund.railRefundID.map { .text($0) } ?? .null,
                          .integer(StoreTime.milliseconds(refund.createdAt)), .integer(StoreTime.milliseconds(refund.updatedAt))])
                return .reserved(refund)
            }
        }
    }

    /// Records the rail's answer for a reserved refund.
    public func completeRefund(challengeID: String, key: String, status: RefundStatus, railRefundID: String?) async throws(StoreError) -> RefundRecord {
        let now = StoreTime.milliseconds(clock.now())
        return try await perform { connection throws(StoreError) -> RefundRecord in
            try connection.immediateTransaction { () throws(StoreError) -> RefundRecord in
                let changed = try connection.run("""
                    UPDATE refunds SET status = ?, rail_refund_id = COALESCE(?, rail_refund_id), updated_at_ms = ?
                    WHERE challenge_id = ? AND refund_key = ?
                    """, [.text(status.rawValue), railRefundID.map { .text($0) } ?? .null, .integer(now), .text(challengeID), .text(key)])
                guard changed == 1, let record = try Self.refunds(challengeID, connection).first(where: { $0.key == key }) else {
                    throw StoreError(code: .notFound, reason: "no refund \(key) for \(challengeID)", isRetrySafe: false)
                }
                return record
            }
        }
    }

    /// Ends a receipt's grant now.
    public func endGrant(challengeID: String) async throws(StoreError) {
        // A millisecond back (see MemoryGateStore.endGrant): the grant is over the moment this returns.
        let now = StoreTime.milliseconds(clock.now()) - 1
        try await perform { connection throws(StoreError) in try Self.endGrant(challengeID, now: now, connection) }
    }

    /// Records an event once; `false` for an id seen before.
    public func recordEvent(_ event: PaymentEventRecord) async throws(StoreError) -> Bool {
        guard !event.id.isEmpty else { throw StoreError.invalid("an event id must not be empty") }
        return try await perform { connection throws(StoreError) -> Bool in
            let inserted = try connection.run("""
                INSERT OR IGNORE INTO payment_events (id, type, object_id, challenge_id, received_at_ms) VALUES (?, ?, ?, ?, ?)
                """, [.text(event.id), .text(event.type), .text(event.objectID), event.challengeID.map { .text($0) } ?? .null,
                      .integer(StoreTime.milliseconds(event.receivedAt))])
            return inserted == 1
        }
    }

    /// Whether an event id was recorded.
    public func knownEvent(id: String) async throws(StoreError) -> Bool {
        try await perform { connection throws(StoreError) in
            !(try connection.query("SELECT 1 FROM payment_events WHERE id = ?", [.text(id)]) { _ in true }).isEmpty
        }
    }

    private static func endGrant(_ challengeID: String, now: Int64, _ connection: SQLiteConnection) throws(StoreError) {
        _ = try connection.run("""
            UPDATE consumed_challenges SET grant_expires_at_ms = ? WHERE challenge_id = ? AND grant_expires_at_ms > ?
            """, [.integer(now), .text(challengeID), .integer(now)])
    }

    private static func refunds(_ challengeID: String, _ connection: SQLiteConnection) throws(StoreError) -> [RefundRecord] {
        try connection.query("""
            SELECT refund_key, amount_minor, unit_code, unit_exponent, reason, status, rail_refund_id, created_at_ms, updated_at_ms
            FROM refunds WHERE challenge_id = ? ORDER BY created_at_ms, refund_key
            """, [.text(challengeID)]) { row throws(StoreError) in
            guard let status = RefundStatus(rawValue: row.text(5)) else { throw StoreError.corrupt("a refund has status \(row.text(5))") }
            return RefundRecord(challengeID: challengeID, key: row.text(0),
                                amount: try Coding.money(row.integer(1), code: row.text(2), exponent: row.integer(3)),
                                reason: row.optionalText(4), status: status, railRefundID: row.optionalText(6),
                                createdAt: StoreTime.date(milliseconds: row.integer(7)),
                                updatedAt: StoreTime.date(milliseconds: row.integer(8)))
        }
    }
}
