-- A PayRail database as schema version 1 wrote it (before idempotency keys and rate limits).
-- schema-v1.sqlite is built from this file with: sqlite3 schema-v1.sqlite < schema-v1.sql
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

INSERT INTO challenges VALUES ('ch-v1-open', 'GET /premium', NULL, 1767225600000, 1767229200000);
INSERT INTO challenge_offers VALUES ('ch-v1-open', 0, 'fake', 100, 'sat', 0, 'acct_payee', 'offer-1', 1767229200000, '{"requestID":"r-1"}');
INSERT INTO consumed_challenges VALUES ('ch-v1-paid', 'fake', 'offer-2', 'pay-2', 250, 'usd', 2, 1767225601000,
    'receipt-v1', X'0102030405060708', 'GET /premium', 1767225601000, 1767229201000,
    200, '[{"name":"Content-Type","value":"text/plain"}]', X'68656C6C6F', 1767225601000, 1767229201000);
PRAGMA user_version = 1;
