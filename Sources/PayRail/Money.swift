// Money is an exact integer count of a unit's smallest denomination. It never touches floating
// point: not in parsing, not in formatting, not in JSON. Every operation that could overflow or mix
// units throws instead of wrapping or converting silently, because in payments a silent conversion
// is a wrong charge.

/// How to round when converting to a coarser unit loses value.
public enum RoundingRule: String, Hashable, Sendable {
    /// Round toward the larger amount (what a payer must send to cover a price).
    case up
    /// Round toward the smaller amount (what a payee can be sure it received).
    case down
}

/// An exact, non-negative amount of money in one unit.
///
/// `amount` counts minor units: cents for USD, satoshis for `sat`, millisatoshis for `msat`.
/// Equality compares unit and amount; ordering between different units is an error, so `Money`
/// offers throwing `compare(_:)` instead of `Comparable`.
public struct Money: Hashable, Sendable {
    /// The number of the unit's smallest denomination (never negative).
    public let amount: Int64
    /// The unit `amount` counts.
    public let unit: MoneyUnit

    /// Creates an amount of minor units.
    ///
    /// - Throws: `MoneyError.negativeAmount` when `amount < 0`.
    public init(amount: Int64, unit: MoneyUnit) throws(MoneyError) {
        guard amount >= 0 else { throw MoneyError.negativeAmount(amount) }
        self.amount = amount
        self.unit = unit
    }

    /// Zero of a unit; cannot fail, so it is the natural starting point of a sum.
    public static func zero(_ unit: MoneyUnit) -> Money {
        Money(uncheckedAmount: 0, unit: unit)
    }

    /// For internal results already proven non-negative.
    private init(uncheckedAmount: Int64, unit: MoneyUnit) {
        self.amount = uncheckedAmount
        self.unit = unit
    }

    /// Whether the amount is zero.
    public var isZero: Bool { amount == 0 }

    // MARK: Arithmetic

    /// The sum of two amounts of the same unit.
    ///
    /// - Throws: `unitMismatch` for different units, `overflow` past `Int64.max`.
    public func adding(_ other: Money) throws(MoneyError) -> Money {
        try requireSameUnit(other)
        let (sum, overflow) = amount.addingReportingOverflow(other.amount)
        guard !overflow else { throw MoneyError.overflow("\(self) + \(other)") }
        return Money(uncheckedAmount: sum, unit: unit)
    }

    /// The difference of two amounts of the same unit.
    ///
    /// - Throws: `unitMismatch` for different units, `negativeAmount` when `other` is larger.
    public func subtracting(_ other: Money) throws(MoneyError) -> Money {
        try requireSameUnit(other)
        let difference = amount - other.amount  // cannot overflow: both are non-negative
        guard difference >= 0 else { throw MoneyError.negativeAmount(difference) }
        return Money(uncheckedAmount: difference, unit: unit)
    }

    /// This amount times a non-negative whole factor (e.g. a per-item price times a quantity).
    ///
    /// - Throws: `negativeAmount` for a negative factor, `overflow` past `Int64.max`.
    public func multiplied(by factor: Int64) throws(MoneyError) -> Money {
        guard factor >= 0 else { throw MoneyError.negativeAmount(factor) }
        let (product, overflow) = amount.multipliedReportingOverflow(by: factor)
        guard !overflow else { throw MoneyError.overflow("\(self) * \(factor)") }
        return Money(uncheckedAmount: product, unit: unit)
    }

    /// Orders two amounts of the same unit.
    ///
    /// - Returns: a negative number, zero or a positive number as `self` is less than, equal to or
    ///   greater than `other` (like `strcmp`, so it reads without Foundation's `ComparisonResult`).
    /// - Throws: `unitMismatch` for different units: 1 usd is not "less than" 1 eur without a rate.
    public func compare(_ other: Money) throws(MoneyError) -> Int {
        try requireSameUnit(other)
        return amount < other.amount ? -1 : (amount == other.amount ? 0 : 1)
    }

    /// `self < other`, for amounts of the same unit.
    ///
    /// - Throws: `unitMismatch` for different units.
    public func isLess(than other: Money) throws(MoneyError) -> Bool {
        try compare(other) < 0
    }

    private func requireSameUnit(_ other: Money) throws(MoneyError) {
        guard unit == other.unit else { throw MoneyError.unitMismatch(unit, other.unit) }
    }

    // MARK: Conversion

    /// Converts between units with a fixed rate (today: `sat` <-> `msat`; a unit to itself).
    ///
    /// - Parameters:
    ///   - target: the unit wanted.
    ///   - rounding: how to round when the target is coarser and the amount does not divide exactly;
    ///     `nil` (the default) refuses to lose value.
    /// - Throws: `inexactConversion` when rounding is needed but not given, `overflow` when the
    ///   finer unit does not fit, `noFixedRate` for units such as sat and usd.
    public func converted(to target: MoneyUnit, rounding: RoundingRule? = nil) throws(MoneyError) -> Money {
        if target == unit { return self }
        switch (unit, target) {
        case (.sat, .msat):
            let (msat, overflow) = amount.multipliedReportingOverflow(by: 1000)
            guard !overflow else { throw MoneyError.overflow("\(self) in msat") }
            return Money(uncheckedAmount: msat, unit: .msat)
        case (.msat, .sat):
            let (quotient, remainder) = amount.quotientAndRemainder(dividingBy: 1000)
            if remainder == 0 { return Money(uncheckedAmount: quotient, unit: .sat) }
            switch rounding {
            case nil: throw MoneyError.inexactConversion(self, to: .sat)
            case .down?: return Money(uncheckedAmount: quotient, unit: .sat)
            case .up?: return Money(uncheckedAmount: quotient + 1, unit: .sat)  // quotient <= Int64.max / 1000
            }
        default:
            throw MoneyError.noFixedRate(from: unit, to: target)
        }
    }
}

// MARK: - Text

extension Money: CustomStringConvertible {
    /// The canonical text form, accepted back by `init(parsing:)`: `500sat`, `2000msat`, `1.50usd`, `100jpy`.
    ///
    /// ISO currencies are printed in major units with exactly `exponent` decimals so that humans and
    /// the CLI read the same number they would see on an invoice.
    public var description: String {
        let digits = String(amount)
        guard unit.exponent > 0 else { return digits + unit.code }
        let padded = String(repeating: "0", count: max(0, unit.exponent + 1 - digits.count)) + digits
        let split = padded.index(padded.endIndex, offsetBy: -unit.exponent)
        return padded[..<split] + "." + padded[split...] + unit.code
    }

    /// Parses a human or CLI amount: digits, optionally a decimal point (major units, at most the
    /// unit's exponent decimals), optional spaces, then the unit code in any case.
    ///
    /// Accepted: `500sat`, `2000 msat`, `1.50usd`, `1.5 USD` (150 cents), `100jpy`.
    /// Refused: `150` (no unit: a bare number is ambiguous between sat and cents), `1.505usd`
    /// (more decimals than cents), `1.5sat`, `-1sat`, `+1sat`, `1e3sat`, `.5usd`, `1.usd`.
    ///
    /// - Parameters:
    ///   - text: the amount.
    ///   - extraUnits: custom ISO units (from `MoneyUnit(isoCode:exponent:)`) to recognise as well.
    /// - Throws: `malformed`, `unknownUnit`, `tooManyDecimals`, `overflow`.
    public init(parsing text: String, extraUnits: [MoneyUnit] = []) throws(MoneyError) {
        let bytes = Array(text.utf8)
        var index = 0
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        while index < bytes.count, isSpace(bytes[index]) { index += 1 }

        var whole: [UInt8] = []
        while index < bytes.count, isDigit(bytes[index]) { whole.append(bytes[index]); index += 1 }
        guard !whole.isEmpty else {
            throw MoneyError.malformed("\"\(text)\" does not start with a digit")
        }
        var fraction: [UInt8] = []
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            while index < bytes.count, isDigit(bytes[index]) { fraction.append(bytes[index]); index += 1 }
            guard !fraction.isEmpty else {
                throw MoneyError.malformed("\"\(text)\" has a decimal point without digits after it")
            }
        }
        while index < bytes.count, isSpace(bytes[index]) { index += 1 }
        var codeEnd = bytes.count
        while codeEnd > index, isSpace(bytes[codeEnd - 1]) { codeEnd -= 1 }
        let codeBytes = bytes[index..<codeEnd]
        guard !codeBytes.isEmpty else {
            throw MoneyError.malformed("\"\(text)\" has no unit")
        }
        guard codeBytes.allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) else {
            throw MoneyError.malformed("\"\(text)\" has a unit that is not letters only")
        }
        let code = String(decoding: codeBytes, as: UTF8.self).lowercased()
        let unit: MoneyUnit
        if let extra = extraUnits.first(where: { $0.code == code }) {
            unit = extra
        } else {
            unit = try MoneyUnit(code: code)
        }
        guard fraction.count <= unit.exponent else {
            if unit.exponent == 0 {
                throw MoneyError.malformed("\"\(text)\": \(unit) has no fractional part")
            }
            throw MoneyError.tooManyDecimals(text, allowed: unit.exponent)
        }
        let padding = [UInt8](repeating: 0x30, count: unit.exponent - fraction.count)
        var value: Int64 = 0
        for byte in whole + fraction + padding {
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = shifted.addingReportingOverflow(Int64(byte - 0x30))
            guard !overflowA, !overflowB else { throw MoneyError.overflow("\"\(text)\"") }
            value = next
        }
        self.init(uncheckedAmount: value, unit: unit)
    }
}

// MARK: - JSON

extension Money: Codable {
    private enum CodingKeys: String, CodingKey {
        case amount, unit, exponent
    }

    /// Decodes `{"amount": "150", "unit": "usd"}`; `exponent` is required only for custom units.
    ///
    /// The amount must be a JSON string of decimal digits: a JSON number is refused because decoders
    /// may route it through a `Double` and lose precision above 2^53.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .amount)
        let code = try container.decode(String.self, forKey: .unit)
        let exponent = try container.decodeIfPresent(Int.self, forKey: .exponent)
        do throws(MoneyError) {
            let unit: MoneyUnit
            if let exponent {
                unit = code == "sat" || code == "msat" ? try MoneyUnit(code: code) : try MoneyUnit(isoCode: code, exponent: exponent)
                guard unit.exponent == exponent else {
                    throw MoneyError.invalidUnit("\(code) has exponent \(unit.exponent), not \(exponent)")
                }
            } else {
                unit = try MoneyUnit(code: code)
            }
            guard let amount = Money.parseMinorUnits(text) else {
                throw MoneyError.malformed("amount \"\(text)\" is not a string of decimal digits that fits 64 bits")
            }
            self.init(uncheckedAmount: amount, unit: unit)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .amount, in: container, debugDescription: error.description)
        }
    }

    /// Encodes `{"amount": "150", "unit": "usd"}` (plus `exponent` for custom units).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(String(amount), forKey: .amount)
        try container.encode(unit.code, forKey: .unit)
        if !unit.isBuiltIn {
            try container.encode(unit.exponent, forKey: .exponent)
        }
    }

    /// Parses a wire amount: ASCII decimal digits only (no sign, no spaces, no exponent), fitting Int64.
    ///
    /// Public so wire codecs and receipt verifiers apply the exact same rule.
    public static func parseMinorUnits(_ text: String) -> Int64? {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= 19, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        return Int64(text)
    }
}
