-- A wallet written by PayRail before standard receipts were kept (spend schema version 2): one
-- committed spend with its PayRail receipt and reference, one paid spend with its proof.
-- spend-schema-v2.sqlite is built from this file with: sqlite3 spend-schema-v2.sqlite < spend-schema-v2.sql
CREATE TABLE spend_schema (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
CREATE TABLE spends (
    seq INTEGER PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'paid', 'committed', 'released')),
    amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
    unit_code TEXT NOT NULL,
    unit_exponent INTEGER NOT NULL,
    rail TEXT NOT NULL,
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    context TEXT NOT NULL,
    proof TEXT,
    receipt TEXT,
    reference TEXT,
    note TEXT,
    reserved_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX spends_by_unit_and_time ON spends(unit_code, unit_exponent, reserved_at_ms);
CREATE INDEX spends_by_time ON spends(reserved_at_ms);
CREATE INDEX spends_unfinished ON spends(reserved_at_ms) WHERE state IN ('reserved', 'paid');
CREATE INDEX spends_committed_by_host_and_rail ON spends(host, rail, reserved_at_ms) WHERE state = 'committed';
INSERT INTO spend_schema (id, version) VALUES (1, 2);
INSERT INTO spends (payment_id, state, amount_minor, unit_code, unit_exponent, rail, host, method, url, offer_id, context,
                    proof, receipt, reference, note, reserved_at_ms, updated_at_ms)
VALUES ('old-committed', 'committed', 42, 'sat', 0, 'fake', 'api.example.com', 'GET', 'https://api.example.com/a', 'o-1', '{}',
        NULL, 'aaa.bbb.ccc', 'ref-old-1', NULL, 1700000000000, 1700000001000),
       ('old-paid', 'paid', 7, 'sat', 0, 'fake', 'api.example.com', 'GET', 'https://api.example.com/b', 'o-2', '{}',
        '{"X-Receipt":"v.s"}', NULL, NULL, NULL, 1700000002000, 1700000003000);
