// Every rail failure answers the question a payer's code must ask before anything else: "may I try
// again?" Retrying a payment blindly can pay twice; never retrying can strand a paid request. So the
// advice is part of the error, and `description` turns it into a sentence for humans.

/// Whether repeating the failed operation is safe, stated in terms of money.
public enum RetryAdvice: String, Hashable, Sendable, Codable, CustomStringConvertible {
    /// Nothing happened (e.g. the processor was unreachable before anything was sent): retry freely.
    case safe
    /// Do not repeat the same operation: it will fail again, or it could pay twice.
    case unsafe
    /// The outcome is unknown (e.g. timed out mid-payment): look the payment up before any retry.
    case afterLookup

    /// The instruction in words.
    public var description: String {
        switch self {
        case .safe: return "nothing was paid; retrying is safe"
        case .unsafe: return "do not retry the same operation"
        case .afterLookup: return "the outcome is unknown; look the payment up before retrying, never pay again blindly"
        }
    }
}

/// A failure reported by a rail (payee or payer side).
///
/// `reason` is written by the rail for humans and logs; rails must never put a secret in it (no
/// preimage, voucher, token or key). `description` adds what to do next.
public struct RailError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure; a struct of static values so rails can add codes without breaking callers.
    public struct Code: Hashable, Sendable, Codable, CustomStringConvertible {
        /// Stable identifier for logs, metrics and problem details.
        public let rawValue: String

        /// Creates a code (use the static values; custom rails may add their own).
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The rail or its processor refused the payment (card declined, route refused).
        public static let declined = Code(rawValue: "declined")
        /// The payer's balance or budget does not cover the total.
        public static let insufficientFunds = Code(rawValue: "insufficientFunds")
        /// The offer or challenge expired; ask the payee for a fresh one.
        public static let expired = Code(rawValue: "expired")
        /// The rail did not answer in time after the request may have been acted on.
        public static let timedOut = Code(rawValue: "timedOut")
        /// The rail could not be reached or is temporarily down.
        public static let unavailable = Code(rawValue: "unavailable")
        /// The input is not well formed (missing payload field, undecodable voucher).
        public static let malformed = Code(rawValue: "malformed")
        /// This offer was already settled; a second settlement would grant twice.
        public static let alreadySettled = Code(rawValue: "alreadySettled")
        /// Credential and offer disagree (amount, payee, offer id, rail).
        public static let mismatch = Code(rawValue: "mismatch")
        /// Unit or amount outside what the rail supports.
        public static let unsupported = Code(rawValue: "unsupported")
        /// The proof is well formed but false (bad signature, wrong preimage).
        public static let invalidProof = Code(rawValue: "invalidProof")
        /// The payer's issuer asks for an authentication (3-D Secure) that can only happen with the
        /// cardholder present; nothing was held.
        public static let authenticationRequired = Code(rawValue: "authenticationRequired")

        /// The advice a rail gives for this code unless it knows better.
        public var defaultAdvice: RetryAdvice {
            switch self {
            case .unavailable: return .safe
            case .timedOut: return .afterLookup
            default: return .unsafe
            }
        }

        /// The advice values that make sense for this code; anything else misleads the payer.
        ///
        /// `unavailable` may be `.afterLookup` when the connection dropped after sending; `timedOut`
        /// is always `.afterLookup`; the refusals are always `.unsafe`. Custom codes allow anything.
        public var permittedAdvice: Set<RetryAdvice> {
            switch self {
            case .unavailable: return [.safe, .afterLookup]
            case .timedOut: return [.afterLookup]
            case .declined, .insufficientFunds, .expired, .malformed, .alreadySettled, .mismatch,
                 .unsupported, .invalidProof, .authenticationRequired:
                return [.unsafe]
            default: return [.safe, .unsafe, .afterLookup]
            }
        }

        /// What the caller should do about this kind of failure.
        public var nextStep: String {
            switch self {
            case .declined: return "choose another rail or payment method"
            case .insufficientFunds: return "fund the account or lower the spend, then request a fresh offer"
            case .expired: return "request a fresh challenge and pay that one"
            case .timedOut: return "look the payment up by its offer id before doing anything else"
            case .unavailable: return "try again later or use another rail"
            case .malformed: return "fix the message; sending it again unchanged will fail again"
            case .alreadySettled: return "use the receipt already issued; this payment counts once"
            case .mismatch: return "present the credential with the offer it was made for"
            case .unsupported: return "pick a unit and amount inside the rail's capabilities"
            case .invalidProof: return "obtain a genuine proof by paying the offer"
            case .authenticationRequired: return "pay with another method, or with a token the cardholder authenticated at checkout"
            default: return "see the reason"
            }
        }

        /// The stable identifier.
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// Human explanation, free of secrets.
    public let reason: String
    /// Whether and how the operation may be repeated.
    public let retry: RetryAdvice
    /// The rail that failed, when known.
    public let rail: RailID?
    /// For a `.declined` card, the issuer's reason as the processor names it (Stripe's
    /// `decline_code`, such as `insufficient_funds`): what the payer needs to pick another card.
    /// Only a short token of lowercase letters, digits and `_` is kept (it may reach the wire).
    public let declineCode: String?

    /// Creates an error; `retry` defaults to the code's `defaultAdvice`.
    public init(_ code: Code, _ reason: String, retry: RetryAdvice? = nil, rail: RailID? = nil, declineCode: String? = nil) {
        self.code = code
        self.reason = reason
        self.retry = retry ?? code.defaultAdvice
        self.rail = rail
        self.declineCode = declineCode.flatMap { text in
            let bytes = text.utf8
            let token = !bytes.isEmpty && bytes.count <= 64
                && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
            return token ? text : nil
        }
    }

    /// `<rail> <code>: <reason>; <next step>; <retry advice>`.
    public var description: String {
        let prefix = rail.map { "\($0) " } ?? ""
        return "\(prefix)\(code): \(reason); \(code.nextStep); \(retry)"
    }
}
