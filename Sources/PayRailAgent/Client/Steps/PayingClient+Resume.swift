import Foundation
import PayRail
import PayRailStore
import PayRailWire
#if canImport(Glibc)
import Glibc
#endif

// Resume: before paying, the ledger is asked whether this call (same payment id), or the same request
// left by a process that is gone, already has a spend. One that may have paid is finished with what
// the ledger holds (its receipt, its proof, or the same offer asked of the wallet again), never paid
// afresh; only a released one, which paid nothing, lets the call pay again.

extension PayingClient {
    /// What `send` does after looking at the ledger: return what an earlier attempt already got, or pay
    /// afresh with the first ledger id no earlier attempt of this payment id used.
    enum Resumption {
        case finished(PaidResponse)
        case fresh(firstLedgerIndex: Int)
    }

    func resumeIfPending(_ request: PaidRequest, paymentID: String) async throws(PayingClientError) -> Resumption {
        let (pending, firstFree) = try await findPending(request, paymentID: paymentID)
        let fresh = Resumption.fresh(firstLedgerIndex: firstFree)
        guard let record = pending, let context = SpendContext.decode(record.context) else { return fresh }
        // Claimed atomically: of two tasks that both found this spend unattended, one finishes it.
        guard inFlight.claim(record.paymentID) else { throw Self.reuseError(record, paymentID: paymentID, negotiation: nil) }
        defer { inFlight.release(record.paymentID) }
        emit(.resuming(paymentID: record.paymentID, state: record.state))
        let spend = PaidSpend(resuming: record, context: context)
        switch record.state {
        case .committed:
            // The same call again: its receipt replays the response without paying. Without a receipt
            // there is nothing to replay, and paying again under the same id would pay twice.
            guard let receipt = record.receipt else { throw Self.reuseError(record, paymentID: paymentID, negotiation: nil) }
            return .finished(try await present(Self.receiptProof(receipt), spend: spend, request: request, negotiation: nil))
        case .paid:
            guard let proofText = record.proof, let fields = SpendProof.decode(proofText) else {
                // Paid, but the proof is gone: paying again could pay twice, so stop and say so.
                throw PayingClientError(.paymentOutcomeUnknown,
                                        "payment \(record.paymentID) is paid but its proof cannot be read; check the rail before paying again",
                                        paymentID: record.paymentID)
            }
            return .finished(try await present(fields, spend: spend, request: request, negotiation: nil))
        case .reserved:
            return try await finishReserved(record, context: context, request: request).map(Resumption.finished) ?? fresh
        case .released:
            return fresh
        }
    }

    /// Finishes a spend reserved by an earlier attempt; `nil` when the wallet says it never paid it (the
    /// spend is released then, and the call pays afresh under the next ledger id).
    private func finishReserved(
        _ record: SpendRecord, context: SpendContext, request: PaidRequest
    ) async throws(PayingClientError) -> PaidResponse? {
        // The wallet may have paid before the crash: ask it again for the same offer (idempotent).
        guard let offer = context.readOffer() else {
            // Without the offer the wallet cannot be asked, and the spend may be paid: releasing it
            // would let the next call pay again, so it stays reserved (and counted) and we say so.
            throw PayingClientError(.paymentOutcomeUnknown,
                                    "payment \(record.paymentID) may have been paid, but its stored offer can no longer be read to ask "
                                        + "the wallet; check the rail before paying for this request again",
                                    paymentID: record.paymentID)
        }
        switch await payWithWallet(offer, ledgerID: record.paymentID, resumed: true) {
        case .paid(let credential, let fee):
            let spent = await spentAmount(offer.offer, fee: fee, reserved: record.amount)
            let spend = PaidSpend(offer: offer, ledgerID: record.paymentID, paymentID: context.paymentID, reserved: record.amount,
                                  spent: spent, resumed: true)
            return try await deliver(credential, offer: offer, spend: spend, request: request, negotiation: nil)
        case .refused(let failure):
            // Released: nothing had moved; pay afresh under the next ledger id. Not released: stop.
            if failure.code == .ledgerWriteFailed { throw failure }
            return nil
        case .unknown(let failure):
            throw failure
        }
    }
    /// The spend to finish for this call, and the first ledger id index no attempt of this payment id
    /// used yet. The spend is the first non-released one among the call's ledger ids (`id`, `id.1`, ...),
    /// else an unfinished one for the same method, URL and body whose process is gone (a crash), never
    /// one another task is working on.
    ///
    /// - Throws: `.paymentIDAlreadyPaid` when the id was committed without a receipt to replay,
    ///   `.invalidRequest` when it belongs to another request or another running process finishes it,
    ///   `.ledger` when the ledger cannot be read.
    func findPending(_ request: PaidRequest, paymentID: String) async throws(PayingClientError) -> (SpendRecord?, Int) {
        let chain: [SpendRecord]
        do {
            chain = try await ledgerChain(paymentID)
        } catch {
            throw PayingClientError(.ledger, "the spend ledger could not be read: \(error)")
        }
        for exact in chain where exact.state != .released {
            // Another task of this client is paying under this id now: paying afresh would pay twice.
            if exact.state.isUnfinished, inFlight.contains(exact.paymentID) {
                throw Self.reuseError(exact, paymentID: paymentID, negotiation: nil)
            }
            guard let context = SpendContext.decode(exact.context), exact.method == request.method,
                  exact.url == request.url.absoluteString, context.bodyDigest == request.bodyDigest
            else {
                throw PayingClientError(.invalidRequest, "payment id \(paymentID) belongs to another request; use a new id",
                                        paymentID: exact.paymentID)
            }
            if exact.state == .committed, exact.receipt == nil {
                throw Self.reuseError(exact, paymentID: paymentID, negotiation: nil)
            }
            guard context.ownerPID == getpid() || context.ownerIsGone || exact.state == .committed else {
                throw PayingClientError(.paymentInProgress,
                                        "another running process is finishing payment \(paymentID); try again when it ends",
                                        paymentID: exact.paymentID)
            }
            return (exact, chain.count)
        }
        let url = request.url.absoluteString
        let digest = request.bodyDigest
        let unfinished: [SpendRecord]
        do {
            unfinished = try await configuration.governor.unfinished(method: request.method, url: url)
        } catch {
            throw PayingClientError(.ledger, "the spend ledger could not be read: \(error)")
        }
        for record in unfinished where record.method == request.method && record.url == url && !inFlight.contains(record.paymentID) {
            guard let context = SpendContext.decode(record.context), context.bodyDigest == digest else { continue }
            if context.paymentID == paymentID || context.ownerIsGone { return (record, chain.count) }
        }
        return (nil, chain.count)
    }

    /// The records of a payment id's ledger ids, in order, up to the first id never used.
    private func ledgerChain(_ paymentID: String) async throws(SpendError) -> [SpendRecord] {
        var chain: [SpendRecord] = []
        while chain.count < Self.maximumLedgerIDs,
              let record = try await configuration.governor.record(Self.ledgerID(paymentID, index: chain.count)) {
            chain.append(record)
        }
        return chain
    }

    /// The error for a payment id already used by a spend that is not released.
    static func reuseError(_ existing: SpendRecord, paymentID: String, negotiation: Negotiation?) -> PayingClientError {
        switch existing.state {
        case .committed:
            let receipt = existing.receipt == nil ? "no receipt to replay the response" : "a receipt"
            return PayingClientError(
                .paymentIDAlreadyPaid,
                "payment id \(paymentID) already paid \(existing.amount) on \(existing.rail) (committed as \(existing.paymentID), with "
                    + "\(receipt)); nothing was paid now. Use a new payment id to buy again",
                negotiation: negotiation, paymentID: existing.paymentID)
        case .released:
            return PayingClientError(.ledger, "payment id \(paymentID) has used all \(maximumLedgerIDs) ledger ids; use a new id",
                                     negotiation: negotiation, paymentID: nil)
        case .reserved, .paid:
            return PayingClientError(.paymentInProgress,
                                     "payment id \(paymentID) is being paid by another call right now (\(existing.paymentID) is "
                                         + "\(existing.state.rawValue)); call again when it ends and it will be finished, not paid twice",
                                     negotiation: negotiation, paymentID: existing.paymentID)
        }
    }
}
