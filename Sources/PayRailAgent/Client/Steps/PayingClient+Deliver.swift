import Foundation
import PayRail
import PayRailStore
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
        let standard = Self.standardReceipt(in: answer.headers)
        let check: ReceiptCheck
        if let receipt {
            check = await receipts.check(receipt, resource: Self.resource(of: request), from: request.url)
        } else if let standard {
            check = .unverifiable("the server's Payment-Receipt is unsigned: recorded as sent (reference \(standard.reference), "
                                      + "status \(standard.status), \(standard.timestamp)), not verified")
        } else {
            check = .unverifiable("the server sent no receipt")
        }
        let ledgerReceipt = standard.map { Self.ledgerReceipt($0, signed: receipt != nil, check: check) }
        emit(.receipt(check))
        var notes: [String] = []
        if case .invalid(let reason) = check { notes.append("the receipt does not verify: \(reason)") }
        if answer.bodyTruncated { notes.append("served, but the body is larger than the client's limit; reading stopped there") }
        let note = notes.isEmpty ? nil : notes.joined(separator: "; ")
        // The verified claim's reference is the proof; without one, the standard receipt's is the
        // server's word, kept (and marked unsigned in `standardReceipt`) so the ledger never loses it.
        let reference = Self.reference(check) ?? ledgerReceipt?.reference
        let (record, failure) = await commitPaid(spend.ledgerID, receipt: receipt, reference: reference, note: note,
                                                 spent: spend.spent, standardReceipt: ledgerReceipt)
        if let record { emit(.committed(paymentID: spend.ledgerID, amount: record.amount)) }
        await rememberPrice(of: spend, request: request)
        let outcome = spend.outcome(receipt: receipt, check: check, failure: failure, standardReceipt: ledgerReceipt)
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

    /// The standard `Payment-Receipt` (draft-httpauth-payment-02) of a served answer, if it reads.
    static func standardReceipt(in headers: HTTPFields) -> PaymentReceipt? {
        guard let value = headers[PaymentReceipt.fieldName] else { return nil }
        return try? PaymentReceipt.parse(value)
    }

    /// The ledger's record of a standard receipt: signed and verified only when PayRail's token in
    /// it (or beside it) verified AND names the same payment reference; a receipt with no token is
    /// recorded as unsigned, one the verified token contradicts as invalid. (Its `challengeId` is not
    /// compared: a Payment-scheme challenge id is the HMAC id the client echoed, the token's `jti`
    /// the server's own record of that challenge.)
    static func ledgerReceipt(_ standard: PaymentReceipt, signed: Bool, check: ReceiptCheck) -> LedgerReceipt {
        let trust: LedgerReceipt.Trust
        switch check {
        case .verified(let claims):
            trust = standard.reference == claims.ref ? .verified : .invalid
        case .invalid: trust = .invalid
        case .unverifiable: trust = signed ? .unverifiable : .unsigned
        }
        return LedgerReceipt(method: standard.method, reference: standard.reference, status: standard.status,
                             timestamp: standard.timestamp, challengeID: standard.challengeId, trust: trust)
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
