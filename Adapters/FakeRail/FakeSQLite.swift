import CSQLite
import Foundation
import PayRail

// The fake processor's own few lines of SQLite. PayRailStore's connection is internal to that module
// (the gate's store is its only client), and the processor needs little: one connection used from the
// processor actor's serial executor only, prepared statements bound by position, and transactions.
// Every failure is a `RailError` `.unavailable` naming what failed, never a value that was bound.

/// A value bound to a statement parameter.
enum FakeSQLValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// The current row of a query, read by column index.
struct FakeSQLRow {
    fileprivate let statement: OpaquePointer

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    func blob(_ column: Int32) -> [UInt8] {
        guard let bytes = sqlite3_column_blob(statement, column) else { return [] }
        let count = Int(sqlite3_column_bytes(statement, column))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }
}

/// One open database file. Not thread-safe: only the processor actor (a serial executor) uses it.
final class FakeSQLiteConnection {
    private var handle: OpaquePointer?

    /// Opens (creating when `create`) the file at `path`.
    init(path: String, create: Bool, busyTimeoutMilliseconds: Int32) throws(RailError) {
        var opened: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(opened)
            throw Self.failure("cannot open \(path): \(message) (SQLite code \(status))")
        }
        handle = opened
        sqlite3_extended_result_codes(opened, 1)
        sqlite3_busy_timeout(opened, busyTimeoutMilliseconds)
    }

    deinit { close() }

    /// Closes the file (releasing its lock). Safe to call twice.
    func close() {
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs a script of statements without parameters.
    func execute(_ sql: String) throws(RailError) {
        let db = try openHandle()
        let status = sqlite3_exec(db, sql, nil, nil, nil)
        guard status == SQLITE_OK else { throw error(status, "a statement failed") }
    }

    /// Runs one statement, mapping every result row.
    @discardableResult
    func query<T>(_ sql: String, _ bindings: [FakeSQLValue] = [], row read: (FakeSQLRow) throws(RailError) -> T) throws(RailError) -> [T] {
        let db = try openHandle()
        var prepared: OpaquePointer?
        let status = sqlite3_prepare_v2(db, sql, -1, &prepared, nil)
        guard status == SQLITE_OK, let statement = prepared else {
            sqlite3_finalize(prepared)
            throw error(status, "cannot prepare a statement")
        }
        defer { sqlite3_finalize(statement) }
        for (offset, value) in bindings.enumerated() { try bind(value, at: Int32(offset + 1), in: statement) }
        var rows: [T] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_ROW {
                rows.append(try read(FakeSQLRow(statement: statement)))
            } else if step == SQLITE_DONE {
                return rows
            } else {
                throw error(step, "a statement failed")
            }
        }
    }

    /// Runs one statement that returns no rows.
    func run(_ sql: String, _ bindings: [FakeSQLValue] = []) throws(RailError) {
        try query(sql, bindings) { _ in () }
    }

    /// Runs `body` in `BEGIN IMMEDIATE`, committed when it returns and rolled back when it throws.
    func transaction<T>(_ body: () throws(RailError) -> T) throws(RailError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    private func bind(_ value: FakeSQLValue, at index: Int32, in statement: OpaquePointer) throws(RailError) {
        let status: Int32
        switch value {
        case .integer(let number):
            status = sqlite3_bind_int64(statement, index, number)
        case .text(let text):
            let length = text.utf8.count
            guard length < Int(Int32.max) else { throw Self.failure("a text value is too long to store") }
            status = text.withCString { payrail_sqlite3_bind_text_copy(statement, index, $0, Int32(length)) }
        case .blob(let bytes):
            guard bytes.count < Int(Int32.max) else { throw Self.failure("a binary value is too long to store") }
            status = bytes.withUnsafeBytes { payrail_sqlite3_bind_blob_copy(statement, index, $0.baseAddress, Int32(bytes.count)) }
        case .null:
            status = sqlite3_bind_null(statement, index)
        }
        guard status == SQLITE_OK else { throw error(status, "cannot bind a value") }
    }

    private func openHandle() throws(RailError) -> OpaquePointer {
        guard let handle else { throw Self.failure("the fake processor's database is closed") }
        return handle
    }

    /// SQLite's messages name tables and constraints, never bound values, so they are safe to keep.
    private func error(_ status: Int32, _ context: String) -> RailError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection"
        let primary = status & 0xFF
        if primary == SQLITE_BUSY || primary == SQLITE_LOCKED {
            return RailError(.unavailable, "\(context): the fake processor's database is in use by another process "
                + "(another payrail serve on the same data directory?) (\(message))",
                             retry: .safe, rail: .fake)
        }
        return Self.failure("\(context): \(message) (SQLite code \(status))")
    }

    static func failure(_ reason: String) -> RailError {
        RailError(.unavailable, "fake processor store: \(reason)", retry: .safe, rail: .fake)
    }
}
