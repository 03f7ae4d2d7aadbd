import Foundation
import PayRail
import Testing

@testable import PayRailAgent
@testable import PayRailWire

@Suite struct NegotiationRankingTests {
    private func negotiate(
        _ offers: [ReadOffer], policy: Policy, wallets: [TestWallet]
    ) async -> Negotiation {
        await Negotiator(policy: policy, wallets: WalletRegistry(wallets)).negotiate(offers, for: N.request)
    }

    @Test("the cheaper total wins even when its price is higher and its fee lower")
    func totalCostNotPrice() async throws {
        let log = WalletLog()
        // lightning: 100 sat + up to 20 sat fee = 120; fake: 110 sat, no fee = 110.
        let offers = [try N.offer(.lightning, "100sat", id: "ln"), try N.offer(.fake, "110sat", id: "fake")]
        let policy = Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("1000sat")])])
        let negotiation = await negotiate(offers, policy: policy, wallets: [TestWallet(id: .lightning, feeSat: 20, log: log), TestWallet(id: .fake, log: log)])
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["fake", "ln"])
        #expect(negotiation.candidates.map(\.cost.amount) == [110, 120])
        #expect(negotiation.candidates.last?.quote.fee.amount == 20)
    }

    @Test("equal costs are ordered by the owner's rails, then dialects, then the server's order")
    func tiesByPreference() async throws {
        let log = WalletLog()
        let wallets = [TestWallet(id: .lightning, log: log), TestWallet(id: .fake, log: log)]
        let offers = [
            try N.offer(.fake, "50sat", id: "fake-plain"),
            try N.offer(.lightning, "50sat", id: "ln-plain"),
            try N.offer(.fake, "50sat", id: "fake-plain-2"),
        ]
        let cap = MaximumPerRequest([try N.money("100sat")])
        let byRail = await negotiate(offers, policy: Policy(unit: .sat, rules: [cap], preferences: Preferences(rails: [.lightning])), wallets: wallets)
        #expect(byRail.candidates.map(\.offer.offer.id) == ["ln-plain", "fake-plain", "fake-plain-2"])
        let serverOrder = await negotiate(offers, policy: Policy(unit: .sat, rules: [cap]), wallets: wallets)
        #expect(serverOrder.candidates.map(\.offer.offer.id) == ["fake-plain", "ln-plain", "fake-plain-2"])
    }

    @Test("equal costs on one rail follow the dialect order (default payment, x402, plain; or the owner's)")
    func tiesByDialect() async throws {
        let text = try String(contentsOf: N.fixtureURL("negotiation-402-all-dialects.http"), encoding: .utf8)
        let raw = try PaymentResponseReader.parseHTTPResponse(Array(text.utf8))
        let receivedAt = Date(timeIntervalSince1970: 1_700_000_000)
        let fakeOffers = PaymentResponseReader.read(status: raw.status, headers: raw.headers, body: raw.body, receivedAt: receivedAt)
            .offers.filter { $0.offer.rail == .fake }.reversed()  // plain, x402, payment: the opposite of the default preference
        #expect(fakeOffers.map(\.dialect) == [.plain, .x402, .payment])
        let log = WalletLog()
        let request = NegotiationRequest(url: URL(string: "https://api.example.com/article/A")!, now: receivedAt)
        let cap = MaximumPerRequest([try N.money("5.00usd")])
        let byDefault = await Negotiator(policy: Policy(unit: .usd, rules: [cap]), wallets: WalletRegistry([TestWallet(id: .fake, log: log)]))
            .negotiate(Array(fakeOffers), for: request)
        #expect(byDefault.candidates.map(\.offer.dialect) == [.payment, .x402, .plain])
        let plainFirst = Policy(unit: .usd, rules: [cap], preferences: Preferences(dialects: [.plain, .payment]))
        let byOwner = await Negotiator(policy: plainFirst, wallets: WalletRegistry([TestWallet(id: .fake, log: log)]))
            .negotiate(Array(fakeOffers), for: request)
        #expect(byOwner.candidates.map(\.offer.dialect) == [.plain, .payment, .x402])
    }

    @Test("sat and usd cents ranked through the rate table, rounding up")
    func conversionRanksAndRoundsUp() async throws {
        let log = WalletLog()
        // 1 cent = 10 sat (100,000 usd per BTC).
        let rate = try ExchangeRate(from: .usd, to: .sat, toAmount: 10, perFromAmount: 1, asOf: N.now.addingTimeInterval(-30))
        let rates = ExchangeRates([rate], maximumAge: .seconds(300))
        let wallets = [TestWallet(id: .lightning, feeSat: 1, log: log), TestWallet(id: .fake, log: log)]
        // In sat: fake 0.05 usd = 50 sat; lightning 55 + 1 = 56 sat.
        let offers = [try N.offer(.lightning, "55sat", id: "ln"), try N.offer(.fake, "0.05usd", id: "fake")]
        let inSat = await negotiate(offers, policy: Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("100sat")])], exchangeRates: rates), wallets: wallets)
        #expect(inSat.candidates.map(\.offer.offer.id) == ["fake", "ln"])
        #expect(inSat.candidates.map(\.cost) == [try N.money("50sat"), try N.money("56sat")])
        // In cents: lightning 56 sat = 5.6 cents, counted as 6; fake 5 cents. Never under-counted.
        let inUSD = await negotiate(offers, policy: Policy(unit: .usd, rules: [MaximumPerRequest([try N.money("1.00usd")])], exchangeRates: rates), wallets: wallets)
        #expect(inUSD.candidates.map(\.offer.offer.id) == ["fake", "ln"])
        #expect(inUSD.candidates.map(\.cost) == [try N.money("0.05usd"), try N.money("0.06usd")])
        // 51 sat is 5.1 cents: counted as 6, so it ranks after the 5 cent offer, never level with it.
        let close = await negotiate(
            [try N.offer(.lightning, "50sat", id: "ln51"), try N.offer(.fake, "0.05usd", id: "fake5")],
            policy: Policy(unit: .usd, rules: [MaximumPerRequest([try N.money("1.00usd")])], exchangeRates: rates), wallets: wallets)
        #expect(close.candidates.map(\.cost.amount) == [5, 6])
    }

    @Test("a stale or missing rate refuses the offer; a fresh one on the same table is used")
    func staleAndMissingRates() async throws {
        let log = WalletLog()
        let old = try ExchangeRate(from: .usd, to: .sat, toAmount: 10, perFromAmount: 1, asOf: N.now.addingTimeInterval(-3601))
        let policy = Policy(
            unit: .sat, rules: [MaximumPerRequest([try N.money("100sat")])], exchangeRates: ExchangeRates([old], maximumAge: .seconds(3600)))
        let wallets = [TestWallet(id: .fake, log: log), TestWallet(id: .lightning, log: log)]
        let offers = [try N.offer(.fake, "0.05usd", id: "usd"), try N.offer(.fake, "1.00eur", id: "eur"), try N.offer(.lightning, "60sat", id: "ln")]
        let negotiation = await negotiate(offers, policy: policy, wallets: wallets)
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["ln"])
        #expect(negotiation.refusals.map(\.rule) == ["exchange-rate", "exchange-rate"])
        #expect(negotiation.refusals.first?.reason
            == "the total 0.05usd cannot be counted in sat: the usd/sat rate is from 2025-12-31T22:59:59Z, older than the 3600 s limit")
        #expect(negotiation.refusals.last?.reason == "the total 1.00eur cannot be counted in sat: no exchange rate between eur and sat is configured")

        var fresh = policy
        fresh.exchangeRates.rates.append(try ExchangeRate(from: .sat, to: .usd, toAmount: 1, perFromAmount: 12, asOf: N.now))
        let refreshed = await negotiate(offers, policy: fresh, wallets: wallets)
        // The newer rate wins (12 sat per cent): 5 cents = 60 sat, level with lightning, first by server order.
        #expect(refreshed.candidates.map(\.offer.offer.id) == ["usd", "ln"])
    }

    @Test func exchangeRatesConvertExactly() throws {
        let rate = try ExchangeRate(from: .usd, to: .sat, toAmount: 2, perFromAmount: 5, asOf: N.now)
        let table = ExchangeRates([rate])
        #expect(try table.convert(try N.money("2.50usd"), to: .sat, at: N.now) == N.money("100sat"))
        #expect(try table.convert(try N.money("0.01usd"), to: .sat, at: N.now) == N.money("1sat"))  // 0.4 -> 1
        #expect(try table.convert(try N.money("3sat"), to: .usd, at: N.now) == N.money("0.08usd"))  // 7.5 -> 8
        #expect(try table.convert(try N.money("2500msat"), to: .usd, at: N.now) == N.money("0.08usd"))  // via 3 sat
        #expect(try table.convert(try N.money("0.01usd"), to: .msat, at: N.now) == N.money("1000msat"))
        #expect(try table.convert(try N.money("1500msat"), to: .sat, at: N.now) == N.money("2sat"))  // fixed, up
        #expect(ExchangeRates.ceilingOfProduct(Int64.max, 2, dividedBy: 3) == 6_148_914_691_236_517_205)
        #expect(ExchangeRates.ceilingOfProduct(Int64.max, 3, dividedBy: 2) == nil)
        #expect(throws: ConversionError.self) { try ExchangeRates([rate]).convert(try Money(amount: Int64.max, unit: .sat), to: .usd, at: N.now) }
        #expect(throws: ConversionError.self) { try ExchangeRate(from: .usd, to: .sat, toAmount: 0, perFromAmount: 5, asOf: N.now) }
        #expect(throws: ConversionError.self) { try ExchangeRate(from: .usd, to: .usd, toAmount: 1, perFromAmount: 1, asOf: N.now) }
    }

    @Test func exchangeRateJSONRoundTrip() throws {
        let rate = try ExchangeRate(from: .usd, to: .sat, toAmount: 2, perFromAmount: 5, asOf: N.now)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(rate)
        #expect(String(decoding: data, as: UTF8.self) == #"{"asOf":"2026-01-01T00:00:00Z","from":"usd","perFromAmount":"5","to":"sat","toAmount":"2"}"#)
        #expect(try JSONDecoder.iso8601.decode(ExchangeRate.self, from: data) == rate)
        let table = ExchangeRates([rate], maximumAge: .seconds(900))
        let tableData = try encoder.encode(table)
        #expect(String(decoding: tableData, as: UTF8.self).hasPrefix(#"{"maximumAgeSeconds":900,"rates":[{"#))
        #expect(try JSONDecoder.iso8601.decode(ExchangeRates.self, from: tableData) == table)
        let zero = Data(#"{"asOf":"2026-01-01T00:00:00Z","from":"usd","perFromAmount":"5","to":"sat","toAmount":"0"}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder.iso8601.decode(ExchangeRate.self, from: zero) }
    }
}
