import Foundation
import PayRailStore

// What both PostgreSQL stores share: the pool, the call deadline, the retry of contention and the
// translation of server errors into `StoreError`s that say whether to retry.
//
// Contention is waited out, not failed: a row lock held by another gate is waited for by the server
// (up to the statement timeout); a deadlock (40P01) or a serialization failure (40001) rolls the
// transaction back entirely, so it is retried here with a growing pause until the call's deadline.
// Anything else is reported at once.

extension StoreError.Code {
    /// A statement ran longer than the store's statement timeout and was cancelled (nothing it did was
    /// kept); retrying later is safe.
    public static let timedOut = StoreError.Code(rawValue: "timedOut")
}

/// The connection pool and call discipline of one PostgreSQL store.
final class PostgresDatabase: Sendable {
    let url: DatabaseURL
    let options: PostgresStoreOptions
    let pool: PostgresPool
    private let keywords: [(String, String)]

    init(url: DatabaseURL, options: PostgresStoreOptions) throws(StoreError) {
        try options.validate()
        self.url = url
        self.options = options
        self.pool = PostgresPool(size: options.poolSize)
        self.keywords = options.keywords(for: url)
    }

    /// Runs `body` on a pooled connection, retrying deadlocks and serialization failures until the deadline.
    func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) throws(PostgresFailure) -> T) async throws(StoreError) -> T {
        let deadline = ContinuousClock.now.advanced(by: options.callTimeout)
        var pause = Duration.milliseconds(5)
        while true {
            let connection = try await lease(what, until: deadline)
            do throws(PostgresFailure) {
                let value = try await connection.perform(body)
                await pool.release(connection, broken: false)
                return value
            } catch {
                await pool.release(connection, broken: error.connectionLost || connection.isBroken)
                let retryable = error.sqlState == "40001" || error.sqlState == "40P01"
                guard retryable, ContinuousClock.now.advanced(by: pause) < deadline else { throw storeError(error, what) }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(200))
            }
        }
    }

    /// Runs `body` inside `BEGIN` … `COMMIT` (rolled back when it throws), retried like `run`.
    ///
    /// Each statement of the transaction may run for the statement timeout, but never past the call's
    /// deadline: a lock waited for late in the call is given only the time the call has left (set in
    /// the same round trip as `BEGIN`). READ COMMITTED is named, not inherited from the server's
    /// `default_transaction_isolation`: the stores' locking (an advisory lock, then a fresh snapshot
    /// per statement that sees every commit made before the lock was granted) depends on it.
    func transaction<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) throws(PostgresFailure) -> T) async throws(StoreError) -> T {
        let deadline = ContinuousClock.now.advanced(by: options.callTimeout)
        let statementLimit = PostgresStoreOptions.milliseconds(options.statementTimeout)
        return try await run(what) { connection throws(PostgresFailure) -> T in
            let left = PostgresStoreOptions.milliseconds(ContinuousClock.now.duration(to: deadline))
            try connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL statement_timeout = \(max(1, min(statementLimit, left)))")
            do throws(PostgresFailure) {
                let value = try body(connection)
                try connection.execute("COMMIT")
                return value
            } catch {
                if !error.connectionLost { try? connection.execute("ROLLBACK") }
                throw error
            }
        }
    }

    /// A live connection: an idle one that still answers, or a new one on a granted slot.
    private func lease(_ what: String, until deadline: ContinuousClock.Instant) async throws(StoreError) -> PostgresConnection {
        while true {
            guard let grant = try await pool.acquire(until: deadline) else {
                if await pool.isClosed {
                    throw StoreError(code: .closed, reason: "the PostgreSQL store was closed", isRetrySafe: false)
                }
                throw StoreError(code: .busy, reason: "all \(options.poolSize) PostgreSQL connections stayed busy past the call's "
                                 + "deadline while trying to \(what)", isRetrySafe: true)
            }
            switch grant {
            case .connection(let connection):
                if connection.isAlive() { return connection }
                // The server dropped it while idle (restart, failover): replace it.
                await pool.release(connection, broken: true)
                continue
            case .slot:
                do throws(PostgresFailure) {
                    return try await PostgresConnection.connect(keywords, redact: { [url] in url.redact($0) })
                } catch {
                    await pool.release(nil, broken: true)
                    throw storeError(error, what)
                }
            }
        }
    }

    func close() async {
        await pool.close()
    }

    /// Turns a server or libpq failure into a `StoreError`; the text never holds the URL's password.
    func storeError(_ failure: PostgresFailure, _ what: String) -> StoreError {
        let message = url.redact(failure.message)
        let state = failure.sqlState ?? ""
        let reason = "cannot \(what): \(message)" + (state.isEmpty ? "" : " (SQLSTATE \(state))")
        switch state {
        case "40001", "40P01", "55P03":
            return StoreError(code: .busy, reason: reason + "; contention lasted past the call's deadline", isRetrySafe: true)
        case "57014":
            return StoreError(code: .timedOut, reason: reason + "; the statement ran past the statement timeout and was cancelled",
                              isRetrySafe: true)
        case "XX001":
            return StoreError(code: .corrupt, reason: "cannot \(what): a stored value does not decode: \(message)", isRetrySafe: false)
        case "23505":
            return StoreError(code: .duplicate, reason: "cannot \(what): a record with the same unique id already exists", isRetrySafe: false)
        case "3D000", "28000", "28P01", "42501":
            return StoreError(code: .unavailable, reason: reason + "; check the database URL and its role's rights", isRetrySafe: false)
        default:
            break
        }
        if failure.connectionLost || state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P") {
            return StoreError(code: .unavailable, reason: reason + "; the server is unreachable or went away (a write in flight "
                              + "either committed or not: every PayRail write is keyed, so repeating it finds its own record)",
                              isRetrySafe: true)
        }
        return StoreError(code: .internal, reason: reason, isRetrySafe: false)
    }
}

/// Migrations of one component's tables (the gate's or the spend ledger's), run once under an
/// advisory lock so that two processes starting at once migrate once.
struct PostgresMigrations: Sendable {
    /// The component's name in `payrail_schema`.
    let component: String
    /// Schema versions, each applied in the same transaction as its version bump. Never edit a
    /// shipped one; append.
    let steps: [(version: Int, sql: String)]

    var latestVersion: Int { steps.last?.version ?? 0 }

    /// The lock key: one for all PayRail migrations in a database (`payrail` in ASCII).
    static let lockKey: Int64 = 0x7061_7972_6169_6C00

    /// Brings the component to `latestVersion`, or refuses a database from a newer PayRail.
    func migrate(_ database: PostgresDatabase) async throws(StoreError) {
        let component = component, steps = steps, latest = latestVersion
        let found = try await database.transaction("migrate the \(component) schema") { connection throws(PostgresFailure) -> Int in
            try connection.query("SELECT pg_advisory_xact_lock($1)", [.integer(Self.lockKey)])
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS payrail_schema (component TEXT PRIMARY KEY, version BIGINT NOT NULL);
                CREATE TABLE IF NOT EXISTS payrail_migrations (
                    component TEXT NOT NULL, version BIGINT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    backend_pid INTEGER NOT NULL DEFAULT pg_backend_pid(), PRIMARY KEY (component, version));
                """)
            let rows = try connection.query("SELECT version FROM payrail_schema WHERE component = $1", [.text(component)]).rows
            let current = try rows.first.map { row throws(PostgresFailure) in Int(try row.integer(0)) } ?? 0
            guard current <= latest else { return current }
            for step in steps where step.version > current {
                try connection.execute(step.sql)
                try connection.query("INSERT INTO payrail_migrations (component, version) VALUES ($1, $2)",
                                     [.text(component), .integer(Int64(step.version))])
            }
            try connection.query("""
                INSERT INTO payrail_schema (component, version) VALUES ($1, $2)
                ON CONFLICT (component) DO UPDATE SET version = excluded.version
                """, [.text(component), .integer(Int64(latest))])
            return current
        }
        try refuseNewer(found)
    }

    func refuseNewer(_ version: Int) throws(StoreError) {
        guard version <= latestVersion else {
            throw StoreError(
                code: .newerSchema,
                reason: "the database has \(component) schema version \(version) but this PayRail knows only up to \(latestVersion); "
                    + "upgrade PayRail or use another database (nothing was changed)",
                isRetrySafe: false)
        }
    }

    /// The version recorded in the database (0 before the first migration).
    func version(_ database: PostgresDatabase) async throws(StoreError) -> Int {
        let component = component
        return try await database.run("read the \(component) schema version") { connection throws(PostgresFailure) -> Int in
            let rows = try connection.query("SELECT version FROM payrail_schema WHERE component = $1", [.text(component)]).rows
            return try rows.first.map { row throws(PostgresFailure) in Int(try row.integer(0)) } ?? 0
        }
    }
}
