import Foundation
import PayRail
import PayRailCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// What a fake processor must not forget across a restart: its accounts, their balances, every request
// it issued and what became of it. A payer that lost the gate's answer presents the same voucher after
// a restart and must get `.alreadySettled` (and `redemption(ofRequest:)` must find it), so every change
// is committed (WAL, `synchronous = FULL`) before the processor answers, and applied in memory only
// once it is on disk. The file is created under a temporary name and renamed once its schema is in,
// so an existing file always has one: an empty or foreign file is refused rather than taken for a
// new processor that forgets every payment. One process owns the file (SQLite's exclusive locking
// mode): a second `payrail serve` on the same data directory is refused at start, because two
// processors with their own memory of one file would each redeem the same voucher once.

/// An account as the processor keeps it.
struct FakeAccountState {
    /// SHA-256 of the account's API secret; the secret itself is never stored.
    let secretHash: [UInt8]
    /// Integer minor units per unit; a unit with a row was funded or used at least once.
    var balances: [MoneyUnit: Int64] = [:]
}

/// A request as the processor keeps it: open, paid (`payer`, `voucher`) or settled (`redemption`).
struct FakeRequestState {
    let record: FakePaymentRequest
    var payer: String?
    var voucher: String?
    var redemption: FakeRedemption?
    /// Refunds of the redeemed payment, oldest first.
    var refunds: [FakeRefund] = []

    init(record: FakePaymentRequest, payer: String? = nil, voucher: String? = nil, redemption: FakeRedemption? = nil) {
        self.record = record
        self.payer = payer
        self.voucher = voucher
        self.redemption = redemption
    }

    var paymentID: String? { redemption?.paymentID }
}

/// One change to the processor's state; a call's changes commit together or not at all.
enum FakeJournalChange {
    /// The account and all of its balances as they now are.
    case account(id: String, FakeAccountState)
    /// The request as it now is.
    case request(FakeRequestState)
    /// The request is forgotten (purged).
    case deleteRequest(id: String)
}

/// The fake processor's SQLite file.
final class FakeProcessorJournal {
    private let connection: FakeSQLiteConnection

    /// The schema, versioned with `PRAGMA user_version`; never edit a shipped step, append one.
    static let migrations: [(version: Int, sql: String)] = [
        (1, """
            CREATE TABLE processor (
                id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
                public_key BLOB NOT NULL
            ) STRICT;
            CREATE TABLE accounts (
                id TEXT PRIMARY KEY NOT NULL,
                secret_hash BLOB NOT NULL
            ) STRICT;
            CREATE TABLE balances (
                account_id TEXT NOT NULL REFERENCES accounts(id),
                unit_code TEXT NOT NULL,
                unit_exponent INTEGER NOT NULL,
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
                PRIMARY KEY (account_id, unit_code, unit_exponent)
            ) STRICT;
            CREATE TABLE requests (
                id TEXT PRIMARY KEY NOT NULL,
                payee TEXT NOT NULL,
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
                unit_code TEXT NOT NULL,
                unit_exponent INTEGER NOT NULL,
                expires_at_s INTEGER NOT NULL,
                challenge_id TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'settled')),
                payer TEXT,
                voucher TEXT,
                payment_id TEXT UNIQUE,
                redeemed_at_ms INTEGER,
                CHECK ((status = 'open') = (payer IS NULL AND voucher IS NULL)),
                CHECK (status = 'open' OR (payer IS NOT NULL AND voucher IS NOT NULL)),
                CHECK ((status = 'settled') = (payment_id IS NOT NULL AND redeemed_at_ms IS NOT NULL))
            ) STRICT;
            CREATE INDEX requests_by_expiry ON requests(expires_at_s);
            """),
        // Refunds of redeemed payments (FakeRefunds.swift): one row per caller key and request.
        (2, """
            CREATE TABLE refunds (
                id TEXT PRIMARY KEY NOT NULL,
                request_id TEXT NOT NULL,
                refund_key TEXT NOT NULL,
                amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
                refunded_at_ms INTEGER NOT NULL,
                UNIQUE (request_id, refund_key)
            ) STRICT;
            """),
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Opens the file at `url` (creating it, mode 0600, when missing) for the processor whose voucher
    /// key is `publicKey`, and reads everything it holds.
    ///
    /// - Throws: `.unavailable` when the file cannot be created, opened or locked, is empty, not a
    ///   fake processor's, from a newer PayRail, damaged, or was written for another signing key.
    static func open(
        _ url: URL, publicKey: Ed25519.PublicKey
    ) throws(RailError) -> (FakeProcessorJournal, accounts: [String: FakeAccountState], requests: [String: FakeRequestState]) {
        if !FileManager.default.fileExists(atPath: url.path) { try create(url, publicKey: publicKey) }
        var info = stat()
        guard stat(url.path, &info) == 0, info.st_size > 0 else {
            throw FakeSQLiteConnection.failure(
                "\(url.path) is empty, so it cannot be the processor's record of payments: restore it, or move it (and the "
                    + "processor key) away to start a new fake processor that knows no earlier payment")
        }
        let connection = try FakeSQLiteConnection(path: url.path, create: false, busyTimeoutMilliseconds: 1000)
        // Exclusive before the first access: no shared-memory index, and the lock is never released.
        try connection.execute("PRAGMA locking_mode = EXCLUSIVE; PRAGMA foreign_keys = ON;")
        let mode = try connection.query("PRAGMA journal_mode = WAL") { row in row.text(0).lowercased() }
        guard mode.first == "wal" else { throw FakeSQLiteConnection.failure("SQLite refused WAL mode for \(url.path)") }
        try connection.execute("PRAGMA synchronous = FULL; BEGIN EXCLUSIVE; COMMIT;")
        let journal = FakeProcessorJournal(connection: connection)
        try journal.migrate(path: url.path)
        let stored = try connection.query("SELECT public_key FROM processor WHERE id = 1") { row in row.blob(0) }
        guard stored.first == publicKey.rawRepresentation else {
            throw FakeSQLiteConnection.failure(
                "\(url.path) was written by a fake processor with another signing key: its vouchers would not verify; "
                    + "restore that key, or move this file away to start a new fake processor")
        }
        return (journal, try journal.loadAccounts(), try journal.loadRequests())
    }

    private init(connection: FakeSQLiteConnection) {
        self.connection = connection
    }

    /// Releases the file and its lock; every later write fails with `.unavailable`.
    func close() { connection.close() }

    /// Commits `changes` in one transaction, or throws having changed nothing.
    ///
    /// - Parameter synced: `false` commits without waiting for the disk (`synchronous = NORMAL` for
    ///   this commit only): it survives the process dying but maybe not a power cut, until the next
    ///   synced commit, which syncs it too (so nothing later can be on disk without it). Only for
    ///   changes whose loss costs no money: a new request nobody paid yet (a payer of a lost request
    ///   is refused, nothing debited). Anything that moves or holds money is synced.
    func commit(_ changes: [FakeJournalChange], synced: Bool = true) throws(RailError) {
        guard !changes.isEmpty else { return }
        if !synced {
            try connection.execute("PRAGMA synchronous = NORMAL;")
            let result: Result<Void, RailError>
            do { result = .success(try commit(changes, synced: true)) } catch { result = .failure(error) }
            // Failing to restore FULL must not let a later payment commit unsynced: it fails this call.
            try connection.execute("PRAGMA synchronous = FULL;")
            return try result.get()
        }
        try connection.transaction { () throws(RailError) in
            for change in changes {
                switch change {
                case .account(let id, let account): try write(account, id: id)
                case .request(let request): try write(request)
                case .deleteRequest(let id):
                    try connection.run("DELETE FROM refunds WHERE request_id = ?", [.text(id)])
                    try connection.run("DELETE FROM requests WHERE id = ?", [.text(id)])
                }
            }
        }
    }

    // MARK: Writing

    private func write(_ account: FakeAccountState, id: String) throws(RailError) {
        try connection.run("INSERT INTO accounts (id, secret_hash) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                           [.text(id), .blob(account.secretHash)])
        for (unit, amount) in account.balances {
            try connection.run("""
                INSERT INTO balances (account_id, unit_code, unit_exponent, amount_minor) VALUES (?, ?, ?, ?)
                ON CONFLICT (account_id, unit_code, unit_exponent) DO UPDATE SET amount_minor = excluded.amount_minor
                """, [.text(id), .text(unit.code), .integer(Int64(unit.exponent)), .integer(amount)])
        }
    }

    private func write(_ request: FakeRequestState) throws(RailError) {
        let record = request.record
        let status = request.redemption != nil ? "settled" : request.payer != nil ? "paid" : "open"
        let redeemedAt = request.redemption.map { FakeValue.integer(Self.milliseconds($0.redeemedAt)) } ?? .null
        try connection.run("""
            INSERT OR REPLACE INTO requests (id, payee, amount_minor, unit_code, unit_exponent, expires_at_s, challenge_id,
                status, payer, voucher, payment_id, redeemed_at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [
                .text(record.id), .text(record.payee), .integer(record.amount.amount), .text(record.amount.unit.code),
                .integer(Int64(record.amount.unit.exponent)), .integer(Int64(record.expiresAt.timeIntervalSince1970.rounded(.down))),
                .text(record.challengeID), .text(status), request.payer.map(FakeValue.text) ?? .null,
                request.voucher.map(FakeValue.text) ?? .null, request.paymentID.map(FakeValue.text) ?? .null, redeemedAt,
            ])
        for refund in request.refunds {
            try connection.run("""
                INSERT OR IGNORE INTO refunds (id, request_id, refund_key, amount_minor, refunded_at_ms) VALUES (?, ?, ?, ?, ?)
                """, [.text(refund.id), .text(record.id), .text(refund.key), .integer(refund.amount.amount),
                      .integer(Self.milliseconds(refund.refundedAt))])
        }
    }

    /// Whole milliseconds since 1970: the precision a redemption time is kept (and answered) with.
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// `date` cut to whole milliseconds, so the answer before a restart equals the one after.
    static func truncatedToMilliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds(date)) / 1000)
    }

    // MARK: Reading

    private func loadAccounts() throws(RailError) -> [String: FakeAccountState] {
        var accounts: [String: FakeAccountState] = [:]
        for (id, hash) in try connection.query("SELECT id, secret_hash FROM accounts", row: { row in (row.text(0), row.blob(1)) }) {
            accounts[id] = FakeAccountState(secretHash: hash)
        }
        let rows = try connection.query("SELECT account_id, unit_code, unit_exponent, amount_minor FROM balances") { row in
            (row.text(0), row.text(1), row.integer(2), row.integer(3))
        }
        for (id, code, exponent, amount) in rows {
            let money = try Self.money(amount, code: code, exponent: exponent)
            accounts[id]?.balances[money.unit] = money.amount
        }
        return accounts
    }

    private func loadRequests() throws(RailError) -> [String: FakeRequestState] {
        var requests: [String: FakeRequestState] = [:]
        try connection.query("""
            SELECT id, payee, amount_minor, unit_code, unit_exponent, expires_at_s, challenge_id, payer, voucher, payment_id,
                redeemed_at_ms
            FROM requests
            """) { row throws(RailError) in
            let amount = try Self.money(row.integer(2), code: row.text(3), exponent: row.integer(4))
            let record = FakePaymentRequest(
                id: row.text(0), payee: row.text(1), amount: amount,
                expiresAt: Date(timeIntervalSince1970: Double(row.integer(5))), challengeID: row.text(6))
            var request = FakeRequestState(record: record, payer: row.optionalText(7), voucher: row.optionalText(8))
            if let paymentID = row.optionalText(9), !row.isNull(10) {
                request.redemption = FakeRedemption(
                    paymentID: paymentID, requestID: record.id, amount: amount,
                    redeemedAt: Date(timeIntervalSince1970: Double(row.integer(10)) / 1000))
            }
            requests[record.id] = request
        }
        let refunds = try connection.query("""
            SELECT id, request_id, refund_key, amount_minor, refunded_at_ms FROM refunds ORDER BY refunded_at_ms, id
            """) { row throws(RailError) in
            (row.text(0), row.text(1), row.text(2), row.integer(3), row.integer(4))
        }
        for (id, requestID, key, minor, at) in refunds {
            guard var request = requests[requestID] else { continue }
            let unit = request.record.amount.unit
            let amount = try Self.money(minor, code: unit.code, exponent: Int64(unit.exponent))
            request.refunds.append(FakeRefund(id: id, requestID: requestID, amount: amount, key: key,
                                              refundedAt: Date(timeIntervalSince1970: Double(at) / 1000)))
            requests[requestID] = request
        }
        return requests
    }

    private static func money(_ amount: Int64, code: String, exponent: Int64) throws(RailError) -> Money {
        do {
            let unit = code == MoneyUnit.sat.code || code == MoneyUnit.msat.code
                ? try MoneyUnit(code: code) : try MoneyUnit(isoCode: code, exponent: Int(clamping: exponent))
            guard Int64(unit.exponent) == exponent else { throw MoneyError.invalidUnit("exponent mismatch") }
            return try Money(amount: amount, unit: unit)
        } catch {
            throw FakeSQLiteConnection.failure("a stored amount does not decode (\(error)); the file is damaged")
        }
    }

    // MARK: Schema

    private static func create(_ url: URL, publicKey: Ed25519.PublicKey) throws(RailError) {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).new")
        _ = unlink(temporary.path)
        guard createPrivateFile(temporary.path) else {
            throw FakeSQLiteConnection.failure("cannot create \(temporary.path): \(String(cString: strerror(errno)))")
        }
        do {
            let connection = try FakeSQLiteConnection(path: temporary.path, create: false, busyTimeoutMilliseconds: 1000)
            try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            let journal = FakeProcessorJournal(connection: connection)
            try journal.migrate(path: temporary.path)
            try connection.run("INSERT INTO processor (id, public_key) VALUES (1, ?)", [.blob(publicKey.rawRepresentation)])
            connection.close()
        } catch {
            _ = unlink(temporary.path)
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            _ = unlink(temporary.path)
            throw FakeSQLiteConnection.failure("cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        syncDirectory(url.deletingLastPathComponent().path)  // the new name, not only the file, survives a power cut
    }

    private func migrate(path: String) throws(RailError) {
        let version = { () throws(RailError) -> Int in
            Int(try self.connection.query("PRAGMA user_version") { row in row.integer(0) }.first ?? 0)
        }
        let initial = try version()
        guard initial <= Self.latestVersion else {
            throw FakeSQLiteConnection.failure(
                "\(path) has schema version \(initial) but this PayRail knows only up to \(Self.latestVersion): upgrade PayRail")
        }
        if initial == 0 {
            let tables = try connection.query("SELECT count(*) FROM sqlite_master") { row in row.integer(0) }
            guard tables.first == 0 else {
                throw FakeSQLiteConnection.failure("\(path) is not a fake processor's database: move it away")
            }
        }
        for migration in Self.migrations where migration.version > initial {
            try connection.transaction { () throws(RailError) in
                try connection.execute(migration.sql)
                try connection.execute("PRAGMA user_version = \(migration.version)")
            }
        }
    }
}

/// Creates an empty file only its owner can read (SQLite gives its WAL the same mode).
private func createPrivateFile(_ path: String) -> Bool {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard descriptor >= 0 else { return false }
    _ = close(descriptor)
    return true
}

/// Flushes a directory's entries (a rename) to disk; best effort, as a failure leaves the old name.
private func syncDirectory(_ path: String) {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return }
    _ = fsync(descriptor)
    _ = close(descriptor)
}

/// A shorter name for building bindings.
private typealias FakeValue = FakeSQLValue
