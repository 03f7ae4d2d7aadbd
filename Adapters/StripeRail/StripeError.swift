import Foundation
import PayRail

// Stripe says what went wrong in two places: the HTTP status and the `error` object (schema `error`
// → `api_errors` in stripe/openapi: `type`, `code`, `decline_code`, `param`, `message`). What may be
// retried follows from both (https://docs.stripe.com/error-low-level and /api/idempotent_requests):
// a timeout, 409, 429 or 5xx may be sent again with the SAME Idempotency-Key, which can never charge
// twice; a card error must not be sent again with the same token; 400/401/403/404 are our own
// configuration or a bug, and sending them again changes nothing.
//
// Stripe's `message` is never copied into a RailError: it can quote request parameters back (an
// intent id, a token), and rail errors must not carry what a credential carried.

/// What a caller may do after a Stripe failure.
public enum StripeRetry: String, Sendable, Hashable {
    /// Send the same request again with the same Idempotency-Key (timeout, 409, 429, 5xx).
    case sameKey
    /// A card decline: never again with the same token or payment method; the payer needs another.
    case newPaymentMethod
    /// Our request or configuration is wrong (400/401/403/404): fix it; a retry fails the same way.
    case fixConfiguration
    /// An `idempotency_error`: the same key was used with other parameters. A bug; surface it.
    case never
}

/// Stripe's `error` object and the HTTP facts around it.
public struct StripeAPIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status.
    public let status: Int
    /// `api_error`, `card_error`, `idempotency_error` or `invalid_request_error`.
    public let type: String?
    /// Stripe's error code (`card_declined`, `resource_missing`, `payment_intent_unexpected_state`, …).
    public let code: String?
    /// For card errors, the issuer's reason (`insufficient_funds`, `lost_card`, …).
    public let declineCode: String?
    /// The request parameter at fault, if any (a name, never a value).
    public let param: String?
    /// Stripe's `Request-Id` header, for support requests.
    public let requestID: String?

    /// Creates an error.
    public init(status: Int, type: String?, code: String?, declineCode: String? = nil, param: String? = nil, requestID: String? = nil) {
        self.status = status
        self.type = type
        self.code = code
        self.declineCode = declineCode
        self.param = param
        self.requestID = requestID
    }

    /// Reads the `error` object of an error answer; a body that is not one still gives the status.
    init(response: StripeHTTPResponse) {
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        let error = object?["error"] as? [String: Any]
        self.init(
            status: response.status, type: error?["type"] as? String, code: error?["code"] as? String,
            declineCode: error?["decline_code"] as? String, param: error?["param"] as? String,
            requestID: response.headers["request-id"])
    }

    /// Whether Stripe refused a card (a decline). localstripe reports declines as 402 with type
    /// `invalid_request_error`, so the status counts as much as the type.
    public var isCardError: Bool { type == "card_error" || status == 402 }

    /// What may be done about it.
    public var retry: StripeRetry {
        if type == "idempotency_error" { return .never }
        if isCardError { return .newPaymentMethod }
        if status == 409 || status == 429 || status >= 500 { return .sameKey }
        return .fixConfiguration
    }

    /// Status, type, codes, parameter name and request id; never Stripe's free-text message.
    public var description: String {
        var parts = ["HTTP \(status)"]
        if let type { parts.append("type \(type)") }
        if let code { parts.append("code \(code)") }
        if let declineCode { parts.append("decline_code \(declineCode)") }
        if let param { parts.append("param \(param)") }
        if let requestID { parts.append("request \(requestID)") }
        return "Stripe error (" + parts.joined(separator: ", ") + ")"
    }
}

/// A failed Stripe call.
public enum StripeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No answer, or no request sent.
    case transport(StripeTransportFailure)
    /// Stripe answered with an error.
    case api(StripeAPIError)
    /// Stripe answered 2xx with something that is not the object asked for.
    case unexpectedAnswer(String)
    /// An identifier that cannot be put in a request path (only `[A-Za-z0-9_]` are).
    case invalidIdentifier(String)

    /// What may be done about it.
    public var retry: StripeRetry {
        switch self {
        case .transport, .unexpectedAnswer: return .sameKey
        case .api(let error): return error.retry
        case .invalidIdentifier: return .fixConfiguration
        }
    }

    /// The failure in words, free of secrets and of Stripe's message.
    public var description: String {
        switch self {
        case .transport(.notSent(let why)): return "Stripe was not reached (\(why))"
        case .transport(.noAnswer(let why)): return "Stripe did not answer (\(why))"
        case .api(let error): return error.description
        case .unexpectedAnswer(let why): return "Stripe's answer was not understood: \(why)"
        case .invalidIdentifier(let what): return "not a Stripe identifier: \(what)"
        }
    }

    /// The `RailError` a rail throws for this failure when nothing more specific applies.
    ///
    /// timeouts → `timedOut`/afterLookup; not sent, 409, 429 → `unavailable`/safe (retried with the
    /// same key it cannot pay twice); 5xx or an answer not understood → `unavailable`/afterLookup;
    /// card errors → `declined`; `idempotency_error` → `StripeRailCodes.idempotencyError`;
    /// 400/401/403/404 → `StripeRailCodes.configuration`.
    public func railError(_ operation: String, rail: RailID = .stripe) -> RailError {
        switch self {
        case .transport(.notSent):
            return RailError(.unavailable, "\(operation): \(description)", retry: .safe, rail: rail)
        case .transport(.noAnswer):
            return RailError(.timedOut, "\(operation): \(description); a retry reuses the same Idempotency-Key", retry: .afterLookup, rail: rail)
        case .unexpectedAnswer:
            return RailError(.unavailable, "\(operation): \(description)", retry: .afterLookup, rail: rail)
        case .invalidIdentifier:
            return RailError(.malformed, "\(operation): \(description)", rail: rail)
        case .api(let error):
            switch error.retry {
            case .newPaymentMethod:
                let why = error.declineCode ?? error.code ?? "declined"
                return RailError(.declined, "\(operation): the card was declined (\(why)); \(error.description)", rail: rail,
                                 declineCode: error.declineCode)
            case .never:
                return RailError(StripeRailCodes.idempotencyError, "\(operation): \(error.description): one Idempotency-Key was reused with other parameters (a PayRail bug)", retry: .unsafe, rail: rail)
            case .sameKey:
                let advice: RetryAdvice = error.status >= 500 ? .afterLookup : .safe
                return RailError(.unavailable, "\(operation): \(error.description); retry with the same Idempotency-Key", retry: advice, rail: rail)
            case .fixConfiguration:
                return RailError(StripeRailCodes.configuration, "\(operation): \(error.description): a configuration error or a PayRail bug", retry: .unsafe, rail: rail)
            }
        }
    }
}

/// The `RailError` codes the Stripe rail adds to the shared ones.
public enum StripeRailCodes {
    /// Stripe refused the request as malformed or unauthorized (400/401/403/404): the key, the API
    /// base or PayRail itself is wrong. Not the payer's fault; repeating it fails the same way.
    public static let configuration = RailError.Code(rawValue: "configuration")
    /// Stripe's `idempotency_error`: one key reused with different parameters. A PayRail bug, never retried.
    public static let idempotencyError = RailError.Code(rawValue: "idempotencyError")
    /// The payment is `processing` at Stripe: not paid yet, not failed; present it again later.
    public static let pending = RailError.Code(rawValue: "pending")
}
