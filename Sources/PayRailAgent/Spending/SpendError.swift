import PayRail
import PayRailStore

// A spend failure must tell the paying client two things at once: did money move or may it move now
// (never, for every code here: the governor refuses before paying), and is trying again useful. Only a
// busy wallet file clears up by itself; a budget clears up at `refusal.retryAfter`, not by retrying.

/// Why the `SpendGovernor` refused or failed a step.
public struct SpendError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; a struct of static values so codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// Stable identifier for logs, exit codes and JSON output.
        public let rawValue: String

        /// Creates a code (use the static values).
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A budget would be exceeded (see `refusal`); nothing was reserved. Do not pay; retrying
        /// helps only after `refusal.retryAfter`.
        public static let overBudget = Code(rawValue: "overBudget")
        /// The payment id is already in the ledger (see `record`): this is a retry of a call that
        /// already reserved; continue from that record instead of paying again.
        public static let duplicate = Code(rawValue: "duplicate")
        /// The step is not allowed in the spend's state (a second commit, a release after paying): each
        /// step happens exactly once. `record` shows where it stands.
        public static let invalidTransition = Code(rawValue: "invalidTransition")
        /// No spend has this payment id.
        public static let notFound = Code(rawValue: "notFound")
        /// The ledger failed (see `storeError`); `isRetrySafe` says whether to try again.
        public static let store = Code(rawValue: "store")

        /// The identifier.
        public var description: String { rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for people; never contains a secret.
    public let reason: String
    /// The budget that refused, for `.overBudget`.
    public let refusal: BudgetRefusal?
    /// The existing record, for `.duplicate` and (when it could be read) `.invalidTransition`.
    public let record: SpendRecord?
    /// The underlying failure, for `.store`.
    public let storeError: StoreError?

    /// Whether repeating the same call later may succeed (only a busy wallet file clears by itself).
    public var isRetrySafe: Bool { storeError?.isRetrySafe ?? false }

    /// Creates an error.
    public init(code: Code, reason: String, refusal: BudgetRefusal? = nil, record: SpendRecord? = nil, storeError: StoreError? = nil) {
        self.code = code
        self.reason = reason
        self.refusal = refusal
        self.record = record
        self.storeError = storeError
    }

    /// The refusal of a reservation by a budget.
    public static func overBudget(_ refusal: BudgetRefusal) -> SpendError {
        SpendError(code: .overBudget, reason: refusal.description, refusal: refusal)
    }

    /// A reservation whose payment id is already in the ledger.
    public static func duplicate(_ existing: SpendRecord) -> SpendError {
        SpendError(code: .duplicate,
                   reason: "payment id \(existing.paymentID) is already in the ledger (\(existing.state.rawValue)); "
                       + "continue that spend instead of paying again",
                   record: existing)
    }

    /// The code, the reason and what to do next.
    public var description: String {
        let advice = isRetrySafe ? "retrying later is safe" : "retrying the same call will not help"
        return "spend error \(code): \(reason) (\(advice))"
    }
}
