import FakeRail
import Foundation
import PayRail
import PayRailStore
import Testing

@testable import PayRailAgent

// A ledger write that fails is not a release: after the wallet paid, the spend must stay pending
// (reserved or paid) so the fact that money moved is never lost, and the client must report the
// failure as what it is.

@Suite("PayingClient: ledger write failures are never reported as releases", .serialized) struct PayingClientLedgerFailureTests {
    @Test("markPaid and commit fail after paying: no .released event, a LedgerWriteFailure per write, the spend stays pending")
    func writeFailuresAfterPaying() async throws {
        let world = try await SellerWorld()
        let store = FailingSpendStore()
        store.fail([.markPaid, .commit])
        let events = EventLog()
        let failures = FailureLog()
        let (client, governor) = try ledgerClient(world, store: store, events: events, failures: failures)
        let response = try await client.send(PaidRequest(url: try world.url("/premium")))
        await world.stop()

        #expect(response.status == 200)
        #expect(!events.names.contains("released"))
        #expect(!events.names.contains("committed"))
        #expect(failures.steps == [.markPaid, .commit])
        #expect(failures.all.allSatisfy { $0.mayHavePaid })
        #expect(response.payment?.ledgerWriteFailure?.step == .commit)
        // The money moved: the ledger still counts the spend as pending, never released.
        let pending = try await governor.unfinished()
        #expect(pending.count == 1 && pending.first?.state == .reserved)
        #expect(await world.agentBalance() == 99_900)
    }

    @Test("the wallet refused but the release failed: ledgerWriteFailed (not paymentFailed), no .released, the spend stays reserved")
    func releaseFailure() async throws {
        let world = try await SellerWorld()
        let store = FailingSpendStore()
        store.fail([.release])
        let events = EventLog()
        let failures = FailureLog()
        let (client, governor) = try ledgerClient(world, store: store, events: events, failures: failures,
                                                  wallet: RefusingWallet(inner: world.payer))
        let url = try world.url("/premium")
        do throws(PayingClientError) {
            _ = try await client.send(PaidRequest(url: url))
            Issue.record("a refusing wallet cannot pay")
        } catch {
            #expect(error.code == .ledgerWriteFailed)
            #expect(error.isRetrySafe)
            #expect(error.paymentID != nil)
        }
        await world.stop()
        #expect(!events.names.contains("released"))
        #expect(failures.steps == [.release])
        #expect(failures.all.first?.mayHavePaid == false)
        let records = try await governor.ledger()
        #expect(records.count == 1 && records.first?.state == .reserved)
        #expect(await world.agentBalance() == 100_000)
    }

    @Test("a release that works is still reported as .released")
    func releaseStillReported() async throws {
        let world = try await SellerWorld()
        let events = EventLog()
        let failures = FailureLog()
        let (client, _) = try ledgerClient(world, store: FailingSpendStore(), events: events, failures: failures,
                                           wallet: RefusingWallet(inner: world.payer))
        _ = try? await client.send(PaidRequest(url: try world.url("/premium")))
        await world.stop()
        #expect(events.names.contains("released"))
        #expect(failures.all.isEmpty)
    }

    private func ledgerClient(
        _ world: SellerWorld, store: any SpendStore, events: EventLog, failures: FailureLog, wallet: (any PayerRail)? = nil
    ) throws -> (PayingClient, SpendGovernor) {
        let limits = SpendLimits([.sat: .init(perRequest: try Money(amount: 500, unit: .sat), perHour: try Money(amount: 1_000, unit: .sat),
                                              perDay: try Money(amount: 10_000, unit: .sat))])
        let governor = SpendGovernor(store: store, limits: limits)
        let policy = Policy(unit: .sat, rules: [MaximumPerRequest([try Money(amount: 500, unit: .sat)])])
        let negotiator = Negotiator(policy: policy, wallets: WalletRegistry([wallet ?? world.payer]), priceMemory: InMemoryPriceMemory())
        let client = PayingClient(configuration: PayingClientConfiguration(
            negotiator: negotiator, governor: governor, deliveryAttempts: 2, onEvent: { events.append($0) },
            onLedgerWriteFailure: { failures.append($0) }))
        return (client, governor)
    }
}

/// Ledger write failures seen by a client.
final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [LedgerWriteFailure] = []
    func append(_ failure: LedgerWriteFailure) { lock.withLock { storage.append(failure) } }
    var all: [LedgerWriteFailure] { lock.withLock { storage } }
    var steps: [LedgerWriteFailure.Step] { all.map(\.step) }
}

/// A memory ledger whose chosen writes fail as a full disk would: nothing is written.
final class FailingSpendStore: SpendStore, @unchecked Sendable {
    enum Write: Hashable { case markPaid, commit, release }
    private let inner = MemorySpendStore()
    private let lock = NSLock()
    private var failing: Set<Write> = []

    func fail(_ writes: Set<Write>) { lock.withLock { failing = writes } }

    private func check(_ write: Write) throws(StoreError) {
        if lock.withLock({ failing.contains(write) }) {
            throw StoreError(code: .unavailable, reason: "disk full", isRetrySafe: false)
        }
    }

    func reserve(_ record: SpendRecord, limits: SpendLimits, now: Date) async throws(StoreError) -> ReserveOutcome {
        try await inner.reserve(record, limits: limits, now: now)
    }
    func markPaid(paymentID: String, proof: String, now: Date) async throws(StoreError) -> SpendRecord {
        try check(.markPaid)
        return try await inner.markPaid(paymentID: paymentID, proof: proof, now: now)
    }
    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, now: Date) async throws(StoreError) -> SpendRecord {
        try check(.commit)
        return try await inner.commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, now: now)
    }
    func release(paymentID: String, reason: String, now: Date) async throws(StoreError) -> SpendRecord {
        try check(.release)
        return try await inner.release(paymentID: paymentID, reason: reason, now: now)
    }
    func record(paymentID: String) async throws(StoreError) -> SpendRecord? { try await inner.record(paymentID: paymentID) }
    func unfinished() async throws(StoreError) -> [SpendRecord] { try await inner.unfinished() }
    func records(since: Date?) async throws(StoreError) -> [SpendRecord] { try await inner.records(since: since) }
}
