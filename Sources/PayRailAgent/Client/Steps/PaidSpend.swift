import PayRail
import PayRailStore
import PayRailWire

/// A spend the wallet paid (in this call or an earlier one) on its way to the server: what presenting,
/// committing and reporting it need, gathered once so every step reads the same values.
struct PaidSpend: Sendable {
    /// The ledger id (the payment id, or it with an attempt suffix).
    let ledgerID: String
    /// The call's payment identifier, presented with every attempt.
    let paymentID: String
    let dialect: PaymentDialect
    let rail: RailID
    /// The offer's amount.
    let amount: Money
    /// Whose price to remember once served; `nil` when resuming from the ledger alone.
    let payee: String?
    /// What the outcome reports as reserved.
    let reserved: Money
    /// What to commit; `nil` commits the reserved amount.
    let spent: Money?
    /// Whether this call finishes a payment an earlier attempt made.
    let resumed: Bool

    /// A spend for `offer`, which the wallet has just paid.
    init(offer: ReadOffer, ledgerID: String, paymentID: String, reserved: Money, spent: Money?, resumed: Bool) {
        self.ledgerID = ledgerID
        self.paymentID = paymentID
        self.dialect = offer.dialect
        self.rail = offer.offer.rail
        self.amount = offer.offer.amount
        self.payee = offer.offer.payee
        self.reserved = reserved
        self.spent = spent
        self.resumed = resumed
    }

    /// A spend an earlier attempt paid, as the ledger recorded it.
    init(resuming record: SpendRecord, context: SpendContext) {
        self.ledgerID = record.paymentID
        self.paymentID = context.paymentID
        self.dialect = PaymentDialect(rawValue: context.dialect) ?? .plain
        self.rail = record.rail
        self.amount = context.amount
        self.payee = nil
        self.reserved = record.amount
        self.spent = nil
        self.resumed = true
    }

    /// How the call was paid, for the caller.
    func outcome(receipt: String?, check: ReceiptCheck, failure: LedgerWriteFailure?, standardReceipt: LedgerReceipt? = nil) -> PaymentOutcome {
        PaymentOutcome(paymentID: ledgerID, rail: rail, dialect: dialect, amount: amount, reserved: reserved, receipt: receipt,
                       receiptCheck: check, reference: PayingClient.reference(check) ?? standardReceipt?.reference, resumed: resumed,
                       ledgerWriteFailure: failure, standardReceipt: standardReceipt)
    }
}
