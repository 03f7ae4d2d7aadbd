import PayRail
import PayRailStore
import PayRailWire

// Pay: the wallet is asked only under a reservation, and only a definite "not paid" gives the
// reservation back. Anything that may have moved money leaves the spend pending for a later call.

extension PayingClient {
    enum WalletOutcome {
        /// Paid, with the fee actually spent when the wallet reported it.
        case paid(Credential, fee: Money?)
        /// Nothing moved; the reservation was released.
        case refused(PayingClientError)
        /// The wallet may have paid; the reservation stays pending.
        case unknown(PayingClientError)
    }

    /// Pays through the offer's wallet. A timeout is asked again once (wallets are idempotent per
    /// offer), and only a definite refusal releases the reservation.
    ///
    /// `resumed`: the spend was reserved by an earlier attempt that may have paid before it stopped.
    /// Then only an answer that this offer was never paid releases it (declined, expired, not enough
    /// funds: a wallet gives those after looking its earlier payment up); no wallet for the rail, a
    /// wallet that is unavailable or any other answer leaves the spend pending, since releasing a paid
    /// spend would let the next call pay again.
    func payWithWallet(_ offer: ReadOffer, ledgerID: String, resumed: Bool) async -> WalletOutcome {
        guard let wallet = configuration.negotiator.wallets.wallet(for: offer.offer.rail) else {
            if resumed {
                return .unknown(PayingClientError(.paymentOutcomeUnknown,
                                                  "no wallet pays \(offer.offer.rail) to ask whether \(ledgerID) was paid; "
                                                      + "call again with that wallet", paymentID: ledgerID))
            }
            let failure = await release(ledgerID, reason: "no wallet for \(offer.offer.rail)")
            return .refused(Self.notPaid("no wallet pays \(offer.offer.rail)", releaseFailure: failure))
        }
        var lastError: RailError?
        // Once any attempt may have paid, only a success settles the question: a later "unavailable"
        // or "expired" says nothing about that earlier attempt, so the spend must stay pending.
        var mayHavePaid = false
        for _ in 0..<2 {
            do {
                if let reporting = wallet as? any FeeReportingPayerRail {
                    let paid = try await reporting.payReportingFee(offer.offer)
                    emit(.paid(paymentID: ledgerID, rail: offer.offer.rail, dialect: offer.dialect))
                    return .paid(paid.credential, fee: paid.fee)
                }
                let credential = try await wallet.pay(offer.offer)
                emit(.paid(paymentID: ledgerID, rail: offer.offer.rail, dialect: offer.dialect))
                return .paid(credential, fee: nil)
            } catch {
                lastError = error
                if error.retry == .afterLookup { mayHavePaid = true; continue }
                if error.code == .unavailable { continue }
                break
            }
        }
        guard let error = lastError else {
            return .unknown(PayingClientError(.paymentOutcomeUnknown, "the wallet gave no answer", paymentID: ledgerID))
        }
        let neverPaid: Set<RailError.Code> = [.declined, .expired, .insufficientFunds]
        if mayHavePaid || error.retry == .afterLookup || (resumed && !neverPaid.contains(error.code)) {
            return .unknown(PayingClientError(.paymentOutcomeUnknown,
                                              "the \(offer.offer.rail) wallet did not say whether it paid (\(error.code))", paymentID: ledgerID))
        }
        let failure = await release(ledgerID, reason: "\(error.code): \(error.reason)")
        return .refused(Self.notPaid("the \(offer.offer.rail) wallet did not pay: \(error.code): \(error.reason)", releaseFailure: failure))
    }

    /// Releases a spend the wallet did not pay; `.released` is emitted only when the ledger recorded it.
    /// - Returns: the failure when the ledger could not release it (the spend then stays reserved).
    func release(_ ledgerID: String, reason: String) async -> LedgerWriteFailure? {
        do {
            _ = try await configuration.governor.release(ledgerID, reason: reason)
            emit(.released(paymentID: ledgerID, reason: reason))
            return nil
        } catch {
            // A spend found paid or committed meanwhile is money that moved: never call it released.
            let state = error.record?.state
            let failure = LedgerWriteFailure(paymentID: ledgerID, step: .release, mayHavePaid: state == .paid || state == .committed,
                                             error: error)
            reportLedgerFailure(failure)
            return failure
        }
    }

    /// The error for a wallet that did not pay, saying when the reservation could not be released.
    static func notPaid(_ reason: String, releaseFailure: LedgerWriteFailure?) -> PayingClientError {
        guard let releaseFailure else { return PayingClientError(.paymentFailed, reason) }
        return PayingClientError(.ledgerWriteFailed, "\(reason); \(releaseFailure)", paymentID: releaseFailure.paymentID)
    }

    /// What to commit once the wallet reported its fee: the offer's amount plus that fee, in the
    /// ledger's unit (as `budgetAmount` reserved it), never more than `reserved`; `nil` (keep the
    /// reserved amount) when the fee is unknown or cannot be compared with the reservation.
    func spentAmount(_ offer: Offer, fee: Money?, reserved: Money) async -> Money? {
        guard let fee, fee.amount >= 0, let total = try? offer.amount.adding(fee) else { return nil }
        let spent = await budgetAmount(total)
        guard spent.unit == reserved.unit else { return nil }
        return spent.amount <= reserved.amount ? spent : reserved
    }
}
