import Foundation

// The claims of the receipt a server signs after a grant (PROTOCOLS.md section 5). This module only
// builds and reads them; signing lives in PayRailReceipts, which depends on crypto. Amounts are decimal
// strings of minor units so that no JOSE library on the other side can round them through a double.

/// The payload of a PayRail receipt token.
///
/// Unknown claims are ignored when decoding, so issuers can add claims without breaking verifiers.
public struct ReceiptClaims: Hashable, Sendable, Codable {
    /// Issuer: the server's realm.
    public let iss: String
    /// Subject: the resource granted, `METHOD /path`.
    public let sub: String
    /// Token id: the challenge id that was paid.
    public let jti: String
    /// Issued at, unix seconds.
    public let iat: Int64
    /// End of the grant, unix seconds; the receipt replays the resource until then.
    public let exp: Int64
    /// The rail that was used (`lightning`, `stripe`, `fake`).
    public let method: String
    /// The amount paid, decimal string of minor units.
    public let amount: String
    /// The unit code of `amount` (`sat`, `usd`, ...).
    public let currency: String
    /// The rail's public reference (payment hash, PaymentIntent id); never a secret.
    public let ref: String

    /// Claims exactly as given, e.g. read back from a verified token; no check is made here.
    public init(
        iss: String, sub: String, jti: String, iat: Int64, exp: Int64,
        method: String, amount: String, currency: String, ref: String
    ) {
        self.iss = iss
        self.sub = sub
        self.jti = jti
        self.iat = iat
        self.exp = exp
        self.method = method
        self.amount = amount
        self.currency = currency
        self.ref = ref
    }

    /// Builds claims from a settlement, decided at `issuedAt` and valid for `grantSeconds`.
    ///
    /// - Throws: `ReceiptClaimsError` when the issuer or challenge id is empty, the grant is not
    ///   positive, or the expiry overflows.
    public init(
        settlement: Settlement, issuer: String, resource: Resource, challengeID: String,
        issuedAt: Date, grantSeconds: Int64
    ) throws(ReceiptClaimsError) {
        guard !issuer.isEmpty else { throw ReceiptClaimsError(reason: "the issuer (realm) is empty") }
        guard !challengeID.isEmpty else { throw ReceiptClaimsError(reason: "the challenge id is empty") }
        guard grantSeconds > 0 else {
            throw ReceiptClaimsError(reason: "the grant must last at least one second, got \(grantSeconds)")
        }
        let seconds = issuedAt.timeIntervalSince1970.rounded(.down)
        guard seconds >= 0, seconds < 9_000_000_000_000 else {
            throw ReceiptClaimsError(reason: "issue time \(issuedAt) is out of range")
        }
        let iat = Int64(seconds)
        let (exp, overflow) = iat.addingReportingOverflow(grantSeconds)
        guard !overflow else { throw ReceiptClaimsError(reason: "the grant end overflows") }
        self.iss = issuer
        self.sub = resource.description
        self.jti = challengeID
        self.iat = iat
        self.exp = exp
        self.method = settlement.rail.rawValue
        self.amount = String(settlement.amount.amount)
        self.currency = settlement.amount.unit.code
        self.ref = settlement.reference
    }

    /// The amount paid as `Money`.
    ///
    /// - Throws: `MoneyError` when `amount` is not a digit string or `currency` is unknown.
    public func money(extraUnits: [MoneyUnit] = []) throws(MoneyError) -> Money {
        guard let value = Money.parseMinorUnits(amount) else {
            throw MoneyError.malformed("receipt amount \"\(amount)\" is not a string of decimal digits")
        }
        let unit: MoneyUnit
        if let extra = extraUnits.first(where: { $0.code == currency }) {
            unit = extra
        } else {
            unit = try MoneyUnit(code: currency)
        }
        return try Money(amount: value, unit: unit)
    }

    /// Whether the grant is still running at `date` (`iat <= now < exp`).
    public func isValid(at date: Date) -> Bool {
        let now = date.timeIntervalSince1970
        return Double(iat) <= now && now < Double(exp)
    }
}

/// Claims that cannot be issued as asked; a server configuration or caller bug.
public struct ReceiptClaimsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule broken.
    public let reason: String

    /// What was wrong.
    public var description: String { "cannot build receipt claims: \(reason)" }
}
