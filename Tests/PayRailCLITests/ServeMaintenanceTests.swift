import Foundation
import PayRailStore
import Testing

/// `payrail serve` keeps its store bounded and refuses a store it cannot trust (issue 15 points 7, 11).
@Suite("payrail serve: retention on a schedule, and a store checked at start")
struct ServeMaintenanceTests {
    /// Challenge rows in the gate's database (every challenge and its dialect keys), read by a
    /// second connection as another process would.
    func challengeRows(_ data: URL) async throws -> Int {
        let store = try SQLiteGateStore(path: data.appendingPathComponent("gate.sqlite").path)
        defer { Task { await store.close() } }
        return try await store.unpaidChallenges(expiredBefore: Date().addingTimeInterval(86_400 * 365), limit: 100_000).count
    }

    @Test("a 402 on the fake rail stores nothing: its offers carry their challenge (issue 18, stateless 402s)")
    func statelessChallengesStoreNothing() async throws {
        let server = try ServeProcess(["--challenge-lifetime", "2", "--purge-interval", "1"])
        defer { server.kill() }
        for _ in 0..<20 { #expect(try await exchange(server.url("/premium")).status == 402) }
        #expect(try await challengeRows(server.data) == 0)
        #expect(server.stop() == 0)
    }

    // Challenges that are stored (Lightning invoices, PaymentIntents, or fake offers with
    // `--stateless-offers off`) are purged on the schedule.
    @Test("expired challenges are purged on the schedule once the presentation grace is over; nothing is kept for ever")
    func expiredChallengesArePurged() async throws {
        let server = try ServeProcess(["--rate-limit", "0", "--challenge-lifetime", "2", "--presentation-grace", "1",
                                       "--purge-interval", "1", "--stateless-offers", "off"])
        defer { server.kill() }
        for _ in 0..<20 { #expect(try await exchange(server.url("/premium")).status == 402) }
        let issued = try await challengeRows(server.data)
        #expect(issued >= 20)
        var left = issued
        for _ in 0..<100 where left > 0 {
            try await Task.sleep(for: .milliseconds(100))
            left = try await challengeRows(server.data)
        }
        #expect(left == 0, "\(left) of \(issued) challenge rows still stored")
        #expect(server.log.contains("payrail serve: purged"))
        #expect(server.stop() == 0)
    }

    @Test("within the grace nothing is purged: a payment made in time must still find its challenge")
    func challengesAreKeptForTheGrace() async throws {
        let server = try ServeProcess(["--rate-limit", "0", "--challenge-lifetime", "2", "--purge-interval", "1", "--stateless-offers", "off"])
        defer { server.kill() }
        for _ in 0..<5 { #expect(try await exchange(server.url("/premium")).status == 402) }
        let issued = try await challengeRows(server.data)
        try await Task.sleep(for: .seconds(4))
        #expect(try await challengeRows(server.data) == issued)
        #expect(server.stop() == 0)
    }

    @Test("a zero-byte gate.sqlite stops the server at start with one clear line, and is left as it was")
    func emptyDatabaseIsRefusedAtStart() throws {
        let data = try temporaryDirectory().appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let database = data.appendingPathComponent("gate.sqlite")
        #expect(FileManager.default.createFile(atPath: database.path, contents: nil))
        do {
            let server = try ServeProcess([], data: data, captureErrors: true)
            server.kill()
            Issue.record("payrail serve started on an empty gate.sqlite")
        } catch {
            #expect("\(error)".contains("empty"), "\(error)")
        }
        #expect((try FileManager.default.attributesOfItem(atPath: database.path)[.size] as? NSNumber)?.intValue == 0)
    }

    @Test("the serve flags for retention and connection limits are checked")
    func flagsAreChecked() throws {
        for (flag, value) in [("--presentation-grace", "-1"), ("--purge-interval", "0"), ("--header-timeout", "x"),
                              ("--max-connections", "2"), ("--max-connections-per-client", "0")] {
            let result = try PayRail.run(["serve", "--port", "0", flag, value])
            #expect(result.status == 2, "\(flag) \(value): \(result.stderr)")
            #expect(result.stderr.contains(flag), "\(result.stderr)")
        }
    }
}
