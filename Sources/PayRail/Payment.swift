import Foundation

// The nouns of one payment, in the order they appear: the server's `Price` for a resource, the
// `Charge` it asks a rail to prepare, the rail's `Offer` sent to the agent, the agent's `Quote` and
// `Credential`, and the rail's `Settlement`. Rail-specific data travels in flat string maps so that
// Lightning, Stripe, the fake processor and future rails fit without changing these types.

/// What one resource costs on each rail the server accepts (e.g. 100 sat or 0.05 usd).
public struct Price: Hashable, Sendable, Codable {
    /// The amount asked per rail.
    public let amounts: [RailID: Money]

    /// A price with at least one rail.
    ///
    /// - Throws: `PriceError` when `amounts` is empty (a resource nobody can pay for is a config bug).
    public init(_ amounts: [RailID: Money]) throws(PriceError) {
        guard !amounts.isEmpty else { throw PriceError() }
        self.amounts = amounts
    }

    /// The amount for one rail, or `nil` when this resource cannot be paid on it.
    public func amount(on rail: RailID) -> Money? { amounts[rail] }

    /// The rails this price accepts, sorted by name for stable output.
    public var rails: [RailID] { amounts.keys.sorted { $0.rawValue < $1.rawValue } }

    private enum CodingKeys: String, CodingKey {
        case amounts
    }

    /// Decodes and re-checks that at least one rail is priced, as `init(_:)` does, so a stored or
    /// received price can never be one nobody can pay.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let amounts = try container.decode([RailID: Money].self, forKey: .amounts)
        do {
            try self.init(amounts)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .amounts, in: container, debugDescription: error.description)
        }
    }
}

/// A price without any rail; add at least one rail amount to the pricing rule.
public struct PriceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The explanation.
    public var description: String { "a price needs an amount for at least one rail" }
}

/// What the server asks a rail to prepare: an amount for a resource, bound to one challenge.
public struct Charge: Hashable, Sendable {
    /// The amount to collect.
    public let amount: Money
    /// The resource being paid for.
    public let resource: Resource
    /// A human description (shown by wallets; may end up in an invoice description).
    public let description: String?
    /// The latest moment the payment may be accepted; the rail's offer must not outlive it.
    public let expiresAt: Date
    /// The challenge id the payment is bound to, so a proof for one challenge cannot buy another.
    public let challengeID: String
    /// RFC 9530 digest of the request body, when the price covers a body (POST of a job, ...).
    public let bodyDigest: String?
    /// A 32-byte hash of the request that the rail's payment request must commit to, so a payment for
    /// one request cannot buy another (x402 `lnbtc`: the Lightning invoice's description hash); `nil`
    /// when the dialects in use need no such binding.
    public let commitment: [UInt8]?

    /// Creates a charge.
    ///
    /// - Throws: `ChargeError` when `challengeID` is empty or `commitment` is not 32 bytes.
    public init(
        amount: Money, resource: Resource, description: String? = nil, expiresAt: Date,
        challengeID: String, bodyDigest: String? = nil, commitment: [UInt8]? = nil
    ) throws(ChargeError) {
        guard !challengeID.isEmpty else { throw ChargeError(reason: "the challenge id is empty") }
        if let commitment, commitment.count != 32 {
            throw ChargeError(reason: "a request commitment is 32 bytes, not \(commitment.count)")
        }
        self.amount = amount
        self.resource = resource
        self.description = description
        self.expiresAt = expiresAt
        self.challengeID = challengeID
        self.bodyDigest = bodyDigest
        self.commitment = commitment
    }

    /// The same charge for another amount (used to probe a rail's limits).
    public func with(amount newAmount: Money) -> Charge {
        Charge(unchecked: newAmount, self)
    }

    private init(unchecked amount: Money, _ other: Charge) {
        self.amount = amount
        resource = other.resource
        description = other.description
        expiresAt = other.expiresAt
        challengeID = other.challengeID
        bodyDigest = other.bodyDigest
        commitment = other.commitment
    }
}

/// A charge that cannot be prepared as given; fix the caller.
public struct ChargeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule broken.
    public let reason: String

    /// What was wrong.
    public var description: String { "invalid charge: \(reason)" }
}

/// What a payee's rail asks the payer to pay: one rail, one amount, one payee, until `expiresAt`.
///
/// `details` carries the rail's own request, flat, exactly as the wire dialects need it, e.g.
/// lightning `invoice`, `paymentHash`, `network`; stripe `networkId`, `paymentMethodTypes`;
/// fake `processorKey`, `requestID`.
public struct Offer: Hashable, Sendable, Codable {
    /// The rail that must be used.
    public let rail: RailID
    /// The exact amount the payee will accept.
    public let amount: Money
    /// Who gets paid, in the rail's terms (node key, Stripe account, fake account id). Never empty.
    public let payee: String
    /// After this moment the payee refuses the payment.
    public let expiresAt: Date
    /// The rail's id for this request (payment hash, request id); credentials refer to it.
    public let id: String
    /// Rail-specific request fields.
    public let details: [String: String]

    /// Creates an offer.
    public init(rail: RailID, amount: Money, payee: String, expiresAt: Date, id: String, details: [String: String] = [:]) {
        self.rail = rail
        self.amount = amount
        self.payee = payee
        self.expiresAt = expiresAt
        self.id = id
        self.details = details
    }
}

/// The payer's proof of payment for one offer: a preimage, a shared payment token, a voucher.
///
/// `payload` holds secrets. `description` and reflection (`dump`, string interpolation, debuggers)
/// show only its keys, so a credential can be logged without leaking the proof.
public struct Credential: Hashable, Sendable, Codable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The rail the proof belongs to.
    public let rail: RailID
    /// The offer this proof pays.
    public let offerID: String
    /// Rail-specific proof fields (`preimage`, `spt`, `voucher`, ...). Secret.
    public let payload: [String: String]
    /// Who paid, when the rail knows (fake account id, Stripe customer); optional.
    public let payerID: String?

    /// Creates a credential.
    public init(rail: RailID, offerID: String, payload: [String: String], payerID: String? = nil) {
        self.rail = rail
        self.offerID = offerID
        self.payload = payload
        self.payerID = payerID
    }

    /// A log-safe summary: rail, offer id, payload keys only.
    public var description: String {
        let keys = payload.keys.sorted().joined(separator: ",")
        return "Credential(rail: \(rail), offer: \(offerID), payload keys: [\(keys)], payer: \(payerID ?? "-"))"
    }

    /// Same as `description`: never the secret values.
    public var debugDescription: String { description }

    /// Hides payload values from `dump` and debuggers.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "rail": rail, "offerID": offerID, "payloadKeys": payload.keys.sorted(), "payerID": payerID as Any,
        ])
    }
}

/// Whether a settlement moved the money for good or only reserved it.
///
/// Lightning, the fake processor and an immediately captured card payment are final when `settle`
/// returns. A card payment authorized for capture later (x402 `auth-capture`, a PaymentIntent with
/// `capture_method=manual`) is only an authorization: the gate grants on it, then the rail's
/// `finish(_:served:)` captures it when the response was served or voids it when it was not. Until
/// then the payer's funds are held, never taken twice.
public enum SettlementKind: Hashable, Sendable, Codable {
    /// The money moved; nothing remains to be done.
    case final
    /// The money is held until `expiresAt` and must be captured (or voided) before then.
    case authorization(expiresAt: Date)

    /// Whether the money already moved.
    public var isFinal: Bool { self == .final }
}

/// What the rail confirmed: this offer was paid, for this amount, with this rail reference.
public struct Settlement: Hashable, Sendable, Codable {
    /// The rail that settled.
    public let rail: RailID
    /// The offer that was paid.
    public let offerID: String
    /// The rail's public reference (payment hash, PaymentIntent id, fake payment id); never a secret.
    public let reference: String
    /// The amount settled (equal to the offer's amount).
    public let amount: Money
    /// When the rail confirmed it.
    public let settledAt: Date
    /// Whether the money moved for good or is only authorized (to be captured by `finish`).
    public let kind: SettlementKind

    /// Creates a settlement (final unless `kind` says it is an authorization).
    public init(rail: RailID, offerID: String, reference: String, amount: Money, settledAt: Date, kind: SettlementKind = .final) {
        self.rail = rail
        self.offerID = offerID
        self.reference = reference
        self.amount = amount
        self.settledAt = settledAt
        self.kind = kind
    }

    private enum CodingKeys: String, CodingKey {
        case rail, offerID, reference, amount, settledAt, kind
    }

    /// Reads a settlement; one written before `kind` existed is final (every rail then was).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        rail = try container.decode(RailID.self, forKey: .rail)
        offerID = try container.decode(String.self, forKey: .offerID)
        reference = try container.decode(String.self, forKey: .reference)
        amount = try container.decode(Money.self, forKey: .amount)
        settledAt = try container.decode(Date.self, forKey: .settledAt)
        kind = try container.decodeIfPresent(SettlementKind.self, forKey: .kind) ?? .final
    }

    /// Writes a settlement; a final one is written without `kind`, as before authorizations existed,
    /// so stored and canned forms stay byte-identical.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rail, forKey: .rail)
        try container.encode(offerID, forKey: .offerID)
        try container.encode(reference, forKey: .reference)
        try container.encode(amount, forKey: .amount)
        try container.encode(settledAt, forKey: .settledAt)
        if kind != .final { try container.encode(kind, forKey: .kind) }
    }
}

/// What paying an offer will cost the payer: the amount plus the rail's fee.
public struct Quote: Hashable, Sendable, Codable {
    /// Whether `fee` is known exactly or only bounded (Lightning routing fees are known after paying).
    public enum FeeKind: String, Hashable, Sendable, Codable {
        /// The fee is exactly `fee`.
        case exact
        /// The fee will be at most `fee`; budgets must reserve the maximum.
        case maximum
    }

    /// The offer's amount.
    public let amount: Money
    /// The fee (exact or maximum, see `feeKind`).
    public let fee: Money
    /// Whether `fee` is exact or an upper bound.
    public let feeKind: FeeKind
    /// `amount + fee`: what a budget must reserve.
    public let total: Money

    /// Creates a quote and computes its total.
    ///
    /// - Throws: `MoneyError.unitMismatch` when the fee is in another unit (convert it first),
    ///   `overflow` when the total does not fit.
    public init(amount: Money, fee: Money, feeKind: FeeKind) throws(MoneyError) {
        self.amount = amount
        self.fee = fee
        self.feeKind = feeKind
        self.total = try amount.adding(fee)
    }

    /// A quote for a rail that charges the payer nothing on top.
    public static func free(_ amount: Money) -> Quote {
        Quote(amount: amount, fee: .zero(amount.unit), feeKind: .exact, total: amount)
    }

    private init(amount: Money, fee: Money, feeKind: FeeKind, total: Money) {
        self.amount = amount
        self.fee = fee
        self.feeKind = feeKind
        self.total = total
    }

    /// Decodes and re-checks `total == amount + fee`, so a tampered stored quote is refused.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let amount = try container.decode(Money.self, forKey: .amount)
        let fee = try container.decode(Money.self, forKey: .fee)
        let feeKind = try container.decode(FeeKind.self, forKey: .feeKind)
        let total = try container.decode(Money.self, forKey: .total)
        do {
            try self.init(amount: amount, fee: fee, feeKind: feeKind)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .total, in: container, debugDescription: error.description)
        }
        guard self.total == total else {
            throw DecodingError.dataCorruptedError(forKey: .total, in: container, debugDescription: "total is not amount + fee")
        }
    }
}
