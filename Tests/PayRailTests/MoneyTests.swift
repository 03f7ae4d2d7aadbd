import Foundation
import Testing
@testable import PayRail

@Suite("Money")
struct MoneyTests {
    // MARK: Parsing

    @Test("parses amounts with their unit", arguments: [
        ("500sat", Int64(500), "sat"),
        ("2000msat", 2000, "msat"),
        ("1.50usd", 150, "usd"),
        ("1.50 USD", 150, "usd"),
        ("1.5usd", 150, "usd"),
        ("1usd", 100, "usd"),
        ("0.01eur", 1, "eur"),
        ("100jpy", 100, "jpy"),
        ("1.234kwd", 1234, "kwd"),
        ("  42 Sat  ", 42, "sat"),
        ("0sat", 0, "sat"),
        ("007sat", 7, "sat"),
        ("9223372036854775807msat", Int64.max, "msat"),
        ("92233720368547758.07usd", Int64.max, "usd"),
    ])
    func parses(text: String, amount: Int64, code: String) throws {
        let money = try Money(parsing: text)
        #expect(money.amount == amount)
        #expect(money.unit.code == code)
    }

    @Test("refuses malformed amounts", arguments: [
        "150", "", "sat", "-1sat", "+1sat", "1.5sat", "1.505usd", "1.usd", ".5usd", "1e3sat",
        "1,50usd", "1.50 us d", "1.5 0usd", "12 34sat", "1.50xyz", "0x10sat", "½sat", "１sat",
        "9223372036854775808msat", "92233720368547758.08usd", "1.0jpy",
    ])
    func refuses(text: String) {
        #expect(throws: MoneyError.self) { try Money(parsing: text) }
    }

    @Test("names the problem when parsing fails")
    func parseErrorsAreSpecific() {
        #expect(throws: MoneyError.tooManyDecimals("1.505usd", allowed: 2)) { try Money(parsing: "1.505usd") }
        #expect(throws: MoneyError.unknownUnit("xyz")) { try Money(parsing: "1xyz") }
        #expect(throws: MoneyError.overflow("\"9223372036854775808sat\"")) { try Money(parsing: "9223372036854775808sat") }
    }

    @Test("description round-trips through parsing", arguments: [
        "500sat", "2000msat", "1.50usd", "0.05usd", "0.00usd", "100jpy", "1.234kwd", "0.001bhd", "12345.67eur",
    ])
    func roundTrips(text: String) throws {
        let money = try Money(parsing: text)
        #expect(money.description == text)
        #expect(try Money(parsing: money.description) == money)
    }

    @Test("formats minor units as major units")
    func formats() throws {
        #expect(try Money(amount: 5, unit: .usd).description == "0.05usd")
        #expect(try Money(amount: 150, unit: .usd).description == "1.50usd")
        #expect(try Money(amount: Int64.max, unit: .usd).description == "92233720368547758.07usd")
        #expect(Money.zero(.jpy).description == "0jpy")
    }

    // MARK: Construction and arithmetic

    @Test("a negative amount cannot be constructed")
    func negative() {
        #expect(throws: MoneyError.negativeAmount(-1)) { try Money(amount: -1, unit: .sat) }
        #expect(throws: MoneyError.negativeAmount(Int64.min)) { try Money(amount: Int64.min, unit: .usd) }
    }

    @Test("addition is exact and overflow-checked")
    func addition() throws {
        let a = try Money(amount: 150, unit: .usd)
        let b = try Money(amount: 75, unit: .usd)
        #expect(try a.adding(b) == Money(amount: 225, unit: .usd))
        let max = try Money(amount: Int64.max, unit: .sat)
        #expect(throws: MoneyError.self) { try max.adding(Money(amount: 1, unit: .sat)) }
        #expect(try max.adding(.zero(.sat)) == max)
    }

    @Test("subtraction never goes negative")
    func subtraction() throws {
        let a = try Money(amount: 150, unit: .usd)
        let b = try Money(amount: 200, unit: .usd)
        #expect(try b.subtracting(a) == Money(amount: 50, unit: .usd))
        #expect(throws: MoneyError.negativeAmount(-50)) { try a.subtracting(b) }
    }

    @Test("multiplication is overflow-checked")
    func multiplication() throws {
        let price = try Money(amount: 3, unit: .sat)
        #expect(try price.multiplied(by: 4) == Money(amount: 12, unit: .sat))
        #expect(throws: MoneyError.self) { try price.multiplied(by: Int64.max) }
        #expect(throws: MoneyError.negativeAmount(-1)) { try price.multiplied(by: -1) }
    }

    @Test("different units never combine or compare")
    func unitMismatch() throws {
        let sats = try Money(amount: 1000, unit: .sat)
        let msats = try Money(amount: 1000, unit: .msat)
        let dollars = try Money(amount: 1000, unit: .usd)
        #expect(throws: MoneyError.unitMismatch(.sat, .msat)) { try sats.adding(msats) }
        #expect(throws: MoneyError.unitMismatch(.sat, .usd)) { try sats.subtracting(dollars) }
        #expect(throws: MoneyError.unitMismatch(.usd, .eur)) { try dollars.compare(Money(amount: 1, unit: .eur)) }
        #expect(throws: MoneyError.self) { try sats.isLess(than: msats) }
        #expect(sats != msats)
    }

    @Test("comparison within one unit")
    func comparison() throws {
        let small = try Money(amount: 1, unit: .sat)
        let large = try Money(amount: 2, unit: .sat)
        #expect(try small.compare(large) < 0)
        #expect(try large.compare(small) > 0)
        #expect(try small.compare(small) == 0)
        #expect(try small.isLess(than: large))
        #expect(try !large.isLess(than: small))
    }

    // MARK: Conversion

    @Test("sat to msat is exact, and overflow is caught")
    func satToMsat() throws {
        #expect(try Money(amount: 5, unit: .sat).converted(to: .msat) == Money(amount: 5000, unit: .msat))
        #expect(throws: MoneyError.self) { try Money(amount: Int64.max / 999, unit: .sat).converted(to: .msat) }
    }

    @Test("msat to sat needs divisibility or an explicit rounding rule")
    func msatToSat() throws {
        #expect(try Money(amount: 3000, unit: .msat).converted(to: .sat) == Money(amount: 3, unit: .sat))
        let odd = try Money(amount: 1500, unit: .msat)
        #expect(throws: MoneyError.inexactConversion(odd, to: .sat)) { try odd.converted(to: .sat) }
        #expect(try odd.converted(to: .sat, rounding: .down) == Money(amount: 1, unit: .sat))
        #expect(try odd.converted(to: .sat, rounding: .up) == Money(amount: 2, unit: .sat))
        #expect(try Money(amount: 1, unit: .msat).converted(to: .sat, rounding: .up) == Money(amount: 1, unit: .sat))
        let max = try Money(amount: Int64.max, unit: .msat)
        #expect(try max.converted(to: .sat, rounding: .up).amount == Int64.max / 1000 + 1)
    }

    @Test("no conversion between currencies without a fixed rate")
    func noFixedRate() throws {
        #expect(throws: MoneyError.noFixedRate(from: .sat, to: .usd)) { try Money(amount: 1, unit: .sat).converted(to: .usd) }
        #expect(throws: MoneyError.self) { try Money(amount: 1, unit: .usd).converted(to: .eur) }
        let same = try Money(amount: 7, unit: .usd)
        #expect(try same.converted(to: .usd) == same)
    }

    // MARK: Units

    @Test("knows at least twenty ISO currencies with their exponents")
    func isoTable() throws {
        #expect(MoneyUnit.knownISOExponents.count >= 20)
        #expect(try MoneyUnit(code: "USD").exponent == 2)
        #expect(try MoneyUnit(code: "jpy").exponent == 0)
        #expect(try MoneyUnit(code: "krw").exponent == 0)
        #expect(try MoneyUnit(code: "kwd").exponent == 3)
        #expect(try MoneyUnit(code: "bhd").exponent == 3)
        #expect(throws: MoneyError.unknownUnit("abc")) { try MoneyUnit(code: "abc") }
    }

    @Test("custom ISO units are explicit and cannot shadow known ones")
    func customUnits() throws {
        let xts = try MoneyUnit(isoCode: "XTS", exponent: 2)
        #expect(xts.code == "xts")
        #expect(!xts.isBuiltIn)
        #expect(try Money(parsing: "1.25xts", extraUnits: [xts]) == Money(amount: 125, unit: xts))
        #expect(throws: MoneyError.self) { try Money(parsing: "1.25xts") }
        #expect(throws: MoneyError.self) { try MoneyUnit(isoCode: "usd", exponent: 3) }
        #expect(try MoneyUnit(isoCode: "usd", exponent: 2) == .usd)
        #expect(throws: MoneyError.self) { try MoneyUnit(isoCode: "sat", exponent: 0) }
        #expect(throws: MoneyError.self) { try MoneyUnit(isoCode: "us", exponent: 2) }
        #expect(throws: MoneyError.self) { try MoneyUnit(isoCode: "abc", exponent: 9) }
    }

    // MARK: JSON

    @Test("encodes the amount as a decimal string of minor units")
    func encodesAsString() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(Money(amount: Int64.max, unit: .msat))
        #expect(String(decoding: json, as: UTF8.self) == #"{"amount":"9223372036854775807","unit":"msat"}"#)
        let custom = try encoder.encode(Money(amount: 5, unit: MoneyUnit(isoCode: "xts", exponent: 2)))
        #expect(String(decoding: custom, as: UTF8.self) == #"{"amount":"5","exponent":2,"unit":"xts"}"#)
    }

    @Test("decodes exact values beyond a double's precision")
    func decodesExactly() throws {
        let json = Data(#"{"amount":"9007199254740993","unit":"sat"}"#.utf8)
        let money = try JSONDecoder().decode(Money.self, from: json)
        #expect(money.amount == 9_007_199_254_740_993)
    }

    @Test("refuses amounts that are JSON numbers or not plain digits", arguments: [
        #"{"amount":150,"unit":"usd"}"#,
        #"{"amount":1.5,"unit":"usd"}"#,
        #"{"amount":"-1","unit":"usd"}"#,
        #"{"amount":"+1","unit":"usd"}"#,
        #"{"amount":"1.5","unit":"usd"}"#,
        #"{"amount":"1e3","unit":"usd"}"#,
        #"{"amount":" 1","unit":"usd"}"#,
        #"{"amount":"","unit":"usd"}"#,
        #"{"amount":"9223372036854775808","unit":"usd"}"#,
        #"{"amount":"1","unit":"xyz"}"#,
        #"{"amount":"1","unit":"usd","exponent":3}"#,
        #"{"amount":"1"}"#,
    ])
    func refusesBadJSON(json: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Money.self, from: Data(json.utf8)) }
    }

    @Test("JSON round-trips built-in and custom units")
    func jsonRoundTrip() throws {
        let values = [
            try Money(amount: 150, unit: .usd), try Money(amount: 0, unit: .sat),
            try Money(amount: 42, unit: MoneyUnit(isoCode: "xts", exponent: 3)),
        ]
        for value in values {
            let decoded = try JSONDecoder().decode(Money.self, from: JSONEncoder().encode(value))
            #expect(decoded == value)
        }
    }
}
