import FakeRail
import Foundation
import PayRail
import PayRailStore
import Testing

@testable import PayRailAgent

// The ledger reserves the price plus the rail's maximum fee before paying. When the wallet reports
// the fee it actually paid, the commit must count the price plus that fee (never more than reserved),
// so the budget is not held by fees that were never paid.

@Suite("PayingClient commits the fee actually paid", .serialized) struct PayingClientFeeTests {
    @Test("a wallet that reports a 3 sat fee under a 10 sat maximum: 110 reserved, 103 committed, 103 counted by the budget")
    func commitsActualFee() async throws {
        let world = try await SellerWorld()
        let wallet = FeeWallet(inner: world.payer, maximumFee: 10, actualFee: 3)
        let events = EventLog()
        let (client, governor) = try world.client(events: events, wallet: wallet)
        let response = try await client.send(PaidRequest(url: try world.url("/premium")))
        await world.stop()
        #expect(response.status == 200)
        #expect(response.payment?.reserved == (try Money(amount: 110, unit: .sat)))
        let record = try #require(try await governor.ledger().first)
        #expect(record.state == .committed)
        #expect(record.amount == (try Money(amount: 103, unit: .sat)))
        let committedEvent = events.events.compactMap { event -> Money? in
            if case .committed(_, let amount) = event { return amount }
            return nil
        }
        #expect(committedEvent == [try Money(amount: 103, unit: .sat)])
        #expect(try await governor.totals().first?.lastHour == (try Money(amount: 103, unit: .sat)))
    }

    @Test("a reported fee above the maximum commits no more than was reserved")
    func neverMoreThanReserved() async throws {
        let world = try await SellerWorld()
        let (client, governor) = try world.client(wallet: FeeWallet(inner: world.payer, maximumFee: 10, actualFee: 50))
        _ = try await client.send(PaidRequest(url: try world.url("/premium")))
        await world.stop()
        #expect(try await governor.ledger().first?.amount == (try Money(amount: 110, unit: .sat)))
    }

    @Test("an unknown fee keeps the reserved amount")
    func unknownFeeKeepsReserved() async throws {
        let world = try await SellerWorld()
        let (client, governor) = try world.client(wallet: FeeWallet(inner: world.payer, maximumFee: 10, actualFee: nil))
        _ = try await client.send(PaidRequest(url: try world.url("/premium")))
        await world.stop()
        #expect(try await governor.ledger().first?.amount == (try Money(amount: 110, unit: .sat)))
    }
}

/// Pays through the fake wallet, quoting a maximum fee and reporting a smaller (or unknown) one, as a
/// Lightning wallet learns its routing fee only after paying.
final class FeeWallet: FeeReportingPayerRail, @unchecked Sendable {
    let inner: FakePayerRail
    let maximumFee: Int64
    let actualFee: Int64?
    var id: RailID { inner.id }

    init(inner: FakePayerRail, maximumFee: Int64, actualFee: Int64?) {
        self.inner = inner
        self.maximumFee = maximumFee
        self.actualFee = actualFee
    }

    func quote(_ offer: Offer) async -> QuoteDecision {
        do {
            return .payable(try Quote(amount: offer.amount, fee: try Money(amount: maximumFee, unit: offer.amount.unit), feeKind: .maximum))
        } catch {
            return .refused(RailError(.unsupported, "\(error)", rail: id))
        }
    }

    func pay(_ offer: Offer) async throws(RailError) -> Credential { try await inner.pay(offer) }

    func payReportingFee(_ offer: Offer) async throws(RailError) -> PaidCredential {
        let credential = try await inner.pay(offer)
        return PaidCredential(credential: credential, fee: actualFee.flatMap { try? Money(amount: $0, unit: offer.amount.unit) })
    }
}
