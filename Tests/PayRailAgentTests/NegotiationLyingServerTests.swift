import Foundation
import PayRail
import Testing

@testable import PayRailAgent
@testable import PayRailWire

// A lying server: each lie refused by its own rule, and nothing paid (the simulated client pays the
// chosen offer if there is one; the wallet counts pay calls).

@Suite struct NegotiationLyingServerTests {
    private let policy: Policy

    init() throws {
        policy = Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("1000sat")])])
    }

    private func run(
        _ offers: [ReadOffer], wallet: TestWallet, memory: (any PriceMemory)? = nil, policy: Policy? = nil
    ) async throws -> Negotiation {
        let wallets = WalletRegistry([wallet])
        let negotiation = await Negotiator(policy: policy ?? self.policy, wallets: wallets, priceMemory: memory).negotiate(offers, for: N.request)
        try await N.payChosen(negotiation, wallets: wallets)
        return negotiation
    }

    @Test("an amount in the offer that differs from the rail's own request is refused, nothing paid")
    func amountMismatch() async throws {
        let log = WalletLog()
        // The header says 10 sat; the invoice the wallet decodes asks 10,000 sat.
        let wallet = TestWallet(id: .lightning, reportedAmount: try N.money("10000sat"), log: log)
        let negotiation = try await run([try N.offer(.lightning, "10sat", id: "lie")], wallet: wallet)
        #expect(negotiation.candidates.isEmpty)
        #expect(negotiation.refusals.map(\.rule) == ["amount-mismatch"])
        #expect(negotiation.refusals.first?.reason == "the offer says 10sat but the lightning request itself asks 10000sat")
        #expect(log.quotes == ["lie"])
        #expect(log.pays == 0)
    }

    @Test("an expired offer is refused before any quote, nothing paid")
    func expiredOffer() async throws {
        let log = WalletLog()
        let negotiation = try await run([try N.offer(.fake, "10sat", id: "old", expiresIn: -5)], wallet: TestWallet(id: .fake, log: log))
        #expect(negotiation.refusals.map(\.rule) == ["expired"])
        #expect(log.quotes.isEmpty)
        #expect(log.pays == 0)
    }

    @Test("a payee different from the one paid last time is refused unless the policy allows it")
    func payeeChanged() async throws {
        let memory = InMemoryPriceMemory()
        let request = N.request
        await memory.remember(
            RememberedPrice(payee: "acct_merchant", amount: try N.money("10sat"), paidAt: N.now),
            host: request.host, resource: request.resourcePath, rail: .fake)
        let log = WalletLog()
        let swapped = [try N.offer(.fake, "10sat", payee: "acct_thief", id: "swap")]
        let refused = try await run(swapped, wallet: TestWallet(id: .fake, log: log), memory: memory)
        #expect(refused.refusals.map(\.rule) == ["payee-changed"])
        #expect(refused.refusals.first?.reason.contains("acct_thief") == true)
        #expect(log.pays == 0 && log.quotes.isEmpty)

        // Another resource on the same host has no memory: the same payee is not "changed" there.
        let elsewhere = NegotiationRequest(url: URL(string: "https://api.example.com/article/B")!, now: N.now)
        let other = await Negotiator(policy: policy, wallets: WalletRegistry([TestWallet(id: .fake, log: log)]), priceMemory: memory)
            .negotiate(swapped, for: elsewhere)
        #expect(other.candidates.count == 1)

        var tolerant = policy
        tolerant.allowPayeeChange = true
        let allowed = try await run(swapped, wallet: TestWallet(id: .fake, log: log), memory: memory, policy: tolerant)
        #expect(allowed.chosen?.offer.offer.payee == "acct_thief")
        #expect(log.pays == 1)
    }

    @Test("a price above the last one for the same resource is refused, allowed when the policy says so")
    func priceIncrease() async throws {
        let memory = InMemoryPriceMemory()
        let request = N.request
        await memory.remember(
            RememberedPrice(payee: "acct_merchant", amount: try N.money("100sat"), paidAt: N.now),
            host: request.host, resource: request.resourcePath, rail: .fake)
        let log = WalletLog()
        let dearer = [try N.offer(.fake, "120sat", id: "up")]
        let refused = try await run(dearer, wallet: TestWallet(id: .fake, log: log), memory: memory)
        #expect(refused.refusals.map(\.rule) == ["price-increase"])
        #expect(refused.refusals.first?.reason == "the price rose from 100sat to 120sat since the last payment")
        #expect(log.pays == 0 && log.quotes.isEmpty)

        var twentyPercent = policy
        twentyPercent.priceIncrease = .upToPercent(20)
        let allowed = try await run(dearer, wallet: TestWallet(id: .fake, log: log), memory: memory, policy: twentyPercent)
        #expect(allowed.chosen?.offer.offer.id == "up")
        #expect(log.pays == 1)

        var tenPercent = policy
        tenPercent.priceIncrease = .upToPercent(10)
        let stillRefused = try await run(dearer, wallet: TestWallet(id: .fake, log: log), memory: memory, policy: tenPercent)
        #expect(stillRefused.refusals.map(\.rule) == ["price-increase"])
        #expect(log.pays == 1)
    }

    @Test("negotiating never writes the memory: a refused lie does not become the baseline")
    func negotiationDoesNotRemember() async throws {
        let memory = InMemoryPriceMemory()
        let request = N.request
        await memory.remember(
            RememberedPrice(payee: "acct_merchant", amount: try N.money("100sat"), paidAt: N.now),
            host: request.host, resource: request.resourcePath, rail: .fake)
        let log = WalletLog()
        _ = try await run([try N.offer(.fake, "500sat", payee: "acct_thief", id: "lie")], wallet: TestWallet(id: .fake, log: log), memory: memory)
        let after = await memory.lastSeen(host: request.host, resource: request.resourcePath, rail: .fake)
        #expect(after?.payee == "acct_merchant")
        #expect(after?.amount == (try N.money("100sat")))
    }

    @Test("one lying offer among honest ones: the honest one is taken, the lie explained")
    func lieAmongHonestOffers() async throws {
        let log = WalletLog()
        let lying = TestWallet(id: .lightning, reportedAmount: try N.money("5000sat"), log: log)
        let wallets = WalletRegistry([lying, TestWallet(id: .fake, log: log)])
        let offers = [try N.offer(.lightning, "5sat", id: "lie"), try N.offer(.fake, "50sat", id: "honest")]
        let negotiation = await Negotiator(policy: policy, wallets: wallets).negotiate(offers, for: N.request)
        #expect(negotiation.chosen?.offer.offer.id == "honest")
        #expect(negotiation.explanationLines.first?.hasPrefix("plain lightning 5sat to acct_merchant: refused by amount-mismatch:") == true)
        #expect(negotiation.explanationLines.last == "plain fake 50sat to acct_merchant: taken #1 (cost 50sat)")
    }
}
