import Foundation
import PayRail
import PayRailStore

// The gate's store in PostgreSQL, for several gate processes behind a load balancer sharing one
// database. Semantics mirror `SQLiteGateStore` exactly (the same contract suite runs on both); what
// differs is how exactly-once is reached without SQLite's single write lock:
//
// - consume is one `INSERT … ON CONFLICT (challenge_id) DO NOTHING`: the unique index decides, and a
//   racer blocks on the winner's uncommitted row and then sees it, so of any number of gates exactly
//   one inserts; the others read the winner's committed record.
// - read-then-write steps (idempotency keys, rate-limit buckets, refunds) lock the row they decide
//   on (`ON CONFLICT … DO UPDATE … WHERE`, `SELECT … FOR UPDATE`) inside a short transaction.
// Money is BIGINT minor units with the unit's code and exponent; times are BIGINT milliseconds.

/// A `GateStore` and `PaymentEventStore` in PostgreSQL, shared safely by any number of gate processes.
public final class PostgresGateStore: GateStore, PaymentEventStore, Sendable {
    let database: PostgresDatabase
    let clock: any PayRailClock

    static let migrations = PostgresMigrations(component: "gate", steps: [(1, PostgresGateSchema.version1), (2, PostgresGateSchema.version2)])

    /// The gate schema version this build writes.
    public static var latestSchemaVersion: Int { migrations.latestVersion }

    private init(database: PostgresDatabase, clock: any PayRailClock) {
        self.database = database
        self.clock = clock
    }

    /// Connects to `url` and migrates the gate's tables forward (once, under an advisory lock, however
    /// many gates start at once).
    ///
    /// - Parameters:
    ///   - url: the database; see `DatabaseURL` (`$PAYRAIL_DB` through `DatabaseURL.fromEnvironment()`).
    ///   - options: pool size and timeouts.
    ///   - clock: the time used for consumption records, idempotency and rate limits.
    /// - Throws: `StoreError` `.unavailable` when the server cannot be reached (retry-safe) or refuses
    ///   the login (not), `.newerSchema` for a database from a newer PayRail (nothing changed),
    ///   `.invalidArgument` for impossible options. No error text contains the URL's password.
    public static func open(url: DatabaseURL, options: PostgresStoreOptions = PostgresStoreOptions(),
                            clock: any PayRailClock = SystemClock()) async throws(StoreError) -> PostgresGateStore {
        let database = try PostgresDatabase(url: url, options: options)
        do throws(StoreError) {
            try await migrations.migrate(database)
        } catch {
            await database.close()
            throw error
        }
        return PostgresGateStore(database: database, clock: clock)
    }

    /// Parses `url` (`postgres://…` or `postgresql://…`) and opens it like `open(url:options:clock:)`.
    public static func open(url: String, options: PostgresStoreOptions = PostgresStoreOptions(),
                            clock: any PayRailClock = SystemClock()) async throws(StoreError) -> PostgresGateStore {
        try await open(url: try DatabaseURL(url), options: options, clock: clock)
    }

    /// Closes the pool's idle connections; later calls throw `.closed`.
    public func close() async {
        await database.close()
    }

    /// The gate schema version recorded in the database.
    public func schemaVersion() async throws(StoreError) -> Int {
        try await Self.migrations.version(database)
    }

    /// The pool's current and peak use.
    public func poolStatistics() async -> PostgresPoolStatistics {
        await database.pool.statistics()
    }

    // MARK: - Challenges

    /// Remembers a challenge; `.duplicate` when the id is taken.
    public func saveChallenge(_ challenge: ChallengeRecord) async throws(StoreError) {
        try await saveChallenges([challenge])
    }

    /// Remembers the challenges and their offers in one statement (one round trip before a 402, all
    /// or nothing); `.duplicate`, with nothing stored, when any id is taken.
    public func saveChallenges(_ challenges: [ChallengeRecord]) async throws(StoreError) {
        guard !challenges.isEmpty else { return }
        var heads: [ChallengeRow] = []
        var offers: [OfferRow] = []
        for challenge in challenges {
            guard !challenge.id.isEmpty else { throw StoreError.invalid("a challenge id must not be empty") }
            heads.append(ChallengeRow(id: challenge.id, resource: challenge.resource.description, body_digest: challenge.bodyDigest,
                                      created_at_ms: StoreTime.milliseconds(challenge.createdAt),
                                      expires_at_ms: StoreTime.milliseconds(challenge.expiresAt)))
            for (position, offer) in challenge.offers.enumerated() {
                offers.append(OfferRow(
                    challenge_id: challenge.id, position: Int64(position), rail: offer.rail.rawValue, amount_minor: offer.amount.amount,
                    unit_code: offer.amount.unit.code, unit_exponent: Int64(offer.amount.unit.exponent), payee: offer.payee,
                    offer_id: offer.id, expires_at_ms: StoreTime.milliseconds(offer.expiresAt),
                    details_json: try Coding.encodeDetails(offer.details)))
            }
        }
        let parameters: [PostgresValue] = [.text(try Self.json(heads)), .text(try Self.json(offers))]
        do throws(StoreError) {
            _ = try await database.run("save a challenge") { connection throws(PostgresFailure) in
                try connection.query(PostgresGateSchema.saveChallenges, parameters)
            }
        } catch where error.code == .duplicate {
            let ids = challenges.map(\.id)
            let which = ids.count == 1 ? "challenge \(ids[0]) is" : "one of the challenges \(ids.joined(separator: ", ")) is"
            throw StoreError(code: .duplicate, reason: "\(which) already stored (nothing was saved)", isRetrySafe: false)
        }
    }

    /// The rows `saveChallenges` sends as JSON; field names are the columns'.
    private struct ChallengeRow: Encodable {
        let id: String, resource: String, body_digest: String?, created_at_ms: Int64, expires_at_ms: Int64
    }

    private struct OfferRow: Encodable {
        let challenge_id: String, position: Int64, rail: String, amount_minor: Int64, unit_code: String, unit_exponent: Int64
        let payee: String, offer_id: String, expires_at_ms: Int64, details_json: String
    }

    /// JSON with integers written exactly (JSONEncoder writes Int64 digits, never a float).
    private static func json<T: Encodable>(_ value: T) throws(StoreError) -> String {
        guard let data = try? JSONEncoder().encode(value) else {
            throw StoreError(code: .internal, reason: "cannot encode challenges as JSON", isRetrySafe: false)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The challenge with this id, if stored.
    public func challenge(id: String) async throws(StoreError) -> ChallengeRecord? {
        try await database.run("read a challenge") { connection throws(PostgresFailure) in try Self.challenge(id, connection) }
    }

    /// Expired challenges never consumed, oldest first (see `ChallengeStore.unpaidChallenges`).
    public func unpaidChallenges(expiredBefore now: Date, limit: Int) async throws(StoreError) -> [ChallengeRecord] {
        let now = StoreTime.milliseconds(now)
        let rows = try await database.run("list unpaid challenges") { connection throws(PostgresFailure) -> [ChallengeRecord] in
            let ids = try connection.query("""
                SELECT id FROM challenges c WHERE c.expires_at_ms < $1
                AND NOT EXISTS (SELECT 1 FROM consumed_challenges k WHERE k.challenge_id = c.id)
                ORDER BY c.expires_at_ms, c.id LIMIT $2
                """, [.integer(now), .integer(Int64(max(0, limit)))]).rows.map { $0.text(0) }
            var records: [ChallengeRecord] = []
            for id in ids { if let record = try Self.challenge(id, connection) { records.append(record) } }
            return records
        }
        return rows
    }

    // MARK: - Consumption

    /// Consumes a challenge exactly once (see `ConsumptionStore.consume`).
    public func consume(challengeID: String, settlement: Settlement, receipt: ReceiptRecord) async throws(StoreError) -> ConsumeResult {
        guard !challengeID.isEmpty, !receipt.receiptID.isEmpty, !receipt.tokenHash.isEmpty else {
            throw StoreError.invalid("challenge id, receipt id and token hash must not be empty")
        }
        let record = ConsumedChallenge(challengeID: challengeID, settlement: settlement, receipt: receipt, consumedAt: clock.now())
        let row = try Self.consumedRow(record)
        do throws(StoreError) {
            return try await database.run("consume a challenge") { connection throws(PostgresFailure) -> ConsumeResult in
                let inserted = try connection.query(PostgresGateSchema.consume, row)
                if inserted.affected == 1 { return .consumed(record) }
                let winner = try connection.query("SELECT \(PostgresGateSchema.consumedColumns) FROM consumed_challenges WHERE challenge_id = $1",
                                                  [.text(challengeID)]).rows.first
                guard let winner else {
                    // Purged between the two statements: the consumption is long over; try the insert again.
                    throw PostgresFailure(sqlState: "40001", message: "the consumed challenge vanished while being read")
                }
                return .alreadyConsumed(try Self.consumed(winner))
            }
        } catch where error.code == .duplicate {
            throw StoreError(code: .duplicate, reason: "receipt \(receipt.receiptID) or its token hash is already issued", isRetrySafe: false)
        }
    }

    /// The consumption of a challenge, if any.
    public func consumedChallenge(id challengeID: String) async throws(StoreError) -> ConsumedChallenge? {
        try await consumed(where: "challenge_id = $1", .text(challengeID))
    }

    /// The consumption whose receipt token hashes to `tokenHash`, if any.
    public func consumedChallenge(receiptTokenHash tokenHash: Data) async throws(StoreError) -> ConsumedChallenge? {
        try await consumed(where: "token_hash = $1", .bytes(tokenHash))
    }

    func consumed(where condition: String, _ value: PostgresValue) async throws(StoreError) -> ConsumedChallenge? {
        try await database.run("read a consumed challenge") { connection throws(PostgresFailure) -> ConsumedChallenge? in
            let rows = try connection.query("SELECT \(PostgresGateSchema.consumedColumns) FROM consumed_challenges WHERE \(condition) LIMIT 1",
                                            [value]).rows
            return try rows.first.map(Self.consumed)
        }
    }

    /// Attaches the response to replay to an issued receipt.
    ///
    /// Committed asynchronously (`synchronous_commit = off` for this transaction only): a server crash
    /// may lose the last such saves. That costs no money: the consumption (the payment) was committed
    /// synchronously before the resource ran, and a receipt whose response is missing regrants
    /// (`Gate.regrant`), as it does when this save fails. One WAL flush less per paid call (issue 18).
    public func saveResponse(_ response: StoredResponse, receiptID: String) async throws(StoreError) {
        let headers = try Coding.encodeHeaders(response.headers)
        let changed = try await database.transaction("save a response") { connection throws(PostgresFailure) -> Int in
            try connection.execute("SET LOCAL synchronous_commit = off")
            return try connection.query("""
                UPDATE consumed_challenges SET response_status = $1, response_headers_json = $2, response_body = $3 WHERE receipt_id = $4
                """, [.integer(Int64(response.status)), .text(headers), .bytes(response.body), .text(receiptID)]).affected
        }
        guard changed == 1 else { throw StoreError(code: .notFound, reason: "no issued receipt \(receiptID)", isRetrySafe: false) }
    }

    // MARK: - Idempotency

    /// What is stored under `key` for this payload.
    public func idempotencyLookup(key: String, payloadHash: Data) async throws(StoreError) -> IdempotencyLookup {
        let now = StoreTime.milliseconds(clock.now())
        let found = try await database.run("read an idempotency key") { connection throws(PostgresFailure) in
            try Self.liveIdempotency(key, now: now, connection)
        }
        guard let found else { return .notFound }
        return found.payloadHash == payloadHash ? .replay(found) : .payloadMismatch
    }

    /// Stores a response under its key unless a live record already holds it.
    public func saveIdempotentResponse(_ record: IdempotencyRecord) async throws(StoreError) -> IdempotencySaveResult {
        guard !record.key.isEmpty else { throw StoreError.invalid("an idempotency key must not be empty") }
        let now = StoreTime.milliseconds(clock.now())
        let headers = try Coding.encodeHeaders(record.response.headers)
        let row: [PostgresValue] = [
            .text(record.key), .bytes(record.payloadHash), .integer(Int64(record.response.status)), .text(headers),
            .bytes(record.response.body), .integer(StoreTime.milliseconds(record.createdAt)),
            .integer(StoreTime.milliseconds(record.expiresAt)), .integer(now),
        ]
        return try await database.transaction("save an idempotent response") { connection throws(PostgresFailure) -> IdempotencySaveResult in
            // Inserts, or replaces an expired record; a live record (locked by the conflict) is left alone.
            let saved = try connection.query("""
                INSERT INTO idempotency_keys (key, payload_hash, status, headers_json, body, created_at_ms, expires_at_ms)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (key) DO UPDATE SET payload_hash = excluded.payload_hash, status = excluded.status,
                    headers_json = excluded.headers_json, body = excluded.body, created_at_ms = excluded.created_at_ms,
                    expires_at_ms = excluded.expires_at_ms
                WHERE idempotency_keys.expires_at_ms <= $8
                """, row)
            if saved.affected == 1 { return .saved }
            guard let existing = try Self.liveIdempotency(record.key, now: now, connection) else {
                throw PostgresFailure(sqlState: "40001", message: "an idempotency key changed while being saved")
            }
            return existing.payloadHash == record.payloadHash ? .alreadySaved(existing) : .payloadMismatch
        }
    }

    private static func liveIdempotency(_ key: String, now: Int64, _ connection: PostgresConnection) throws(PostgresFailure) -> IdempotencyRecord? {
        let rows = try connection.query("""
            SELECT key, payload_hash, status, headers_json, body, created_at_ms, expires_at_ms
            FROM idempotency_keys WHERE key = $1 AND expires_at_ms > $2
            """, [.text(key), .integer(now)]).rows
        guard let row = rows.first else { return nil }
        return IdempotencyRecord(
            key: row.text(0), payloadHash: row.bytes(1),
            response: StoredResponse(status: Int(try row.integer(2)), headers: try decode { () throws(StoreError) in
                try Coding.decodeHeaders(row.text(3))
            }, body: row.bytes(4)),
            createdAt: StoreTime.date(milliseconds: try row.integer(5)), expiresAt: StoreTime.date(milliseconds: try row.integer(6)))
    }

    // MARK: - Rate limits

    /// Takes tokens from a client's bucket; shared by every gate using the database.
    public func take(_ count: Int, from clientKey: String, policy: TokenBucketPolicy) async throws(StoreError) -> RateLimitDecision {
        try policy.checkCount(count)
        let now = StoreTime.milliseconds(clock.now())
        let full = TokenBucketState.full(policy, at: now)
        return try await database.transaction("take rate-limit tokens") { connection throws(PostgresFailure) -> RateLimitDecision in
            // A new bucket starts full. Either way the statement locks the row (a no-op update of an
            // existing one) and returns its latest committed state: concurrent takes queue on it.
            let rows = try connection.query("""
                INSERT INTO rate_limit_buckets (client_key, milli_tokens, updated_at_ms, full_at_ms) VALUES ($1, $2, $3, $4)
                ON CONFLICT (client_key) DO UPDATE SET client_key = excluded.client_key
                RETURNING milli_tokens, updated_at_ms, full_at_ms
                """, [.text(clientKey), .integer(full.milliTokens), .integer(full.updatedAtMilliseconds), .integer(full.fullAtMilliseconds)]).rows
            let state = try rows.first.map { row throws(PostgresFailure) in
                TokenBucketState(milliTokens: try row.integer(0), updatedAtMilliseconds: try row.integer(1),
                                 fullAtMilliseconds: try row.integer(2))
            } ?? full
            let (next, decision) = policy.take(count, from: state, now: now)
            try connection.query("""
                UPDATE rate_limit_buckets SET milli_tokens = $2, updated_at_ms = $3, full_at_ms = $4 WHERE client_key = $1
                """, [.text(clientKey), .integer(next.milliTokens), .integer(next.updatedAtMilliseconds), .integer(next.fullAtMilliseconds)])
            return decision
        }
    }

    // MARK: - Purge

    /// Deletes everything that expired before `now`, in one transaction.
    public func purgeExpired(now: Date) async throws(StoreError) -> PurgeReport {
        let now = StoreTime.milliseconds(now)
        return try await database.transaction("purge expired records") { connection throws(PostgresFailure) -> PurgeReport in
            // Rail events are kept 30 days (Stripe redelivers for 3); refunds are kept for good.
            try connection.query("DELETE FROM payment_events WHERE received_at_ms < $1",
                                 [.integer(now - PaymentEventRetention.milliseconds)])
            return PurgeReport(
                challenges: try connection.query("DELETE FROM challenges WHERE expires_at_ms < $1", [.integer(now)]).affected,
                consumedChallenges: try connection.query("DELETE FROM consumed_challenges WHERE keep_until_ms < $1", [.integer(now)]).affected,
                idempotencyKeys: try connection.query("DELETE FROM idempotency_keys WHERE expires_at_ms <= $1", [.integer(now)]).affected,
                rateLimitBuckets: try connection.query("DELETE FROM rate_limit_buckets WHERE full_at_ms <= $1", [.integer(now)]).affected)
        }
    }

    // MARK: - Rows

    static func optional(_ text: String?) -> PostgresValue { text.map { .text($0) } ?? .null }

    /// Runs a `PayRailStore` decoder inside a connection body, whose failures are `PostgresFailure`s.
    static func decode<T>(_ body: () throws(StoreError) -> T) throws(PostgresFailure) -> T {
        do throws(StoreError) {
            return try body()
        } catch {
            throw PostgresFailure(sqlState: "XX001", message: error.reason)
        }
    }

    /// One statement (one round trip, one snapshot): the challenge joined with its offers, one row per
    /// offer in order, or one row with NULL offer columns when it has none.
    private static func challenge(_ id: String, _ connection: PostgresConnection) throws(PostgresFailure) -> ChallengeRecord? {
        let rows = try connection.query("""
            SELECT c.resource, c.body_digest, c.created_at_ms, c.expires_at_ms,
                   o.rail, o.amount_minor, o.unit_code, o.unit_exponent, o.payee, o.offer_id, o.expires_at_ms, o.details_json
            FROM challenges c LEFT JOIN challenge_offers o ON o.challenge_id = c.id
            WHERE c.id = $1 ORDER BY o.position
            """, [.text(id)]).rows
        guard let head = rows.first else { return nil }
        var offers: [Offer] = []
        for row in rows where !row.isNull(4) {
            let amount = try row.integer(5), exponent = try row.integer(7), expires = try row.integer(10)
            offers.append(try decode { () throws(StoreError) in
                Offer(rail: try Coding.rail(row.text(4)), amount: try Coding.money(amount, code: row.text(6), exponent: exponent),
                      payee: row.text(8), expiresAt: StoreTime.date(milliseconds: expires), id: row.text(9),
                      details: try Coding.decodeDetails(row.text(11)))
            })
        }
        let created = try head.integer(2), expires = try head.integer(3)
        let resource = try decode { () throws(StoreError) in try Coding.resource(head.text(0)) }
        return ChallengeRecord(id: id, resource: resource, offers: offers, bodyDigest: head.optionalText(1),
                               createdAt: StoreTime.date(milliseconds: created), expiresAt: StoreTime.date(milliseconds: expires))
    }

    private static func consumedRow(_ record: ConsumedChallenge) throws(StoreError) -> [PostgresValue] {
        let s = record.settlement, r = record.receipt
        let headers = try r.response.map { response throws(StoreError) in try Coding.encodeHeaders(response.headers) }
        return [
            .text(record.challengeID), .text(s.rail.rawValue), .text(s.offerID), .text(s.reference), .integer(s.amount.amount),
            .text(s.amount.unit.code), .integer(Int64(s.amount.unit.exponent)), .integer(StoreTime.milliseconds(s.settledAt)),
            .text(r.receiptID), .bytes(r.tokenHash), .text(r.resource.description), .integer(StoreTime.milliseconds(r.issuedAt)),
            .integer(StoreTime.milliseconds(r.grantExpiresAt)), r.response.map { .integer(Int64($0.status)) } ?? .null,
            optional(headers), r.response.map { .bytes($0.body) } ?? .null, .integer(StoreTime.milliseconds(record.consumedAt)),
            r.credentialHash.map { .bytes($0) } ?? .null,
            SQLiteGateStore.authorizationExpiry(s.kind).map { .integer($0) } ?? .null,
        ]
    }

    static func consumed(_ row: PostgresRow) throws(PostgresFailure) -> ConsumedChallenge {
        let amount = try row.integer(4), exponent = try row.integer(6), settledAt = try row.integer(7)
        let issuedAt = try row.integer(11), grantEnds = try row.integer(12), consumedAt = try row.integer(16)
        let status: Int64? = row.isNull(13) ? nil : try row.integer(13)
        let holdEnds: Int64? = row.isNull(18) ? nil : try row.integer(18)
        return try decode { () throws(StoreError) in
            let settlement = Settlement(
                rail: try Coding.rail(row.text(1)), offerID: row.text(2), reference: row.text(3),
                amount: try Coding.money(amount, code: row.text(5), exponent: exponent), settledAt: StoreTime.date(milliseconds: settledAt),
                kind: holdEnds.map { .authorization(expiresAt: StoreTime.date(milliseconds: $0)) } ?? .final)
            var response: StoredResponse?
            if let status {
                response = StoredResponse(status: Int(status), headers: try Coding.decodeHeaders(row.text(14)), body: row.bytes(15))
            }
            let receipt = ReceiptRecord(
                receiptID: row.text(8), tokenHash: row.bytes(9), resource: try Coding.resource(row.text(10)),
                issuedAt: StoreTime.date(milliseconds: issuedAt), grantExpiresAt: StoreTime.date(milliseconds: grantEnds),
                response: response, credentialHash: row.optionalBytes(17))
            return ConsumedChallenge(challengeID: row.text(0), settlement: settlement, receipt: receipt,
                                     consumedAt: StoreTime.date(milliseconds: consumedAt))
        }
    }
}
