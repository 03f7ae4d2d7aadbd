import Foundation
import PayRail
import PayRailPostgres
import PayRailStore
import PayRailTestPeers
import Testing

/// What only the PostgreSQL stores promise: migrations once under a lock, a newer schema refused,
/// statement timeouts, a bounded pool, reconnection after a restart, and no password in any error.
@Suite("PostgreSQL stores")
struct PostgresStoreTests {
    @Test("six stores opening one fresh database at once migrate it once")
    func migrateOnce() async throws {
        let fixture = try await PostgresFixture("migrate_once")
        let url = try fixture.url
        let versions = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<6 {
                group.addTask {
                    if index.isMultiple(of: 2) {
                        return try await PostgresGateStore.open(url: url, options: PostgresFixture.options).schemaVersion()
                    }
                    return try await PostgresSpendStore.open(url: url, options: PostgresFixture.options).schemaVersion()
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(versions.sorted() == [2, 2, 2, 2, 2, 2])
        let applied = try fixture.server.psql("SELECT component || ':' || version FROM payrail_migrations ORDER BY 1",
                                              database: fixture.database)
        // Each step once: the gate's two (version 2 records authorizations) and the ledger's two
        // (version 2 keeps running totals per minute).
        #expect(applied.split(separator: "\n") == ["gate:1", "gate:2", "spend:1", "spend:2"])
        #expect(PostgresGateStore.latestSchemaVersion == 2 && PostgresSpendStore.latestSchemaVersion == 2)
    }

    @Test("a database from a newer PayRail is refused with .newerSchema and left unchanged")
    func newerSchemaRefused() async throws {
        let fixture = try await PostgresFixture("newer_schema")
        let url = try fixture.url
        _ = try await PostgresGateStore.open(url: url, options: PostgresFixture.options)
        _ = try await PostgresSpendStore.open(url: url, options: PostgresFixture.options)
        try fixture.server.psql("UPDATE payrail_schema SET version = 99", database: fixture.database)
        let gate = await storeError { () throws(StoreError) in _ = try await PostgresGateStore.open(url: url, options: PostgresFixture.options) }
        #expect(gate?.code == .newerSchema)
        #expect(gate?.isRetrySafe == false)
        #expect(gate?.reason.contains("99") == true)
        let spend = await storeError { () throws(StoreError) in _ = try await PostgresSpendStore.open(url: url, options: PostgresFixture.options) }
        #expect(spend?.code == .newerSchema)
        #expect(try fixture.server.psql("SELECT string_agg(component || ':' || version, ',' ORDER BY component) FROM payrail_schema",
                                        database: fixture.database) == "gate:99,spend:99")
    }

    @Test("a statement past the statement timeout fails with a retry-safe .timedOut; the retry succeeds once the lock is gone")
    func statementTimeout() async throws {
        let fixture = try await PostgresFixture("statement_timeout")
        let options = PostgresStoreOptions(poolSize: 2, statementTimeout: .milliseconds(300))
        let store = try await PostgresGateStore.open(url: try fixture.url, options: options, clock: ManualClock())
        let session = try fixture.server.session(database: fixture.database)
        try session.send("BEGIN; LOCK TABLE consumed_challenges IN ACCESS EXCLUSIVE MODE; SELECT 'locked';", until: "locked")
        let settlement = Settlement(rail: .fake, offerID: "o", reference: "pay", amount: try Money(amount: 1, unit: .sat),
                                    settledAt: Date(timeIntervalSince1970: 1_767_225_600))
        let receipt = ReceiptRecord(receiptID: "rc", tokenHash: Data([1]), resource: try Resource(parsing: "GET /x"),
                                    issuedAt: settlement.settledAt, grantExpiresAt: settlement.settledAt.addingTimeInterval(60),
                                    credentialHash: nil)
        let timedOut = await storeError { () throws(StoreError) in
            _ = try await store.consume(challengeID: "ch", settlement: settlement, receipt: receipt)
        }
        #expect(timedOut?.code == .timedOut)
        #expect(timedOut?.isRetrySafe == true)
        try session.finish("COMMIT;")
        #expect(try await store.consumedChallenge(id: "ch") == nil, "the cancelled statement wrote nothing")
        let retried = try await store.consume(challengeID: "ch", settlement: settlement, receipt: receipt)
        guard case .consumed = retried else {
            Issue.record("the retry must consume, got \(retried)")
            return
        }
    }

    @Test("a reservation waits its turn behind another process holding the budget's lock, then succeeds")
    func reservationWaitsItsTurn() async throws {
        let fixture = try await PostgresFixture("waits_turn")
        // Generous timeouts: the test waits for the lock to be seen, however slow the machine.
        let store = try await PostgresSpendStore.open(url: try fixture.url, options: PostgresStoreOptions(
            poolSize: 2, statementTimeout: .seconds(60), callTimeout: .seconds(120)))
        let session = try fixture.server.session(database: fixture.database)
        // The lock `reserve` takes for sat (code "sat", exponent 0), held by another process.
        try session.send("BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('sat/0', \(0x5052_7370))); SELECT 'locked';",
                         until: "locked")
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        let record = SpendRecord(paymentID: "waiting", amount: try Money(amount: 100, unit: .sat), rail: .fake, host: "h", method: "GET",
                                 url: "https://h/x", offerID: "o", context: "{}", reservedAt: now)
        let limits = SpendLimits([.sat: SpendLimits.Limit(perHour: try Money(amount: 1000, unit: .sat))])
        let waiting = Task { try await store.reserve(record, limits: limits, now: now) }
        // Until the reservation is seen waiting on the lock (no fixed sleep: the condition is polled).
        let query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        while try fixture.server.psql(query, database: fixture.database) != "1" { try await Task.sleep(for: .milliseconds(20)) }
        try session.finish("COMMIT;")
        guard case .reserved(let reserved) = try await waiting.value else {
            Issue.record("the waiting reservation must succeed once the lock is released")
            return
        }
        #expect(reserved == record)
    }

    @Test("paying and committing at the reserved amount never wait on the minute's running total another agent holds; a release does")
    func unchangedCountsTakeNoTotalsLock() async throws {
        let fixture = try await PostgresFixture("totals_lock")
        let store = try await PostgresSpendStore.open(url: try fixture.url, options: PostgresStoreOptions(
            poolSize: 2, statementTimeout: .seconds(60), callTimeout: .seconds(120)))
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        let limits = SpendLimits([.sat: SpendLimits.Limit(perHour: try Money(amount: 1000, unit: .sat))])
        for id in ["paid", "released"] {
            let record = SpendRecord(paymentID: id, amount: try Money(amount: 100, unit: .sat), rail: .fake, host: "h", method: "GET",
                                     url: "https://h/\(id)", offerID: "o-\(id)", context: "{}", reservedAt: now)
            _ = try await store.reserve(record, limits: limits, now: now)
        }
        // Another agent's transaction holds the minute's total (as its release or lower commit would).
        let session = try fixture.server.session(database: fixture.database)
        try session.send("BEGIN; SELECT amount_minor FROM spend_minute_totals FOR UPDATE; SELECT 'locked';", until: "locked")
        // These finish while the lock is held: they never touch the total.
        _ = try await store.markPaid(paymentID: "paid", proof: "{\"voucher\":\"v\"}", now: now)
        _ = try await store.commit(paymentID: "paid", receipt: nil, reference: nil, note: nil, now: now)
        // A release changes what the spend counts, so it waits for the total's lock.
        let releasing = Task { try await store.release(paymentID: "released", reason: "test", now: now) }
        let query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        while try fixture.server.psql(query, database: fixture.database) != "1" { try await Task.sleep(for: .milliseconds(20)) }
        try session.finish("COMMIT;")
        #expect(try await releasing.value.state == .released)
        #expect(try fixture.server.psql("SELECT amount_minor FROM spend_minute_totals", database: fixture.database) == "100")
    }

    @Test("the pool never opens more than its bound; a caller past the deadline gets a retry-safe .busy")
    func poolBound() async throws {
        let fixture = try await PostgresFixture("pool_bound")
        let name = "payrail-pool-\(UUID().uuidString.prefix(8))"
        let store = try await PostgresGateStore.open(url: try fixture.url, options: PostgresStoreOptions(poolSize: 2, applicationName: name),
                                                     clock: ManualClock())
        let policy = try TokenBucketPolicy(capacity: 1000, refillTokens: 1, per: .seconds(60))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 { group.addTask { _ = try await store.take(1, from: "client-\(index % 5)", policy: policy) } }
            try await group.waitForAll()
        }
        let statistics = await store.poolStatistics()
        #expect(statistics.peakOpen <= 2 && statistics.peakOpen >= 1)
        let connections = try fixture.server.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = '\(name)'",
                                                  database: fixture.database)
        #expect(Int(connections).map { $0 <= 2 } == true, "\(connections) connections")

        let single = try await PostgresGateStore.open(url: try fixture.url, options: PostgresStoreOptions(
            poolSize: 1, statementTimeout: .seconds(30), callTimeout: .milliseconds(300)), clock: ManualClock())
        let session = try fixture.server.session(database: fixture.database)
        try session.send("BEGIN; LOCK TABLE consumed_challenges IN ACCESS EXCLUSIVE MODE; SELECT 'locked';", until: "locked")
        // A consume is one statement under the session's 30 s statement timeout: it holds the only
        // connection, waiting for the lock, far longer than the next caller's 300 ms deadline.
        let settlement = Settlement(rail: .fake, offerID: "o", reference: "pay", amount: try Money(amount: 1, unit: .sat),
                                    settledAt: Date(timeIntervalSince1970: 1_767_225_600))
        let receipt = ReceiptRecord(receiptID: "rc", tokenHash: Data([1]), resource: try Resource(parsing: "GET /x"),
                                    issuedAt: settlement.settledAt, grantExpiresAt: settlement.settledAt.addingTimeInterval(60),
                                    credentialHash: nil)
        let blocked = Task { try await single.consume(challengeID: "held", settlement: settlement, receipt: receipt) }
        while try fixture.server.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                                      database: fixture.database) != "1" {
            try await Task.sleep(for: .milliseconds(20))
        }
        let busy = await storeError { () throws(StoreError) in _ = try await single.take(1, from: "waiting", policy: policy) }
        #expect(busy?.code == .busy)
        #expect(busy?.isRetrySafe == true)
        try session.finish("COMMIT;")
        #expect(try await blocked.value.winner != nil)
        #expect(await single.poolStatistics().peakOpen == 1)
    }

    @Test("after the server restarts, a call fails retry-safe while it is down and succeeds after, on the same store")
    func reconnectAfterRestart() async throws {
        let server = try PostgresServer.start()
        defer { try? server.destroy() }
        let database = try server.createDatabase(prefix: "restart")
        let store = try await PostgresGateStore.open(url: server.url(database: database),
                                                     options: PostgresStoreOptions(poolSize: 2, connectTimeout: .seconds(2)),
                                                     clock: ManualClock())
        let challenge = ChallengeRecord(id: "ch-restart", resource: try Resource(parsing: "GET /x"), offers: [],
                                        createdAt: Date(timeIntervalSince1970: 1_767_225_600),
                                        expiresAt: Date(timeIntervalSince1970: 1_767_229_200))
        try await store.saveChallenge(challenge)
        try server.stop()
        let down = await storeError { () throws(StoreError) in _ = try await store.challenge(id: "ch-restart") }
        #expect(down?.code == .unavailable)
        #expect(down?.isRetrySafe == true)
        #expect(down?.reason.contains("read a challenge") == true, "\(String(describing: down))")
        try server.startAgain()
        #expect(try await store.challenge(id: "ch-restart") == challenge)
        // The connection that was open before the restart was replaced too.
        try await store.saveChallenge(ChallengeRecord(id: "ch-after", resource: try Resource(parsing: "GET /x"), offers: [],
                                                      createdAt: challenge.createdAt, expiresAt: challenge.expiresAt))
    }

    @Test("pooled connections the server ended while idle are replaced without the caller seeing an error")
    func idleConnectionsEndedByServer() async throws {
        let fixture = try await PostgresFixture("terminated")
        let name = "payrail-ended-\(UUID().uuidString.prefix(8))"
        let store = try await PostgresSpendStore.open(url: try fixture.url, options: PostgresStoreOptions(poolSize: 3, applicationName: name))
        _ = try await store.unfinished()
        let ended = try fixture.server.psql(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '\(name)') t",
            database: fixture.database)
        #expect(ended == "1")
        // The server's goodbye reaches the idle socket; the next call notices it and reconnects.
        while try fixture.server.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = '\(name)'",
                                      database: fixture.database) != "0" {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await store.unfinished().isEmpty)
        #expect(try await store.record(paymentID: "none") == nil)
    }

    @Test("a version 1 ledger migrates to minute totals filled from its last two days, a skewed clock's window falls back to the spends, and a change from another search path keeps them")
    func minuteTotalsMigration() async throws {
        let fixture = try await PostgresFixture("minute_totals")
        let url = try fixture.url
        let first = try await PostgresSpendStore.open(url: url, options: PostgresFixture.options)
        await first.close()
        // Back to version 1 with spends written by an older build: two counted and one released in
        // the last minutes, one counted five days ago (before the two days the fill covers).
        let now = Date()
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        func row(_ id: String, _ state: String, _ amount: Int, minutesAgo: Int64) -> String {
            let at = milliseconds - minutesAgo * 60_000
            return "('\(id)', '\(state)', \(amount), 'sat', 0, 'fake', 'h', 'GET', 'https://h/\(id)', 'o-\(id)', '{}', \(at), \(at))"
        }
        try fixture.server.psql("""
            DROP TRIGGER spends_minute_totals ON spends; DROP FUNCTION spends_keep_minute_totals();
            DROP TABLE spend_minute_totals; DROP TABLE spend_totals_since;
            DELETE FROM payrail_migrations WHERE component = 'spend' AND version = 2;
            UPDATE payrail_schema SET version = 1 WHERE component = 'spend';
            INSERT INTO spends (payment_id, state, amount_minor, unit_code, unit_exponent, rail, host, method, url, offer_id, context,
                                reserved_at_ms, updated_at_ms)
            VALUES \(row("day-1", "committed", 100, minutesAgo: 10)), \(row("day-2", "reserved", 200, minutesAgo: 8)),
                   \(row("day-3", "released", 400, minutesAgo: 7)), \(row("old-1", "committed", 50, minutesAgo: 5 * 1440))
            """, database: fixture.database)
        let store = try await PostgresSpendStore.open(url: url, options: PostgresFixture.options)
        #expect(try await store.schemaVersion() == 2)
        #expect(try fixture.server.psql("SELECT string_agg(amount_minor::text, ',' ORDER BY minute) FROM spend_minute_totals",
                                        database: fixture.database) == "100,200")
        let limits = SpendLimits([.sat: SpendLimits.Limit(perDay: try Money(amount: 1000, unit: .sat))])
        func spend(_ id: String, _ amount: Int64, at date: Date) throws -> SpendRecord {
            SpendRecord(paymentID: id, amount: try Money(amount: amount, unit: .sat), rail: .fake, host: "h", method: "GET",
                        url: "https://h/\(id)", offerID: "o-\(id)", context: "{}", reservedAt: date)
        }
        let over = try await store.reserve(try spend("over", 701, at: now), limits: limits, now: now)
        guard case .refused(let refusal) = over else { Issue.record("701 sat fits a day holding 300 of 1000: \(over)"); return }
        #expect(refusal.alreadySpent == (try Money(amount: 300, unit: .sat)))
        // An agent whose clock is five days behind: its day reaches before the totals, so the spends
        // decide (the five-day-old 50 sat and the later 300 sat all count).
        let behind = now.addingTimeInterval(-5 * 86_400 + 60)
        let skewed = try await store.reserve(try spend("skewed", 651, at: behind), limits: limits, now: behind)
        guard case .refused(let late) = skewed else { Issue.record("651 sat fits a day holding 350 of 1000: \(skewed)"); return }
        #expect(late.alreadySpent == (try Money(amount: 350, unit: .sat)))
        // An operator releasing a spend by hand, from a session on another search path that has a
        // table of the totals' name of its own: the ledger's totals are the ones kept.
        try fixture.server.psql("""
            CREATE SCHEMA operator; CREATE TABLE operator.spend_minute_totals (unit_code TEXT, unit_exponent BIGINT, minute BIGINT,
                amount_minor BIGINT, PRIMARY KEY (unit_code, unit_exponent, minute));
            SET search_path TO operator, public; UPDATE public.spends SET state = 'released' WHERE payment_id = 'day-2'
            """, database: fixture.database)
        guard case .reserved = try await store.reserve(try spend("fits", 900, at: now), limits: limits, now: now) else {
            Issue.record("900 sat should fit once the 200 sat spend is released"); return
        }
        #expect(try fixture.server.psql("SELECT count(*) FROM operator.spend_minute_totals", database: fixture.database) == "0")
        await store.close()
    }

    @Test("a search_path in the URL's options keeps each ledger (and its schema version) in its own schema")
    func schemaPerLedger() async throws {
        let fixture = try await PostgresFixture("schemas")
        try fixture.server.psql("CREATE SCHEMA wallet_a; CREATE SCHEMA wallet_b", database: fixture.database)
        let base = fixture.server.url(database: fixture.database)
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        let limits = SpendLimits([.sat: SpendLimits.Limit(perHour: try Money(amount: 100, unit: .sat))])
        for (schema, ids) in [("wallet_a", ["a1"]), ("wallet_b", ["b1", "b2"])] {
            let store = try await PostgresSpendStore.open(url: "\(base)?options=-c%20search_path%3D\(schema)",
                                                          options: PostgresStoreOptions(poolSize: 1, statementTimeout: .seconds(7)))
            for id in ids {
                let record = SpendRecord(paymentID: id, amount: try Money(amount: 50, unit: .sat), rail: .fake, host: "h", method: "GET",
                                         url: "https://h/x", offerID: "o", context: "{}", reservedAt: now)
                _ = try await store.reserve(record, limits: limits, now: now)
            }
            // Each store sees only its own schema's ledger.
            #expect(try await store.records(since: nil).map(\.paymentID) == ids)
        }
        #expect(try fixture.server.psql("SELECT (SELECT count(*) FROM wallet_a.spends) || ',' || (SELECT count(*) FROM wallet_b.spends)",
                                        database: fixture.database) == "1,2")
        #expect(try fixture.server.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'spends'",
                                        database: fixture.database) == "0")
    }

    @Test("saving a challenge with its aliases is all or nothing: one taken id stores none of them")
    func saveChallengesAllOrNothing() async throws {
        let fixture = try await PostgresFixture("all_or_nothing")
        let store = try await PostgresGateStore.open(url: try fixture.url, options: PostgresFixture.options)
        let start = Date(timeIntervalSince1970: 1_767_225_600)
        func challenge(_ id: String) throws -> ChallengeRecord {
            ChallengeRecord(id: id, resource: try Resource(parsing: "GET /x"),
                            offers: [Offer(rail: .fake, amount: try Money(amount: 5, unit: .sat), payee: "p", expiresAt: start, id: "o-\(id)")],
                            createdAt: start, expiresAt: start.addingTimeInterval(60))
        }
        try await store.saveChallenge(try challenge("taken"))
        let batch = [try challenge("new-1"), try challenge("taken"), try challenge("new-2")]
        let duplicate = await storeError { () throws(StoreError) in try await store.saveChallenges(batch) }
        #expect(duplicate?.code == .duplicate)
        #expect(try await store.challenge(id: "new-1") == nil)
        #expect(try await store.challenge(id: "new-2") == nil)
        #expect(try fixture.server.psql("SELECT count(*) FROM challenge_offers", database: fixture.database) == "1")
        try await store.saveChallenges([try challenge("new-1"), try challenge("new-2")])
        #expect(try await store.challenge(id: "new-2") == (try challenge("new-2")))
    }

    @Test("a closed store refuses calls with .closed; another store on the database still works")
    func closeRefusesCalls() async throws {
        let fixture = try await PostgresFixture("close")
        let url = try fixture.url
        let gate = try await PostgresGateStore.open(url: url, options: PostgresFixture.options)
        let spend = try await PostgresSpendStore.open(url: url, options: PostgresFixture.options)
        _ = try await gate.challenge(id: "x")
        await gate.close()
        await spend.close()
        let closed = await storeError { () throws(StoreError) in _ = try await gate.challenge(id: "x") }
        #expect(closed?.code == .closed)
        #expect(closed?.isRetrySafe == false)
        let spendClosed = await storeError { () throws(StoreError) in _ = try await spend.unfinished() }
        #expect(spendClosed?.code == .closed)
        #expect(await gate.poolStatistics().open == 0)
        let other = try await PostgresGateStore.open(url: url, options: PostgresFixture.options)
        #expect(try await other.challenge(id: "x") == nil)
    }

    @Test("the URL's password appears in no error, description or dump")
    func passwordNeverPrinted() async throws {
        let secret = "pw-Very-Secret-42"
        let fixture = try await PostgresFixture("password")
        let closedPort = try LoopbackPort.free()
        let unreachable = try DatabaseURL("postgresql://payrail:\(secret)@127.0.0.1:\(closedPort)/nothing")
        let refused = await storeError { () throws(StoreError) in
            _ = try await PostgresGateStore.open(url: unreachable, options: PostgresStoreOptions(connectTimeout: .seconds(2)))
        }
        #expect(refused?.code == .unavailable)
        #expect(refused?.isRetrySafe == true)
        let missing = try DatabaseURL("postgres://payrail:\(secret)@127.0.0.1:\(fixture.server.port)/no_such_database_\(secret.count)")
        let missingError = await storeError { () throws(StoreError) in _ = try await PostgresSpendStore.open(url: missing) }
        #expect(missingError?.code == .unavailable)
        #expect(missingError?.isRetrySafe == false)
        #expect(missingError?.reason.contains("does not exist") == true, "\(String(describing: missingError))")
        // Trust authentication ignores the password: the store works, and its later errors stay clean.
        let live = try DatabaseURL("postgres://payrail:\(secret)@127.0.0.1:\(fixture.server.port)/\(fixture.database)")
        let store = try await PostgresGateStore.open(url: live, options: PostgresFixture.options)
        let record = ChallengeRecord(id: "dup", resource: try Resource(parsing: "GET /x"), offers: [], createdAt: Date(), expiresAt: Date())
        try await store.saveChallenge(record)
        let duplicate = await storeError { () throws(StoreError) in try await store.saveChallenge(record) }
        var dumped = ""
        dump(live, to: &dumped)
        let texts = [refused?.description, missingError?.description, duplicate?.description, live.description,
                     live.debugDescription, "\(live)", dumped, String(reflecting: live)].compactMap { $0 }
        #expect(texts.count == 8)
        for text in texts { #expect(!text.contains(secret), "\(text)") }
        #expect(live.description == "postgres://payrail:***@127.0.0.1:\(fixture.server.port)/\(fixture.database)")
    }
}

extension ConsumeResult {
    var winner: ConsumedChallenge? { if case .consumed(let record) = self { record } else { nil } }
}

/// Parsing connection URLs, with no server.
@Suite("Database URLs")
struct DatabaseURLTests {
    @Test("postgres:// and postgresql:// parse; percent-escapes, IPv6 hosts and parameters are understood")
    func parses() throws {
        let url = try DatabaseURL("postgresql://gate%40ops:p%40ss%2Fw0rd@db.internal:6432/pay_rail?sslmode=require&connect_timeout=3")
        #expect(url.user == "gate@ops" && url.host == "db.internal" && url.port == 6432 && url.database == "pay_rail")
        #expect(url.hasPassword)
        #expect(url.parameters.map(\.key) == ["sslmode", "connect_timeout"])
        #expect(url.description == "postgres://gate%40ops:***@db.internal:6432/pay_rail?sslmode=require&connect_timeout=3")
        #expect(url.redact("failed for p@ss/w0rd and p%40ss%2Fw0rd") == "failed for *** and ***")

        let socket = try DatabaseURL("postgres://payrail@/wallet?host=/var/run/postgresql")
        #expect(socket.host.isEmpty && socket.database == "wallet" && !socket.hasPassword)
        let v6 = try DatabaseURL("postgres://u@[::1]:5433/db")
        #expect(v6.host == "::1" && v6.port == 5433 && v6.description == "postgres://u@[::1]:5433/db")
        let parameterPassword = try DatabaseURL("postgres://u@h/db?password=hunter2")
        #expect(!parameterPassword.description.contains("hunter2"))
    }

    @Test("other schemes, bad ports and bad escapes are refused without quoting the URL")
    func refuses() {
        for text in ["mysql://u:topsecret@h/db", "postgres://u:topsecret@h:99999/db", "postgres://u:top%zzsecret@h/db",
                     "postgres://u:topsecret@[::1/db", "postgres://u:topsecret@h/db?bad-key=1"] {
            do {
                _ = try DatabaseURL(text)
                Issue.record("\(text) must be refused")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(!error.description.contains("topsecret"))
            }
        }
    }

    @Test("$PAYRAIL_DB gives the URL; unset or empty gives none")
    func environment() throws {
        #expect(try DatabaseURL.fromEnvironment([:]) == nil)
        #expect(try DatabaseURL.fromEnvironment(["PAYRAIL_DB": ""]) == nil)
        #expect(try DatabaseURL.fromEnvironment(["PAYRAIL_DB": "postgres://a@b/c"])?.database == "c")
    }
}
