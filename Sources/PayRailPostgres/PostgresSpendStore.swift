import Foundation
import PayRail
import PayRailStore

// The agent's spend ledger in PostgreSQL, for agents on several machines sharing one budget. The
// budget check and the insert must be one atomic step across processes: `reserve` takes a
// transaction-scoped advisory lock on the reservation's unit (budgets are per unit) before it sums
// the window, so two agents reserving in the same unit take turns, and in READ COMMITTED the sum
// read after the lock sees every reservation committed before it. Reservations in other units do
// not wait. State changes lock their row (`SELECT … FOR UPDATE`), so of two racing commits exactly
// one sees the spend unfinished. Semantics mirror `SQLiteSpendStore` (the same contract suite runs).
//
// One database (or one schema, through `search_path` in the URL's `options`) holds one wallet's
// ledger: every store on it shares the budget.

/// A `SpendStore` in PostgreSQL, shared safely by any number of agent processes.
public final class PostgresSpendStore: SpendStore, Sendable {
    let database: PostgresDatabase

    static let migrations = PostgresMigrations(component: "spend", steps: [(1, version1), (2, version2)])

    /// The spend schema version this build writes.
    public static var latestSchemaVersion: Int { migrations.latestVersion }

    private init(database: PostgresDatabase) {
        self.database = database
    }

    /// Connects to `url` and migrates the ledger's tables forward (once, under an advisory lock).
    ///
    /// - Throws: as `PostgresGateStore.open(url:options:clock:)`.
    public static func open(url: DatabaseURL, options: PostgresStoreOptions = PostgresStoreOptions()) async throws(StoreError) -> PostgresSpendStore {
        let database = try PostgresDatabase(url: url, options: options)
        do throws(StoreError) {
            try await migrations.migrate(database)
        } catch {
            await database.close()
            throw error
        }
        return PostgresSpendStore(database: database)
    }

    /// Parses `url` (`postgres://…` or `postgresql://…`) and opens it like `open(url:options:)`.
    public static func open(url: String, options: PostgresStoreOptions = PostgresStoreOptions()) async throws(StoreError) -> PostgresSpendStore {
        try await open(url: try DatabaseURL(url), options: options)
    }

    /// Closes the pool's idle connections; later calls throw `.closed`.
    public func close() async {
        await database.close()
    }

    /// The spend schema version recorded in the database.
    public func schemaVersion() async throws(StoreError) -> Int {
        try await Self.migrations.version(database)
    }

    /// The pool's current and peak use.
    public func poolStatistics() async -> PostgresPoolStatistics {
        await database.pool.statistics()
    }

    // MARK: - SpendStore

    /// Reserves budget atomically across processes (see `SpendStore.reserve`).
    public func reserve(_ record: SpendRecord, limits: SpendLimits, now: Date) async throws(StoreError) -> ReserveOutcome {
        try SpendBudget.validate(record, limits: limits)
        let nowMilliseconds = StoreTime.milliseconds(now)
        let row = try Self.row(record)
        let unit = record.amount.unit
        return try await ReserveStep.reserve { isLastTry throws(StoreError) -> ReserveStep in
            try await database.transaction("reserve budget") { connection throws(PostgresFailure) -> ReserveStep in
                try connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))",
                                     [.text("\(unit.code)/\(unit.exponent)"), .integer(Self.lockClass)])
                if let existing = try Self.record(record.paymentID, connection) { return .finished(.existing(existing)) }
                // Under the lock, so the sums and the insert see the same ledger.
                let fit = try SpendBudget.fit(record.amount, limits: limits) { () throws(PostgresFailure) -> WindowSums in
                    try Self.windowSums(of: unit, now: nowMilliseconds, connection)
                }
                if fit == .refused, !isLastTry { return .refusedBySums }
                if fit != .fits, let refusal = try Self.refusal(record.amount, limits: limits, now: nowMilliseconds, connection) {
                    return .finished(.refused(refusal))
                }
                // Same id in another unit, raced in under another lock: the unique index refuses, and the
                // retry (serialization failure) then finds the record as `.existing`.
                do throws(PostgresFailure) {
                    try connection.query("INSERT INTO spends (\(Self.columns)) VALUES (\(Self.placeholders))", row)
                } catch where error.sqlState == "23505" {
                    throw PostgresFailure(sqlState: "40001", message: "the payment id was reserved concurrently")
                }
                return .finished(.reserved(record))
            }
        } refusal: { () throws(StoreError) -> BudgetRefusal? in
            // Without the unit's lock, which every agent reserving in the unit waits for.
            try await database.run("read a refusal") { connection throws(PostgresFailure) -> BudgetRefusal? in
                try Self.refusal(record.amount, limits: limits, now: nowMilliseconds, connection)
            }
        }
    }

    /// What the unit's non-released spends add up to in the hour and the day before `now` (later ones
    /// too): for each window, the running totals of its whole minutes (`spend_minute_totals`, kept
    /// by a trigger) plus the spends of its first, partial minute (index `spends_by_unit_and_time`):
    /// the same spends `refusal` reads, in at most 1,440 total rows whatever the day's count.
    /// SUM(bigint) is numeric and never overflows; a sum beyond 64 bits comes back NULL (`nil`), never
    /// cast (which would raise) nor wrapped, and so does a window holding a minute past 64 bits or
    /// reaching before the minute the totals are complete from.
    private static func windowSums(of unit: MoneyUnit, now: Int64, _ connection: PostgresConnection) throws(PostgresFailure) -> WindowSums {
        let day = SpendMinutes(after: now - SpendBudget.dayMilliseconds)
        let hour = SpendMinutes(after: now - SpendBudget.hourMilliseconds)
        let rows = try connection.query("""
            SELECT CASE WHEN day <= 9223372036854775807 AND beyond = 0 AND since <= $3 THEN day::bigint END,
                   CASE WHEN hour <= 9223372036854775807 AND beyond = 0 AND since <= $6 THEN hour::bigint END
            FROM (SELECT
                COALESCE((SELECT minute FROM spend_totals_since), 9223372036854775807) AS since,
                whole.beyond,
                whole.total
                + (SELECT COALESCE(SUM(amount_minor), 0) FROM spends
                    WHERE unit_code = $1 AND unit_exponent = $2 AND reserved_at_ms > $4 AND reserved_at_ms < $5
                    AND state <> 'released') AS day,
                (SELECT COALESCE(SUM(amount_minor), 0) FROM spend_minute_totals
                    WHERE unit_code = $1 AND unit_exponent = $2 AND minute >= $6)
                + (SELECT COALESCE(SUM(amount_minor), 0) FROM spends
                    WHERE unit_code = $1 AND unit_exponent = $2 AND reserved_at_ms > $7 AND reserved_at_ms < $8
                    AND state <> 'released') AS hour
                FROM (SELECT COALESCE(SUM(amount_minor), 0) AS total, count(*) - count(amount_minor) AS beyond
                      FROM spend_minute_totals WHERE unit_code = $1 AND unit_exponent = $2 AND minute >= $3) AS whole) AS sums
            """, [.text(unit.code), .integer(Int64(unit.exponent)),
                  .integer(day.firstWholeMinute), .integer(day.start), .integer(day.wholeMinutesStart),
                  .integer(hour.firstWholeMinute), .integer(hour.start), .integer(hour.wholeMinutesStart)]).rows
        guard let row = rows.first else { return .overflowed }
        return WindowSums(hour: row.isNull(1) ? nil : try row.integer(1), day: row.isNull(0) ? nil : try row.integer(0))
    }

    /// The refusal of `amount`, computed from the window's spends themselves (each with its time, for
    /// `retryAfter`), or `nil` when it fits after all.
    private static func refusal(_ amount: Money, limits: SpendLimits, now: Int64,
                                _ connection: PostgresConnection) throws(PostgresFailure) -> BudgetRefusal? {
        let rows = try connection.query("""
            SELECT amount_minor, reserved_at_ms FROM spends
            WHERE unit_code = $1 AND unit_exponent = $2 AND reserved_at_ms > $3 AND state <> 'released'
            ORDER BY reserved_at_ms, seq
            """, [.text(amount.unit.code), .integer(Int64(amount.unit.exponent)), .integer(now - SpendBudget.dayMilliseconds)]).rows
        var entries: [BudgetEntry] = []
        entries.reserveCapacity(rows.count)
        for row in rows { entries.append(BudgetEntry(amount: try row.integer(0), reservedAtMilliseconds: try row.integer(1))) }
        return SpendBudget.refusal(for: amount, limits: limits, entries: entries, now: now)
    }

    /// The advisory lock class of budget reservations (`PRsp` in ASCII), apart from the migration lock.
    static let lockClass: Int64 = 0x5052_7370

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
        try await database.run("read a spend") { connection throws(PostgresFailure) in try Self.record(paymentID, connection) }
    }

    /// Reserved or paid records, oldest first.
    public func unfinished() async throws(StoreError) -> [SpendRecord] {
        try await list("list unfinished spends", "WHERE state IN ('reserved', 'paid') ORDER BY reserved_at_ms, seq", [])
    }

    /// One request's reserved or paid records, oldest first, filtered by the database.
    public func unfinished(method: String, url: String) async throws(StoreError) -> [SpendRecord] {
        try await list("list a request's unfinished spends", """
            WHERE state IN ('reserved', 'paid') AND method = $1 AND url = $2 ORDER BY reserved_at_ms, seq
            """, [.text(method), .text(url)])
    }

    /// The ledger from `since` (inclusive), oldest first.
    public func records(since: Date?) async throws(StoreError) -> [SpendRecord] {
        let since = since.map(StoreTime.milliseconds) ?? Int64.min
        return try await list("read the ledger", "WHERE reserved_at_ms >= $1 ORDER BY reserved_at_ms, seq", [.integer(since)])
    }

    /// Committed records of `host` on `rail`, newest reservation first (see `SpendStore`).
    public func committed(host: String, rail: RailID, offset: Int, limit: Int) async throws(StoreError) -> [SpendRecord] {
        try await list("read committed spends", """
            WHERE host = $1 AND rail = $2 AND state = 'committed' ORDER BY reserved_at_ms DESC, seq DESC LIMIT $3 OFFSET $4
            """, [.text(host), .text(rail.rawValue), .integer(Int64(max(0, limit))), .integer(Int64(max(0, offset)))])
    }

    // MARK: - Rows

    private func list(_ what: String, _ clause: String, _ parameters: [PostgresValue]) async throws(StoreError) -> [SpendRecord] {
        try await database.run(what) { connection throws(PostgresFailure) -> [SpendRecord] in
            var records: [SpendRecord] = []
            for row in try connection.query("SELECT \(Self.columns) FROM spends \(clause)", parameters).rows {
                records.append(try Self.decode(row))
            }
            return records
        }
    }

    /// Reads, changes and writes one record with its row locked, in one transaction.
    ///
    /// With `syncedUnlessPaid`, a spend already `.paid` (read under the row lock) is committed
    /// asynchronously (`synchronous_commit = off`; issue 18): a server crash may lose that commit,
    /// leaving the spend `.paid` with its synced proof, which `unfinished()` lists and the agent
    /// presents again, as when the agent dies between paying and committing. Every other change is
    /// committed synchronously. See `SQLiteSpendStore.update` for the whole argument.
    private func update(_ paymentID: String, syncedUnlessPaid: Bool = false,
                        _ change: @escaping @Sendable (SpendRecord) throws(StoreError) -> SpendRecord) async throws(StoreError) -> SpendRecord {
        let outcome = try await database.transaction("update a spend") { connection throws(PostgresFailure) -> Result<SpendRecord, StoreError> in
            let rows = try connection.query("SELECT \(Self.columns) FROM spends WHERE payment_id = $1 FOR UPDATE", [.text(paymentID)]).rows
            guard let row = rows.first else { return .failure(SpendTransition.notFound(paymentID)) }
            let current = try Self.decode(row)
            if syncedUnlessPaid, current.state == .paid { try connection.execute("SET LOCAL synchronous_commit = off") }
            let next: SpendRecord
            do throws(StoreError) {
                next = try change(current)
            } catch {
                return .failure(error)
            }
            let receipt = try PostgresGateStore.decode { () throws(StoreError) in try next.standardReceipt?.encoded() }
            try connection.query("""
                UPDATE spends SET state = $1, proof = $2, receipt = $3, reference = $4, note = $5, updated_at_ms = $6,
                    amount_minor = $7, standard_receipt = $8
                WHERE payment_id = $9
                """, [.text(next.state.rawValue), PostgresGateStore.optional(next.proof), PostgresGateStore.optional(next.receipt),
                      PostgresGateStore.optional(next.reference), PostgresGateStore.optional(next.note),
                      .integer(StoreTime.milliseconds(next.updatedAt)), .integer(next.amount.amount),
                      PostgresGateStore.optional(receipt), .text(paymentID)])
            return .success(next)
        }
        return try outcome.get()
    }

    /// Writes `records` exactly as given (rows as `reserve` and the transitions leave them), without
    /// any budget check, 1,000 rows per statement and transaction: `ledger-reserve-bench` fills a big
    /// ledger with it. Never for an agent's spends, which must go through `reserve`.
    package func insertUncheckedForBenchmark(_ records: [SpendRecord]) async throws(StoreError) {
        var rows: [[PostgresValue]] = []
        for record in records { rows.append(try Self.row(record)) }
        var start = 0
        while start < rows.count {
            let batch = Array(rows[start..<min(start + 1000, rows.count)])
            start += batch.count
            let values = (0..<batch.count).map { row in
                "(" + (1...18).map { "$\(row * 18 + $0)" }.joined(separator: ", ") + ")"
            }.joined(separator: ", ")
            try await database.transaction("insert spends for a benchmark") { connection throws(PostgresFailure) -> Void in
                try connection.query("INSERT INTO spends (\(Self.columns)) VALUES \(values)", batch.flatMap { $0 })
            }
        }
        // The fill updates the day's 1,440 minute totals ~70 times each within seconds, faster than
        // autovacuum's naptime; over a real day autovacuum keeps that small table compact, so the
        // benchmark measures it compacted (otherwise it would sum dead row versions over ~600 pages).
        try await database.run("compact the minute totals for a benchmark") { connection throws(PostgresFailure) -> Void in
            try connection.execute("VACUUM (FULL, ANALYZE) spend_minute_totals")
        }
    }

    private static let columns = """
        payment_id, state, amount_minor, unit_code, unit_exponent, rail, host, method, url, offer_id, context,
        proof, receipt, reference, note, reserved_at_ms, updated_at_ms, standard_receipt
        """
    private static let placeholders = (1...18).map { "$\($0)" }.joined(separator: ", ")

    private static func row(_ record: SpendRecord) throws(StoreError) -> [PostgresValue] {
        let optional = PostgresGateStore.optional
        return [
            .text(record.paymentID), .text(record.state.rawValue), .integer(record.amount.amount), .text(record.amount.unit.code),
            .integer(Int64(record.amount.unit.exponent)), .text(record.rail.rawValue), .text(record.host), .text(record.method),
            .text(record.url), .text(record.offerID), .text(record.context), optional(record.proof), optional(record.receipt),
            optional(record.reference), optional(record.note), .integer(StoreTime.milliseconds(record.reservedAt)),
            .integer(StoreTime.milliseconds(record.updatedAt)), optional(try record.standardReceipt?.encoded()),
        ]
    }

    private static func decode(_ row: PostgresRow) throws(PostgresFailure) -> SpendRecord {
        let amount = try row.integer(2), exponent = try row.integer(4), reserved = try row.integer(15), updated = try row.integer(16)
        return try PostgresGateStore.decode { () throws(StoreError) in
            guard let state = SpendState(rawValue: row.text(1)) else { throw StoreError.corrupt("a stored spend state does not decode") }
            return SpendRecord(
                paymentID: row.text(0), state: state, amount: try Coding.money(amount, code: row.text(3), exponent: exponent),
                rail: try Coding.rail(row.text(5)), host: row.text(6), method: row.text(7), url: row.text(8), offerID: row.text(9),
                context: row.text(10), proof: row.optionalText(11), receipt: row.optionalText(12), reference: row.optionalText(13),
                note: row.optionalText(14), reservedAt: StoreTime.date(milliseconds: reserved), updatedAt: StoreTime.date(milliseconds: updated),
                standardReceipt: try row.optionalText(17).map { text throws(StoreError) in try LedgerReceipt.decoded(text) })
        }
    }

    private static func record(_ paymentID: String, _ connection: PostgresConnection) throws(PostgresFailure) -> SpendRecord? {
        try connection.query("SELECT \(columns) FROM spends WHERE payment_id = $1", [.text(paymentID)]).rows.first.map(decode)
    }

    static let version1 = """
        CREATE TABLE spends (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            payment_id TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL CHECK (state IN ('reserved', 'paid', 'committed', 'released')),
            amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
            unit_code TEXT NOT NULL,
            unit_exponent BIGINT NOT NULL,
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
            reserved_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            standard_receipt TEXT
        );
        CREATE INDEX spends_by_unit_and_time ON spends (unit_code, unit_exponent, reserved_at_ms);
        CREATE INDEX spends_by_time ON spends (reserved_at_ms);
        CREATE INDEX spends_unfinished ON spends (reserved_at_ms) WHERE state IN ('reserved', 'paid');
        CREATE INDEX spends_committed_by_host_and_rail ON spends (host, rail, reserved_at_ms) WHERE state = 'committed';
        """

    /// Running totals: what a unit's non-released spends add up to per minute of reservation (floor
    /// division, as `SpendMinutes`), kept by a trigger in the transaction of every insert, change and
    /// delete of a spend, so a reservation sums at most a day's minutes, not every spend of the day.
    /// The trigger's function searches only this ledger's schema (then `pg_temp`), so a change made
    /// from a session with another path (an operator's psql, with a schema of their own) still
    /// updates this ledger's totals and no other table of that name. Writers are held off (`SHARE ROW
    /// EXCLUSIVE`) while the totals are filled, so a spend written by an agent of an older build
    /// mid-migration is neither missed nor counted twice; the fill takes the spends of the last two
    /// days only (all of them when there are no older ones), so it stays short however long the
    /// history, and `spend_totals_since` says from which minute the totals are complete: a window
    /// reaching before it is decided from the spends. The step may take longer than a hot-path
    /// statement (`statement_timeout` of ten minutes for this transaction).
    /// A minute whose total would pass 64 bits (spends of a unit without caps may) is NULL from then
    /// on: its windows are decided from the spends.
    static let version2 = """
        SET LOCAL statement_timeout = '10min';
        LOCK TABLE spends IN SHARE ROW EXCLUSIVE MODE;
        CREATE TABLE spend_minute_totals (
            unit_code TEXT NOT NULL,
            unit_exponent BIGINT NOT NULL,
            minute BIGINT NOT NULL,
            amount_minor BIGINT,
            PRIMARY KEY (unit_code, unit_exponent, minute)
        );
        CREATE TABLE spend_totals_since (id INTEGER PRIMARY KEY CHECK (id = 1), minute BIGINT NOT NULL);
        INSERT INTO spend_totals_since (id, minute)
            SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM spends WHERE reserved_at_ms < cutoff * 60000 AND state <> 'released')
                           THEN cutoff ELSE -9223372036854775807 END
            FROM (SELECT floor(extract(epoch FROM clock_timestamp()) / 60)::bigint - 2880 AS cutoff) AS now_minus_two_days;
        INSERT INTO spend_minute_totals (unit_code, unit_exponent, minute, amount_minor)
            SELECT unit_code, unit_exponent, (reserved_at_ms - ((reserved_at_ms % 60000) + 60000) % 60000) / 60000,
                   CASE WHEN SUM(amount_minor) <= 9223372036854775807 THEN SUM(amount_minor)::bigint END
            FROM spends
            WHERE state <> 'released'
              AND reserved_at_ms >= greatest((SELECT minute FROM spend_totals_since), -153722867280912) * 60000
            GROUP BY 1, 2, 3;
        CREATE FUNCTION spends_keep_minute_totals() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- Paid, or committed at the reserved amount: what the spend counts is unchanged, and the
            -- minute's row is not locked (it would serialize every agent's commits of that minute).
            IF TG_OP = 'UPDATE' AND NEW.unit_code = OLD.unit_code AND NEW.unit_exponent = OLD.unit_exponent
               AND NEW.reserved_at_ms = OLD.reserved_at_ms
               AND (CASE WHEN OLD.state <> 'released' THEN OLD.amount_minor ELSE 0 END)
                 = (CASE WHEN NEW.state <> 'released' THEN NEW.amount_minor ELSE 0 END) THEN
                RETURN NULL;
            END IF;
            IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
                IF OLD.state <> 'released' THEN
                    UPDATE spend_minute_totals SET amount_minor = amount_minor - OLD.amount_minor
                    WHERE unit_code = OLD.unit_code AND unit_exponent = OLD.unit_exponent
                      AND minute = (OLD.reserved_at_ms - ((OLD.reserved_at_ms % 60000) + 60000) % 60000) / 60000;
                END IF;
            END IF;
            IF TG_OP = 'UPDATE' OR TG_OP = 'INSERT' THEN
                IF NEW.state <> 'released' THEN
                    INSERT INTO spend_minute_totals (unit_code, unit_exponent, minute, amount_minor)
                    VALUES (NEW.unit_code, NEW.unit_exponent,
                            (NEW.reserved_at_ms - ((NEW.reserved_at_ms % 60000) + 60000) % 60000) / 60000, NEW.amount_minor)
                    ON CONFLICT (unit_code, unit_exponent, minute)
                    DO UPDATE SET amount_minor =
                        CASE WHEN spend_minute_totals.amount_minor > 9223372036854775807 - excluded.amount_minor THEN NULL
                             ELSE spend_minute_totals.amount_minor + excluded.amount_minor END;
                END IF;
            END IF;
            RETURN NULL;
        END
        $$;
        DO $$ BEGIN
            EXECUTE format('ALTER FUNCTION spends_keep_minute_totals() SET search_path = %I, pg_temp', current_schema());
        END $$;
        CREATE TRIGGER spends_minute_totals AFTER INSERT OR UPDATE OR DELETE ON spends
            FOR EACH ROW EXECUTE PROCEDURE spends_keep_minute_totals();
        """
}
