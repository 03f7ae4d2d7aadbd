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
            emit(.presenting(attempt: attempt, dialect: spend.dialect))
            let answer: PaymentAnswer
            do {
                answer = try await transport.send(request, presenting: PaymentPresentation(fields: proof, paymentID: spend.paymentID))
            } catch {
                lastTransportError = error.reason
                await pause(seconds: Double(attempt) * 0.2)
                continue
            }
            last = answer
            switch transport.classify(answer, presented: true) {
            case .served(let receipt):
                return await complete(answer, receipt: receipt, spend: spend, request: request, negotiation: negotiation)
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
        throw PayingClientError(.paidButUndelivered, "paid, but \(why) after \(configuration.deliveryAttempts) attempts",
                                negotiation: negotiation, paymentID: spend.ledgerID)
    }

    /// The proof that replaces a credential once the server granted it: its receipt, which it honours
    /// without a second charge.
    static func receiptProof(_ receipt: String) -> HTTPFields {
        HTTPFields([(PlainReceipt.fieldName, receipt)])
    }

    func pause(seconds: Double) async {
        try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
    }
}
