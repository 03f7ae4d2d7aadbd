import PayRail
import PayRailStore

/// Why a paid call did not succeed, and what to do next.
public struct PayingClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; a struct of static values so later versions can add codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// Stable identifier for logs and the CLI's JSON.
        public let rawValue: String
        /// Creates a code (use the static values).
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The policy refused every offer (see `negotiation`); nothing was paid.
        public static let refusedByPolicy = Code(rawValue: "refusedByPolicy")
        /// A budget would be exceeded (see `budget`); nothing was paid.
        public static let overBudget = Code(rawValue: "overBudget")
        /// The server answered 402 with no offer this client can read; nothing was paid.
        public static let noOffers = Code(rawValue: "noOffers")
        /// Every wallet refused or failed to pay; nothing was paid (the reservations were released).
        public static let paymentFailed = Code(rawValue: "paymentFailed")
        /// A wallet may or may not have paid (it timed out): the spend stays pending; calling again
        /// with the same request resumes it without paying twice.
        public static let paymentOutcomeUnknown = Code(rawValue: "paymentOutcomeUnknown")
        /// Paid, but the server could not be reached with the credential: the spend stays pending;
        /// calling again with the same request presents the same credential.
        public static let paidButUndelivered = Code(rawValue: "paidButUndelivered")
        /// Paid, but the server refused the credential; the spend is recorded (money moved).
        public static let paidButRefused = Code(rawValue: "paidButRefused")
        /// The request could not be sent or its answer read before any payment.
        public static let transport = Code(rawValue: "transport")
        /// The request itself is not usable (not http(s), no host).
        public static let invalidRequest = Code(rawValue: "invalidRequest")
        /// The spend ledger failed; nothing was paid unless `paymentID` names a pending spend.
        public static let ledger = Code(rawValue: "ledger")
        /// The payment id was already paid and committed, and the ledger holds no receipt to replay the
        /// response with: nothing was paid now, and calling again with this id never pays. To buy the
        /// resource again, send the request with a new payment id. (A payment id whose earlier attempt was
        /// released, so nothing was paid, is simply paid afresh.)
        public static let paymentIDAlreadyPaid = Code(rawValue: "paymentIDAlreadyPaid")
        /// The wallet did not pay, but the ledger could not record the release: the spend named by
        /// `paymentID` stays reserved (still counted against the budget, never treated as released)
        /// until a later call with the same request finishes it. Calling again is safe.
        public static let ledgerWriteFailed = Code(rawValue: "ledgerWriteFailed")
        /// Another call of this client, or another process sharing the wallet, is paying under this
        /// payment id right now. Nothing was paid by this call; calling again once it ends is safe and
        /// finishes that payment instead of paying twice.
        public static let paymentInProgress = Code(rawValue: "paymentInProgress")

        /// The final answer's body is larger than `PayingClientLimits.maxResponseBodyBytes`: reading
        /// stopped there, so what was kept or streamed is only its start. A paid call is committed with
        /// the server's receipt first (money moved and the server served); `paymentID` names that spend,
        /// and sending the request again under the same payment id replays it with the receipt, without
        /// paying. Not retry-safe as it is: the same limit stops the same answer again.
        public static let responseTooLarge = Code(rawValue: "responseTooLarge")

        /// The identifier.
        public var description: String { rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// One line a person understands, without secrets.
    public let reason: String
    /// The negotiation, for policy refusals (and any failure after one).
    public let negotiation: Negotiation?
    /// The budget refusal, for `.overBudget`.
    public let budget: BudgetRefusal?
    /// The spend left pending or recorded, when money may have moved.
    public let paymentID: String?

    /// Creates an error.
    public init(_ code: Code, _ reason: String, negotiation: Negotiation? = nil, budget: BudgetRefusal? = nil, paymentID: String? = nil) {
        self.code = code
        self.reason = reason
        self.negotiation = negotiation
        self.budget = budget
        self.paymentID = paymentID
    }

    /// Whether calling again with the same request is safe (never pays twice) and may succeed.
    public var isRetrySafe: Bool {
        [.paymentOutcomeUnknown, .paidButUndelivered, .transport, .paymentFailed, .ledgerWriteFailed, .paymentInProgress].contains(code)
    }

    /// The reason, with what to do next.
    public var description: String {
        switch code {
        case .paymentOutcomeUnknown, .paidButUndelivered:
            return "\(reason); run the same request again to finish it without paying twice (payment \(paymentID ?? "-"))"
        case .paidButRefused:
            return "\(reason); the payment is in the ledger as \(paymentID ?? "-")"
        default:
            return reason
        }
    }
}
