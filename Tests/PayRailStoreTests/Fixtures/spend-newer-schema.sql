-- A wallet file from a future PayRail (spend schema version 99): opening it must be refused, and it must stay unchanged.
-- spend-newer-schema.sqlite is built from this file with: sqlite3 spend-newer-schema.sqlite < spend-newer-schema.sql
CREATE TABLE spend_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT;
INSERT INTO spend_schema (id, version) VALUES (1, 99);
CREATE TABLE future_spends (payment_id TEXT PRIMARY KEY NOT NULL) STRICT;
