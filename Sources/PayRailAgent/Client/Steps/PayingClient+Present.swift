import Foundation
import PayRail
import PayRailWire

// Present: the same proof (or the receipt a failed answer carried) is sent until the transport says
// the answer is final. Every way out after money moved either commits the spend or leaves it pending
// with the proof in the ledger; none releases it.

extension PayingClient {
    /// Presents `credentialFields` until the server serves, refuses, or the attempts run out.
    func present(
        _ credentialFields: HTTPFields, spend: PaidSpend, request: PaidRequest, negotiation: Negotiation?
    ) async throws(PayingClientError) -> PaidResponse {
        var proof = credentialFields
        var receiptFromFailure: String?
        var last: PaymentAnswer?
        var lastTransportError = ""
        for attempt in 1...configuration.deliveryAttempts {
            // Past the call's deadline the spend stays pending (paid, proof in the ledger) for a later call.
            if let bounds = CallBounds.current, bounds.expired {
                lastTransportError = bounds.expiredReason
                break
            }
            emit(.presenting(attempt: attempt, dialect: spend.dialect))
            let answer: PaymentAnswer
            do {
                answer = try await carry(request, presenting: PaymentPresentation(fields: proof, paymentID: spend.paymentID))
            } catch {
                lastTransportError = error.reason
                // Part of the final body already went out: sending again would write it twice, so the
                // spend stays pending and the next call starts the output afresh.
                if let sink = CallBounds.current?.sink, sink.bytesWritten > 0 { break }
                await pause(seconds: Double(attempt) * 0.2)
                continue
            }
            last = answer
            switch transport.classify(answer, presented: true) {
            case .served(let receipt):
                let response = await complete(answer, receipt: receipt, spend: spend, request: request, negotiation: negotiation)
                if answer.bodyTruncated { throw tooLarge(response) }
                return response
            case .retry(let receipt, let retryAfterSeconds):
                if let receipt {
                    receiptFromFailure = receipt
                    proof = Self.receiptProof(receipt)
                }
                let wait = min(Double(retryAfterSeconds ?? 1), 2.0)
                if attempt < configuration.deliveryAttempts { await pause(seconds: max(0.1, wait)) }
            case .conflict:
                throw await conflicted(spend, negotiation: negotiation)
            case .refused(let detail):
                throw await refused(spend, detail: detail, receipt: receiptFromFailure, negotiation: negotiation)
            case .challenged:
                // A new challenge for a presented credential is a refusal of it (HTTP says so with a 402).
                throw await refused(spend, detail: "status \(answer.status)", receipt: receiptFromFailure, negotiation: negotiation)
            }
        }
        return try await undelivered(spend, last: last, receipt: receiptFromFailure, transportError: lastTransportError,
                                     request: request, negotiation: negotiation)
    }

    /// The served body was larger than the limit: the spend is committed (by `complete`), and the call
    /// fails saying how to fetch it again without paying.
    private func tooLarge(_ response: PaidResponse) -> PayingClientError {
        let paymentID = response.payment?.paymentID
        let pending = response.payment?.ledgerWriteFailure.map { " (\($0))" } ?? ""
        return PayingClientError(.responseTooLarge,
                                 "the paid answer (HTTP \(response.status)) is larger than \(configuration.limits.maxResponseBodyBytes) "
                                     + "bytes; reading stopped there. The payment is in the ledger as \(paymentID ?? "-") with its receipt"
                                     + pending, negotiation: response.negotiation, paymentID: paymentID)
    }

    /// The server holds another request under this payment id: commit what was paid and say so.
    private func conflicted(_ spend: PaidSpend, negotiation: Negotiation?) async -> PayingClientError {
        let (_, failure) = await commitPaid(spend.ledgerID, receipt: nil, reference: nil,
                                            note: "paid, but the server holds another request under this payment id", spent: spend.spent)
        return PayingClientError(.paidButRefused, "the server already used payment id \(spend.paymentID) for another request"
                                     + Self.pendingNote(failure), negotiation: negotiation, paymentID: spend.ledgerID)
    }

    /// The server refused the proof: commit what was paid (money moved) and say why.
    private func refused(_ spend: PaidSpend, detail: String, receipt: String?, negotiation: Negotiation?) async -> PayingClientError {
        let (_, failure) = await commitPaid(spend.ledgerID, receipt: receipt, reference: nil,
                                            note: "paid, refused by the server: \(detail)", spent: spend.spent)
        return PayingClientError(.paidButRefused, "the server refused the payment: \(detail)" + Self.pendingNote(failure),
                                 negotiation: negotiation, paymentID: spend.ledgerID)
    }

    /// The attempts ran out. With a receipt the payment was granted, so the spend is committed and the
    /// last answer returned; without one the spend stays pending for a later call to present again.
    private func undelivered(
        _ spend: PaidSpend, last: PaymentAnswer?, receipt: String?, transportError: String, request: PaidRequest,
        negotiation: Negotiation?
    ) async throws(PayingClientError) -> PaidResponse {
        if let last, let receipt {
            // Paid and granted, but the resource failed: the receipt fetches it later at no charge.
            let check = await receipts.check(receipt, resource: Self.resource(of: request), from: request.url)
            let (_, failure) = await commitPaid(spend.ledgerID, receipt: receipt, reference: Self.reference(check),
                                                note: "granted; the resource answered \(last.status)", spent: spend.spent)
            let outcome = spend.outcome(receipt: receipt, check: check, failure: failure)
            return PaidResponse(status: last.status, headers: last.headers, body: last.body, payment: outcome, negotiation: negotiation)
        }
        let why = last.map { "the server answered \($0.status)" } ?? "the server could not be reached (\(transportError))"
        let attempts = CallBounds.current?.expired == true ? "within the call's time limit" : "after \(configuration.deliveryAttempts) attempts"
        throw PayingClientError(.paidButUndelivered, "paid, but \(why) \(attempts)",
                                negotiation: negotiation, paymentID: spend.ledgerID)
    }

    /// The proof that replaces a credential once the server granted it: its receipt, which it honours
    /// without a second charge.
    static func receiptProof(_ receipt: String) -> HTTPFields {
        HTTPFields([(PlainReceipt.fieldName, receipt)])
    }

    /// Waits before another attempt, never past the call's deadline.
    func pause(seconds: Double) async {
        let wait = min(seconds, CallBounds.current?.secondsLeft ?? seconds)
        guard wait > 0 else { return }
        try? await Task.sleep(nanoseconds: UInt64(wait * 1_000_000_000))
    }
}
