import Foundation
import PayRail
import PayRailAgent
import PayRailStore
import Testing

/// A temporary directory for wallet files, removed when the test ends.
final class SpendTestDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-spend-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}

enum SpendTestSample {
    static func sat(_ amount: Int64) throws -> Money { try Money(amount: amount, unit: .sat) }

    static func request(_ id: String, _ amount: Int64, _ unit: MoneyUnit = .sat) throws -> SpendRequest {
        SpendRequest(paymentID: id, amount: try Money(amount: amount, unit: unit), rail: .fake, host: "api.example", method: "GET",
                     url: "https://api.example/report", offerID: "offer-\(id)", context: "{\"dialect\":\"x402\"}")
    }

    static func limits(perRequest: Int64? = nil, perHour: Int64? = nil, perDay: Int64? = nil) throws -> SpendLimits {
        SpendLimits([.sat: SpendLimits.Limit(perRequest: try perRequest.map(sat), perHour: try perHour.map(sat), perDay: try perDay.map(sat))])
    }

    static let proof = "{\"PAYMENT-SIGNATURE\":\"secret-proof-xyz\"}"
}

/// Runs `body` and returns the `SpendError` it threw, or records an issue when it did not throw.
func spendError(_ body: () async throws(SpendError) -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> SpendError? {
    do {
        try await body()
        Issue.record("expected a SpendError, but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// Reserves every request concurrently (one task each) and sorts the results into reserved and refused.
func reserveConcurrently(_ requests: [(SpendGovernor, SpendRequest)]) async -> (reserved: [SpendRecord], errors: [SpendError]) {
    await withTaskGroup(of: Result<SpendRecord, SpendError>.self) { group in
        for (governor, request) in requests {
            group.addTask {
                do throws(SpendError) {
                    return .success(try await governor.reserve(request))
                } catch {
                    return .failure(error)
                }
            }
        }
        var reserved: [SpendRecord] = []
        var errors: [SpendError] = []
        for await result in group {
            switch result {
            case .success(let record): reserved.append(record)
            case .failure(let error): errors.append(error)
            }
        }
        return (reserved, errors)
    }
}

@Suite("SpendGovernor")
struct SpendGovernorTests {
    @Test("50 concurrent reserves of 100 sat against 1000 sat through one governor: exactly 10 reserved, 40 over budget",
          arguments: ["memory", "sqlite"])
    func concurrentReservesOneGovernor(kind: String) async throws {
        let directory = try SpendTestDirectory()
        let store: any SpendStore = kind == "memory" ? MemorySpendStore() : try SQLiteSpendStore(path: directory.path("wallet.sqlite"))
        let governor = SpendGovernor(store: store, limits: try SpendTestSample.limits(perHour: 1000), clock: ManualClock())
        let requests = try (0..<50).map { (governor, try SpendTestSample.request("call-\($0)", 100)) }
        let (reserved, errors) = await reserveConcurrently(requests)
        #expect(reserved.count == 10)
        #expect(errors.count == 40)
        #expect(errors.allSatisfy { $0.code == .overBudget && $0.refusal?.window == .hour && !$0.isRetrySafe })
        #expect(Set(reserved.map(\.paymentID)).count == 10)
        #expect(try await governor.unfinished().count == 10)
        let totals = try await governor.totals()
        #expect(totals.map(\.pending) == [try SpendTestSample.sat(1000)])
    }

    @Test("two governors on two SQLite connections to one wallet file, 25 tasks each: exactly 10 reserved in total")
    func concurrentReservesTwoConnections() async throws {
        let directory = try SpendTestDirectory()
        let path = directory.path("wallet.sqlite")
        let clock = ManualClock()
        let limits = try SpendTestSample.limits(perHour: 1000)
        let governors = [SpendGovernor(store: try SQLiteSpendStore(path: path), limits: limits, clock: clock),
                         SpendGovernor(store: try SQLiteSpendStore(path: path), limits: limits, clock: clock)]
        let requests = try (0..<50).map { (governors[$0 % 2], try SpendTestSample.request("shared-\($0)", 100)) }
        let (reserved, errors) = await reserveConcurrently(requests)
        #expect(reserved.count == 10)
        #expect(errors.count == 40)
        #expect(errors.allSatisfy { $0.code == .overBudget })
        #expect(try await governors[0].ledger().count == 10)
        #expect(try await governors[1].ledger().map(\.paymentID).sorted() == reserved.map(\.paymentID).sorted())
    }

    @Test("one paid call: reserve, markPaid, commit; the record tells the whole story and the proof is gone")
    func happyPath() async throws {
        let clock = ManualClock()
        let governor = SpendGovernor(store: MemorySpendStore(), limits: try SpendTestSample.limits(perRequest: 500, perHour: 1000),
                                     clock: clock)
        let reserved = try await governor.reserve(try SpendTestSample.request("p1", 120))
        #expect(reserved.state == .reserved)
        #expect(reserved.reservedAt == clock.now())
        #expect(reserved.context == "{\"dialect\":\"x402\"}")
        clock.advance(by: 2)
        let paid = try await governor.markPaid("p1", proof: SpendTestSample.proof)
        #expect(paid.proof == SpendTestSample.proof)
        #expect(try await governor.unfinished() == [paid])
        clock.advance(by: 1)
        let committed = try await governor.commit("p1", receipt: "receipt-token", reference: "pay_1")
        #expect(committed.state == .committed)
        #expect(committed.proof == nil)
        #expect(committed.receipt == "receipt-token")
        #expect(committed.updatedAt == clock.now())
        #expect(try await governor.record("p1") == committed)
        #expect(try await governor.unfinished().isEmpty)
        #expect(try await governor.ledger() == [committed])
        #expect(try await governor.ledger(since: clock.now()).isEmpty)
    }

    @Test("each step happens once: errors carry the record as it stands")
    func exactlyOnce() async throws {
        let governor = SpendGovernor(store: MemorySpendStore(), limits: try SpendTestSample.limits(perHour: 1000), clock: ManualClock())
        let first = try await governor.reserve(try SpendTestSample.request("once", 100))

        let duplicateRequest = try SpendTestSample.request("once", 100)
        let duplicate = await spendError { () throws(SpendError) in _ = try await governor.reserve(duplicateRequest) }
        #expect(duplicate?.code == .duplicate)
        #expect(duplicate?.record == first)

        _ = try await governor.markPaid("once", proof: SpendTestSample.proof)
        let release = await spendError { () throws(SpendError) in _ = try await governor.release("once", reason: "timeout") }
        #expect(release?.code == .invalidTransition)
        #expect(release?.record?.state == .paid)
        #expect(release?.isRetrySafe == false)
        #expect(release?.description.contains("cannot be given back") == true)
        #expect(release?.description.contains("secret-proof") == false)

        _ = try await governor.commit("once", receipt: nil, reference: "pay_2", note: "server sent no receipt")
        let again = await spendError { () throws(SpendError) in _ = try await governor.commit("once", receipt: nil, reference: nil) }
        #expect(again?.code == .invalidTransition)
        #expect(again?.record?.state == .committed)
        #expect(again?.record?.note == "server sent no receipt")

        let missing = await spendError { () throws(SpendError) in _ = try await governor.markPaid("ghost", proof: "p") }
        #expect(missing?.code == .notFound)
        #expect(try await governor.record("ghost") == nil)
    }

    @Test("a refusal explains itself; released budget is given back; the windows slide with the clock")
    func refusalsAndSliding() async throws {
        let clock = ManualClock()
        let start = clock.now()
        let governor = SpendGovernor(store: MemorySpendStore(), limits: try SpendTestSample.limits(perHour: 300, perDay: 500), clock: clock)
        _ = try await governor.reserve(try SpendTestSample.request("a", 200))
        _ = try await governor.reserve(try SpendTestSample.request("b", 100))
        let overRequest = try SpendTestSample.request("c", 100)
        let over = await spendError { () throws(SpendError) in _ = try await governor.reserve(overRequest) }
        #expect(over?.code == .overBudget)
        #expect(over?.refusal?.window == .hour)
        #expect(over?.refusal?.retryAfter == start.addingTimeInterval(3600))
        #expect(over?.reason.hasPrefix("the hourly budget of 300sat has nothing left; this needs 100sat") == true)

        _ = try await governor.release("b", reason: "server refused the credential before settlement")
        _ = try await governor.reserve(try SpendTestSample.request("c", 100))

        clock.advance(by: 61 * 60)
        _ = try await governor.reserve(try SpendTestSample.request("d", 200))
        let dayRequest = try SpendTestSample.request("e", 1)
        let day = await spendError { () throws(SpendError) in _ = try await governor.reserve(dayRequest) }
        #expect(day?.refusal?.window == .day)

        let noUnitRequest = try SpendTestSample.request("f", 1, .usd)
        let noUnit = await spendError { () throws(SpendError) in _ = try await governor.reserve(noUnitRequest) }
        #expect(noUnit?.refusal?.window == .noBudget)

        await governor.updateLimits(SpendLimits([.sat: SpendLimits.Limit(perHour: try SpendTestSample.sat(1000),
                                                                            perDay: try SpendTestSample.sat(1000))]))
        #expect(await governor.limits.limit(for: .sat)?.perDay == (try SpendTestSample.sat(1000)))
        _ = try await governor.reserve(try SpendTestSample.request("e", 1))
    }

    @Test("totals per unit: last hour, last day, committed all time, money in flight, and the caps")
    func totals() async throws {
        let clock = ManualClock()
        let limits = SpendLimits([.sat: SpendLimits.Limit(perHour: try SpendTestSample.sat(1000), perDay: try SpendTestSample.sat(5000)),
                                  .usd: SpendLimits.Limit(perRequest: try Money(amount: 100, unit: .usd))])
        let governor = SpendGovernor(store: MemorySpendStore(), limits: limits, clock: clock)
        _ = try await governor.reserve(try SpendTestSample.request("old", 400))
        _ = try await governor.commit("old", receipt: nil, reference: "r-old")
        clock.advance(by: 2 * 3600)
        _ = try await governor.reserve(try SpendTestSample.request("committed", 100))
        _ = try await governor.commit("committed", receipt: "t", reference: "r")
        _ = try await governor.reserve(try SpendTestSample.request("paid", 20))
        _ = try await governor.markPaid("paid", proof: SpendTestSample.proof)
        _ = try await governor.reserve(try SpendTestSample.request("reserved", 3))
        _ = try await governor.reserve(try SpendTestSample.request("released", 7))
        _ = try await governor.release("released", reason: "no")

        let totals = try await governor.totals()
        #expect(totals.map(\.unit) == [.sat, .usd])
        let sat = try #require(totals.first)
        #expect(sat.lastHour == (try SpendTestSample.sat(123)))
        #expect(sat.lastDay == (try SpendTestSample.sat(523)))
        #expect(sat.committed == (try SpendTestSample.sat(500)))
        #expect(sat.pending == (try SpendTestSample.sat(23)))
        #expect(sat.limit == limits.limit(for: .sat))
        let usd = try #require(totals.last)
        #expect(usd.lastDay == .zero(.usd))
        #expect(usd.limit?.perRequest == (try Money(amount: 100, unit: .usd)))
    }

    @Test("store failures become .store errors with the store's retry advice")
    func storeFailures() async throws {
        let directory = try SpendTestDirectory()
        let store = try SQLiteSpendStore(path: directory.path("wallet.sqlite"))
        let governor = SpendGovernor(store: store, limits: try SpendTestSample.limits(perHour: 10), clock: ManualClock())
        await store.close()
        let closedRequest = try SpendTestSample.request("x", 1)
        let closed = await spendError { () throws(SpendError) in _ = try await governor.reserve(closedRequest) }
        #expect(closed?.code == .store)
        #expect(closed?.storeError?.code == .closed)
        #expect(closed?.isRetrySafe == false)

        let mixed = SpendGovernor(store: MemorySpendStore(),
                                  limits: SpendLimits([.sat: SpendLimits.Limit(perDay: try Money(amount: 1, unit: .usd))]), clock: ManualClock())
        let invalidRequest = try SpendTestSample.request("y", 1)
        let invalid = await spendError { () throws(SpendError) in _ = try await mixed.reserve(invalidRequest) }
        #expect(invalid?.storeError?.code == .invalidArgument)
    }

    // Never skipped: scripts/test installs the sqlite3 shell; without it this test fails and says so.
    @Test("another process holding the wallet's write lock: a retry-safe .store error, nothing reserved, then success")
    func busyAcrossProcesses() async throws {
        let shell = try #require(["/usr/bin/sqlite3", "/usr/local/bin/sqlite3", "/opt/homebrew/bin/sqlite3"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }, "the sqlite3 command-line shell is missing: run scripts/test")
        let directory = try SpendTestDirectory()
        let path = directory.path("wallet.sqlite")
        let store = try SQLiteSpendStore(path: path, busyTimeout: .milliseconds(100))
        let governor = SpendGovernor(store: store, limits: try SpendTestSample.limits(perHour: 1000), clock: ManualClock())

        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [path]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(".timeout 5000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n".utf8))
        var printed = Data()
        while !String(decoding: printed, as: UTF8.self).contains("locked") {
            let chunk = output.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "the sqlite3 shell exited before taking the lock")
            printed.append(chunk)
        }

        let request = try SpendTestSample.request("locked", 100)
        let busy = await spendError { () throws(SpendError) in _ = try await governor.reserve(request) }
        #expect(busy?.code == .store)
        #expect(busy?.storeError?.code == .busy)
        #expect(busy?.isRetrySafe == true)

        input.fileHandleForWriting.write(Data("COMMIT;\n.quit\n".utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(try await governor.ledger().isEmpty)
        #expect(try await governor.reserve(request).state == .reserved)
    }
}
