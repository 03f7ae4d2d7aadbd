import Foundation
import PayRail
import PayRailStore
import Testing

/// Refunds and rail events, on the memory and the SQLite store alike.
@Suite("Payment event store")
struct PaymentEventStoreTests {
    func paid(_ kind: StoreKind) async throws -> (StoreFixture, any PaymentEventStore) {
        let fixture = try StoreFixture(kind)
        try await fixture.store.saveChallenge(try Sample.challenge("ch-r"))
        _ = try await fixture.store.consume(challengeID: "ch-r", settlement: try Sample.settlement("ch-r", reference: "pay-r"),
                                            receipt: try Sample.receipt("rc-r"))
        let events = try #require(fixture.store as? any PaymentEventStore)
        return (fixture, events)
    }

    func refund(_ key: String, _ amount: Int64, at date: Date = Sample.start) throws -> RefundRecord {
        RefundRecord(challengeID: "ch-r", key: key, amount: try Sample.money(amount), reason: "test", status: .pending,
                     railRefundID: nil, createdAt: date, updatedAt: date)
    }

    @Test("a refund is reserved once per key, never above what was paid; ending the grant is separate", arguments: StoreKind.allCases)
    func reserveOnce(kind: StoreKind) async throws {
        let (fixture, events) = try await paid(kind)
        #expect(try await events.consumedChallenge(settlementReference: "pay-r")?.challengeID == "ch-r")
        #expect(try await events.consumedChallenge(settlementReference: "pay-unknown") == nil)
        let before = try #require(try await fixture.store.consumedChallenge(id: "ch-r"))
        #expect(before.receipt.grantExpiresAt > fixture.clock.now())

        guard case .reserved(let first) = try await events.reserveRefund(try refund("k1", 60)) else {
            Issue.record("the first reservation must be new")
            return
        }
        #expect(try await fixture.store.consumedChallenge(id: "ch-r")?.receipt.grantExpiresAt == before.receipt.grantExpiresAt)
        try await events.endGrant(challengeID: "ch-r")
        let after = try #require(try await fixture.store.consumedChallenge(id: "ch-r"))
        #expect(after.receipt.grantExpiresAt <= fixture.clock.now())
        #expect(try await events.reserveRefund(try refund("k1", 60)) == .existing(first))
        let tooMuch = try refund("k2", 41)
        let over = await storeError { () throws(StoreError) in _ = try await events.reserveRefund(tooMuch) }
        #expect(over?.code == .invalidArgument)

        let done = try await events.completeRefund(challengeID: "ch-r", key: "k1", status: .succeeded, railRefundID: "rfd_1")
        #expect(done.status == .succeeded && done.railRefundID == "rfd_1")
        #expect(try await events.refunds(challengeID: "ch-r") == [done])
        // A refused refund no longer counts: its key may be tried again, and the rest stays refundable.
        _ = try await events.reserveRefund(try refund("k3", 40))
        _ = try await events.completeRefund(challengeID: "ch-r", key: "k3", status: .failed, railRefundID: nil)
        guard case .reserved = try await events.reserveRefund(try refund("k3", 40)) else {
            Issue.record("a failed refund's key must be reservable again")
            return
        }
        let stranger = RefundRecord(challengeID: "ch-none", key: "k", amount: try Sample.money(1), reason: nil, status: .pending,
                                    railRefundID: nil, createdAt: Sample.start, updatedAt: Sample.start)
        let unknown = await storeError { () throws(StoreError) in _ = try await events.reserveRefund(stranger) }
        #expect(unknown?.code == .notFound)
    }

    @Test("a payment with a refund reserved outlives the gate's retention: a pending refund can always be finished", arguments: StoreKind.allCases)
    func reservedRefundKeepsItsPayment(kind: StoreKind) async throws {
        let (fixture, events) = try await paid(kind)
        _ = try await events.reserveRefund(try refund("k-pending", 60))
        // Well past the grant and the challenge (what the gate's purge keeps a consumption for), short of 30 days.
        _ = try await fixture.store.purgeExpired(now: fixture.clock.now().addingTimeInterval(10 * 86_400))
        #expect(try await fixture.store.consumedChallenge(id: "ch-r") != nil, "a pending refund lost its payment")
        #expect(try await events.consumedChallenge(settlementReference: "pay-r")?.challengeID == "ch-r")
        _ = try await fixture.store.purgeExpired(now: fixture.clock.now().addingTimeInterval(31 * 86_400))
        #expect(try await fixture.store.consumedChallenge(id: "ch-r") == nil, "kept for good")
    }

    @Test("an event id is recorded once; a dispute's end of grant sticks", arguments: StoreKind.allCases)
    func eventsOnce(kind: StoreKind) async throws {
        let (fixture, events) = try await paid(kind)
        let event = PaymentEventRecord(id: "evt_1", type: "charge.dispute.created", objectID: "dp_1", challengeID: "ch-r",
                                       receivedAt: Sample.start)
        #expect(try await events.recordEvent(event))
        #expect(try await events.recordEvent(event) == false)
        try await events.endGrant(challengeID: "ch-r")
        let after = try #require(try await fixture.store.consumedChallenge(id: "ch-r"))
        #expect(after.receipt.grantExpiresAt <= fixture.clock.now())
        // Remembered 30 days (Stripe redelivers for 3), then purged.
        _ = try await fixture.store.purgeExpired(now: Sample.start.addingTimeInterval(29 * 86_400))
        #expect(try await events.knownEvent(id: "evt_1"))
        _ = try await fixture.store.purgeExpired(now: Sample.start.addingTimeInterval(31 * 86_400))
        #expect(try await events.knownEvent(id: "evt_1") == false)
    }

    @Test("two SQLite connections on one file never refund above what was paid together")
    func sharedFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("shared.sqlite")
        let clock = ManualClock(start: Sample.start)
        let a = try SQLiteGateStore(path: path, clock: clock)
        let b = try SQLiteGateStore(path: path, clock: clock)
        try await a.saveChallenge(try Sample.challenge("ch-r"))
        _ = try await a.consume(challengeID: "ch-r", settlement: try Sample.settlement("ch-r"), receipt: try Sample.receipt("rc-r"))
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<20 {
                let store = index.isMultiple(of: 2) ? a : b
                group.addTask {
                    guard let record = try? self.refund("k\(index)", 30) else { return false }
                    return (try? await store.reserveRefund(record)) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 3)  // 3 x 30 <= 100 < 4 x 30
    }
}
