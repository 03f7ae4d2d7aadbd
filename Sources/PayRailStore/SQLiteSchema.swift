// The SQLite schema, versioned with `PRAGMA user_version`. Migrations only ever move forward: each
// entry upgrades from the previous version and is applied in its own `BEGIN IMMEDIATE` transaction
// together with the version bump, so a crash (or a second process opening the same file) never sees
// half a migration. Never edit a shipped migration; append a new one.
//
// Money is INTEGER minor units plus the unit's code and exponent, never REAL; times are INTEGER
// milliseconds since 1970. STRICT tables make SQLite refuse a value of the wrong type instead of
// silently converting it.

enum SQLiteSchema {
    static var latestVersion: Int { migrations.last?.version ?? 0 }

    static let migrations: [SQLiteMigration] = [
        SQLiteMigration(version: 1, sql: """
            CREATE TABLE challenges (
                id TEXT PRIMARY KEY NOT NULL,
                resource TEXT NOT NULL,
                body_digest TEXT,
                created_at_ms INTEGER NOT NULL,
                expires_at_ms INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX challenges_by_expiry ON challenges(expires_at_ms);
            CREATE TABLE challenge_offers (
                challenge_id TEXT NOT NULL REFERENCES challenges(id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                rail TEXT NOT NULL,
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
                unit_code TEXT NOT NULL,
                unit_exponent INTEGER NOT NULL,
                payee TEXT NOT NULL,
                offer_id TEXT NOT NULL,
                expires_at_ms INTEGER NOT NULL,
                details_json TEXT NOT NULL,
                PRIMARY KEY (challenge_id, position)
            ) STRICT;
            CREATE TABLE consumed_challenges (
                challenge_id TEXT PRIMARY KEY NOT NULL,
                rail TEXT NOT NULL,
                offer_id TEXT NOT NULL,
                settlement_reference TEXT NOT NULL,
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
                unit_code TEXT NOT NULL,
                unit_exponent INTEGER NOT NULL,
                settled_at_ms INTEGER NOT NULL,
                receipt_id TEXT NOT NULL UNIQUE,
                token_hash BLOB NOT NULL UNIQUE,
                resource TEXT NOT NULL,
                issued_at_ms INTEGER NOT NULL,
                grant_expires_at_ms INTEGER NOT NULL,
                response_status INTEGER,
                response_headers_json TEXT,
                response_body BLOB,
                consumed_at_ms INTEGER NOT NULL,
                keep_until_ms INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX consumed_challenges_by_keep_until ON consumed_challenges(keep_until_ms);
            """),
        SQLiteMigration(version: 2, sql: """
            CREATE TABLE idempotency_keys (
                key TEXT PRIMARY KEY NOT NULL,
                payload_hash BLOB NOT NULL,
                status INTEGER NOT NULL,
                headers_json TEXT NOT NULL,
                body BLOB NOT NULL,
                created_at_ms INTEGER NOT NULL,
                expires_at_ms INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_at_ms);
            CREATE TABLE rate_limit_buckets (
                client_key TEXT PRIMARY KEY NOT NULL,
                milli_tokens INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                full_at_ms INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX rate_limit_buckets_by_full_at ON rate_limit_buckets(full_at_ms);
            """),
        // The hash of the exact credential that won each consumption: the same bytes replay the
        // grant, other reuse of the proof is refused. Rows of schema 2 keep NULL (unknown).
        SQLiteMigration(version: 3, sql: """
            ALTER TABLE consumed_challenges ADD COLUMN credential_hash BLOB;
            """),
        // Refunds the operator made and rail events (webhooks) received, by challenge; kept apart
        // from consumed_challenges so purging a consumption never forgets what was refunded.
        SQLiteMigration(version: 4, sql: """
            CREATE TABLE refunds (
                challenge_id TEXT NOT NULL,
                refund_key TEXT NOT NULL,
                amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
                unit_code TEXT NOT NULL,
                unit_exponent INTEGER NOT NULL,
                reason TEXT,
                status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
                rail_refund_id TEXT,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                PRIMARY KEY (challenge_id, refund_key)
            ) STRICT;
            CREATE TABLE payment_events (
                id TEXT PRIMARY KEY NOT NULL,
                type TEXT NOT NULL,
                object_id TEXT NOT NULL,
                challenge_id TEXT,
                received_at_ms INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX consumed_challenges_by_reference ON consumed_challenges(settlement_reference);
            CREATE INDEX consumed_challenges_by_offer ON consumed_challenges(offer_id);
            """),
        // An authorization (a card hold to capture after the response, x402 auth-capture) is recorded
        // with the moment its hold lapses; NULL is a final settlement, as every row before it was.
        SQLiteMigration(version: 5, sql: """
            ALTER TABLE consumed_challenges ADD COLUMN authorization_expires_at_ms INTEGER;
            """),
    ]

    static func userVersion(_ connection: SQLiteConnection) throws(StoreError) -> Int {
        let rows = try connection.query("PRAGMA user_version") { row in Int(row.integer(0)) }
        return rows.first ?? 0
    }

    /// Brings the file to `latestVersion`, or refuses a file from a newer PayRail.
    static func migrate(_ connection: SQLiteConnection) throws(StoreError) {
        try connection.migrate(migrations, version: userVersion, setVersion: { connection, version throws(StoreError) in
            try connection.execute("PRAGMA user_version = \(version)")
        }, refuseNewer: refuseNewer)
    }

    static func refuseNewer(_ version: Int) throws(StoreError) {
        guard version <= latestVersion else {
            throw StoreError(
                code: .newerSchema,
                reason: "the database has schema version \(version) but this PayRail knows only up to \(latestVersion); "
                    + "upgrade PayRail or open another file (the file was left unchanged)",
                isRetrySafe: false)
        }
    }
}
