import Foundation
import PayRail
import PayRailStore
import Testing

/// What `AutomaticRefundStore` lists, on the memory and SQLite stores alike (a PostgreSQL store must
/// answer the same).
@Suite("AutomaticRefundStore: unserved payments and pending refunds, memory and SQLite")
struct AutomaticRefundStoreTests {
    static func stores(_ clock: ManualClock) throws -> [any GateStore & PaymentEventStore & AutomaticRefundStore] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-autorefund-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return [MemoryGateStore(clock: clock), try SQLiteGateStore(path: directory.appendingPathComponent("gate.sqlite").path, clock: clock)]
    }

    /// A payment for challenge `id` whose grant ends `grantSeconds` from now.
    static func pay(_ store: any GateStore, _ id: String, grantSeconds: TimeInterval, clock: ManualClock) async throws {
        let now = clock.now()
        let amount = try Money(amount: 100, unit: .sat)
        let resource = try Resource(parsing: "GET /premium")
        let offer = Offer(rail: .fake, amount: amount, payee: "merchant", expiresAt: now.addingTimeInterval(300), id: "req-\(id)")
        try await store.saveChallenge(ChallengeRecord(id: id, resource: resource, offers: [offer], createdAt: now,
                                                      expiresAt: now.addingTimeInterval(300)))
        _ = try await store.consume(
            challengeID: id, settlement: Settlement(rail: .fake, offerID: offer.id, reference: "pay-\(id)", amount: amount, settledAt: now),
            receipt: ReceiptRecord(receiptID: "rc-\(id)", tokenHash: Data("hash-\(id)".utf8), resource: resource, issuedAt: now,
                                   grantExpiresAt: now.addingTimeInterval(grantSeconds), credentialHash: nil))
    }

    @Test("unserved: only grants over, never served, with no refund row and no dispute, oldest first, at most the limit")
    func unservedListing() async throws {
        let clock = ManualClock()
        for store in try Self.stores(clock) {
            try await Self.pay(store, "late-ending", grantSeconds: 200, clock: clock)
            try await Self.pay(store, "first-ending", grantSeconds: 100, clock: clock)
            try await Self.pay(store, "served", grantSeconds: 100, clock: clock)
            try await Self.pay(store, "refunded", grantSeconds: 100, clock: clock)
            try await Self.pay(store, "disputed", grantSeconds: 100, clock: clock)
            try await Self.pay(store, "running", grantSeconds: 3600, clock: clock)
            try await store.saveResponse(StoredResponse(status: 200, headers: [], body: Data("ok".utf8)), receiptID: "rc-served")
            let now = clock.now()
            _ = try await store.reserveRefund(RefundRecord(challengeID: "refunded", key: "k", amount: try Money(amount: 100, unit: .sat),
                                                           reason: nil, status: .failed, railRefundID: nil, createdAt: now, updatedAt: now))
            _ = try await store.recordEvent(PaymentEventRecord(id: "evt_1", type: "charge.dispute.created", objectID: "ch_1",
                                                               challengeID: "disputed", receivedAt: now))
            clock.advance(by: 300)
            let listed = try await store.unservedConsumptions(grantEndedBefore: clock.now(), limit: 10).map(\.challengeID)
            #expect(listed == ["first-ending", "late-ending"], "\(type(of: store)): \(listed)")
            #expect(try await store.unservedConsumptions(grantEndedBefore: clock.now(), limit: 1).map(\.challengeID) == ["first-ending"])
            #expect(try await store.unservedConsumptions(grantEndedBefore: now.addingTimeInterval(150), limit: 10).map(\.challengeID)
                    == ["first-ending"], "the cut-off is the grant's end")
        }
    }

    @Test("pending: only refunds still pending, left alone long enough, whose payment is still stored")
    func pendingListing() async throws {
        let clock = ManualClock()
        for store in try Self.stores(clock) {
            try await Self.pay(store, "a", grantSeconds: 100, clock: clock)
            try await Self.pay(store, "b", grantSeconds: 100, clock: clock)
            let amount = try Money(amount: 40, unit: .sat)
            var now = clock.now()
            for (challenge, key) in [("a", "old"), ("b", "done")] {
                _ = try await store.reserveRefund(RefundRecord(challengeID: challenge, key: key, amount: amount, reason: nil,
                                                               status: .pending, railRefundID: nil, createdAt: now, updatedAt: now))
            }
            _ = try await store.completeRefund(challengeID: "b", key: "done", status: .succeeded, railRefundID: "rfd_1")
            clock.advance(by: 30)
            now = clock.now()
            _ = try await store.reserveRefund(RefundRecord(challengeID: "a", key: "new", amount: amount, reason: nil,
                                                           status: .pending, railRefundID: nil, createdAt: now, updatedAt: now))
            clock.advance(by: 30)
            let listed = try await store.pendingRefunds(updatedBefore: clock.now().addingTimeInterval(-40), limit: 10).map(\.key)
            #expect(listed == ["old"], "\(type(of: store)): \(listed)")
            #expect(try await store.pendingRefunds(updatedBefore: clock.now(), limit: 10).map(\.key) == ["old", "new"])
            // Past the 30 days a reservation keeps its payment, the payment is purged: nothing left to ask the rail with.
            clock.advance(by: 31 * 86_400)
            _ = try await store.purgeExpired(now: clock.now())
            #expect(try await store.pendingRefunds(updatedBefore: clock.now(), limit: 10).isEmpty)
        }
    }
}
