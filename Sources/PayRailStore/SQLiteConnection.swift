import CSQLite
import Foundation

// The only place that touches SQLite's C API. `SQLiteConnection` owns the `sqlite3*` and every cached
// `sqlite3_stmt*`; it finalizes them all before closing, and nothing outside this file sees a C type.
// A connection is not thread-safe by itself: `SQLiteGateStore` uses it from one serial queue only.

/// A value bound to a statement parameter.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob(Data)
    case null
}

/// One prepared statement, owned by its connection's cache and finalized with it.
final class SQLiteStatement {
    fileprivate let handle: OpaquePointer

    fileprivate init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        sqlite3_finalize(handle)
    }
}

/// The current row of a query, read by column index.
struct SQLiteRow {
    fileprivate let handle: OpaquePointer

    func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    func integer(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? {
        isNull(column) ? nil : text(column)
    }

    func blob(_ column: Int32) -> Data {
        guard let bytes = sqlite3_column_blob(handle, column) else { return Data() }
        return Data(bytes: bytes, count: Int(sqlite3_column_bytes(handle, column)))
    }
}

/// One open database file with a cache of prepared statements.
final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens (creating if needed) the database at `path` and applies the settings PayRail relies on.
    init(path: String, busyTimeoutMilliseconds: Int32) throws(StoreError) {
        var opened: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(opened)
            throw Self.error(status, message, context: "cannot open the database file")
        }
        handle = opened
        sqlite3_extended_result_codes(opened, 1)
        sqlite3_busy_timeout(opened, busyTimeoutMilliseconds)
    }

    deinit {
        close()
    }

    var isOpen: Bool { handle != nil }

    /// Finalizes every cached statement, then closes the file. Safe to call twice.
    func close() {
        statements.removeAll()  // finalizes: each statement's deinit runs here
        if let handle {
            sqlite3_close_v2(handle)
        }
        handle = nil
    }

    /// Runs a script of one or more statements without parameters (schema, pragmas, BEGIN/COMMIT).
    func execute(_ sql: String) throws(StoreError) {
        let db = try openHandle()
        let status = sqlite3_exec(db, sql, nil, nil, nil)
        guard status == SQLITE_OK else { throw lastError(status, context: "statement failed") }
    }

    /// Runs one statement and returns how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws(StoreError) -> Int {
        let db = try openHandle()
        _ = try query(sql, bindings) { _ in () }
        return Int(sqlite3_changes(db))
    }

    /// Runs one statement and maps every result row.
    func query<T>(_ sql: String, _ bindings: [SQLiteValue] = [],
                  row read: (SQLiteRow) throws(StoreError) -> T) throws(StoreError) -> [T] {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement.handle)
            sqlite3_clear_bindings(statement.handle)
        }
        for (offset, value) in bindings.enumerated() {
            try bind(value, at: Int32(offset + 1), in: statement)
        }
        var rows: [T] = []
        while true {
            let status = sqlite3_step(statement.handle)
            if status == SQLITE_ROW {
                rows.append(try read(SQLiteRow(handle: statement.handle)))
            } else if status == SQLITE_DONE {
                return rows
            } else {
                throw lastError(status, context: "statement failed")
            }
        }
    }

    /// Runs `body` inside `BEGIN IMMEDIATE`: the write lock is taken first, so a read-then-write in
    /// `body` cannot interleave with another connection's (in this process or another one).
    /// Commits when `body` returns, rolls back when it throws.
    /// Runs `body` in an immediate transaction committed without waiting for the disk
    /// (`synchronous = NORMAL` for this commit only, then `FULL` again): in WAL mode the commit
    /// survives a crash of the process but may be lost in a power cut, until the next full commit
    /// syncs the log. Only for data whose loss costs no money (rate-limit buckets): under disk load a
    /// full sync can take a second, and every write of the store waits in one queue behind it.
    func crashSafeTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute("PRAGMA synchronous = NORMAL;")
        let result: Result<T, StoreError>
        do { result = .success(try immediateTransaction(body)) } catch { result = .failure(error) }
        try execute("PRAGMA synchronous = FULL;")
        return try result.get()
    }

    func immediateTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute("BEGIN IMMEDIATE")
        let result: T
        do {
            result = try body()
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
        do {
            try execute("COMMIT")
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
        return result
    }

    // MARK: - Private

    private func openHandle() throws(StoreError) -> OpaquePointer {
        guard let handle else {
            throw StoreError(code: .closed, reason: "the SQLite store was closed", isRetrySafe: false)
        }
        return handle
    }

    private func prepared(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        let db = try openHandle()
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw lastError(status, context: "cannot prepare a statement")
        }
        let owned = SQLiteStatement(handle: statement)
        statements[sql] = owned
        return owned
    }

    private func bind(_ value: SQLiteValue, at index: Int32, in statement: SQLiteStatement) throws(StoreError) {
        let status: Int32
        switch value {
        case .integer(let number):
            status = sqlite3_bind_int64(statement.handle, index, number)
        case .text(let text):
            let length = text.utf8.count
            guard length < Int(Int32.max) else { throw StoreError.invalid("a text value is too long to store") }
            // withCString gives the whole UTF-8 buffer plus a NUL; the explicit length keeps embedded NULs.
            status = text.withCString { payrail_sqlite3_bind_text_copy(statement.handle, index, $0, Int32(length)) }
        case .blob(let data):
            guard data.count < Int(Int32.max) else { throw StoreError.invalid("a binary value is too long to store") }
            if data.isEmpty {
                status = sqlite3_bind_zeroblob(statement.handle, index, 0)  // empty, not NULL
            } else {
                status = data.withUnsafeBytes { payrail_sqlite3_bind_blob_copy(statement.handle, index, $0.baseAddress, Int32(data.count)) }
            }
        case .null:
            status = sqlite3_bind_null(statement.handle, index)
        }
        guard status == SQLITE_OK else { throw lastError(status, context: "cannot bind a value") }
    }

    private func lastError(_ status: Int32, context: String) -> StoreError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection"
        return Self.error(status, message, context: context)
    }

    /// Maps a SQLite result code to a `StoreError`. SQLite's messages name tables and constraints,
    /// never bound values, so they are safe to keep in `reason`.
    static func error(_ status: Int32, _ message: String, context: String) -> StoreError {
        let primary = status & 0xFF
        let reason = "\(context): \(message) (SQLite code \(status))"
        switch primary {
        case SQLITE_BUSY, SQLITE_LOCKED:
            return StoreError(code: .busy, reason: reason, isRetrySafe: true)
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            return StoreError(code: .corrupt, reason: reason + "; the file is damaged or is not a PayRail database",
                              isRetrySafe: false)
        case SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_FULL, SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH:
            return StoreError(code: .unavailable, reason: reason, isRetrySafe: false)
        case SQLITE_CONSTRAINT:
            return StoreError(code: .duplicate, reason: reason, isRetrySafe: false)
        default:
            return StoreError(code: .internal, reason: reason, isRetrySafe: false)
        }
    }
}

extension SQLiteConnection {
    /// Opens `path` the way every PayRail store does: a busy timeout, `check` run before anything
    /// writes (a store refuses a newer schema there, since switching to WAL rewrites the header), WAL
    /// journal and `synchronous = FULL` (what must not be lost is on disk before an answer).
    /// Refuses a store file that exists but is empty. SQLite opens a zero-byte file as a brand-new
    /// database; for a store that is a file that lost its contents (a truncating copy, a full disk,
    /// an operator's `> gate.sqlite`), and starting afresh would forget every receipt sold or every
    /// spend made. Call it before anything creates the file.
    ///
    /// A file another process is creating right now is also empty for a moment (SQLite creates it
    /// at open and writes its header when it switches to WAL), so an empty file is looked at again
    /// for up to `settle` before it is refused: six `payrail fetch` runs starting at once on a new
    /// wallet must not refuse each other. A file that lost its contents stays empty and is refused.
    static func refuseEmptyFile(_ path: String, settle: Duration = .milliseconds(500)) throws(StoreError) {
        let clock = ContinuousClock()
        let deadline = clock.now + settle
        while let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber, size.int64Value == 0 {
            guard clock.now < deadline else {
                throw StoreError(code: .corrupt, reason: "the database file is empty (0 bytes); restore it from a backup, "
                                     + "or delete it to start a new store that knows nothing sold or spent", isRetrySafe: false)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    static func openForStore(
        path: String, busyTimeout: Duration, beforeWriting check: (SQLiteConnection) throws(StoreError) -> Void
    ) throws(StoreError) -> SQLiteConnection {
        let (seconds, attoseconds) = busyTimeout.components
        let milliseconds = max(0, min(Int64(Int32.max), seconds * 1000 + attoseconds / 1_000_000_000_000_000))
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: Int32(milliseconds))
        try check(connection)
        let mode = try connection.query("PRAGMA journal_mode = WAL") { row in row.text(0).lowercased() }
        guard mode.first == "wal" else {
            throw StoreError(code: .unavailable, reason: "SQLite refused WAL mode (journal mode is \(mode.first ?? "unknown"))",
                             isRetrySafe: false)
        }
        try connection.execute("PRAGMA synchronous = FULL;")
        return connection
    }
}

/// One step of a store's schema: never edit a shipped one, append a new one.
struct SQLiteMigration {
    let version: Int
    let sql: String
}

extension SQLiteConnection {
    /// Brings a store's tables to the last of `migrations`, each step in its own `BEGIN IMMEDIATE`
    /// with the version re-read inside the write lock (another process may have migrated meanwhile);
    /// `refuseNewer` refuses a file written by a newer PayRail.
    func migrate(
        _ migrations: [SQLiteMigration], version: (SQLiteConnection) throws(StoreError) -> Int,
        setVersion: (SQLiteConnection, Int) throws(StoreError) -> Void, refuseNewer: (Int) throws(StoreError) -> Void
    ) throws(StoreError) {
        let initial = try version(self)
        try refuseNewer(initial)
        for migration in migrations where migration.version > initial {
            try immediateTransaction { () throws(StoreError) in
                let current = try version(self)
                try refuseNewer(current)
                guard current == migration.version - 1 else { return }
                try execute(migration.sql)
                try setVersion(self, migration.version)
            }
        }
    }

    /// Runs `body` with this connection on `queue` (its store's serial queue, the only one that uses
    /// it), keeping SQLite's blocking waits off Swift's cooperative threads.
    func perform<T: Sendable>(
        on queue: DispatchQueue, _ body: @escaping @Sendable (SQLiteConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        let carried = QueueBoundConnection(connection: self)
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(StoreError) {
                    continuation.resume(returning: .success(try body(carried.connection)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}

/// Carries a connection onto its store's queue; only that queue ever uses it.
private struct QueueBoundConnection: @unchecked Sendable {
    let connection: SQLiteConnection
}
