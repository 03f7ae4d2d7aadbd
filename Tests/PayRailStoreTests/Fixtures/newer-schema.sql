-- A database from a future PayRail (schema version 99): opening it must be refused, and it must stay unchanged.
-- newer-schema.sqlite is built from this file with: sqlite3 newer-schema.sqlite < newer-schema.sql
CREATE TABLE future_things (id TEXT PRIMARY KEY NOT NULL) STRICT;
PRAGMA user_version = 99;
