import PayRail
import PayRailStore

// Commit: once the server answered, the spend is finished at what was actually spent. A commit that
// fails never turns into a release: money moved, so the spend stays pending for a later call.

extension PayingClient {
    /// Commits a spend after paying. A spend already committed (a receipt replayed) is no failure;
    /// any other failure is reported and leaves the spend pending, so the fact that money moved is kept.
    func commitPaid(
        _ ledgerID: String, receipt: String?, reference: String?, note: String?, spent: Money?, standardReceipt: LedgerReceipt? = nil
    ) async -> (record: SpendRecord?, failure: LedgerWriteFailure?) {
        do {
            return (try await configuration.governor.commit(ledgerID, receipt: receipt, reference: reference, note: note, amount: spent,
                                                            standardReceipt: standardReceipt),
                    nil)
        } catch {
            if error.code == .invalidTransition, error.record?.state == .committed { return (nil, nil) }
            // An actual amount the ledger will not take must not leave a paid spend pending: commit it
            // at the reserved amount instead (more, never less, than was spent).
            if spent != nil, error.storeError?.code == .invalidArgument {
                return await commitPaid(ledgerID, receipt: receipt, reference: reference, note: note, spent: nil,
                                        standardReceipt: standardReceipt)
            }
            let failure = LedgerWriteFailure(paymentID: ledgerID, step: .commit, mayHavePaid: true, error: error)
            reportLedgerFailure(failure)
            return (nil, failure)
        }
    }

    func reportLedgerFailure(_ failure: LedgerWriteFailure) { configuration.onLedgerWriteFailure?(failure) }

    /// What a paid-but-refused error adds when the ledger could not commit the spend.
    static func pendingNote(_ failure: LedgerWriteFailure?) -> String {
        guard let failure else { return "" }
        return " (the ledger could not commit it: \(failure.error.code); the spend stays pending in the ledger)"
    }
}
