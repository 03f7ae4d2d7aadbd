import Foundation
import PayRail
import PayRailStore
import Testing

/// What only the SQLite store promises: durability, several connections on one file, migrations and
/// typed refusals of files it cannot use.
@Suite("SQLite store")
struct SQLiteGateStoreTests {
    @Test("a consumed challenge and its receipt survive closing and reopening the file")
    func survivesReopen() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("gate.sqlite")
        let clock = ManualClock()
        let first = try SQLiteGateStore(path: path, clock: clock)
        try await first.saveChallenge(try Sample.challenge("ch-durable"))
        let result = try await first.consume(challengeID: "ch-durable", settlement: try Sample.settlement("ch-durable"),
                                             receipt: try Sample.receipt("rc-durable"))
        guard case .consumed(let winner) = result else {
            Issue.record("expected to consume, got \(result)")
            return
        }
        try await first.saveResponse(Sample.response, receiptID: "rc-durable")
        await first.close()
        let closed = await storeError { () throws(StoreError) in _ = try await first.challenge(id: "ch-durable") }
        #expect(closed?.code == .closed)

        let reopened = try SQLiteGateStore(path: path, clock: clock)
        #expect(try await reopened.challenge(id: "ch-durable") == (try Sample.challenge("ch-durable")))
        let stored = try #require(try await reopened.consumedChallenge(receiptTokenHash: Data("hash-of-rc-durable".utf8)))
        #expect(stored.settlement == winner.settlement)
        #expect(stored.receipt.response == Sample.response)
        let again = try await reopened.consume(challengeID: "ch-durable", settlement: try Sample.settlement("ch-durable", reference: "pay-2"),
                                               receipt: try Sample.receipt("rc-again"))
        #expect(again == .alreadyConsumed(stored))
        #expect(try await reopened.schemaVersion() == SQLiteGateStore.latestSchemaVersion)
    }

    @Test("two connections on one file (as two processes would) racing to consume: one winner")
    func twoConnectionsRace() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("shared.sqlite")
        let clock = ManualClock()
        let stores: [SQLiteGateStore] = [try SQLiteGateStore(path: path, clock: clock), try SQLiteGateStore(path: path, clock: clock)]
        var attempts: [(SQLiteGateStore, Settlement, ReceiptRecord)] = []
        for index in 0..<100 {
            attempts.append((stores[index % 2], try Sample.settlement("ch-shared", reference: "pay-\(index)"),
                             try Sample.receipt("rc-shared-\(index)")))
        }
        let results = try await withThrowingTaskGroup(of: ConsumeResult.self) { group in
            for (store, settlement, receipt) in attempts {
                group.addTask { try await store.consume(challengeID: "ch-shared", settlement: settlement, receipt: receipt) }
            }
            var collected: [ConsumeResult] = []
            for try await result in group { collected.append(result) }
            return collected
        }
        let winners = results.compactMap { if case .consumed(let record) = $0 { record } else { nil } }
        let losers = results.compactMap { if case .alreadyConsumed(let record) = $0 { record } else { nil } }
        try #require(winners.count == 1)
        #expect(losers.count == 99)
        #expect(losers.allSatisfy { $0 == winners[0] })
        #expect(try await stores[0].consumedChallenge(id: "ch-shared") == winners[0])
        #expect(try await stores[1].consumedChallenge(id: "ch-shared") == winners[0])
    }

    @Test("two connections share rate-limit buckets")
    func sharedBuckets() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("shared.sqlite")
        let clock = ManualClock()
        let a = try SQLiteGateStore(path: path, clock: clock)
        let b = try SQLiteGateStore(path: path, clock: clock)
        let policy = try TokenBucketPolicy(capacity: 2, refillTokens: 1, per: .seconds(60))
        #expect(try await a.take(1, from: "client", policy: policy).isAllowed)
        #expect(try await b.take(1, from: "client", policy: policy).isAllowed)
        #expect(try await a.take(1, from: "client", policy: policy) == .limited(retryAfterSeconds: 60))
    }

    @Test("a version-1 database written by hand is migrated forward and keeps its data")
    func migratesFromVersion1() async throws {
        let directory = try TemporaryDirectory()
        let path = try Fixtures.copy("schema-v1.sqlite", into: directory)
        let clock = ManualClock()
        let store = try SQLiteGateStore(path: path, clock: clock)
        #expect(try await store.schemaVersion() == 5)
        #expect(SQLiteGateStore.latestSchemaVersion == 5)

        let challenge = try #require(try await store.challenge(id: "ch-v1-open"))
        #expect(challenge.resource == (try Resource(parsing: "GET /premium")))
        #expect(challenge.offers == [Offer(rail: .fake, amount: try Sample.money(100), payee: "acct_payee",
                                           expiresAt: Sample.start.addingTimeInterval(3600), id: "offer-1",
                                           details: ["requestID": "r-1"])])
        let paid = try #require(try await store.consumedChallenge(receiptTokenHash: Data([1, 2, 3, 4, 5, 6, 7, 8])))
        #expect(paid.challengeID == "ch-v1-paid")
        #expect(paid.settlement.amount == (try Sample.money(250, .usd)))
        #expect(paid.receipt.response == StoredResponse(status: 200, headers: [StoredHeader(name: "Content-Type", value: "text/plain")],
                                                         body: Data("hello".utf8)))
        // Version 3's column: a consumption recorded before it has no credential hash (unknown).
        #expect(paid.receipt.credentialHash == nil)
        let again = try await store.consume(challengeID: "ch-v1-paid", settlement: try Sample.settlement("ch-v1-paid"),
                                            receipt: try Sample.receipt("rc-new"))
        #expect(again == .alreadyConsumed(paid))

        // The tables version 2 added work.
        let policy = try TokenBucketPolicy(capacity: 1, refillTokens: 1, per: .seconds(1))
        #expect(try await store.take(1, from: "c", policy: policy) == .allowed(remaining: 0))
        #expect(try await store.idempotencyLookup(key: "k", payloadHash: Data([9])) == .notFound)

        // Reopening an up-to-date file changes nothing.
        await store.close()
        let reopened = try SQLiteGateStore(path: path, clock: clock)
        #expect(try await reopened.schemaVersion() == 5)
        #expect(try await reopened.consumedChallenge(id: "ch-v1-paid") == paid)
    }

    @Test("the hash of the credential that won a consumption is kept (schema 3), in SQLite and in memory, and survives a saved response")
    func credentialHashIsKept() async throws {
        let directory = try TemporaryDirectory()
        let clock = ManualClock()
        let sqlite = try SQLiteGateStore(path: directory.path("gate.sqlite"), clock: clock)
        for store in [sqlite, MemoryGateStore(clock: clock)] as [any GateStore] {
            let challenge = try Sample.challenge("ch-hash")
            try await store.saveChallenge(challenge)
            let base = try Sample.receipt("ch-hash")
            let receipt = ReceiptRecord(receiptID: base.receiptID, tokenHash: base.tokenHash, resource: base.resource,
                                        issuedAt: base.issuedAt, grantExpiresAt: base.grantExpiresAt, credentialHash: Data([7, 7, 7]))
            _ = try await store.consume(challengeID: "ch-hash", settlement: try Sample.settlement("ch-hash"), receipt: receipt)
            #expect(try await store.consumedChallenge(id: "ch-hash")?.receipt.credentialHash == Data([7, 7, 7]))
            try await store.saveResponse(Sample.response, receiptID: "ch-hash")
            let saved = try #require(try await store.consumedChallenge(id: "ch-hash"))
            #expect(saved.receipt.credentialHash == Data([7, 7, 7]) && saved.receipt.response == Sample.response)
        }
    }

    @Test("a database from a newer PayRail is refused with a typed error and left untouched")
    func refusesNewerSchema() async throws {
        let directory = try TemporaryDirectory()
        let path = try Fixtures.copy("newer-schema.sqlite", into: directory)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let error = await storeError { () throws(StoreError) in _ = try SQLiteGateStore(path: path) }
        #expect(error?.code == .newerSchema)
        #expect(error?.isRetrySafe == false)
        #expect(error?.reason.contains("99") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("a file that is not a database gives a typed error, not a crash")
    func refusesNonDatabase() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("notes.txt")
        try Data(String(repeating: "this is not a SQLite database\n", count: 200).utf8).write(to: URL(fileURLWithPath: path))
        let error = await storeError { () throws(StoreError) in _ = try SQLiteGateStore(path: path) }
        #expect(error?.code == .corrupt)
        #expect(error?.isRetrySafe == false)
    }

    @Test("a database with a destroyed header or damaged pages gives a typed error, not a crash")
    func refusesCorruptDatabase() async throws {
        let directory = try TemporaryDirectory()
        let headerPath = try Fixtures.copy("schema-v1.sqlite", into: directory)
        var header = try Data(contentsOf: URL(fileURLWithPath: headerPath))
        header.replaceSubrange(0..<100, with: Data(repeating: 0xA5, count: 100))
        try header.write(to: URL(fileURLWithPath: headerPath))
        let headerError = await storeError { () throws(StoreError) in _ = try SQLiteGateStore(path: headerPath) }
        #expect(headerError?.code == .corrupt)

        // Pages after the first (table b-trees) overwritten: the error may surface on open or on first read.
        let pagesDirectory = try TemporaryDirectory()
        let pagesPath = try Fixtures.copy("schema-v1.sqlite", into: pagesDirectory)
        var pages = try Data(contentsOf: URL(fileURLWithPath: pagesPath))
        pages.replaceSubrange(4096..<pages.count, with: Data(repeating: 0x5A, count: pages.count - 4096))
        try pages.write(to: URL(fileURLWithPath: pagesPath))
        let pagesError = await storeError { () throws(StoreError) in
            let store = try SQLiteGateStore(path: pagesPath)
            _ = try await store.consumedChallenge(id: "ch-v1-paid")
            _ = try await store.challenge(id: "ch-v1-open")
        }
        #expect(pagesError?.code == .corrupt)
    }

    @Test("a path in a missing directory is unavailable, not a crash")
    func missingDirectory() async throws {
        let directory = try TemporaryDirectory()
        let error = await storeError { () throws(StoreError) in
            _ = try SQLiteGateStore(path: directory.path("missing/child/gate.sqlite"))
        }
        #expect(error?.code == .unavailable)
        let empty = await storeError { () throws(StoreError) in _ = try SQLiteGateStore(path: "") }
        #expect(empty?.code == .invalidArgument)
    }

    @Test("the file uses WAL journaling and stores money as integers")
    func walAndIntegerMoney() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("gate.sqlite")
        let store = try SQLiteGateStore(path: path)
        try await store.saveChallenge(try Sample.challenge("ch-wal"))
        // The header's read/write versions are 2 in WAL mode (bytes 18 and 19 of the file).
        let header = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(20)
        #expect(header.count == 20 && header[18] == 2 && header[19] == 2)
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        let schema = try String(contentsOfFile: Fixtures.path("schema-v1.sql"), encoding: .utf8)
        #expect(!schema.uppercased().contains("REAL"))
    }
}

/// Another process (the `sqlite3` shell) holds the write lock: the store waits its busy timeout, then
/// reports a retry-safe `.busy` without writing, and succeeds once the other process lets go.
@Suite("SQLite store across processes")
struct SQLiteCrossProcessTests {
    static let shell = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3", "/opt/homebrew/bin/sqlite3"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    // Never skipped: scripts/test installs the sqlite3 shell; without it this test fails and says so.
    @Test("a write lock held by another process gives a retry-safe busy error, then the write succeeds")
    func busyAcrossProcesses() async throws {
        let shell = try #require(Self.shell, "the sqlite3 command-line shell is missing: run scripts/test, which installs it")
        let directory = try TemporaryDirectory()
        let path = directory.path("shared.sqlite")
        let store = try SQLiteGateStore(path: path, clock: ManualClock(), busyTimeout: .milliseconds(100))
        try await store.saveChallenge(try Sample.challenge("ch-locked"))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [path]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(".timeout 5000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n".utf8))
        // Wait until the other process owns the write lock (it prints once BEGIN IMMEDIATE succeeded).
        var printed = Data()
        while !String(decoding: printed, as: UTF8.self).contains("locked") {
            let chunk = output.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "the sqlite3 shell exited before taking the lock")
            printed.append(chunk)
        }

        let settlement = try Sample.settlement("ch-locked")
        let receipt = try Sample.receipt("rc-locked")
        let busy = await storeError { () throws(StoreError) in
            _ = try await store.consume(challengeID: "ch-locked", settlement: settlement, receipt: receipt)
        }
        #expect(busy?.code == .busy)
        #expect(busy?.isRetrySafe == true)
        #expect(try await store.consumedChallenge(id: "ch-locked") == nil)

        input.fileHandleForWriting.write(Data("COMMIT;\n.quit\n".utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        let retried = try await store.consume(challengeID: "ch-locked", settlement: settlement, receipt: receipt)
        guard case .consumed = retried else {
            Issue.record("the retry after the lock was released must consume, got \(retried)")
            return
        }
    }
}

@Suite("A store file that lost its contents") struct EmptyStoreFileTests {
    @Test("a zero-byte gate or wallet database is refused, not opened as a new store that forgets every sale and spend")
    func zeroByteFilesAreRefused() async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("payrail-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["gate.sqlite", "wallet.sqlite"] {
            let path = directory.appendingPathComponent(name).path
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            var refused: StoreError?
            do {
                if name == "gate.sqlite" { _ = try SQLiteGateStore(path: path) } else { _ = try SQLiteSpendStore(path: path) }
            } catch { refused = error }
            #expect(refused?.code == .corrupt, "\(name)")
            #expect(refused?.isRetrySafe == false)
            #expect(refused?.reason.contains("empty") == true)
            #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue == 0, "left untouched")
        }
        // A path that does not exist yet is a new store, as before.
        _ = try SQLiteGateStore(path: directory.appendingPathComponent("new.sqlite").path)
    }
}
