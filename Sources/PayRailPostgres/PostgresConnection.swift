import CPostgreSQL
import Dispatch
import Foundation
import PayRailStore

// The only file that touches libpq. `PostgresConnection` owns its `PGconn*` and frees every
// `PGresult*` before a call returns; rows are copied into Swift values first, so nothing outside this
// file sees a C type. libpq calls block, so each connection does its work on its own serial dispatch
// queue, never on Swift's cooperative threads (one thread per core: a blocked one stalls a gate).
//
// Every statement is sent with binary parameters and asks for binary results: no value is ever
// spliced into SQL text, and integers come back exact without parsing. Statements on the hot path are
// prepared once per connection and reused by name.

/// A parameter of a statement; the PostgreSQL type is explicit so binary values are never guessed.
enum PostgresValue: Sendable {
    case integer(Int64)
    case text(String)
    case bytes(Data)
    case null

    /// `int8`, `text` and `bytea`'s type ids (fixed in every PostgreSQL since 7.x).
    var typeID: Oid {
        switch self {
        case .integer: 20
        case .text: 25
        case .bytes: 17
        case .null: 0
        }
    }

    var binary: Data? {
        switch self {
        case .integer(let value): withUnsafeBytes(of: value.bigEndian) { Data($0) }
        case .text(let value): Data(value.utf8)
        case .bytes(let value): value
        case .null: nil
        }
    }
}

/// One result row, copied out of libpq; read by column index.
struct PostgresRow: Sendable {
    let columns: [Data?]

    func isNull(_ column: Int) -> Bool { column >= columns.count || columns[column] == nil }

    func integer(_ column: Int) throws(PostgresFailure) -> Int64 {
        guard column < columns.count, let bytes = columns[column] else {
            throw PostgresFailure(message: "column \(column) is NULL or missing where an integer was expected")
        }
        switch bytes.count {
        case 8: return bytes.reduce(Int64(0)) { ($0 << 8) | Int64($1) }
        case 4: return Int64(bytes.reduce(Int32(0)) { ($0 << 8) | Int32($1) })
        case 2: return Int64(bytes.reduce(Int16(0)) { ($0 << 8) | Int16($1) })
        case 1: return Int64(bytes[bytes.startIndex])
        default: throw PostgresFailure(message: "column \(column) has \(bytes.count) bytes, not an integer")
        }
    }

    func text(_ column: Int) -> String {
        guard column < columns.count, let bytes = columns[column] else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }

    func optionalText(_ column: Int) -> String? { isNull(column) ? nil : text(column) }

    func bytes(_ column: Int) -> Data {
        guard column < columns.count, let bytes = columns[column] else { return Data() }
        return bytes
    }

    func optionalBytes(_ column: Int) -> Data? { isNull(column) ? nil : bytes(column) }
}

/// What a statement returned: its rows and how many rows it changed.
struct PostgresResult: Sendable {
    let rows: [PostgresRow]
    let affected: Int
}

/// A failure reported by libpq or the server, before it is turned into a `StoreError`.
///
/// `message` is the server's primary message only: its DETAIL line can quote key values (a token
/// hash), so it is never read.
struct PostgresFailure: Error, Sendable {
    var sqlState: String?
    var message: String
    /// The connection is unusable afterwards (the server went away, the socket broke).
    var connectionLost = false

    init(sqlState: String? = nil, message: String, connectionLost: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.connectionLost = connectionLost
    }
}

/// One open connection to PostgreSQL, used by one holder at a time (checked out of `PostgresPool`).
final class PostgresConnection: @unchecked Sendable {
    // @unchecked: `handle` and `prepared` are touched only on `queue`, by the one holder of the lease.
    private var handle: OpaquePointer?
    private var prepared: [String: String] = [:]
    let queue: DispatchQueue

    private init(handle: OpaquePointer, queue: DispatchQueue) {
        self.handle = handle
        self.queue = queue
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Connects on a queue of its own (libpq blocks up to the connect timeout).
    static func connect(_ parameters: [(String, String)], redact: @escaping @Sendable (String) -> String) async throws(PostgresFailure) -> PostgresConnection {
        let queue = DispatchQueue(label: "payrail.store.postgres.connection")
        let parameterCopy = parameters.map { ($0.0, $0.1) }
        let result: Result<PostgresConnection, PostgresFailure> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Self.connectBlocking(parameterCopy, queue: queue, redact: redact))
            }
        }
        return try result.get()
    }

    private static func connectBlocking(_ parameters: [(String, String)], queue: DispatchQueue,
                                        redact: @Sendable (String) -> String) -> Result<PostgresConnection, PostgresFailure> {
        let keys = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keyPointers: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
        var valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        let opened = keyPointers.withUnsafeMutableBufferPointer { keyBuffer in
            valuePointers.withUnsafeMutableBufferPointer { valueBuffer in
                PQconnectdbParams(keyBuffer.baseAddress, valueBuffer.baseAddress, 0)
            }
        }
        guard let opened else { return .failure(PostgresFailure(message: "out of memory opening a connection", connectionLost: true)) }
        guard PQstatus(opened) == CONNECTION_OK else {
            let message = redact(String(cString: PQerrorMessage(opened)).trimmingCharacters(in: .whitespacesAndNewlines))
            PQfinish(opened)
            return .failure(PostgresFailure(sqlState: connectState(message), message: message, connectionLost: true))
        }
        // Notices (and a dying server's goodbye) would go to stderr by default: the store reports
        // through its errors, never by printing.
        PQsetNoticeProcessor(opened, { _, _ in }, nil)
        return .success(PostgresConnection(handle: opened, queue: queue))
    }

    /// libpq reports no SQLSTATE for a refused login, only the server's text: a server that answered
    /// FATAL (unknown database or role, failed authentication, no pg_hba entry) will say the same
    /// again, unlike one that is down, starting, shutting down or full.
    private static func connectState(_ message: String) -> String {
        let transient = ["starting up", "shutting down", "too many", "in recovery", "remaining connection slots"]
        guard message.contains("FATAL"), !transient.contains(where: message.contains) else { return "08001" }
        return "28000"
    }

    /// Whether the connection still looks usable, without a round trip: reads whatever the server
    /// sent while it sat idle (a restarting server says goodbye and closes the socket).
    func isAlive() -> Bool {
        queue.sync {
            guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
            // A server ending the session sends a FATAL message, then closes: the first read takes the
            // message (libpq files it as a notice when idle), the second finds the end of the stream.
            guard PQconsumeInput(handle) == 1 else { return false }
            _ = PQisBusy(handle)
            guard PQconsumeInput(handle) == 1 else { return false }
            return PQstatus(handle) == CONNECTION_OK
        }
    }

    /// Whether libpq considers the connection broken.
    var isBroken: Bool {
        guard let handle else { return true }
        return PQstatus(handle) != CONNECTION_OK
    }

    /// Runs `body` on this connection's queue.
    func perform<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws(PostgresFailure) -> T) async throws(PostgresFailure) -> T {
        let result: Result<T, PostgresFailure> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(PostgresFailure) {
                    continuation.resume(returning: .success(try body(self)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Closes the connection now (on its queue); later statements fail as lost.
    func close() {
        queue.sync {
            if let handle { PQfinish(handle) }
            handle = nil
        }
    }

    // MARK: - Statements (call on `queue`)

    /// Runs SQL text without parameters (several statements allowed): transactions and migrations.
    func execute(_ sql: String) throws(PostgresFailure) {
        guard let handle else { throw PostgresFailure(message: "the connection is closed", connectionLost: true) }
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, handle)
    }

    /// Runs one statement with binary parameters, prepared once per connection and reused.
    @discardableResult
    func query(_ sql: String, _ parameters: [PostgresValue] = []) throws(PostgresFailure) -> PostgresResult {
        guard let handle else { throw PostgresFailure(message: "the connection is closed", connectionLost: true) }
        let name = try preparedName(sql, parameters, handle)
        let result = Self.withParameters(parameters) { values, lengths, formats in
            PQexecPrepared(handle, name, Int32(parameters.count), values, lengths, formats, 1)
        }
        defer { PQclear(result) }
        try check(result, handle)
        return Self.read(result)
    }

    private func preparedName(_ sql: String, _ parameters: [PostgresValue], _ handle: OpaquePointer) throws(PostgresFailure) -> String {
        if let name = prepared[sql] { return name }
        let name = "payrail_\(prepared.count)"
        // Types come from the statement's context where a parameter is NULL (type 0), so a statement
        // is prepared from its first use; every call site passes the same kinds in the same places.
        let types = parameters.map(\.typeID)
        let result = types.withUnsafeBufferPointer { buffer in
            PQprepare(handle, name, sql, Int32(types.count), buffer.baseAddress)
        }
        defer { PQclear(result) }
        try check(result, handle)
        prepared[sql] = name
        return name
    }

    private static func withParameters<R>(
        _ parameters: [PostgresValue],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> R
    ) -> R {
        let buffers: [UnsafeMutableRawPointer?] = parameters.map { value in
            guard let data = value.binary else { return nil }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, data.count), alignment: 1)
            data.copyBytes(to: buffer.assumingMemoryBound(to: UInt8.self), count: data.count)
            return buffer
        }
        defer { buffers.forEach { $0?.deallocate() } }
        let values: [UnsafePointer<CChar>?] = buffers.map { $0.map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) } }
        let lengths = parameters.map { Int32($0.binary?.count ?? 0) }
        let formats = [Int32](repeating: 1, count: parameters.count)
        return values.withUnsafeBufferPointer { valueBuffer in
            lengths.withUnsafeBufferPointer { lengthBuffer in
                formats.withUnsafeBufferPointer { formatBuffer in
                    body(valueBuffer.baseAddress, lengthBuffer.baseAddress, formatBuffer.baseAddress)
                }
            }
        }
    }

    private func check(_ result: OpaquePointer?, _ handle: OpaquePointer) throws(PostgresFailure) {
        let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        guard status != PGRES_COMMAND_OK, status != PGRES_TUPLES_OK else { return }
        let lost = PQstatus(handle) != CONNECTION_OK
        if let result, let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))) {
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? "unknown error"
            throw PostgresFailure(sqlState: String(cString: state), message: message, connectionLost: lost)
        }
        let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
        throw PostgresFailure(message: message.isEmpty ? "the server did not answer" : message, connectionLost: true)
    }

    private static func read(_ result: OpaquePointer?) -> PostgresResult {
        guard let result else { return PostgresResult(rows: [], affected: 0) }
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var columns: [Data?] = []
            columns.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    columns.append(nil)
                } else if let value = PQgetvalue(result, Int32(row), Int32(column)) {
                    columns.append(Data(bytes: value, count: Int(PQgetlength(result, Int32(row), Int32(column)))))
                } else {
                    columns.append(Data())
                }
            }
            rows.append(PostgresRow(columns: columns))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresResult(rows: rows, affected: affected)
    }
}
