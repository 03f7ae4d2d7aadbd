import Dispatch
import Foundation
import PayRail

// The embedded default store: one SQLite file chosen by the user.
//
// Threads: one connection, used only from one serial dispatch queue, so every operation in this
// process runs one at a time (SQLite serializes writers anyway). The async methods hop onto that
// queue, which keeps SQLite's blocking waits (the busy timeout) off Swift's cooperative threads.
//
// Processes: several processes (or several `SQLiteGateStore`s) may share the file. WAL mode lets
// readers proceed while one writer writes; `busy_timeout` makes a writer wait for the lock instead of
// failing at once; every read-then-write runs in `BEGIN IMMEDIATE`, which takes the write lock before
// the read, so "is this challenge consumed? no: consume it" cannot interleave with another process.
// `synchronous=FULL` makes a committed consumption survive a power cut, not just a crash.

/// A `GateStore` in a SQLite file (WAL mode), safe to share between threads and processes.
public final class SQLiteGateStore: GateStore, PaymentEventStore, @unchecked Sendable {
    // @unchecked: `connection` is only used on `queue` (and in `init`, before the store is shared).
    private let connection: SQLiteConnection
    private let queue: DispatchQueue
    let clock: any PayRailClock

    /// The schema version this build writes; older files are migrated up to it when opened.
    public static var latestSchemaVersion: Int { SQLiteSchema.latestVersion }

    /// Opens (creating if needed) the database at `path`, sets WAL, the busy timeout and foreign keys,
    /// and migrates the schema forward.
    ///
    /// Opening blocks the calling thread briefly (and up to `busyTimeout` if another process is
    /// migrating the same file); do it at startup.
    ///
    /// - Parameters:
    ///   - path: the database file; its directory must exist. WAL adds `-wal` and `-shm` files beside it.
    ///   - clock: the time used for consumption records, idempotency and rate limits.
    ///   - busyTimeout: how long a write waits for another connection's lock before `.busy`.
    /// - Throws: `StoreError` `.corrupt` for a damaged or non-SQLite file, `.newerSchema` for a file from
    ///   a newer PayRail (left unchanged), `.unavailable` when the file cannot be opened or written,
    ///   `.busy` when another process held the lock past the timeout.
    public init(path: String, clock: any PayRailClock = SystemClock(), busyTimeout: Duration = .seconds(5)) throws(StoreError) {
        guard !path.isEmpty else { throw StoreError.invalid("the database path is empty") }
        try SQLiteConnection.refuseEmptyFile(path)
        let connection = try SQLiteConnection.openForStore(path: path, busyTimeout: busyTimeout) { connection throws(StoreError) in
            try SQLiteSchema.refuseNewer(SQLiteSchema.userVersion(connection))
        }
        try connection.execute("PRAGMA foreign_keys = ON;")
        try SQLiteSchema.migrate(connection)
        self.connection = connection
        self.clock = clock
        self.queue = DispatchQueue(label: "payrail.store.sqlite")
    }

    /// Closes the file (after operations already started); later calls throw `.closed`.
    public func close() async {
        _ = try? await perform { connection throws(StoreError) in connection.close() }
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    public func schemaVersion() async throws(StoreError) -> Int {
        try await perform { connection throws(StoreError) in try SQLiteSchema.userVersion(connection) }
    }

    // MARK: - Challenges

    /// Remembers a challenge and its offers in one transaction; `.duplicate` when the id is taken.
    public func saveChallenge(_ challenge: ChallengeRecord) async throws(StoreError) {
        try await saveChallenges([challenge])
    }

    /// Remembers the challenges and their offers in one transaction (one disk sync for a challenge
    /// and all its aliases); `.duplicate`, with nothing stored, when any id is taken.
    public func saveChallenges(_ challenges: [ChallengeRecord]) async throws(StoreError) {
        var prepared: [(id: String, challenge: [SQLiteValue], offers: [[SQLiteValue]])] = []
        for challenge in challenges {
            guard !challenge.id.isEmpty else { throw StoreError.invalid("a challenge id must not be empty") }
            var offerRows: [[SQLiteValue]] = []
            for (position, offer) in challenge.offers.enumerated() {
                offerRows.append([
                    .text(challenge.id), .integer(Int64(position)), .text(offer.rail.rawValue),
                    .integer(offer.amount.amount), .text(offer.amount.unit.code), .integer(Int64(offer.amount.unit.exponent)),
                    .text(offer.payee), .text(offer.id), .integer(StoreTime.milliseconds(offer.expiresAt)),
                    .text(try Coding.encodeDetails(offer.details)),
                ])
            }
            let challengeRow: [SQLiteValue] = [
                .text(challenge.id), .text(challenge.resource.description), challenge.bodyDigest.map { .text($0) } ?? .null,
                .integer(StoreTime.milliseconds(challenge.createdAt)), .integer(StoreTime.milliseconds(challenge.expiresAt)),
            ]
            prepared.append((challenge.id, challengeRow, offerRows))
        }
        let records = prepared
        guard !records.isEmpty else { return }
        try await perform { connection throws(StoreError) in
            try connection.immediateTransaction { () throws(StoreError) in
                for record in records {
                    let taken = try connection.query("SELECT 1 FROM challenges WHERE id = ?", [.text(record.id)]) { _ in true }
                    guard taken.isEmpty else {
                        throw StoreError(code: .duplicate, reason: "challenge \(record.id) is already stored", isRetrySafe: false)
                    }
                    try connection.run("""
                        INSERT INTO challenges (id, resource, body_digest, created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)
                        """, record.challenge)
                    for row in record.offers {
                        try connection.run("""
                            INSERT INTO challenge_offers (challenge_id, position, rail, amount_minor, unit_code, unit_exponent,
                                payee, offer_id, expires_at_ms, details_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """, row)
                    }
                }
            }
        }
    }

    /// The challenge with this id, if stored.
    public func challenge(id: String) async throws(StoreError) -> ChallengeRecord? {
        try await perform { connection throws(StoreError) in try Self.challenge(id: id, connection) }
    }

    /// Expired challenges never consumed, oldest first (see `ChallengeStore.unpaidChallenges`).
    public func unpaidChallenges(expiredBefore now: Date, limit: Int) async throws(StoreError) -> [ChallengeRecord] {
        try await perform { connection throws(StoreError) in
            let ids = try connection.query("""
                SELECT id FROM challenges WHERE expires_at_ms < ?
                AND id NOT IN (SELECT challenge_id FROM consumed_challenges) ORDER BY expires_at_ms, id LIMIT ?
                """, [.integer(StoreTime.milliseconds(now)), .integer(Int64(max(0, limit)))]) { row in row.text(0) }
            var records: [ChallengeRecord] = []
            for id in ids { if let record = try Self.challenge(id: id, connection) { records.append(record) } }
            return records
        }
    }

    private static func challenge(id: String, _ connection: SQLiteConnection) throws(StoreError) -> ChallengeRecord? {
        let heads = try connection.query("""
            SELECT resource, body_digest, created_at_ms, expires_at_ms FROM challenges WHERE id = ?
            """, [.text(id)]) { row throws(StoreError) in
            (try Coding.resource(row.text(0)), row.optionalText(1), row.integer(2), row.integer(3))
        }
        guard let head = heads.first else { return nil }
        let offers = try connection.query("""
            SELECT rail, amount_minor, unit_code, unit_exponent, payee, offer_id, expires_at_ms, details_json
            FROM challenge_offers WHERE challenge_id = ? ORDER BY position
            """, [.text(id)]) { row throws(StoreError) in
            Offer(rail: try Coding.rail(row.text(0)),
                  amount: try Coding.money(row.integer(1), code: row.text(2), exponent: row.integer(3)),
                  payee: row.text(4), expiresAt: StoreTime.date(milliseconds: row.integer(6)), id: row.text(5),
                  details: try Coding.decodeDetails(row.text(7)))
        }
        return ChallengeRecord(id: id, resource: head.0, offers: offers, bodyDigest: head.1,
                               createdAt: StoreTime.date(milliseconds: head.2),
                               expiresAt: StoreTime.date(milliseconds: head.3))
    }

    // MARK: - Consumption

    static let consumedColumns = """
        challenge_id, rail, offer_id, settlement_reference, amount_minor, unit_code, unit_exponent, settled_at_ms,
        receipt_id, token_hash, resource, issued_at_ms, grant_expires_at_ms,
        response_status, response_headers_json, response_body, consumed_at_ms, credential_hash, authorization_expires_at_ms
        """

    /// When an authorization's hold lapses, in milliseconds; `nil` for a final settlement.
    package static func authorizationExpiry(_ kind: SettlementKind) -> Int64? {
        guard case .authorization(let expiresAt) = kind else { return nil }
        return StoreTime.milliseconds(expiresAt)
    }

    static func consumed(_ row: SQLiteRow) throws(StoreError) -> ConsumedChallenge {
        let settlement = Settlement(
            rail: try Coding.rail(row.text(1)), offerID: row.text(2), reference: row.text(3),
            amount: try Coding.money(row.integer(4), code: row.text(5), exponent: row.integer(6)),
            settledAt: StoreTime.date(milliseconds: row.integer(7)),
            kind: row.isNull(18) ? .final : .authorization(expiresAt: StoreTime.date(milliseconds: row.integer(18))))
        var response: StoredResponse?
        if !row.isNull(13) {
            response = StoredResponse(status: Int(row.integer(13)), headers: try Coding.decodeHeaders(row.text(14)),
                                      body: row.blob(15))
        }
        let receipt = ReceiptRecord(
            receiptID: row.text(8), tokenHash: row.blob(9), resource: try Coding.resource(row.text(10)),
            issuedAt: StoreTime.date(milliseconds: row.integer(11)),
            grantExpiresAt: StoreTime.date(milliseconds: row.integer(12)), response: response,
            credentialHash: row.isNull(17) ? nil : row.blob(17))
        return ConsumedChallenge(challengeID: row.text(0), settlement: settlement, receipt: receipt,
                                 consumedAt: StoreTime.date(milliseconds: row.integer(16)))
    }

    /// Consumes a challenge exactly once, in one `BEGIN IMMEDIATE` transaction (see `ConsumptionStore.consume`).
    public func consume(challengeID: String, settlement: Settlement, receipt: ReceiptRecord) async throws(StoreError) -> ConsumeResult {
        guard !challengeID.isEmpty, !receipt.receiptID.isEmpty, !receipt.tokenHash.isEmpty else {
            throw StoreError.invalid("challenge id, receipt id and token hash must not be empty")
        }
        let record = ConsumedChallenge(challengeID: challengeID, settlement: settlement, receipt: receipt, consumedAt: clock.now())
        let headers = try record.receipt.response.map { response throws(StoreError) in try Coding.encodeHeaders(response.headers) }
        return try await perform { connection throws(StoreError) -> ConsumeResult in
            try connection.immediateTransaction { () throws(StoreError) -> ConsumeResult in
                let existing = try connection.query(
                    "SELECT \(Self.consumedColumns) FROM consumed_challenges WHERE challenge_id = ?",
                    [.text(challengeID)], row: Self.consumed)
                if let winner = existing.first { return .alreadyConsumed(winner) }
                let taken = try connection.query(
                    "SELECT 1 FROM consumed_challenges WHERE receipt_id = ? OR token_hash = ?",
                    [.text(receipt.receiptID), .blob(receipt.tokenHash)]) { _ in true }
                guard taken.isEmpty else {
                    throw StoreError(code: .duplicate, reason: "receipt \(receipt.receiptID) or its token hash is already issued",
                                     isRetrySafe: false)
                }
                let challengeExpiry = try connection.query(
                    "SELECT expires_at_ms FROM challenges WHERE id = ?", [.text(challengeID)]) { row in row.integer(0) }
                let keepUntil = max(StoreTime.milliseconds(record.receipt.grantExpiresAt), challengeExpiry.first ?? Int64.min)
                let s = record.settlement
                let r = record.receipt
                try connection.run("""
                    INSERT INTO consumed_challenges (\(Self.consumedColumns), keep_until_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [
                        .text(challengeID), .text(s.rail.rawValue), .text(s.offerID), .text(s.reference),
                        .integer(s.amount.amount), .text(s.amount.unit.code), .integer(Int64(s.amount.unit.exponent)),
                        .integer(StoreTime.milliseconds(s.settledAt)),
                        .text(r.receiptID), .blob(r.tokenHash), .text(r.resource.description),
                        .integer(StoreTime.milliseconds(r.issuedAt)), .integer(StoreTime.milliseconds(r.grantExpiresAt)),
                        r.response.map { .integer(Int64($0.status)) } ?? .null,
                        headers.map { .text($0) } ?? .null,
                        r.response.map { .blob($0.body) } ?? .null,
                        .integer(StoreTime.milliseconds(record.consumedAt)), r.credentialHash.map { .blob($0) } ?? .null,
                        Self.authorizationExpiry(s.kind).map { .integer($0) } ?? .null,
                        .integer(keepUntil),
                    ])
                return .consumed(record)
            }
        }
    }

    /// The consumption of a challenge, if any.
    public func consumedChallenge(id challengeID: String) async throws(StoreError) -> ConsumedChallenge? {
        try await perform { connection throws(StoreError) in
            try connection.query("SELECT \(Self.consumedColumns) FROM consumed_challenges WHERE challenge_id = ?",
                                 [.text(challengeID)], row: Self.consumed).first
        }
    }

    /// The consumption whose receipt token hashes to `tokenHash`, if any.
    public func consumedChallenge(receiptTokenHash tokenHash: Data) async throws(StoreError) -> ConsumedChallenge? {
        try await perform { connection throws(StoreError) in
            try connection.query("SELECT \(Self.consumedColumns) FROM consumed_challenges WHERE token_hash = ?",
                                 [.blob(tokenHash)], row: Self.consumed).first
        }
    }

    /// Attaches the response to replay to an issued receipt.
    ///
    /// Committed without waiting for the disk (`crashSafeTransaction`): it survives the process dying,
    /// and a power cut loses at most responses saved since the last synced commit. That costs no
    /// money: the consumption it attaches to (the payment) was synced before the resource ran, and a
    /// receipt whose response is missing regrants (`Gate.regrant`), as it does when this save fails.
    /// One disk sync less on every paid call (issue 18).
    public func saveResponse(_ response: StoredResponse, receiptID: String) async throws(StoreError) {
        let headers = try Coding.encodeHeaders(response.headers)
        try await perform { connection throws(StoreError) in
            try connection.crashSafeTransaction { () throws(StoreError) in
                let changed = try connection.run("""
                    UPDATE consumed_challenges SET response_status = ?, response_headers_json = ?, response_body = ?
                    WHERE receipt_id = ?
                    """, [.integer(Int64(response.status)), .text(headers), .blob(response.body), .text(receiptID)])
                guard changed == 1 else {
                    throw StoreError(code: .notFound, reason: "no issued receipt \(receiptID)", isRetrySafe: false)
                }
            }
        }
    }

    // MARK: - Idempotency

    private static func idempotencyRecord(_ row: SQLiteRow) throws(StoreError) -> IdempotencyRecord {
        IdempotencyRecord(
            key: row.text(0), payloadHash: row.blob(1),
            response: StoredResponse(status: Int(row.integer(2)), headers: try Coding.decodeHeaders(row.text(3)), body: row.blob(4)),
            createdAt: StoreTime.date(milliseconds: row.integer(5)), expiresAt: StoreTime.date(milliseconds: row.integer(6)))
    }

    private static let liveIdempotencyQuery = """
        SELECT key, payload_hash, status, headers_json, body, created_at_ms, expires_at_ms
        FROM idempotency_keys WHERE key = ? AND expires_at_ms > ?
        """

    /// What is stored under `key` for this payload.
    public func idempotencyLookup(key: String, payloadHash: Data) async throws(StoreError) -> IdempotencyLookup {
        let now = StoreTime.milliseconds(clock.now())
        return try await perform { connection throws(StoreError) -> IdempotencyLookup in
            let found = try connection.query(Self.liveIdempotencyQuery, [.text(key), .integer(now)], row: Self.idempotencyRecord)
            guard let record = found.first else { return .notFound }
            return record.payloadHash == payloadHash ? .replay(record) : .payloadMismatch
        }
    }

    /// Stores a response under its key unless a live record already holds it.
    public func saveIdempotentResponse(_ record: IdempotencyRecord) async throws(StoreError) -> IdempotencySaveResult {
        guard !record.key.isEmpty else { throw StoreError.invalid("an idempotency key must not be empty") }
        let now = StoreTime.milliseconds(clock.now())
        let headers = try Coding.encodeHeaders(record.response.headers)
        return try await perform { connection throws(StoreError) -> IdempotencySaveResult in
            try connection.immediateTransaction { () throws(StoreError) -> IdempotencySaveResult in
                let found = try connection.query(Self.liveIdempotencyQuery, [.text(record.key), .integer(now)],
                                                 row: Self.idempotencyRecord)
                if let existing = found.first {
                    return existing.payloadHash == record.payloadHash ? .alreadySaved(existing) : .payloadMismatch
                }
                try connection.run("""
                    INSERT OR REPLACE INTO idempotency_keys (key, payload_hash, status, headers_json, body, created_at_ms, expires_at_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, [
                        .text(record.key), .blob(record.payloadHash), .integer(Int64(record.response.status)), .text(headers),
                        .blob(record.response.body), .integer(StoreTime.milliseconds(record.createdAt)),
                        .integer(StoreTime.milliseconds(record.expiresAt)),
                    ])
                return .saved
            }
        }
    }

    // MARK: - Rate limits

    /// Takes tokens from a client's bucket; shared by every process using the file.
    public func take(_ count: Int, from clientKey: String, policy: TokenBucketPolicy) async throws(StoreError) -> RateLimitDecision {
        try policy.checkCount(count)
        let now = StoreTime.milliseconds(clock.now())
        // A bucket lost in a power cut only forgets some recent challenges: not worth a disk sync
        // on every 402 (see `crashSafeTransaction`).
        return try await perform { connection throws(StoreError) -> RateLimitDecision in
            try connection.crashSafeTransaction { () throws(StoreError) -> RateLimitDecision in
                let found = try connection.query("""
                    SELECT milli_tokens, updated_at_ms, full_at_ms FROM rate_limit_buckets WHERE client_key = ?
                    """, [.text(clientKey)]) { row in
                    TokenBucketState(milliTokens: row.integer(0), updatedAtMilliseconds: row.integer(1),
                                     fullAtMilliseconds: row.integer(2))
                }
                let (next, decision) = policy.take(count, from: found.first ?? .full(policy, at: now), now: now)
                try connection.run("""
                    INSERT INTO rate_limit_buckets (client_key, milli_tokens, updated_at_ms, full_at_ms) VALUES (?, ?, ?, ?)
                    ON CONFLICT (client_key) DO UPDATE SET milli_tokens = excluded.milli_tokens,
                        updated_at_ms = excluded.updated_at_ms, full_at_ms = excluded.full_at_ms
                    """, [.text(clientKey), .integer(next.milliTokens), .integer(next.updatedAtMilliseconds),
                          .integer(next.fullAtMilliseconds)])
                return decision
            }
        }
    }

    // MARK: - Purge

    /// Deletes everything that expired before `now`, in one transaction.
    public func purgeExpired(now: Date) async throws(StoreError) -> PurgeReport {
        let now = StoreTime.milliseconds(now)
        return try await perform { connection throws(StoreError) -> PurgeReport in
            try connection.immediateTransaction { () throws(StoreError) -> PurgeReport in
                // Rail events are kept 30 days (Stripe redelivers for 3) so a redelivery is still known;
                // refunds are kept: they are the record of money given back.
                _ = try connection.run("DELETE FROM payment_events WHERE received_at_ms < ?",
                                       [.integer(now - PaymentEventRetention.milliseconds)])
                return PurgeReport(
                    challenges: try connection.run("DELETE FROM challenges WHERE expires_at_ms < ?", [.integer(now)]),
                    consumedChallenges: try connection.run(
                        "DELETE FROM consumed_challenges WHERE keep_until_ms < ?", [.integer(now)]),
                    idempotencyKeys: try connection.run("DELETE FROM idempotency_keys WHERE expires_at_ms <= ?", [.integer(now)]),
                    rateLimitBuckets: try connection.run("DELETE FROM rate_limit_buckets WHERE full_at_ms <= ?", [.integer(now)]))
            }
        }
    }

    // MARK: - Queue

    /// Runs `body` on the store's serial queue, off the cooperative thread pool (the busy timeout may block).
    func perform<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await connection.perform(on: queue, body)
    }
}
