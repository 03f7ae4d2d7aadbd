import Foundation
import PayRail
import PayRailStore
import Testing

/// Committing the amount actually spent (price plus the fee paid), on both stores.
@Suite("SpendStore commit with the actual amount")
struct SpendCommitAmountTests {
    @Test("a commit may lower the amount to what was spent; the budget then counts that", arguments: StoreKind.allCases)
    func lowersTheAmount(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        let limits = try SpendSample.limits(perHour: 200)
        _ = try await fixture.reserve("fee", 110, limits: limits)
        let committed = try await fixture.store.commit(paymentID: "fee", receipt: nil, reference: nil, note: nil,
                                                       amount: try SpendSample.sat(103), now: fixture.clock.now())
        #expect(committed.amount == (try SpendSample.sat(103)))
        #expect(try await fixture.store.record(paymentID: "fee")?.amount == (try SpendSample.sat(103)))
        // 103 + 97 fits the 200 sat hour; with the reserved 110 it would not.
        #expect(try await fixture.reserve("next", 97, limits: limits).reservedRecord != nil)
    }

    @Test("a commit never counts more than was reserved, nor in another unit; the spend stays unfinished", arguments: StoreKind.allCases)
    func refusesMoreOrOtherUnit(kind: StoreKind) async throws {
        let fixture = try SpendFixture(kind)
        _ = try await fixture.reserve("fee", 110, limits: try SpendSample.limits(perHour: 200))
        for amount in [try SpendSample.sat(111), try Money(amount: 100, unit: .msat)] {
            do throws(StoreError) {
                _ = try await fixture.store.commit(paymentID: "fee", receipt: nil, reference: nil, note: nil, amount: amount,
                                                   now: fixture.clock.now())
                Issue.record("\(amount) must be refused")
            } catch {
                #expect(error.code == .invalidArgument)
            }
        }
        #expect(try await fixture.store.record(paymentID: "fee")?.state == .reserved)
    }
}
