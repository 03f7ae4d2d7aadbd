import Foundation
import PayRail
import PayRailWire

// Deliver: the proof is written to the ledger before it is sent, so a crash between the two leaves a
// paid spend that the next call presents again instead of paying again. Once served, the receipt is
// checked, the spend committed and the price remembered.

extension PayingClient {
    /// Writes the proof to the ledger, then presents it until the server answers.
    func deliver(
        _ credential: Credential, offer: ReadOffer, spend: PaidSpend, request: PaidRequest, negotiation: Negotiation?
    ) async throws(PayingClientError) -> PaidResponse {
        let identifier = try? X402PaymentIdentifier(spend.paymentID)
        let fields: HTTPFields
        do {
            fields = try offer.credentialFields(for: credential, paymentIdentifier: identifier)
        } catch {
            // Money moved but the dialect cannot carry the proof: record it, the operator must sort it out.
            let (_, failure) = await commitPaid(spend.ledgerID, receipt: nil, reference: nil,
                                                note: "paid, but the credential could not be written: \(error.reason)", spent: spend.spent)
            throw PayingClientError(.paidButRefused, "the credential cannot be sent in \(offer.dialect.rawValue): \(error.reason)"
                                        + Self.pendingNote(failure), negotiation: negotiation, paymentID: spend.ledgerID)
        }
        do {
            _ = try await configuration.governor.markPaid(spend.ledgerID, proof: SpendProof.encode(fields))
        } catch {
            // Already paid (a resumed spend) is fine. Anything else is a failed write, not a release: the
            // spend stays reserved (counted, never given back) and the proof is still presented now.
            if !(error.code == .invalidTransition && error.record?.state == .paid) {
                reportLedgerFailure(LedgerWriteFailure(paymentID: spend.ledgerID, step: .markPaid, mayHavePaid: true, error: error))
            }
        }
        return try await present(fields, spend: spend, request: request, negotiation: negotiation)
    }

    /// Finishes a spend the server served: checks its receipt, commits, remembers the price.
    func complete(
        _ answer: PaymentAnswer, receipt: String?, spend: PaidSpend, request: PaidRequest, negotiation: Negotiation?
    ) async -> PaidResponse {
        let check: ReceiptCheck
        if let receipt {
            check = await receipts.check(receipt, resource: Self.resource(of: request), from: request.url)
        } else {
            check = .unverifiable("the server sent no receipt")
        }
        emit(.receipt(check))
        var notes: [String] = []
        if case .invalid(let reason) = check { notes.append("the receipt does not verify: \(reason)") }
        if answer.bodyTruncated { notes.append("served, but the body is larger than the client's limit; reading stopped there") }
        let note = notes.isEmpty ? nil : notes.joined(separator: "; ")
        let (record, failure) = await commitPaid(spend.ledgerID, receipt: receipt, reference: Self.reference(check), note: note,
                                                 spent: spend.spent)
        if let record { emit(.committed(paymentID: spend.ledgerID, amount: record.amount)) }
        await rememberPrice(of: spend, request: request)
        let outcome = spend.outcome(receipt: receipt, check: check, failure: failure)
        return PaidResponse(status: answer.status, headers: answer.headers, body: answer.body, payment: outcome, negotiation: negotiation)
    }

    /// Remembers what the payee asked, so the next negotiation notices a changed payee or a raised price.
    private func rememberPrice(of spend: PaidSpend, request: PaidRequest) async {
        if let payee = spend.payee, let memory = configuration.negotiator.priceMemory, let host = request.url.host {
            try? await memory.remember(RememberedPrice(payee: payee, amount: spend.amount, paidAt: configuration.clock.now()),
                                       host: host.lowercased(), resource: NegotiationRequest(url: request.url, method: request.method,
                                                                                             now: configuration.clock.now()).resourcePath,
                                       rail: spend.rail)
        }
    }

    static func reference(_ check: ReceiptCheck) -> String? {
        if case .verified(let claims) = check { return claims.ref }
        return nil
    }

    /// The resource a receipt names: method and path with query, as the gate prices it (HEAD as GET).
    static func resource(of request: PaidRequest) -> String {
        let method = request.method == "HEAD" ? "GET" : request.method
        var path = request.url.path.isEmpty ? "/" : request.url.path
        if let query = request.url.query, !query.isEmpty { path += "?" + query }
        return "\(method) \(path)"
    }
}
