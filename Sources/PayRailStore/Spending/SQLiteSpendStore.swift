#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import PayRail

// The agent's wallet file: one SQLite file shared by every task of an agent and by every agent
// process using the same wallet. Reserving runs in BEGIN IMMEDIATE, which takes the write lock before
// the budget is summed, so two processes can never both see the same room in the budget; WAL lets
// readers (`payrail ledger`) proceed while a writer writes, and the busy timeout makes a writer wait
// for the lock instead of failing at once. `synchronous=FULL`: a reservation that returned is on disk
// before any money moves.
//
// The file may also hold the gate's tables, so the spend schema keeps its own version in its own
// table (`spend_schema`) instead of `PRAGMA user_version`, which the gate's schema owns. It holds
// proofs (credential headers), so it is created readable by its owner only.

/// The spend schema's migrations. Never edit a shipped migration; append a new one.
enum SpendSchema {
    static var latestVersion: Int { migrations.last?.version ?? 0 }

    static let migrations: [SQLiteMigration] = [
        SQLiteMigration(version: 1, sql: """
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
            """),
        // The price memory asks for a host's newest committed spends on a rail: without this index
        // that is a scan of the whole ledger on every negotiation.
        SQLiteMigration(version: 2, sql: """
            CREATE INDEX spends_committed_by_host_and_rail ON spends(host, rail, reserved_at_ms) WHERE state = 'committed';
            """),
        // The server's standard Payment-Receipt of a committed spend (LedgerReceipt as JSON); spends
        // of older wallets keep NULL, and the file stays readable by this version only from here on.
        SQLiteMigration(version: 3, sql: """
            ALTER TABLE spends ADD COLUMN standard_receipt TEXT;
            """),
        // Every reservation sums the unit's spends of the last day (`windowSums`): with the state and
        // the amount in the index that is a read of the index alone, not a table lookup per spend. It
        // covers every query the index it replaces served (same leading columns).
        SQLiteMigration(version: 4, sql: """
            CREATE INDEX spends_budget_window ON spends(unit_code, unit_exponent, reserved_at_ms, state, amount_minor);
            DROP INDEX IF EXISTS spends_by_unit_and_time;
            """),
        // Running totals: what a unit's non-released spends add up to per minute of reservation, kept
        // by triggers in the transaction of every insert, change and delete of a spend, so a
        // reservation sums at most a day's minutes (1,440 rows) and the spends of the window's first,
        // partial minute, not every spend of the day (`windowSums`). A change that leaves what a spend
        // counts as it was (paid, committed at the reserved amount) does not touch them. Filled here
        // from the spends of the last two days (all of them when there are no older ones), one at a
        // time through the same upsert, inside the migration's write lock: filling a long history
        // would hold every other writer off for as long. `spend_totals_since` is the first minute the
        // totals are complete from; a window reaching before it (an agent whose clock is days behind)
        // is decided from the spends. A minute whose total would pass 64 bits (spends of a unit
        // without caps may) is NULL from then on: its windows are decided from the spends too.
        SQLiteMigration(version: 5, sql: """
            CREATE TABLE spend_minute_totals (
                unit_code TEXT NOT NULL,
                unit_exponent INTEGER NOT NULL,
                minute INTEGER NOT NULL,
                amount_minor INTEGER,
                PRIMARY KEY (unit_code, unit_exponent, minute)
            ) STRICT, WITHOUT ROWID;
            CREATE TABLE spend_totals_since (id INTEGER PRIMARY KEY CHECK (id = 1), minute INTEGER NOT NULL) STRICT;
            INSERT INTO spend_totals_since (id, minute)
                SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM spends WHERE reserved_at_ms < cutoff * 60000 AND state != 'released') THEN cutoff
                               ELSE -9223372036854775807 END
                FROM (SELECT CAST(strftime('%s', 'now') AS INTEGER) / 60 - 2880 AS cutoff);
            INSERT INTO spend_minute_totals (unit_code, unit_exponent, minute, amount_minor)
                SELECT unit_code, unit_exponent, (reserved_at_ms - ((reserved_at_ms % 60000) + 60000) % 60000) / 60000, amount_minor
                FROM spends
                WHERE state != 'released' AND reserved_at_ms >= max((SELECT minute FROM spend_totals_since), -153722867280912) * 60000
                ORDER BY seq
                ON CONFLICT (unit_code, unit_exponent, minute) DO UPDATE SET amount_minor =
                        CASE WHEN amount_minor > 9223372036854775807 - excluded.amount_minor THEN NULL
                             ELSE amount_minor + excluded.amount_minor END;
            CREATE TRIGGER spends_total_insert AFTER INSERT ON spends WHEN NEW.state != 'released' BEGIN
                INSERT INTO spend_minute_totals (unit_code, unit_exponent, minute, amount_minor)
                    SELECT NEW.unit_code, NEW.unit_exponent, (NEW.reserved_at_ms - ((NEW.reserved_at_ms % 60000) + 60000) % 60000) / 60000, NEW.amount_minor
                    WHERE NEW.state != 'released'
                    ON CONFLICT (unit_code, unit_exponent, minute) DO UPDATE SET amount_minor =
                        CASE WHEN amount_minor > 9223372036854775807 - excluded.amount_minor THEN NULL
                             ELSE amount_minor + excluded.amount_minor END;
            END;
            CREATE TRIGGER spends_total_update AFTER UPDATE OF state, amount_minor, unit_code, unit_exponent, reserved_at_ms
                ON spends
                WHEN OLD.unit_code IS NOT NEW.unit_code OR OLD.unit_exponent IS NOT NEW.unit_exponent
                    OR OLD.reserved_at_ms IS NOT NEW.reserved_at_ms
                    OR (CASE WHEN OLD.state != 'released' THEN OLD.amount_minor ELSE 0 END)
                        IS NOT (CASE WHEN NEW.state != 'released' THEN NEW.amount_minor ELSE 0 END)
                BEGIN
                UPDATE spend_minute_totals SET amount_minor = amount_minor - OLD.amount_minor
                    WHERE OLD.state != 'released' AND unit_code = OLD.unit_code AND unit_exponent = OLD.unit_exponent
                    AND minute = (OLD.reserved_at_ms - ((OLD.reserved_at_ms % 60000) + 60000) % 60000) / 60000;
                INSERT INTO spend_minute_totals (unit_code, unit_exponent, minute, amount_minor)
                    SELECT NEW.unit_code, NEW.unit_exponent, (NEW.reserved_at_ms - ((NEW.reserved_at_ms % 60000) + 60000) % 60000) / 60000, NEW.amount_minor
                    WHERE NEW.state != 'released'
                    ON CONFLICT (unit_code, unit_exponent, minute) DO UPDATE SET amount_minor =
                        CASE WHEN amount_minor > 9223372036854775807 - excluded.amount_minor THEN NULL
                             ELSE amount_minor + excluded.amount_minor END;
            END;
            CREATE TRIGGER spends_total_delete AFTER DELETE ON spends BEGIN
                UPDATE spend_minute_totals SET amount_minor = amount_minor - OLD.amount_minor
                    WHERE OLD.state != 'released' AND unit_code = OLD.unit_code AND unit_exponent = OLD.unit_exponent
                    AND minute = (OLD.reserved_at_ms - ((OLD.reserved_at_ms % 60000) + 60000) % 60000) / 60000;
            END;
            """),
    ]

    /// The version in the file; 0 when the spend tables were never created.
    static func version(_ connection: SQLiteConnection) throws(StoreError) -> Int {
        let tables = try connection.query(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'spend_schema'") { row in row.integer(0) }
        guard tables.first == 1 else { return 0 }
        let versions = try connection.query("SELECT version FROM spend_schema WHERE id = 1") { row in Int(row.integer(0)) }
        return versions.first ?? 0
    }

    static func migrate(_ connection: SQLiteConnection) throws(StoreError) {
        try connection.migrate(migrations, version: version, setVersion: { connection, version throws(StoreError) in
            _ = try connection.run(
                "INSERT INTO spend_schema (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                [.integer(Int64(version))])
        }, refuseNewer: refuseNewer)
    }

    static func refuseNewer(_ version: Int) throws(StoreError) {
        guard version <= latestVersion else {
            throw StoreError(
                code: .newerSchema,
                reason: "the wallet file has spend schema version \(version) but this PayRail knows only up to \(latestVersion); "
                    + "upgrade PayRail or use another wallet file (the file was left unchanged)",
                isRetrySafe: false)
        }
    }
}

/// A `SpendStore` in a SQLite wallet file (WAL), safe to share between tasks and between processes.
public final class SQLiteSpendStore: SpendStore, @unchecked Sendable {
    // @unchecked: `connection` is only used on `queue` (and in `init`, before the store is shared).
    private let connection: SQLiteConnection
    private let queue: DispatchQueue

    /// The spend schema version this build writes; older files are migrated up to it when opened.
    public static var latestSchemaVersion: Int { SpendSchema.latestVersion }

    /// Opens (creating if needed, with mode 0600) the wallet file at `path`, sets WAL and the busy
    /// timeout, and migrates the spend schema forward.
    ///
    /// An existing file of this user that other users may read is narrowed to 0600, since it holds
    /// proofs. Opening blocks the calling thread briefly (up to `busyTimeout` if another process is
    /// migrating the same file); do it at startup.
    ///
    /// - Parameters:
    ///   - path: the wallet file; its directory must exist. WAL adds `-wal` and `-shm` files beside it,
    ///     which SQLite creates with the file's own mode.
    ///   - busyTimeout: how long a write waits for another connection's lock before `.busy`.
    /// - Throws: `StoreError` `.corrupt` for a damaged or non-SQLite file, `.newerSchema` for a file from
    ///   a newer PayRail (left unchanged), `.unavailable` when the file cannot be created, opened or
    ///   written, `.busy` when another process held the lock past the timeout.
    public init(path: String, busyTimeout: Duration = .seconds(5)) throws(StoreError) {
        guard !path.isEmpty else { throw StoreError.invalid("the wallet file path is empty") }
        try SQLiteConnection.refuseEmptyFile(path)
        try Self.createPrivately(path)
        let connection = try SQLiteConnection.openForStore(path: path, busyTimeout: busyTimeout) { connection throws(StoreError) in
            try SpendSchema.refuseNewer(SpendSchema.version(connection))
        }
        try SpendSchema.migrate(connection)
        self.connection = connection
        self.queue = DispatchQueue(label: "payrail.spend.sqlite")
    }

    /// Closes the file (after operations already started); later calls throw `.closed`.
    public func close() async {
        _ = try? await perform { connection throws(StoreError) in connection.close() }
    }

    /// The spend schema version recorded in the file.
    public func schemaVersion() async throws(StoreError) -> Int {
        try await perform { connection throws(StoreError) in try SpendSchema.version(connection) }
    }

    // MARK: - SpendStore

    /// Reserves budget in one `BEGIN IMMEDIATE` transaction (see `SpendStore.reserve`).
    public func reserve(_ record: SpendRecord, limits: SpendLimits, now: Date) async throws(StoreError) -> ReserveOutcome {
        try SpendBudget.validate(record, limits: limits)
        let nowMilliseconds = StoreTime.milliseconds(now)
        let row = try Self.row(record)
        return try await ReserveStep.reserve { isLastTry throws(StoreError) -> ReserveStep in
            try await perform { connection throws(StoreError) -> ReserveStep in
                try connection.immediateTransaction { () throws(StoreError) -> ReserveStep in
                    if let existing = try Self.record(record.paymentID, connection) { return .finished(.existing(existing)) }
                    // Inside the transaction, so the sums and the insert see the same ledger.
                    let fit = try SpendBudget.fit(record.amount, limits: limits) { () throws(StoreError) -> WindowSums in
                        try Self.windowSums(of: record.amount.unit, now: nowMilliseconds, connection)
                    }
                    if fit == .refused, !isLastTry { return .refusedBySums }
                    if fit != .fits, let refusal = try Self.refusal(record.amount, limits: limits, now: nowMilliseconds, connection) {
                        return .finished(.refused(refusal))
                    }
                    try connection.run("INSERT INTO spends (\(Self.columns)) VALUES (\(Self.placeholders))", row)
                    return .finished(.reserved(record))
                }
            }
        } refusal: { () throws(StoreError) -> BudgetRefusal? in
            // After the write lock, which every writer of the file (commits of payments made) waits for.
            try await perform { connection throws(StoreError) -> BudgetRefusal? in
                try Self.refusal(record.amount, limits: limits, now: nowMilliseconds, connection)
            }
        }
    }

    /// What the unit's non-released spends add up to in the hour and the day before `now` (later ones
    /// too): for each window, the running totals of its whole minutes (`spend_minute_totals`) plus the
    /// spends of its first, partial minute read from the covering index `spends_budget_window`; the
    /// same spends `refusal` reads, in at most 1,440 total rows whatever the day's count of spends.
    /// SQLite's SUM raises "integer overflow" (SQLITE_ERROR, `.internal`) past 64 bits instead of
    /// answering: that is `.overflowed`, "does not fit by the sums", and the exact path decides, as
    /// it does when the two parts of a window add up past 64 bits. Any other failure is thrown (a real
    /// fault recurs in the exact path's query too).
    private static func windowSums(of unit: MoneyUnit, now: Int64, _ connection: SQLiteConnection) throws(StoreError) -> WindowSums {
        let day = SpendMinutes(after: now - SpendBudget.dayMilliseconds)
        let hour = SpendMinutes(after: now - SpendBudget.hourMilliseconds)
        let parts: [Int64]
        do {
            parts = try connection.query("""
                SELECT
                    day.total,
                    (SELECT COALESCE(SUM(amount_minor), 0) FROM spends
                        WHERE unit_code = ?1 AND unit_exponent = ?2 AND reserved_at_ms > ?4 AND reserved_at_ms < ?5
                        AND state != 'released'),
                    (SELECT COALESCE(SUM(amount_minor), 0) FROM spend_minute_totals
                        WHERE unit_code = ?1 AND unit_exponent = ?2 AND minute >= ?6),
                    (SELECT COALESCE(SUM(amount_minor), 0) FROM spends
                        WHERE unit_code = ?1 AND unit_exponent = ?2 AND reserved_at_ms > ?7 AND reserved_at_ms < ?8
                        AND state != 'released'),
                    day.beyond,
                    COALESCE((SELECT minute FROM spend_totals_since), 9223372036854775807)
                FROM (SELECT COALESCE(SUM(amount_minor), 0) AS total, count(*) - count(amount_minor) AS beyond
                      FROM spend_minute_totals WHERE unit_code = ?1 AND unit_exponent = ?2 AND minute >= ?3) AS day
                """, [.text(unit.code), .integer(Int64(unit.exponent)),
                      .integer(day.firstWholeMinute), .integer(day.start), .integer(day.wholeMinutesStart),
                      .integer(hour.firstWholeMinute), .integer(hour.start), .integer(hour.wholeMinutesStart)]) { row in
                [row.integer(0), row.integer(1), row.integer(2), row.integer(3), row.integer(4), row.integer(5)]
            }.first ?? []
        } catch where error.code == .internal {
            return .overflowed
        }
        // A minute past 64 bits (NULL, skipped by SUM) in the day (which holds the hour's minutes), or
        // a day reaching before the minute the totals are complete from: the sums could be short, so
        // the spends decide.
        guard parts.count == 6, parts[4] == 0, parts[5] <= day.firstWholeMinute else { return .overflowed }
        let (daySum, dayOverflow) = parts[0].addingReportingOverflow(parts[1])
        let (hourSum, hourOverflow) = parts[2].addingReportingOverflow(parts[3])
        guard !dayOverflow, !hourOverflow else { return .overflowed }
        return WindowSums(hour: hourSum, day: daySum)
    }

    /// The refusal of `amount`, computed from the window's spends themselves (each with its time, for
    /// `retryAfter`), or `nil` when it fits after all.
    private static func refusal(_ amount: Money, limits: SpendLimits, now: Int64,
                                _ connection: SQLiteConnection) throws(StoreError) -> BudgetRefusal? {
        let entries = try connection.query("""
            SELECT amount_minor, reserved_at_ms FROM spends
            WHERE unit_code = ? AND unit_exponent = ? AND reserved_at_ms > ? AND state != 'released'
            ORDER BY reserved_at_ms, seq
            """, [.text(amount.unit.code), .integer(Int64(amount.unit.exponent)), .integer(now - SpendBudget.dayMilliseconds)]) { row in
            BudgetEntry(amount: row.integer(0), reservedAtMilliseconds: row.integer(1))
        }
        return SpendBudget.refusal(for: amount, limits: limits, entries: entries, now: now)
    }

    /// Reserved -> paid, keeping the proof.
    public func markPaid(paymentID: String, proof: String, now: Date) async throws(StoreError) -> SpendRecord {
        try await update(paymentID) { record throws(StoreError) in try SpendTransition.markPaid(record, proof: proof, now: now) }
    }

    /// Reserved or paid -> committed, erasing the proof.
    public func commit(paymentID: String, receipt: String?, reference: String?, note: String?, now: Date) async throws(StoreError) -> SpendRecord {
        try await update(paymentID, syncedUnlessPaid: true) { record throws(StoreError) in
            try SpendTransition.commit(record, receipt: receipt, reference: reference, note: note, now: now)
        }
    }

    /// Reserved or paid -> committed at the amount actually spent (at most the reserved one).
    public func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                       now: Date) async throws(StoreError) -> SpendRecord {
        try await update(paymentID, syncedUnlessPaid: true) { record throws(StoreError) in
            try SpendTransition.commit(record, receipt: receipt, reference: reference, note: note, amount: amount, now: now)
        }
    }

    /// Reserved or paid -> committed, keeping the server's standard receipt.
    public func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                       standardReceipt: LedgerReceipt?, now: Date) async throws(StoreError) -> SpendRecord {
        try await update(paymentID, syncedUnlessPaid: true) { record throws(StoreError) in
            try SpendTransition.commit(record, receipt: receipt, reference: reference, note: note, amount: amount,
                                       standardReceipt: standardReceipt, now: now)
        }
    }

    /// Reserved -> released.
    public func release(paymentID: String, reason: String, now: Date) async throws(StoreError) -> SpendRecord {
        try await update(paymentID) { record throws(StoreError) in try SpendTransition.release(record, reason: reason, now: now) }
    }

    /// The record with this payment id, if any.
    public func record(paymentID: String) async throws(StoreError) -> SpendRecord? {
        try await perform { connection throws(StoreError) in try Self.record(paymentID, connection) }
    }

    /// Reserved or paid records, oldest first.
    public func unfinished() async throws(StoreError) -> [SpendRecord] {
        try await perform { connection throws(StoreError) in
            try connection.query("""
                SELECT \(Self.columns) FROM spends WHERE state IN ('reserved', 'paid') ORDER BY reserved_at_ms, seq
                """, row: Self.decode)
        }
    }

    /// One request's reserved or paid records, oldest first: SQLite filters the unfinished spends
    /// (partial index `spends_unfinished`), so only the request's own rows are decoded.
    public func unfinished(method: String, url: String) async throws(StoreError) -> [SpendRecord] {
        try await perform { connection throws(StoreError) in
            try connection.query("""
                SELECT \(Self.columns) FROM spends WHERE state IN ('reserved', 'paid') AND method = ? AND url = ?
                ORDER BY reserved_at_ms, seq
                """, [.text(method), .text(url)], row: Self.decode)
        }
    }

    /// The ledger from `since` (inclusive), oldest first.
    public func records(since: Date?) async throws(StoreError) -> [SpendRecord] {
        let since = since.map(StoreTime.milliseconds) ?? Int64.min
        return try await perform { connection throws(StoreError) in
            try connection.query("""
                SELECT \(Self.columns) FROM spends WHERE reserved_at_ms >= ? ORDER BY reserved_at_ms, seq
                """, [.integer(since)], row: Self.decode)
        }
    }

    // MARK: - Rows

    private static let columns = """
        payment_id, state, amount_minor, unit_code, unit_exponent, rail, host, method, url, offer_id, context,
        proof, receipt, reference, note, reserved_at_ms, updated_at_ms, standard_receipt
        """
    private static let placeholders = Array(repeating: "?", count: 18).joined(separator: ", ")

    private static func optional(_ text: String?) -> SQLiteValue {
        text.map { .text($0) } ?? .null
    }

    private static func row(_ record: SpendRecord) throws(StoreError) -> [SQLiteValue] {
        [
            .text(record.paymentID), .text(record.state.rawValue), .integer(record.amount.amount), .text(record.amount.unit.code),
            .integer(Int64(record.amount.unit.exponent)), .text(record.rail.rawValue), .text(record.host), .text(record.method),
            .text(record.url), .text(record.offerID), .text(record.context), optional(record.proof), optional(record.receipt),
            optional(record.reference), optional(record.note), .integer(StoreTime.milliseconds(record.reservedAt)),
            .integer(StoreTime.milliseconds(record.updatedAt)), try standardReceipt(record),
        ]
    }

    private static func standardReceipt(_ record: SpendRecord) throws(StoreError) -> SQLiteValue {
        guard let receipt = record.standardReceipt else { return .null }
        return .text(try receipt.encoded())
    }

    private static func decode(_ row: SQLiteRow) throws(StoreError) -> SpendRecord {
        guard let state = SpendState(rawValue: row.text(1)) else {
            throw StoreError.corrupt("a stored spend state does not decode")
        }
        return SpendRecord(
            paymentID: row.text(0), state: state, amount: try Coding.money(row.integer(2), code: row.text(3), exponent: row.integer(4)),
            rail: try Coding.rail(row.text(5)), host: row.text(6), method: row.text(7), url: row.text(8), offerID: row.text(9),
            context: row.text(10), proof: row.optionalText(11), receipt: row.optionalText(12), reference: row.optionalText(13),
            note: row.optionalText(14), reservedAt: StoreTime.date(milliseconds: row.integer(15)),
            updatedAt: StoreTime.date(milliseconds: row.integer(16)),
            standardReceipt: try row.optionalText(17).map { text throws(StoreError) in try LedgerReceipt.decoded(text) })
    }

    private static func record(_ paymentID: String, _ connection: SQLiteConnection) throws(StoreError) -> SpendRecord? {
        try connection.query("SELECT \(columns) FROM spends WHERE payment_id = ?", [.text(paymentID)], row: decode).first
    }

    /// Reads, changes and writes one record in one `BEGIN IMMEDIATE` transaction, so of two racing
    /// commits (in any process) exactly one sees the spend unfinished.
    ///
    /// With `syncedUnlessPaid`, a spend already `.paid` is changed without waiting for the disk
    /// (`crashSafeTransaction`; issue 18): the commit after the server's answer. It survives the process
    /// dying; a power cut may lose it, leaving the spend `.paid` with its proof, which was synced, as it
    /// stands when the agent dies between paying and committing: `unfinished()` lists it, the agent
    /// presents the proof again, and the money stays counted against the budget meanwhile. Nothing is
    /// paid twice and no payment is forgotten. A spend read as `.paid` can only become `.committed`
    /// (then the change refuses), so deciding from a read before the transaction is safe. Every other
    /// change (a reservation, `.paid`, a commit or release of a reserved spend) is synced.
    private func update(_ paymentID: String, syncedUnlessPaid: Bool = false,
                        _ change: @escaping @Sendable (SpendRecord) throws(StoreError) -> SpendRecord) async throws(StoreError) -> SpendRecord {
        try await perform { connection throws(StoreError) -> SpendRecord in
            var unsynced = false
            if syncedUnlessPaid { unsynced = try Self.record(paymentID, connection)?.state == .paid }
            let body = { () throws(StoreError) -> SpendRecord in
                guard let record = try Self.record(paymentID, connection) else { throw SpendTransition.notFound(paymentID) }
                let next = try change(record)
                try connection.run("""
                    UPDATE spends SET state = ?, proof = ?, receipt = ?, reference = ?, note = ?, updated_at_ms = ?,
                        amount_minor = ?, standard_receipt = ?
                    WHERE payment_id = ?
                    """, [.text(next.state.rawValue), Self.optional(next.proof), Self.optional(next.receipt),
                          Self.optional(next.reference), Self.optional(next.note), .integer(StoreTime.milliseconds(next.updatedAt)),
                          .integer(next.amount.amount), try Self.standardReceipt(next), .text(paymentID)])
                return next
            }
            return unsynced ? try connection.crashSafeTransaction(body) : try connection.immediateTransaction(body)
        }
    }

    /// Committed records of `host` on `rail`, newest reservation first (see `SpendStore`), through the
    /// partial index `spends_committed_by_host_and_rail`.
    public func committed(host: String, rail: RailID, offset: Int, limit: Int) async throws(StoreError) -> [SpendRecord] {
        try await perform { connection throws(StoreError) in
            try connection.query("""
                SELECT \(Self.columns) FROM spends
                WHERE host = ? AND rail = ? AND state = 'committed'
                ORDER BY reserved_at_ms DESC, seq DESC LIMIT ? OFFSET ?
                """, [.text(host), .text(rail.rawValue), .integer(Int64(max(0, limit))), .integer(Int64(max(0, offset)))],
                row: Self.decode)
        }
    }

    // MARK: - Benchmarks

    /// Writes `records` exactly as given (rows as `reserve` and the transitions leave them), in one
    /// transaction and without any budget check: `ledger-reserve-bench` fills a big ledger with it in
    /// seconds, where reserving one by one would cost the very O(window) time it measures. Never for an
    /// agent's spends, which must go through `reserve`.
    package func insertUncheckedForBenchmark(_ records: [SpendRecord]) async throws(StoreError) {
        let rows = try records.map { record throws(StoreError) in try Self.row(record) }
        try await perform { connection throws(StoreError) in
            try connection.immediateTransaction { () throws(StoreError) in
                for row in rows { try connection.run("INSERT INTO spends (\(Self.columns)) VALUES (\(Self.placeholders))", row) }
            }
        }
    }

    // MARK: - File

    /// Creates the file with mode 0600 before SQLite opens it (SQLite would use 0644 less the umask),
    /// or narrows an existing file of ours that others may read.
    private static func createPrivately(_ path: String) throws(StoreError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw StoreError(code: .unavailable, reason: "cannot create or open the wallet file: \(reason)", isRetrySafe: false)
        }
        defer { closeDescriptor(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw StoreError(code: .unavailable, reason: "cannot read the wallet file's mode: \(String(cString: strerror(errno)))",
                             isRetrySafe: false)
        }
        if info.st_uid == geteuid(), info.st_mode & 0o077 != 0 {
            guard fchmod(descriptor, 0o600) == 0 else {
                throw StoreError(code: .unavailable, reason: "the wallet file is readable by other users and cannot be made private: chmod 600 it",
                                 isRetrySafe: false)
            }
        }
    }

    // MARK: - Queue

    /// Runs `body` on the store's serial queue, off the cooperative thread pool (the busy timeout may block).
    private func perform<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await connection.perform(on: queue, body)
    }
}

/// Closes a file descriptor (a free function: inside the store, `close` names the store's own method).
private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}
