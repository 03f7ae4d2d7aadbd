import PayRail

/// A ledger write that failed during a paid call: the ledger may not show what happened to the spend.
///
/// Distinct from `PayingClientEvent.released` on purpose: a released spend paid nothing, while after a
/// failed write the spend stays in the ledger as it was (reserved or paid, counted against the
/// budget), and money may have moved (`mayHavePaid`). A later call with the same request finishes it
/// without paying twice.
public struct LedgerWriteFailure: Sendable, CustomStringConvertible {
    /// The write that failed.
    public enum Step: String, Sendable {
        /// Recording that the wallet paid, with the proof to retry with.
        case markPaid
        /// Finishing the spend (with its receipt, or a note why there is none).
        case commit
        /// Giving back the budget of a spend the wallet did not pay.
        case release
    }

    /// The ledger id of the spend.
    public let paymentID: String
    /// The write that failed.
    public let step: Step
    /// Whether money may have moved for this spend (every failed write after the wallet paid).
    public let mayHavePaid: Bool
    /// The ledger's error; `error.isRetrySafe` says whether the ledger itself may recover.
    public let error: SpendError

    /// One line: which write failed, for which spend, and what that means for the money.
    public var description: String {
        let money = mayHavePaid
            ? "money may have moved: the spend stays pending in the ledger, never released"
            : "the wallet did not pay, but the reservation stays counted until a later call finishes it"
        return "ledger \(step.rawValue) of \(paymentID) failed (\(error.code): \(error.reason)); \(money)"
    }
}
