import Foundation

// The fields of Stripe's `payment_intent` schema (stripe/openapi spec3.json, components.schemas.
// payment_intent) that decide a grant. `latest_charge` is `anyOf [string, charge]`: an id unless
// expanded, and localstripe always embeds the object, so both are read.

/// The PaymentIntent fields the rail reads.
public struct StripePaymentIntent: Sendable, Hashable, Decodable {
    /// `pi_…`.
    public let id: String
    /// The amount in the currency's smallest unit.
    public let amount: Int64
    /// What was collected (`amount_received`); absent in localstripe.
    public let amountReceived: Int64?
    /// What can still be captured on an authorization (`amount_capturable`).
    public let amountCapturable: Int64?
    /// Lowercase ISO 4217 code.
    public let currency: String
    /// `requires_payment_method`, `requires_confirmation`, `requires_action`, `processing`,
    /// `requires_capture`, `canceled` or `succeeded`.
    public let status: String
    /// The secret the payer confirms with; absent when the key cannot see it.
    public let clientSecret: String?
    /// Our binding: `payrail_challenge`, `payrail_offer`.
    public let metadata: [String: String]
    /// `automatic`, `automatic_async` or `manual`.
    public let captureMethod: String?
    /// The latest charge's id.
    public let latestChargeID: String?
    /// The latest charge's creation time, when it was embedded.
    public let latestChargeCreated: Int64?
    /// Why the last attempt failed (`last_payment_error`: code and decline code).
    public let lastPaymentErrorCode: String?
    /// The issuer's decline code of the last failed attempt.
    public let lastPaymentErrorDeclineCode: String?
    /// Creation time, Unix seconds.
    public let created: Int64?

    enum CodingKeys: String, CodingKey {
        case id, object, amount, currency, status, metadata, created
        case amountReceived = "amount_received", amountCapturable = "amount_capturable"
        case clientSecret = "client_secret", captureMethod = "capture_method"
        case latestCharge = "latest_charge", lastPaymentError = "last_payment_error"
    }

    private struct EmbeddedCharge: Decodable {
        let id: String
        let created: Int64?
    }

    private struct PaymentError: Decodable {
        let code: String?
        let decline_code: String?
    }

    /// Decodes a `payment_intent` object and refuses anything else.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let object = try container.decodeIfPresent(String.self, forKey: .object)
        guard object == nil || object == "payment_intent" else {
            throw DecodingError.dataCorruptedError(forKey: .object, in: container, debugDescription: "not a payment_intent")
        }
        id = try container.decode(String.self, forKey: .id)
        amount = try container.decode(Int64.self, forKey: .amount)
        amountReceived = try container.decodeIfPresent(Int64.self, forKey: .amountReceived)
        amountCapturable = try container.decodeIfPresent(Int64.self, forKey: .amountCapturable)
        currency = try container.decode(String.self, forKey: .currency).lowercased()
        status = try container.decode(String.self, forKey: .status)
        clientSecret = try container.decodeIfPresent(String.self, forKey: .clientSecret)
        metadata = try container.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:]
        captureMethod = try container.decodeIfPresent(String.self, forKey: .captureMethod)
        created = try container.decodeIfPresent(Int64.self, forKey: .created)
        if let chargeID = try? container.decodeIfPresent(String.self, forKey: .latestCharge) {
            latestChargeID = chargeID
            latestChargeCreated = nil
        } else if let charge = try? container.decodeIfPresent(EmbeddedCharge.self, forKey: .latestCharge) {
            latestChargeID = charge.id
            latestChargeCreated = charge.created
        } else {
            latestChargeID = nil
            latestChargeCreated = nil
        }
        let error = try? container.decodeIfPresent(PaymentError.self, forKey: .lastPaymentError)
        lastPaymentErrorCode = error?.code
        lastPaymentErrorDeclineCode = error?.decline_code
    }
}

/// The `refund` fields the rail reads (schema `refund`).
public struct StripeRefund: Sendable, Hashable, Decodable {
    /// `re_…`.
    public let id: String
    /// The amount refunded, smallest currency unit.
    public let amount: Int64
    /// Lowercase ISO 4217 code.
    public let currency: String
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    public let status: String?
    /// The PaymentIntent refunded, when Stripe says.
    public let paymentIntent: String?

    enum CodingKeys: String, CodingKey {
        case id, amount, currency, status
        case paymentIntent = "payment_intent"
    }
}

/// The `charge` fields the rail reads (schema `charge`): when the payment was made, and how much of it
/// can still be refunded.
struct StripeCharge: Sendable, Hashable, Decodable {
    let id: String
    let created: Int64
    let amount: Int64?
    let amountCaptured: Int64?
    let amountRefunded: Int64?
    let captured: Bool?
    /// Whether a dispute was opened on the charge.
    let disputed: Bool?

    enum CodingKeys: String, CodingKey {
        case id, created, amount, captured, disputed
        case amountCaptured = "amount_captured", amountRefunded = "amount_refunded"
    }

    /// Captured minus refunded. localstripe has no `amount_captured` (a partial capture refunds the
    /// rest instead), so a captured charge without it counts its whole `amount`.
    var refundable: Int64 {
        let captured = amountCaptured ?? ((self.captured ?? false) ? (amount ?? 0) : 0)
        return max(0, captured - (amountRefunded ?? 0))
    }
}

/// A `list`/`search_result` of PaymentIntents.
struct StripePaymentIntentList: Sendable, Decodable {
    let data: [StripePaymentIntent]
}

/// A Stripe answer and whether it was a replay of an earlier request with the same Idempotency-Key.
public struct StripeReply<Value: Sendable>: Sendable {
    /// The decoded object.
    public let value: Value
    /// `Idempotent-Replayed: true`: Stripe returned the saved answer of an earlier request with this
    /// key instead of acting again (our earlier attempt went through; nothing happened twice).
    public let replayed: Bool
    /// Stripe's `Request-Id`.
    public let requestID: String?
}

/// The `shared_payment.issued_token` fields the payer reads (private preview, stripe/openapi
/// fixtures3.private_preview.json `resources["shared_payment.issued_token"]`).
public struct StripeIssuedToken: Sendable, Hashable, Decodable {
    /// The limits the token carries.
    public struct UsageLimits: Sendable, Hashable, Decodable {
        /// Lowercase ISO 4217 code.
        public let currency: String
        /// The most that can be charged, smallest currency unit.
        public let maxAmount: Int64?

        enum CodingKeys: String, CodingKey {
            case currency
            case maxAmount = "max_amount"
        }
    }

    /// `spt_…`.
    public let id: String
    /// `active`, …
    public let status: String?
    /// The limits.
    public let usageLimits: UsageLimits?

    enum CodingKeys: String, CodingKey {
        case id, status
        case usageLimits = "usage_limits"
    }
}
