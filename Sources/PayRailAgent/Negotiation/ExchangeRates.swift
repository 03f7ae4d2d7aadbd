// Ranking a 100 sat offer against a 5 cent offer needs a rate, and a budget kept in one unit needs
// every spend in that unit. Rates here are exact integer ratios between minor units, never floating
// point, and conversions round UP: counting a spend as slightly more than it was can only make the
// agent stop early, counting it as less could let it overspend. A rate carries the date it was
// true; an old one is refused rather than trusted, because a stale BTC rate can be off by a lot.

import Foundation
import PayRail

/// How many minor units of `to` one amount of minor units of `from` is worth, as of a date.
///
/// Example: at 100,000 USD per BTC, 1 cent buys 10 sat:
/// `ExchangeRate(from: .usd, to: .sat, toAmount: 10, perFromAmount: 1, asOf: date)`; the reverse
/// direction (10 sat are worth 1 cent) is derived from the same rate.
public struct ExchangeRate: Hashable, Sendable, Codable {
    /// The unit converted from.
    public let from: MoneyUnit
    /// The unit converted to.
    public let to: MoneyUnit
    /// Minor units of `to` ...
    public let toAmount: Int64
    /// ... worth this many minor units of `from`.
    public let perFromAmount: Int64
    /// When the rate was observed; the policy refuses it once older than its staleness limit.
    public let asOf: Date

    /// Creates a rate.
    ///
    /// - Throws: `ConversionError` with code `.invalidRate` when an amount is not positive or both
    ///   units are the same.
    public init(from: MoneyUnit, to: MoneyUnit, toAmount: Int64, perFromAmount: Int64, asOf: Date) throws(ConversionError) {
        guard toAmount > 0, perFromAmount > 0 else {
            throw ConversionError(.invalidRate, "a rate needs positive amounts on both sides, got \(toAmount) \(to) per \(perFromAmount) \(from)")
        }
        guard from != to else { throw ConversionError(.invalidRate, "a rate from \(from) to itself is meaningless") }
        self.from = from
        self.to = to
        self.toAmount = toAmount
        self.perFromAmount = perFromAmount
        self.asOf = asOf
    }

    private enum CodingKeys: String, CodingKey { case from, to, toAmount, perFromAmount, asOf, fromExponent, toExponent }

    /// Decodes `{"from":"usd","to":"sat","toAmount":"10","perFromAmount":"1","asOf":<date>}` and re-checks it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func unit(_ key: CodingKeys, _ exponentKey: CodingKeys) throws -> MoneyUnit {
            let code = try container.decode(String.self, forKey: key)
            let declared = try container.decodeIfPresent(Int.self, forKey: exponentKey)
            do throws(MoneyError) {
                if let exponent = declared, code != "sat", code != "msat" {
                    return try MoneyUnit(isoCode: code, exponent: exponent)
                }
                return try MoneyUnit(code: code)
            } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: error.description)
            }
        }
        func amount(_ key: CodingKeys) throws -> Int64 {
            let text = try container.decode(String.self, forKey: key)
            guard let value = Money.parseMinorUnits(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\"\(text)\" is not a decimal amount")
            }
            return value
        }
        do {
            try self.init(
                from: try unit(.from, .fromExponent), to: try unit(.to, .toExponent), toAmount: try amount(.toAmount),
                perFromAmount: try amount(.perFromAmount), asOf: try container.decode(Date.self, forKey: .asOf))
        } catch let error as ConversionError {
            throw DecodingError.dataCorruptedError(forKey: .toAmount, in: container, debugDescription: error.description)
        }
    }

    /// Encodes amounts as strings (JSON numbers may pass through a Double).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(from.code, forKey: .from)
        try container.encode(to.code, forKey: .to)
        if !from.isBuiltIn { try container.encode(from.exponent, forKey: .fromExponent) }
        if !to.isBuiltIn { try container.encode(to.exponent, forKey: .toExponent) }
        try container.encode(String(toAmount), forKey: .toAmount)
        try container.encode(String(perFromAmount), forKey: .perFromAmount)
        try container.encode(asOf, forKey: .asOf)
    }
}

/// Whole seconds for messages, safe for any interval an offer can carry (a far-future invoice
/// expiry would trap a plain `Int(_:)` conversion).
enum Seconds {
    static func text(_ interval: TimeInterval, rounding: FloatingPointRoundingRule = .down) -> String {
        guard interval.isFinite else { return interval > 0 ? "more than \(Int64.max)" : "-" }
        let rounded = interval.rounded(rounding)
        guard rounded < 9.2e18, rounded > -9.2e18 else { return rounded > 0 ? "more than \(Int64.max)" : "less than \(Int64.min)" }
        return String(Int64(rounded))
    }
}

/// Why an amount could not be converted; the offer is refused, never priced on a guess.
public struct ConversionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// Stable identifier.
        public let rawValue: String
        /// Creates a code.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// No rate between the two units is known; add one to the policy's table.
        public static let missingRate = Code(rawValue: "missingRate")
        /// The only rate is older than the staleness limit; refresh the table.
        public static let staleRate = Code(rawValue: "staleRate")
        /// The converted amount does not fit 64 bits.
        public static let overflow = Code(rawValue: "overflow")
        /// A rate that cannot be right (zero, negative, a unit to itself).
        public static let invalidRate = Code(rawValue: "invalidRate")
        /// The identifier.
        public var description: String { rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for the owner.
    public let reason: String

    /// Creates an error.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The reason and what to do; conversions are deterministic, so retrying unchanged never helps.
    public var description: String { "conversion \(code): \(reason); update the rate table, retrying unchanged will not help" }
}

/// The owner's rate table: explicit rates with a staleness limit.
///
/// `sat` and `msat` convert into each other without a rate (1 sat = 1000 msat, exactly); a rate given
/// for `sat` also serves `msat` by way of that fixed step.
public struct ExchangeRates: Hashable, Sendable, Codable {
    /// The known rates; a later rate for the same pair (either direction) wins if it is more recent.
    public var rates: [ExchangeRate]
    /// How old a rate may be and still be used.
    public var maximumAge: Duration

    /// Creates a table; the default (no rates) converts only between a unit and itself and sat/msat.
    public init(_ rates: [ExchangeRate] = [], maximumAge: Duration = .seconds(3600)) {
        self.rates = rates
        self.maximumAge = maximumAge
    }

    private enum CodingKeys: String, CodingKey { case rates, maximumAgeSeconds }

    /// Decodes `{"rates": [...], "maximumAgeSeconds": 3600}` (a configuration file's rate table).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let seconds = try container.decode(Int64.self, forKey: .maximumAgeSeconds)
        guard seconds >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .maximumAgeSeconds, in: container, debugDescription: "a negative age limit")
        }
        self.init(try container.decode([ExchangeRate].self, forKey: .rates), maximumAge: .seconds(seconds))
    }

    /// Encodes the table; the age limit in whole seconds (rounded up).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rates, forKey: .rates)
        let (seconds, attoseconds) = maximumAge.components
        try container.encode(attoseconds > 0 ? seconds + 1 : seconds, forKey: .maximumAgeSeconds)
    }

    /// Converts `money` to `unit`, rounding up.
    ///
    /// - Throws: `.missingRate`, `.staleRate` (older than `maximumAge` at `now`), `.overflow`.
    public func convert(_ money: Money, to unit: MoneyUnit, at now: Date) throws(ConversionError) -> Money {
        if money.unit == unit { return money }
        if let fixed = Self.fixed(money, to: unit) { return try fixed.get() }
        // Through sat when one side is msat and the table speaks sat (ceil of ceil is the exact ceiling).
        if money.unit == .msat, unit != .sat, rate(between: .msat, and: unit) == nil {
            return try convert(try Self.fixed(money, to: .sat)?.get() ?? money, to: unit, at: now)
        }
        if unit == .msat, money.unit != .sat, rate(between: money.unit, and: .msat) == nil {
            let inSat = try convert(money, to: .sat, at: now)
            return try Self.fixed(inSat, to: .msat)?.get() ?? inSat
        }
        guard let rate = rate(between: money.unit, and: unit) else {
            throw ConversionError(.missingRate, "no exchange rate between \(money.unit) and \(unit) is configured")
        }
        let age = now.timeIntervalSince(rate.asOf)
        let limit = Double(maximumAge.components.seconds) + Double(maximumAge.components.attoseconds) / 1e18
        guard age <= limit else {
            throw ConversionError(
                .staleRate,
                "the \(rate.from)/\(rate.to) rate is from \(Self.format(rate.asOf)), older than the \(Seconds.text(limit)) s limit")
        }
        let (multiplier, divisor) = rate.from == money.unit ? (rate.toAmount, rate.perFromAmount) : (rate.perFromAmount, rate.toAmount)
        guard let amount = Self.ceilingOfProduct(money.amount, multiplier, dividedBy: divisor) else {
            throw ConversionError(.overflow, "\(money) in \(unit) does not fit a 64-bit amount")
        }
        do { return try Money(amount: amount, unit: unit) } catch {
            throw ConversionError(.overflow, "\(money) in \(unit): \(error)")
        }
    }

    /// The most recent rate for the pair, in either direction.
    private func rate(between a: MoneyUnit, and b: MoneyUnit) -> ExchangeRate? {
        rates.filter { ($0.from == a && $0.to == b) || ($0.from == b && $0.to == a) }.max { $0.asOf < $1.asOf }
    }

    private static func fixed(_ money: Money, to unit: MoneyUnit) -> Result<Money, ConversionError>? {
        guard money.unit.kind == .bitcoin, unit.kind == .bitcoin else { return nil }
        do { return .success(try money.converted(to: unit, rounding: .up)) } catch {
            return .failure(ConversionError(.overflow, "\(money) in \(unit): \(error)"))
        }
    }

    /// ceil(amount * multiplier / divisor) in 128-bit intermediate precision; `nil` when it does not fit.
    static func ceilingOfProduct(_ amount: Int64, _ multiplier: Int64, dividedBy divisor: Int64) -> Int64? {
        guard amount >= 0, multiplier > 0, divisor > 0 else { return nil }
        let product = UInt64(amount).multipliedFullWidth(by: UInt64(multiplier))
        let unsignedDivisor = UInt64(divisor)
        guard product.high < unsignedDivisor else { return nil }  // the quotient would not fit 64 bits
        let (quotient, remainder) = unsignedDivisor.dividingFullWidth(product)
        let (rounded, overflow) = quotient.addingReportingOverflow(remainder == 0 ? 0 : 1)
        guard !overflow, rounded <= UInt64(Int64.max) else { return nil }
        return Int64(rounded)
    }

    private static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
