// The gate's PostgreSQL tables. Version 1 holds everything SQLite schema 4 holds (challenges and
// offers, consumptions with receipts, responses and credential hashes, idempotency keys, rate-limit
// buckets, refunds and rail events) under the same column names, so an operator reading either
// database reads the same thing. Never edit a shipped version; append one to `PostgresGateStore.migrations`.

enum PostgresGateSchema {
    static let version1 = """
        CREATE TABLE challenges (
            id TEXT PRIMARY KEY,
            resource TEXT NOT NULL,
            body_digest TEXT,
            created_at_ms BIGINT NOT NULL,
            expires_at_ms BIGINT NOT NULL
        );
        CREATE INDEX challenges_by_expiry ON challenges (expires_at_ms);
        CREATE TABLE challenge_offers (
            challenge_id TEXT NOT NULL REFERENCES challenges (id) ON DELETE CASCADE,
            position BIGINT NOT NULL,
            rail TEXT NOT NULL,
            amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
            unit_code TEXT NOT NULL,
            unit_exponent BIGINT NOT NULL,
            payee TEXT NOT NULL,
            offer_id TEXT NOT NULL,
            expires_at_ms BIGINT NOT NULL,
            details_json TEXT NOT NULL,
            PRIMARY KEY (challenge_id, position)
        );
        CREATE TABLE consumed_challenges (
            challenge_id TEXT PRIMARY KEY,
            rail TEXT NOT NULL,
            offer_id TEXT NOT NULL,
            settlement_reference TEXT NOT NULL,
            amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
            unit_code TEXT NOT NULL,
            unit_exponent BIGINT NOT NULL,
            settled_at_ms BIGINT NOT NULL,
            receipt_id TEXT NOT NULL UNIQUE,
            token_hash BYTEA NOT NULL UNIQUE,
            resource TEXT NOT NULL,
            issued_at_ms BIGINT NOT NULL,
            grant_expires_at_ms BIGINT NOT NULL,
            response_status BIGINT,
            response_headers_json TEXT,
            response_body BYTEA,
            consumed_at_ms BIGINT NOT NULL,
            credential_hash BYTEA,
            keep_until_ms BIGINT NOT NULL
        );
        CREATE INDEX consumed_challenges_by_keep_until ON consumed_challenges (keep_until_ms);
        CREATE INDEX consumed_challenges_by_reference ON consumed_challenges (settlement_reference);
        CREATE INDEX consumed_challenges_by_offer ON consumed_challenges (offer_id);
        CREATE TABLE idempotency_keys (
            key TEXT PRIMARY KEY,
            payload_hash BYTEA NOT NULL,
            status BIGINT NOT NULL,
            headers_json TEXT NOT NULL,
            body BYTEA NOT NULL,
            created_at_ms BIGINT NOT NULL,
            expires_at_ms BIGINT NOT NULL
        );
        CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at_ms);
        CREATE TABLE rate_limit_buckets (
            client_key TEXT PRIMARY KEY,
            milli_tokens BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            full_at_ms BIGINT NOT NULL
        );
        CREATE INDEX rate_limit_buckets_by_full_at ON rate_limit_buckets (full_at_ms);
        CREATE TABLE refunds (
            challenge_id TEXT NOT NULL,
            refund_key TEXT NOT NULL,
            amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
            unit_code TEXT NOT NULL,
            unit_exponent BIGINT NOT NULL,
            reason TEXT,
            status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
            rail_refund_id TEXT,
            created_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            PRIMARY KEY (challenge_id, refund_key)
        );
        CREATE TABLE payment_events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            object_id TEXT NOT NULL,
            challenge_id TEXT,
            received_at_ms BIGINT NOT NULL
        );
        CREATE INDEX payment_events_by_received_at ON payment_events (received_at_ms);
        """

    static let consumedColumns = """
        challenge_id, rail, offer_id, settlement_reference, amount_minor, unit_code, unit_exponent, settled_at_ms,
        receipt_id, token_hash, resource, issued_at_ms, grant_expires_at_ms,
        response_status, response_headers_json, response_body, consumed_at_ms, credential_hash
        """

    /// Challenges and their offers in one statement, so one round trip (and one atomic write) stands
    /// before a 402. The offers' foreign key is checked at the end of the statement, when the
    /// challenges inserted by the first part are there. Integers travel as JSON numbers and are read
    /// into BIGINT exactly.
    static let saveChallenges = """
        WITH inserted AS (
            INSERT INTO challenges (id, resource, body_digest, created_at_ms, expires_at_ms)
            SELECT id, resource, body_digest, created_at_ms, expires_at_ms
            FROM json_to_recordset($1::json) AS c(id TEXT, resource TEXT, body_digest TEXT, created_at_ms BIGINT, expires_at_ms BIGINT)
            RETURNING id
        )
        INSERT INTO challenge_offers (challenge_id, position, rail, amount_minor, unit_code, unit_exponent, payee, offer_id,
            expires_at_ms, details_json)
        SELECT challenge_id, position, rail, amount_minor, unit_code, unit_exponent, payee, offer_id, expires_at_ms, details_json
        FROM json_to_recordset($2::json) AS o(challenge_id TEXT, position BIGINT, rail TEXT, amount_minor BIGINT, unit_code TEXT,
            unit_exponent BIGINT, payee TEXT, offer_id TEXT, expires_at_ms BIGINT, details_json TEXT)
        """

    /// One statement decides: the primary key on `challenge_id` admits exactly one row, and a racer
    /// waits on the winner's uncommitted row, then does nothing. The record is kept while its grant
    /// lasts or its challenge could still be presented, whichever is later.
    static let consume = """
        INSERT INTO consumed_challenges (\(consumedColumns), keep_until_ms)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                GREATEST($13, (SELECT expires_at_ms FROM challenges WHERE id = $1)))
        ON CONFLICT (challenge_id) DO NOTHING
        """
}
