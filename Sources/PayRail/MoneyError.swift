// Money errors are programming or input errors, never transient: retrying the same operation
// gives the same answer, so none of them carries retry advice.

/// Why a money value could not be built, parsed, combined or converted.
public enum MoneyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Amounts are never negative; a refund or a debit is a separate operation, not a negative amount.
    case negativeAmount(Int64)
    /// The result does not fit in a 64-bit count of minor units.
    case overflow(String)
    /// Two different units were combined; convert one explicitly first.
    case unitMismatch(MoneyUnit, MoneyUnit)
    /// A unit code that is not built in; declare it with `MoneyUnit(isoCode:exponent:)`.
    case unknownUnit(String)
    /// A unit declaration that cannot be right (bad code or exponent).
    case invalidUnit(String)
    /// A text that is not an amount with its unit; the payload says what was expected.
    case malformed(String)
    /// More decimals than the unit has (e.g. `1.505usd`); the caller must round deliberately.
    case tooManyDecimals(String, allowed: Int)
    /// A conversion that would lose value (e.g. 1500 msat to sat) without a rounding rule.
    case inexactConversion(Money, to: MoneyUnit)
    /// A conversion between units with no fixed rate (e.g. sat to usd).
    case noFixedRate(from: MoneyUnit, to: MoneyUnit)

    /// What went wrong and what to do instead.
    public var description: String {
        switch self {
        case .negativeAmount(let value):
            return "amount \(value) is negative; amounts are never negative, model refunds separately"
        case .overflow(let operation):
            return "\(operation) overflows a 64-bit amount; split the payment or check the input"
        case .unitMismatch(let left, let right):
            return "cannot combine \(left) with \(right); convert one of them explicitly first"
        case .unknownUnit(let code):
            return "unknown unit \"\(code)\"; use sat, msat or an ISO 4217 code, or declare it with MoneyUnit(isoCode:exponent:)"
        case .invalidUnit(let why):
            return "invalid unit: \(why)"
        case .malformed(let why):
            return "not an amount: \(why); write it like 500sat, 2000msat or 1.50usd"
        case .tooManyDecimals(let text, let allowed):
            return "\"\(text)\" has more than \(allowed) decimal place(s) for its unit; round it yourself first"
        case .inexactConversion(let money, let unit):
            return "\(money) is not a whole number of \(unit); pass a rounding rule (.up or .down)"
        case .noFixedRate(let from, let to):
            return "no fixed rate between \(from) and \(to); use an exchange rate source explicitly"
        }
    }
}
