import Foundation
import PayRail
import PayRailPostgres
import PayRailServer
import PayRailStore

/// Where a command keeps its state: a SQLite file (the default, one machine) or a PostgreSQL
/// database (several gates, or agents on several machines, sharing one store).
///
/// A PostgreSQL URL may carry a password, so the location is only ever printed as `display`, which
/// shows `***` in its place; errors from the store are scrubbed again before they are printed.
enum StoreLocation: Sendable {
    /// A SQLite file and how long a write waits for another process's lock.
    case sqlite(path: String, busyTimeout: Duration)
    /// A PostgreSQL database and the pool and timeouts to open it with.
    case postgres(DatabaseURL, PostgresStoreOptions)

    /// The connection pool size `--db-pool` defaults to (PostgreSQL only).
    static let defaultPoolSize = 10
    /// `--db-timeout` for SQLite: how long a write waits for another process's lock.
    static let defaultSQLiteTimeout = 5
    /// `--db-timeout` for PostgreSQL: a whole store call (pool wait, lock waits, retries).
    static let defaultPostgresTimeout = 10

    /// The options every command with a store takes besides the location itself.
    static let tuningOptions: [OptionSpec] = [
        OptionSpec(name: "db-pool", valueName: "N",
                   help: "PostgreSQL connections this process opens at most (default \(defaultPoolSize))"),
        OptionSpec(name: "db-timeout", valueName: "SECONDS",
                   help: "most one store call may wait for locks and connections: SQLite default \(defaultSQLiteTimeout), "
                       + "PostgreSQL default \(defaultPostgresTimeout) (statements get half)"),
    ]

    /// Whether `text` names a PostgreSQL database rather than a file.
    static func isDatabaseURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Reads a location: a PostgreSQL URL, else a SQLite path, with `--db-pool` and `--db-timeout`.
    ///
    /// The refusal never quotes the URL: it may carry a password.
    /// An empty `text` is allowed only as a default (`isDefault`): the caller fills the path in later.
    static func parse(_ text: String, _ arguments: ParsedArguments, source: String,
                      isDefault: Bool = false) throws(CommandFailure) -> StoreLocation {
        let timeout = try number(arguments.value("db-timeout"), flag: "db-timeout", range: 1...600)
        let pool = try number(arguments.value("db-pool"), flag: "db-pool", range: 1...1_000)
        guard isDatabaseURL(text) else {
            guard !text.isEmpty || isDefault else { throw .usage("\(source) must be a file path or a postgres:// URL") }
            return .sqlite(path: text, busyTimeout: .seconds(timeout ?? defaultSQLiteTimeout))
        }
        let url: DatabaseURL
        do { url = try DatabaseURL(text) } catch {
            throw .usage("\(source) is not a valid PostgreSQL URL: \(error.reason)")
        }
        let call = timeout ?? defaultPostgresTimeout
        let options = PostgresStoreOptions(
            poolSize: pool ?? defaultPoolSize, connectTimeout: .seconds(min(5, max(2, call / 2))),
            statementTimeout: .milliseconds(max(1_000, call * 500)), callTimeout: .seconds(call))
        return .postgres(url, options)
    }

    /// What a gate command uses: `--db` (a file or a URL), else `$PAYRAIL_DB` (a URL), else `fallback`.
    static func gate(_ arguments: ParsedArguments, fallback: String,
                     environment: [String: String] = ProcessInfo.processInfo.environment) throws(CommandFailure) -> StoreLocation {
        if let flag = arguments.value("db") { return try parse(flag, arguments, source: "--db") }
        if let env = environment[DatabaseURL.environmentVariable], !env.isEmpty {
            guard isDatabaseURL(env) else { throw .usage("$\(DatabaseURL.environmentVariable) must be a postgres:// URL") }
            return try parse(env, arguments, source: "$\(DatabaseURL.environmentVariable)")
        }
        return try parse(fallback, arguments, source: "--db", isDefault: true)
    }

    /// The location as it may be printed: a path, or the URL with `***` for its password.
    var display: String {
        switch self {
        case .sqlite(let path, _): return path
        case .postgres(let url, _): return url.description
        }
    }

    /// Whether this is a SQLite file that does not exist yet.
    var isMissingFile: Bool {
        if case .sqlite(let path, _) = self { return !FileManager.default.fileExists(atPath: path) }
        return false
    }

    /// `text` with the database password (if any) replaced by `***`: for errors the store returns.
    func redact(_ text: String) -> String {
        if case .postgres(let url, _) = self { return url.redact(text) }
        return text
    }

    /// Opens the gate store here (creating the SQLite file or migrating the database on first use).
    func openGateStore() async throws(CommandFailure) -> any GateStore & PaymentEventStore & ClosableStore {
        do {
            switch self {
            case .sqlite(let path, let busy): return try SQLiteGateStore(path: path, busyTimeout: busy)
            case .postgres(let url, let options): return try await PostgresGateStore.open(url: url, options: options)
            }
        } catch {
            throw .refused("cannot open the gate store \(display): \(redact(error.reason))"
                + (error.isRetrySafe ? " (retry when it answers)" : ""))
        }
    }

    /// Opens the spend ledger here (creating the SQLite file or migrating the database on first use).
    /// A `.busy` open (another process creating or migrating the file) is retried until `patience`.
    func openSpendStore(patience: Duration = .zero) async throws(CommandFailure) -> any SpendStore & ClosableStore {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: patience)
        while true {
            do {
                switch self {
                case .sqlite(let path, let busy): return try SQLiteSpendStore(path: path, busyTimeout: busy)
                case .postgres(let url, let options): return try await PostgresSpendStore.open(url: url, options: options)
                }
            } catch where error.code == .busy && error.isRetrySafe && clock.now.advanced(by: .milliseconds(50)) < deadline {
                try? await Task.sleep(for: .milliseconds(Int.random(in: 20...80)))
                continue
            } catch {
                throw Self.openFailure("cannot open the wallet", self, error)
            }
        }
    }

    private static func openFailure(_ what: String, _ location: StoreLocation, _ error: StoreError) -> CommandFailure {
        .refused("\(what) \(location.display): \(location.redact(error.reason))" + (error.isRetrySafe ? " (retry when it answers)" : ""))
    }

    private static func number(_ text: String?, flag: String, range: ClosedRange<Int>) throws(CommandFailure) -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw .usage("--\(flag) must be a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }
}

/// A store `payrail` closes before it exits, so nothing is left running (pools, SQLite handles).
protocol ClosableStore: Sendable {
    /// Ends the store's connections; later calls fail.
    func close() async
}

extension SQLiteGateStore: ClosableStore {}
extension SQLiteSpendStore: ClosableStore {}
extension PostgresGateStore: ClosableStore {}
extension PostgresSpendStore: ClosableStore {}
