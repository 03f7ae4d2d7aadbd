// The unit half of a `Money` value. Money is always "an integer count of the unit's smallest
// denomination", so a unit must know how many decimal places sit between its major and minor units:
// that is all we need to parse and print human amounts ("1.50usd" is 150 cents) without floating point.

/// A unit of account: satoshi, millisatoshi or an ISO 4217 currency, with its minor-unit exponent.
///
/// Two units are the same only if code, exponent and kind all agree, so a custom unit can never be
/// silently mixed with a built-in one of the same name.
public struct MoneyUnit: Hashable, Sendable, CustomStringConvertible {
    /// What family a unit belongs to; decides which conversions exist and how it is formatted.
    public enum Kind: String, Hashable, Sendable {
        /// Bitcoin-denominated units (`sat`, `msat`), convertible into each other exactly.
        case bitcoin
        /// An ISO 4217 currency; never converted implicitly to anything.
        case iso4217
    }

    /// Lowercase code as used on the wire (`sat`, `msat`, `usd`, `jpy`).
    public let code: String
    /// Decimal places between the major unit a human writes and the minor unit the amount counts
    /// (2 for USD cents, 0 for JPY and for sat/msat, 3 for KWD).
    public let exponent: Int
    /// The family of this unit.
    public let kind: Kind

    private init(code: String, exponent: Int, kind: Kind) {
        self.code = code
        self.exponent = exponent
        self.kind = kind
    }

    /// Satoshi, the unit of Lightning invoices and of the Payment scheme's `sat` currency.
    public static let sat = MoneyUnit(code: "sat", exponent: 0, kind: .bitcoin)
    /// Millisatoshi, the unit Lightning routes in; 1 sat = 1000 msat.
    public static let msat = MoneyUnit(code: "msat", exponent: 0, kind: .bitcoin)
    /// US dollar, counted in cents.
    public static let usd = MoneyUnit(code: "usd", exponent: 2, kind: .iso4217)
    /// Euro, counted in cents.
    public static let eur = MoneyUnit(code: "eur", exponent: 2, kind: .iso4217)
    /// Pound sterling, counted in pence.
    public static let gbp = MoneyUnit(code: "gbp", exponent: 2, kind: .iso4217)
    /// Japanese yen, which has no minor unit.
    public static let jpy = MoneyUnit(code: "jpy", exponent: 0, kind: .iso4217)

    /// ISO 4217 minor-unit exponents of the currencies PayRail knows without being told.
    ///
    /// Source: the ISO 4217 list (SIX Group). Processors sometimes deviate (Stripe treats a few
    /// currencies specially); such deviations belong in the rail adapter, not here.
    public static let knownISOExponents: [String: Int] = [
        "usd": 2, "eur": 2, "gbp": 2, "chf": 2, "cad": 2, "aud": 2, "nzd": 2, "cny": 2, "hkd": 2,
        "sgd": 2, "sek": 2, "nok": 2, "dkk": 2, "pln": 2, "czk": 2, "huf": 2, "inr": 2, "brl": 2,
        "mxn": 2, "zar": 2, "try": 2, "ils": 2, "thb": 2, "twd": 2, "idr": 2, "php": 2, "aed": 2,
        "sar": 2, "ron": 2, "myr": 2,
        "jpy": 0, "krw": 0, "clp": 0, "vnd": 0, "isk": 0, "ugx": 0, "pyg": 0, "xaf": 0, "xof": 0,
        "kwd": 3, "bhd": 3, "omr": 3, "jod": 3, "tnd": 3, "lyd": 3, "iqd": 3,
    ]

    /// Looks up a built-in unit by code, case-insensitively (`"USD"`, `"sat"`).
    ///
    /// - Throws: `MoneyError.unknownUnit` when the code is neither `sat`, `msat` nor in
    ///   `knownISOExponents`; use `init(isoCode:exponent:)` for other currencies.
    public init(code: String) throws(MoneyError) {
        let lower = code.lowercased()
        switch lower {
        case "sat": self = .sat
        case "msat": self = .msat
        default:
            guard let exponent = Self.knownISOExponents[lower] else {
                throw MoneyError.unknownUnit(code)
            }
            self.init(code: lower, exponent: exponent, kind: .iso4217)
        }
    }

    /// Declares an ISO 4217 currency explicitly, for codes missing from the built-in table.
    ///
    /// - Parameters:
    ///   - isoCode: three ASCII letters, any case (stored lowercase).
    ///   - exponent: its minor-unit exponent, 0...4.
    /// - Throws: `MoneyError.invalidUnit` for a malformed code or exponent, or when the code is a
    ///   known currency declared with a different exponent (that would create two incompatible "usd"s).
    public init(isoCode: String, exponent: Int) throws(MoneyError) {
        let lower = isoCode.lowercased()
        guard lower.utf8.count == 3, lower.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else {
            throw MoneyError.invalidUnit("an ISO 4217 code is three letters, got \"\(isoCode)\"")
        }
        guard lower != "sat" else {
            throw MoneyError.invalidUnit("\"sat\" is the satoshi, not an ISO 4217 currency")
        }
        guard (0...4).contains(exponent) else {
            throw MoneyError.invalidUnit("a minor-unit exponent is between 0 and 4, got \(exponent)")
        }
        if let known = Self.knownISOExponents[lower], known != exponent {
            throw MoneyError.invalidUnit("\(lower) has exponent \(known) in ISO 4217, not \(exponent)")
        }
        self.init(code: lower, exponent: exponent, kind: .iso4217)
    }

    /// Whether this unit comes from the built-in table (so its code alone identifies it on the wire).
    public var isBuiltIn: Bool {
        switch kind {
        case .bitcoin: return true
        case .iso4217: return Self.knownISOExponents[code] == exponent
        }
    }

    /// The wire code, e.g. `usd`.
    public var description: String { code }
}
