import Foundation
import PayRail
import PayRailStore
import Testing

@testable import PayRailAgent

/// The price memory over the ledger reads one host's committed spends, newest first, never the whole ledger.
@Suite("LedgerPriceMemory reads only what it needs")
struct LedgerPriceMemoryTests {
    @Test("finds the newest committed price for host, resource and rail without reading the ledger")
    func findsWithoutFullReads() async throws {
        let store = CountingSpendStore()
        let limits = SpendLimits([.sat: .init(perHour: try Money(amount: 1_000_000, unit: .sat))])
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = FixedClock(start)
        let governor = SpendGovernor(store: store, limits: limits, clock: clock)
        func spend(_ id: String, host: String, path: String, payee: String, amount: Int64, committed: Bool = true) async throws {
            let money = try Money(amount: amount, unit: .sat)
            _ = try await governor.reserve(SpendRequest(paymentID: id, amount: money, rail: .fake, host: host, method: "GET",
                                                        url: "https://\(host)\(path)", offerID: "o-\(id)",
                                                        context: try Self.context(id, payee: payee, amount: money)))
            if committed { _ = try await governor.commit(id, receipt: nil, reference: nil) }
        }
        try await spend("p1", host: "api.example", path: "/premium", payee: "old-payee", amount: 100)
        try await spend("p2", host: "api.example", path: "/premium?page=2", payee: "merchant", amount: 120)
        // Newer spends for other resources (more than a page of them) and a pending one for the resource.
        for index in 0..<40 { try await spend("x\(index)", host: "api.example", path: "/other/\(index)", payee: "m", amount: 1) }
        for index in 0..<40 { try await spend("y\(index)", host: "elsewhere.example", path: "/premium", payee: "m", amount: 1) }
        try await spend("p3-pending", host: "api.example", path: "/premium", payee: "liar", amount: 999, committed: false)

        let memory = LedgerPriceMemory(governor: governor)
        let before = store.fullReads
        let price = try await memory.lastSeen(host: "api.example", resource: "/premium", rail: .fake)
        #expect(price?.payee == "merchant")
        #expect(price?.amount == (try Money(amount: 120, unit: .sat)))
        #expect(try await memory.lastSeen(host: "api.example", resource: "/never", rail: .fake) == nil)
        #expect(store.fullReads == before)
    }

    static func context(_ id: String, payee: String, amount: Money) throws -> String {
        let money = String(decoding: try JSONEncoder().encode(amount), as: UTF8.self)
        return """
            {"version":1,"paymentID":"\(id)","dialect":"payment","offerID":"o-\(id)","rail":"fake","amount":\(money),\
            "payee":"\(payee)","ownerPID":1,"challengeStatus":402,"challengeHeaders":[],"challengeBody":"","receivedAt":0}
            """
    }
}

private struct FixedClock: PayRailClock {
    let date: Date
    init(_ date: Date) { self.date = date }
    func now() -> Date { date }
}

/// A memory ledger that counts reads of the whole ledger (`records(since:)`).
final class CountingSpendStore: SpendStore, @unchecked Sendable {
    private let inner = MemorySpendStore()
    private let lock = NSLock()
    private var reads = 0
    var fullReads: Int { lock.withLock { reads } }

    func reserve(_ record: SpendRecord, limits: SpendLimits, now: Date) async throws(StoreError) -> ReserveOutcome {
        try await inner.reserve(record, limits: limits, now: now)
    }
    func markPaid(paymentID: String, proof: String, now: Date) async throws(StoreError) -> SpendRecord {
        try await inner.markPaid(paymentID: paymentID, proof: proof, now: now)
    }
    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, now: Date) async throws(StoreError) -> SpendRecord {
        try await inner.commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, now: now)
    }
    func release(paymentID: String, reason: String, now: Date) async throws(StoreError) -> SpendRecord {
        try await inner.release(paymentID: paymentID, reason: reason, now: now)
    }
    func record(paymentID: String) async throws(StoreError) -> SpendRecord? { try await inner.record(paymentID: paymentID) }
    func unfinished() async throws(StoreError) -> [SpendRecord] { try await inner.unfinished() }
    func records(since: Date?) async throws(StoreError) -> [SpendRecord] {
        lock.withLock { reads += 1 }
        return try await inner.records(since: since)
    }
    func committed(host: String, rail: RailID, offset: Int, limit: Int) async throws(StoreError) -> [SpendRecord] {
        try await inner.committed(host: host, rail: rail, offset: offset, limit: limit)
    }
}
