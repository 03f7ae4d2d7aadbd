import Foundation
import PayRail
import Testing

@testable import PayRailAgent

private struct FixedWallet: PayerRail {
    let id: RailID
    let fee: Int64

    func quote(_ offer: Offer) async -> QuoteDecision {
        do throws(MoneyError) {
            let feeMoney = try Money(amount: fee, unit: offer.amount.unit)
            return .payable(try Quote(amount: offer.amount, fee: feeMoney, feeKind: .maximum))
        } catch {
            return .refused(RailError(.malformed, "\(error)", rail: id))
        }
    }

    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        Credential(rail: id, offerID: offer.id, payload: ["paid": "yes"])
    }
}

@Suite struct WalletRegistryTests {
    private func offer(on rail: String) throws -> Offer {
        Offer(rail: try RailID(rail), amount: try Money(amount: 100, unit: .sat), payee: "payee", expiresAt: Date(timeIntervalSinceNow: 60), id: "offer-1")
    }

    @Test func quotesThroughTheWalletOfTheOffersRail() async throws {
        let registry = WalletRegistry([FixedWallet(id: try RailID("a"), fee: 1), FixedWallet(id: try RailID("b"), fee: 5)])
        guard case .payable(let quote) = await registry.quote(try offer(on: "b")) else {
            Issue.record("rail b has a wallet")
            return
        }
        #expect(quote.fee.amount == 5)
        #expect(try registry.rails == [RailID("a"), RailID("b")])
    }

    @Test func refusesAnOfferOnARailWithoutAWallet() async throws {
        let registry = WalletRegistry([FixedWallet(id: try RailID("a"), fee: 0)])
        guard case .refused(let error) = await registry.quote(try offer(on: "lightning")) else {
            Issue.record("no wallet pays lightning")
            return
        }
        #expect(error.code == .unsupported)
        #expect(registry.wallet(for: .lightning) == nil)
    }

    @Test func aLaterWalletReplacesAnEarlierOneForTheSameRail() async throws {
        var registry = WalletRegistry([FixedWallet(id: try RailID("a"), fee: 1)])
        registry.register(FixedWallet(id: try RailID("a"), fee: 9))
        guard case .payable(let quote) = await registry.quote(try offer(on: "a")) else {
            Issue.record("rail a has a wallet")
            return
        }
        #expect(quote.fee.amount == 9)
        #expect(try registry.rails == [RailID("a")])
    }
}
