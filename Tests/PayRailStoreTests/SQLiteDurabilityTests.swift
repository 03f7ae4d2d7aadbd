import Foundation
@testable import PayRailStore
import Testing

/// Which commits wait for the disk: only rate-limit buckets, stored responses and the commit of an
/// already paid spend may skip the sync (each says why no money can be lost), and every other write
/// after them is synced again.
@Suite("SQLite commit durability") struct SQLiteDurabilityTests {
    private static func synchronous(_ connection: SQLiteConnection) throws -> Int64? {
        try connection.query("PRAGMA synchronous") { row in row.integer(0) }.first
    }

    private static func open() throws -> SQLiteConnection {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-durability-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return try SQLiteConnection.openForStore(path: folder.appendingPathComponent("gate.sqlite").path, busyTimeout: .seconds(1)) { _ in }
    }

    @Test func crashSafeCommitsSkipTheSyncAndFullDurabilityComesBack() throws {
        let connection = try Self.open()
        // SQLite's numbering: 1 is NORMAL, 2 is FULL.
        #expect(try Self.synchronous(connection) == 2)
        try connection.execute("CREATE TABLE t (v INTEGER)")
        let inside: Int64? = try connection.crashSafeTransaction { () throws(StoreError) -> Int64? in
            try connection.run("INSERT INTO t (v) VALUES (?)", [.integer(1)])
            return try? Self.synchronous(connection)
        }
        #expect(inside == 1)
        #expect(try Self.synchronous(connection) == 2)

        // A body that fails rolls back and still restores FULL for the writes that follow.
        #expect(throws: StoreError.self) {
            try connection.crashSafeTransaction { () throws(StoreError) -> Void in
                try connection.run("INSERT INTO t (v) VALUES (?)", [.integer(2)])
                throw StoreError(code: .internal, reason: "fails on purpose", isRetrySafe: false)
            }
        }
        #expect(try Self.synchronous(connection) == 2)
        #expect(try connection.query("SELECT v FROM t ORDER BY v") { row in row.integer(0) } == [1])
    }

    @Test func aChallengeAndItsAliasesAreStoredTogetherOrNotAtAll() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-challenges-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try SQLiteGateStore(path: folder.appendingPathComponent("gate.sqlite").path)
        try await store.saveChallenges([try Sample.challenge("ch-1"), try Sample.challenge("offer:fake:1")])
        #expect(try await store.challenge(id: "ch-1") != nil)
        #expect(try await store.challenge(id: "offer:fake:1") != nil)
        // The second alias is taken: the batch is refused whole, its new challenge is not stored.
        let refused = await #expect(throws: StoreError.self) {
            try await store.saveChallenges([try Sample.challenge("ch-2"), try Sample.challenge("offer:fake:1")])
        }
        #expect(refused?.code == .duplicate)
        #expect(try await store.challenge(id: "ch-2") == nil)
    }
}
