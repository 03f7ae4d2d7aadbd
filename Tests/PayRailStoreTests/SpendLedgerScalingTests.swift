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
        let shell = try #require(SQLiteCrossProcessTests.shell, "the sqlite3 command-line shell is missing: run scripts/test")
        let directory = try TemporaryDirectory()
        let path = directory.path("wallet.sqlite")
        let store = try SQLiteSpendStore(path: path)
        #expect(try await store.schemaVersion() >= 2)
        await store.close()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [path, """
            EXPLAIN QUERY PLAN SELECT * FROM spends WHERE host = 'h' AND rail = 'fake' AND state = 'committed'
            ORDER BY reserved_at_ms DESC, seq DESC LIMIT 32 OFFSET 0;
            """]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let plan = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(plan.contains("spends_committed_by_host_and_rail"), "\(plan)")
        #expect(!plan.contains("TEMP B-TREE"), "\(plan)")
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
