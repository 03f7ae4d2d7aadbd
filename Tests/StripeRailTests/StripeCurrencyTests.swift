import Foundation
import PayRail
import StripeRail
import Testing

@Suite("Stripe rail: currencies in minor units, Stripe's minimum charge each")
struct StripeCurrencyTests {
    private func accepts(_ capabilities: RailCapabilities, _ amount: Money) -> Bool {
        (try? capabilities.check(amount, rail: .stripe)) != nil
    }

    private func rail() throws -> StripePayeeRail {
        let key = try StripeSecretKey("sk_test_currency")
        let client = try StripeClient(apiBase: try #require(URL(string: "http://127.0.0.1:9")), key: key)
        return StripePayeeRail(client: client, form: .sharedPaymentToken(networkID: "net_1"))
    }

    @Test("every listed currency is offered from its minimum; below it is refused; zero-decimal yen is whole yen",
          arguments: [("usd", 50), ("gbp", 30), ("jpy", 50), ("czk", 1500), ("thb", 1000), ("sek", 300)])
    func minimums(_ code: String, _ minimum: Int64) throws {
        let capabilities = try rail().capabilities
        let unit = try MoneyUnit(code: code)
        #expect(accepts(capabilities, try Money(amount: minimum, unit: unit)))
        #expect(!accepts(capabilities, try Money(amount: minimum - 1, unit: unit)))
        #expect(!accepts(capabilities, try Money(amount: 100_000_000, unit: unit)))
        if code == "jpy" { #expect(unit.exponent == 0) }
    }

    @Test("currencies Stripe treats specially (HUF, TWD, ISK, three-decimal KWD) are not offered")
    func specialCurrenciesLeftOut() throws {
        let capabilities = try rail().capabilities
        for code in ["huf", "twd", "isk", "kwd"] {
            #expect(!accepts(capabilities, try Money(amount: 1_000_000, unit: try MoneyUnit(code: code))), "\(code)")
        }
    }
}
