import Foundation
import PayRail
import PayRailStore
import Testing

/// Big ledgers: a reservation costs what its budget window holds and a price lookup what one host's
/// history holds, not the whole ledger.
@Suite("Spend ledger queries proportional to what they need")
struct SpendLedgerScalingTests {
    @Test("committed(host:rail:) pages newest first through one host's committed spends on one rail", arguments: StoreKind.allCases)
    func committedPages(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 1_000_000)
        let start = fixture.clock.now()
        func reserve(_ id: String, host: String, rail: RailID = .fake, at offset: TimeInterval) async throws {
            let base = try SpendSample.record(id, 1, at: start.addingTimeInterval(offset))
            let record = SpendRecord(paymentID: id, amount: base.amount, rail: rail, host: host, method: "GET", url: base.url,
                                     offerID: base.offerID, context: base.context, reservedAt: base.reservedAt)
            _ = try await fixture.store.reserve(record, limits: limits, now: record.reservedAt)
        }
        try await reserve("a1", host: "a.example", at: 1)
        try await reserve("b1", host: "b.example", at: 2)
        try await reserve("a2", host: "a.example", at: 3)
        try await reserve("a3-released", host: "a.example", at: 4)
        try await reserve("a4", host: "a.example", at: 5)
        try await reserve("a5-lightning", host: "a.example", rail: .lightning, at: 6)
        for id in ["a1", "b1", "a2", "a4", "a5-lightning"] {
            _ = try await fixture.store.commit(paymentID: id, receipt: nil, reference: nil, note: nil, now: start)
        }
        _ = try await fixture.store.release(paymentID: "a3-released", reason: "test", now: start)

        let all = try await fixture.store.committed(host: "a.example", rail: .fake, offset: 0, limit: 10)
        #expect(all.map(\.paymentID) == ["a4", "a2", "a1"])
        let second = try await fixture.store.committed(host: "a.example", rail: .fake, offset: 1, limit: 1)
        #expect(second.map(\.paymentID) == ["a2"])
    }

    @Test("the SQLite wallet answers the price memory's query from an index (schema version 2), not a scan of the ledger")
    func priceMemoryQueryUsesAnIndex() async throws {
        let plan = try await Self.queryPlan(onWalletOfSchema: 2, """
            SELECT * FROM spends WHERE host = 'h' AND rail = 'fake' AND state = 'committed'
            ORDER BY reserved_at_ms DESC, seq DESC LIMIT 32 OFFSET 0;
            """)
        #expect(plan.contains("spends_committed_by_host_and_rail"), "\(plan)")
        #expect(!plan.contains("TEMP B-TREE"), "\(plan)")
    }

    @Test("the SQLite wallet sums a budget window from the minute totals and the covering index (schema version 5), no scan of the day's spends")
    func budgetSumsUseMinuteTotals() async throws {
        // The statement SQLiteSpendStore.windowSums runs on every reservation (one window of its two).
        let plan = try await Self.queryPlan(onWalletOfSchema: 5, """
            SELECT
                (SELECT COALESCE(SUM(amount_minor), 0) FROM spend_minute_totals
                    WHERE unit_code = 'sat' AND unit_exponent = 0 AND minute >= 7),
                (SELECT COALESCE(SUM(amount_minor), 0) FROM spends
                    WHERE unit_code = 'sat' AND unit_exponent = 0 AND reserved_at_ms > 1 AND reserved_at_ms < 420000
                    AND state != 'released');
            """)
        #expect(plan.contains("SEARCH spend_minute_totals USING PRIMARY KEY (unit_code=? AND unit_exponent=? AND minute>?)"), "\(plan)")
        #expect(plan.contains("USING COVERING INDEX spends_budget_window (unit_code=? AND unit_exponent=? AND reserved_at_ms>? AND reserved_at_ms<?)"),
                "\(plan)")
    }

    @Test("the refusal path still reads the window's spends from the covering index alone (schema version 4)")
    func refusalReadsTheCoveringIndex() async throws {
        // The statement SQLiteSpendStore.refusal runs when the sums say a reservation does not fit.
        let plan = try await Self.queryPlan(onWalletOfSchema: 4, """
            SELECT amount_minor, reserved_at_ms FROM spends
            WHERE unit_code = 'sat' AND unit_exponent = 0 AND reserved_at_ms > 1 AND state != 'released'
            ORDER BY reserved_at_ms, seq;
            """)
        #expect(plan.contains("spends_budget_window"), "\(plan)")
    }

    /// SQLite's `EXPLAIN QUERY PLAN` of `sql`, through the sqlite3 shell, on a fresh wallet whose
    /// schema is at least `version`.
    static func queryPlan(onWalletOfSchema version: Int, _ sql: String) async throws -> String {
        let shell = try #require(SQLiteCrossProcessTests.shell, "the sqlite3 command-line shell is missing: run scripts/test")
        let directory = try TemporaryDirectory()
        let path = directory.path("wallet.sqlite")
        let store = try SQLiteSpendStore(path: path)
        #expect(try await store.schemaVersion() >= version)
        await store.close()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [path, "EXPLAIN QUERY PLAN " + sql]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let plan = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return plan
    }

    @Test("a version 1 wallet file migrates forward to the index and the minute totals, keeping its spends and what they count")
    func migratesVersionOne() async throws {
        let shell = try #require(SQLiteCrossProcessTests.shell, "the sqlite3 command-line shell is missing: run scripts/test")
        let directory = try TemporaryDirectory()
        let path = directory.path("v1.sqlite")
        let realNow = Date()
        let recent = Int64((realNow.timeIntervalSince1970 * 1000).rounded(.down))
        // The shipped version 1 schema, as a wallet written by the previous release holds it.
        let v1 = """
            CREATE TABLE spend_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT;
            CREATE TABLE spends (seq INTEGER PRIMARY KEY, payment_id TEXT NOT NULL UNIQUE,
                state TEXT NOT NULL CHECK (state IN ('reserved', 'paid', 'committed', 'released')),
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0), unit_code TEXT NOT NULL, unit_exponent INTEGER NOT NULL,
                rail TEXT NOT NULL, host TEXT NOT NULL, method TEXT NOT NULL, url TEXT NOT NULL, offer_id TEXT NOT NULL,
                context TEXT NOT NULL, proof TEXT, receipt TEXT, reference TEXT, note TEXT,
                reserved_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL) STRICT;
            CREATE INDEX spends_by_unit_and_time ON spends(unit_code, unit_exponent, reserved_at_ms);
            CREATE INDEX spends_by_time ON spends(reserved_at_ms);
            CREATE INDEX spends_unfinished ON spends(reserved_at_ms) WHERE state IN ('reserved', 'paid');
            INSERT INTO spend_schema (id, version) VALUES (1, 1);
            INSERT INTO spends (payment_id, state, amount_minor, unit_code, unit_exponent, rail, host, method, url, offer_id,
                context, reserved_at_ms, updated_at_ms)
            VALUES ('old-1', 'committed', 100, 'sat', 0, 'fake', 'api.example', 'GET', 'https://api.example/premium', 'o-1',
                '{}', 1000, 2000);
            INSERT INTO spends (payment_id, state, amount_minor, unit_code, unit_exponent, rail, host, method, url, offer_id,
                context, reserved_at_ms, updated_at_ms)
            VALUES ('day-1', 'committed', 100, 'sat', 0, 'fake', 'other.example', 'GET', 'https://other.example/a', 'o-2',
                    '{}', 1767225630000, 1767225630000),
                ('day-2', 'reserved', 200, 'sat', 0, 'fake', 'other.example', 'GET', 'https://other.example/b', 'o-3',
                    '{}', 1767225720000, 1767225720000),
                ('day-3', 'released', 400, 'sat', 0, 'fake', 'other.example', 'GET', 'https://other.example/c', 'o-4',
                    '{}', 1767225750000, 1767225750000),
                ('recent-1', 'committed', 100, 'sat', 0, 'fake', 'other.example', 'GET', 'https://other.example/d', 'o-5',
                    '{}', \(recent - 600_000), \(recent - 600_000)),
                ('recent-2', 'released', 400, 'sat', 0, 'fake', 'other.example', 'GET', 'https://other.example/e', 'o-6',
                    '{}', \(recent - 420_000), \(recent - 420_000));
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [path, v1]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let store = try SQLiteSpendStore(path: path)
        #expect(try await store.schemaVersion() == SQLiteSpendStore.latestSchemaVersion)
        let found = try await store.committed(host: "api.example", rail: .fake, offset: 0, limit: 10)
        #expect(found.map(\.paymentID) == ["old-1"])
        // Schema version 5 fills the minute totals from the last two days' spends (the released one
        // not counted): at the real time they decide, and the cap is filled to the last minor unit.
        let limits = SpendLimits([.sat: SpendLimits.Limit(perDay: try Money(amount: 1000, unit: .sat))])
        let now = realNow.addingTimeInterval(1)
        let over = try await store.reserve(Self.spend("now-over", 901, at: now), limits: limits, now: now)
        guard case .refused(let refusal) = over else { Issue.record("901 sat fits a day holding 100 of 1000: \(over)"); return }
        #expect(refusal.alreadySpent == (try Money(amount: 100, unit: .sat)))
        // Spends older than two days are not in the totals: a window that reaches back to them (an
        // agent clock far behind) is decided from the spends: the two counted ones of that day and
        // the recent one, reserved later than that clock's now.
        let then = Date(timeIntervalSince1970: 1_767_226_200)
        let early = try await store.reserve(Self.spend("then-over", 601, at: then), limits: limits, now: then)
        guard case .refused(let earlyRefusal) = early else { Issue.record("601 sat fits a day holding 400 of 1000: \(early)"); return }
        #expect(earlyRefusal.alreadySpent == (try Money(amount: 400, unit: .sat)))
        guard case .reserved = try await store.reserve(Self.spend("then-fits", 600, at: then), limits: limits, now: then) else {
            Issue.record("600 sat should fit a day holding 400 of 1000"); return
        }
        guard case .reserved = try await store.reserve(Self.spend("now-fits", 900, at: now), limits: limits, now: now) else {
            Issue.record("900 sat should fit a day holding 100 of 1000"); return
        }
        await store.close()
    }

    static func spend(_ id: String, _ amount: Int64, at date: Date) throws -> SpendRecord {
        SpendRecord(paymentID: id, amount: try Money(amount: amount, unit: .sat), rail: .fake, host: "api.example",
                    method: "GET", url: "https://api.example/premium", offerID: "o-\(id)", context: "{}", reservedAt: date)
    }

    @Test("the memory store reserves against a 20,000-spend ledger without sorting it: 20,500 reservations well under 10 s")
    func memoryReserveScales() async throws {
        let store = MemorySpendStore()
        let limits = try SpendSample.limits(perHour: Int64.max / 2, perDay: Int64.max / 2)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = ContinuousClock()
        let began = clock.now
        // A long history, each spend a day and a second after the last: every window holds one of them.
        for index in 0..<20_000 {
            let at = start.addingTimeInterval(Double(index) * 86_401)
            _ = try await store.reserve(try SpendSample.record("old-\(index)", 1, at: at), limits: limits, now: at)
        }
        let now = start.addingTimeInterval(20_000 * 86_401)
        // Then 500 in one window: each costs what that window holds.
        var reserved = 0
        for index in 0..<500 {
            let outcome = try await store.reserve(try SpendSample.record("new-\(index)", 1, at: now), limits: limits, now: now)
            if outcome.reservedRecord != nil { reserved += 1 }
        }
        let elapsed = clock.now - began
        #expect(reserved == 500)
        #expect(elapsed < .seconds(10), "20,500 reservations took \(elapsed)")
        #expect(try await store.records(since: now).count == 500)
        #expect(try await store.unfinished().count == 20_500)
    }
}
