import Foundation
import PayRail
import PayRailStore
import Testing

/// Issue #16, point 2, in the wallet: spend schema 3 keeps a server's standard `Payment-Receipt`
/// (`LedgerReceipt`) beside each committed spend; a wallet of schema 2 is migrated forward and keeps
/// every spend readable.
@Suite("Spend ledger: standard receipts and the schema 3 migration (issue 16)") struct SpendReceiptMigrationTests {
    static let receipt = LedgerReceipt(method: "lightning", reference: "5f3a…hash", status: "success", timestamp: "2026-12-07T04:00:00Z",
                                       challengeID: "ch-1", trust: .unsigned)

    @Test("a schema-2 wallet opens as the newest schema with its spends intact; its paid spend commits with a standard receipt kept")
    func schema2WalletMigrates() async throws {
        let directory = try TemporaryDirectory()
        let path = try Fixtures.copy("spend-schema-v2.sqlite", into: directory)
        let store = try SQLiteSpendStore(path: path)
        // Migrated to the newest schema (4 added the budget window's covering index, 5 the per-minute
        // running totals), receipts kept.
        #expect(try await store.schemaVersion() == 5)
        #expect(SQLiteSpendStore.latestSchemaVersion == 5)
        let old = try #require(try await store.record(paymentID: "old-committed"))
        #expect(old.state == .committed && old.receipt == "aaa.bbb.ccc" && old.reference == "ref-old-1")
        #expect(old.standardReceipt == nil)

        let committed = try await store.commit(paymentID: "old-paid", receipt: nil, reference: Self.receipt.reference, note: nil,
                                               amount: nil, standardReceipt: Self.receipt, now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(committed.standardReceipt == Self.receipt)
        let reopened = try SQLiteSpendStore(path: path)
        #expect(try await reopened.record(paymentID: "old-paid")?.standardReceipt == Self.receipt)
        #expect(try await reopened.records(since: nil).count == 2)
    }

    @Test("every trust value round-trips through SQLite and memory, with the amount actually spent")
    func standardReceiptRoundTrips() async throws {
        let directory = try TemporaryDirectory()
        for store in [try SQLiteSpendStore(path: directory.path("wallet.sqlite")), MemorySpendStore()] as [any SpendStore] {
            for (index, trust) in LedgerReceipt.Trust.allCases.enumerated() {
                let id = "trust-\(index)"
                _ = try await store.reserve(try SpendSample.record(id, 10, at: Sample.start), limits: try SpendSample.limits(perHour: 1000),
                                            now: Sample.start)
                let receipt = LedgerReceipt(method: "fake", reference: "ref-\(index)", status: "success", timestamp: "2026-12-07T04:00:00Z",
                                            challengeID: nil, trust: trust)
                let committed = try await store.commit(paymentID: id, receipt: nil, reference: receipt.reference, note: nil,
                                                       amount: try Money(amount: 8, unit: .sat), standardReceipt: receipt, now: Sample.start)
                #expect(committed.amount == (try Money(amount: 8, unit: .sat)))
                #expect(try await store.record(paymentID: id)?.standardReceipt == receipt)
            }
        }
    }

    @Test("a wallet another process is creating (empty for a moment) is opened once it has its header (one that stays empty: zeroByteFilesAreRefused)")
    func walletBeingCreatedIsNotRefused() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("wallet.sqlite")
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let header = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("spend-schema-v2.sqlite")))
        // The "other process": writes the database 100 ms after the file appeared.
        let writer = Thread {
            Thread.sleep(forTimeInterval: 0.1)
            try? header.write(to: URL(fileURLWithPath: path))
        }
        writer.start()
        let store = try SQLiteSpendStore(path: path)
        #expect(try await store.record(paymentID: "old-committed") != nil)
    }
}
