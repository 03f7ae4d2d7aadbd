import Foundation
import PayRail
import PayRailCrypto
import PayRailWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// The agent's paying client. The order of steps is the safety argument: budget is reserved before any
// wallet is asked to pay, the proof is written to the ledger before it is sent, and the spend is
// committed only once the server answered. A crash anywhere leaves a pending spend that the next call
// for the same request finishes with the same proof, so no step can pay twice.
//
// This file is the state machine; each step lives in `Steps/` (resume, reserve, pay, deliver, present,
// commit), and the wire is a `PaymentTransport` (HTTP by default), which only sends and reads.

/// An HTTP client that pays the 402s it meets, by policy and within budget, and proves every spend.
public final class PayingClient: Sendable {
    let configuration: PayingClientConfiguration
    let transport: any PaymentTransport
    let receipts: ReceiptKeyResolver
    let inFlight = InFlightSet()
    /// The session this client made (for the transport and receipt keys, or receipt keys only).
    private let session: URLSession

    /// Creates a client. The default session never follows redirects and keeps no cookies.
    ///
    /// A `session` given here lends its configuration and its delegate's answers to authentication
    /// challenges, but the client sends through a session of its own made from them, which never follows
    /// a redirect (a credential must never be replayed to another URL than the one that asked for it)
    /// and never answers from a cache (a 402 and a paid answer are each for one request); the
    /// session's cookie settings are kept.
    public convenience init(configuration: PayingClientConfiguration, session: URLSession? = nil) {
        let session = session.map { HTTPExchange.refusingRedirects(like: $0) } ?? HTTPExchange.makeSession()
        let transport = HTTPPaymentTransport(exchange: HTTPExchange(session: session, timeout: configuration.requestTimeout),
                                             limits: configuration.limits)
        self.init(configuration: configuration, transport: transport, session: session)
    }

    /// Creates a client that carries its calls over `transport` instead of HTTP.
    ///
    /// Receipt keys published at `/.well-known` are still fetched over HTTP, through a session of the
    /// client's own that never follows redirects; pin them (`ReceiptKeySource.pinned`) to fetch nothing.
    public convenience init(configuration: PayingClientConfiguration, transport: any PaymentTransport) {
        self.init(configuration: configuration, transport: transport, session: HTTPExchange.makeSession())
    }

    init(configuration: PayingClientConfiguration, transport: any PaymentTransport, session: URLSession) {
        self.configuration = configuration
        self.transport = transport
        self.session = session
        self.receipts = ReceiptKeyResolver(source: configuration.receiptKeys, session: session,
                                           maxKeySetBytes: configuration.limits.maxKeySetBytes, clock: configuration.clock)
    }

    deinit {
        // The session holds its delegate until invalidated; the client owns the session, so let it go.
        session.finishTasksAndInvalidate()
    }

    /// Sends `request`, paying a 402 if the policy and the budget allow.
    ///
    /// The call is bounded by `configuration.limits`: the final body is kept up to
    /// `maxResponseBodyBytes`, and the whole call ends within `maxCallDuration`.
    ///
    /// - Throws: `PayingClientError`; its `isRetrySafe` says whether calling again with the same request
    ///   can succeed without paying twice.
    public func send(_ request: PaidRequest) async throws(PayingClientError) -> PaidResponse {
        try await send(request, streamingBodyTo: nil)
    }

    /// Sends `request` like `send(_:)`, writing the final answer's body into `sink` as it arrives
    /// instead of keeping it (the response's `body` is then empty), so a large resource never sits in
    /// memory. Nothing but the final answer reaches the sink: challenges and "try again" answers are
    /// read (bounded) and never written. At most `maxResponseBodyBytes` are written; past that the call
    /// throws `.responseTooLarge` (a paid spend committed first).
    public func send(_ request: PaidRequest, streamingBodyTo sink: ResponseBodySink?) async throws(PayingClientError) -> PaidResponse {
        let bounds = CallBounds(deadline: .now + configuration.limits.maxCallDuration, sink: sink, limits: configuration.limits)
        let result: Result<PaidResponse, PayingClientError> = await CallBounds.$current.withValue(bounds) {
            do throws(PayingClientError) { return .success(try await sendBounded(request)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func sendBounded(_ request: PaidRequest) async throws(PayingClientError) -> PaidResponse {
        do { try transport.validate(request) } catch { throw PayingClientError(.invalidRequest, error.reason) }
        let paymentID = try Self.paymentID(for: request)

        // A call already paid (same payment id) or left pending by an earlier run is finished, not paid again.
        let firstLedgerIndex: Int
        switch try await resumeIfPending(request, paymentID: paymentID) {
        case .finished(let response): return response
        case .fresh(let index): firstLedgerIndex = index
        }

        let first: PaymentAnswer
        do {
            first = try await carry(request, presenting: nil)
        } catch {
            throw PayingClientError(.transport, "the request failed before any payment: \(error.reason)")
        }
        guard case .challenged = transport.classify(first, presented: false) else {
            if first.bodyTruncated {
                throw PayingClientError(.responseTooLarge, "the answer (HTTP \(first.status)) is larger than "
                                            + "\(configuration.limits.maxResponseBodyBytes) bytes; reading stopped there, nothing was paid")
            }
            return PaidResponse(status: first.status, headers: first.headers, body: first.body, payment: nil, negotiation: nil)
        }
        return try await pay(first, request: request, paymentID: paymentID, firstLedgerIndex: firstLedgerIndex)
    }

    /// Sends once within the call's bounds: the deadline is checked first, and a bounded transport
    /// (HTTP) also stops at it and streams a final body into the call's sink. Another transport's
    /// final body is written to the sink here, once it is known to be final.
    func carry(_ request: PaidRequest, presenting presentation: PaymentPresentation?) async throws(PaymentTransportError) -> PaymentAnswer {
        guard let bounds = CallBounds.current else { return try await transport.send(request, presenting: presentation) }
        if bounds.expired { throw PaymentTransportError(bounds.expiredReason) }
        var answer: PaymentAnswer
        do {
            if let bounded = transport as? any BoundedPaymentTransport {
                return try await bounded.send(request, presenting: presentation, deadline: bounds.deadline, sink: bounds.sink)
            }
            answer = try await transport.send(request, presenting: presentation)
        } catch {
            throw bounds.expired ? PaymentTransportError(bounds.expiredReason) : error
        }
        guard let sink = bounds.sink, case .served = transport.classify(answer, presented: presentation != nil) else { return answer }
        let limit = configuration.limits.maxResponseBodyBytes
        let kept = answer.body.count > limit ? Array(answer.body.prefix(limit)) : answer.body
        answer.bodyTruncated = answer.bodyTruncated || answer.body.count > limit
        if !kept.isEmpty, !sink.accept(kept) { throw PaymentTransportError("the body could not be written out") }
        answer.body = []
        return answer
    }

    // MARK: - Paying a challenge

    /// Reads and negotiates the challenge, then tries the candidates best first until one is paid and
    /// delivered, or one failure says that trying the next could pay twice.
    private func pay(
        _ challenge: PaymentAnswer, request: PaidRequest, paymentID: String, firstLedgerIndex: Int
    ) async throws(PayingClientError) -> PaidResponse {
        let receivedAt = configuration.clock.now()
        let offers = try readOffers(challenge, request: request, receivedAt: receivedAt)
        let negotiationRequest = NegotiationRequest(url: request.url, method: request.method, now: receivedAt)
        let negotiation = try await negotiate(offers, for: negotiationRequest)
        let call = ChallengedCall(request: request, paymentID: paymentID, challenge: challenge, receivedAt: receivedAt,
                                  negotiationRequest: negotiationRequest, negotiation: negotiation)

        var lastFailure: PayingClientError?
        var ledgerIndex = firstLedgerIndex
        for candidate in negotiation.candidates {
            switch try await attempt(candidate, call: call, ledgerIndex: &ledgerIndex) {
            case .delivered(let response): return response
            case .notPaid(let failure): lastFailure = failure
            }
        }
        throw lastFailure ?? PayingClientError(.paymentFailed, "no candidate could be paid", negotiation: negotiation)
    }

    private func readOffers(
        _ challenge: PaymentAnswer, request: PaidRequest, receivedAt: Date
    ) throws(PayingClientError) -> [ReadOffer] {
        let reading = transport.challenges(in: challenge, for: request, receivedAt: receivedAt)
        emit(.challenged(offers: reading.offers, skipped: reading.skipped))
        guard !reading.offers.isEmpty else {
            // The same reasons `--explain` gives: a Payment method no wallet pays is said as such,
            // not as the reader's complaint about a currency it could not price anyway.
            var reasons = SkippedExplanation.lines(reading.skipped, walletRails: Set(configuration.negotiator.wallets.rails))
            if challenge.bodyTruncated {
                reasons.append("its body is larger than \(configuration.limits.maxChallengeBodyBytes) bytes and was not read")
            }
            let joined = reasons.joined(separator: "; ")
            throw PayingClientError(.noOffers, "the 402 carries no offer this client can read" + (joined.isEmpty ? "" : " (\(joined))"))
        }
        return reading.offers
    }

    private func negotiate(_ offers: [ReadOffer], for request: NegotiationRequest) async throws(PayingClientError) -> Negotiation {
        let negotiation = await configuration.negotiator.negotiate(offers, for: request)
        emit(.negotiated(negotiation))
        guard !negotiation.candidates.isEmpty else {
            let reasons = negotiation.refusals.map { "\($0.offer.dialect.rawValue)/\($0.offer.offer.rail): \($0.rule): \($0.reason)" }
            throw PayingClientError(.refusedByPolicy, "the policy refused every offer: " + reasons.joined(separator: "; "),
                                    negotiation: negotiation)
        }
        return negotiation
    }

    /// What became of one candidate: delivered, or not paid (and the next candidate may be tried).
    private enum CandidateOutcome {
        case delivered(PaidResponse)
        case notPaid(PayingClientError)
    }

    /// Approve, reserve, pay, deliver: one candidate. Throws where trying the next one is unsafe.
    private func attempt(
        _ candidate: Candidate, call: ChallengedCall, ledgerIndex: inout Int
    ) async throws(PayingClientError) -> CandidateOutcome {
        let negotiation = call.negotiation
        if let bounds = CallBounds.current, bounds.expired {
            // Checked before any reservation: past the deadline nothing more is paid.
            throw PayingClientError(.transport, "\(bounds.expiredReason) before paying; nothing was paid", negotiation: negotiation)
        }
        guard await configuration.negotiator.confirmApproval(of: candidate, for: call.negotiationRequest) else {
            return .notPaid(PayingClientError(.refusedByPolicy, "the approver declined \(candidate.cost) on \(candidate.offer.offer.rail)",
                                              negotiation: negotiation))
        }
        let reserved = await budgetAmount(candidate.quote.total)
        let ledgerID: String
        switch try await reserve(candidate, amount: reserved, call: call, ledgerIndex: &ledgerIndex) {
        case .reserved(let id): ledgerID = id
        case .overBudget(let failure): return .notPaid(failure)
        }
        defer { inFlight.release(ledgerID) }
        emit(.reserved(paymentID: ledgerID, amount: reserved, rail: candidate.offer.offer.rail, dialect: candidate.offer.dialect))

        switch await payWithWallet(candidate.offer, ledgerID: ledgerID, resumed: false) {
        case .paid(let credential, let fee):
            let spent = await spentAmount(candidate.offer.offer, fee: fee, reserved: reserved)
            let spend = PaidSpend(offer: candidate.offer, ledgerID: ledgerID, paymentID: call.paymentID,
                                  reserved: candidate.quote.total, spent: spent, resumed: false)
            return .delivered(try await deliver(credential, offer: candidate.offer, spend: spend, request: call.request,
                                                negotiation: negotiation))
        case .refused(let failure):
            let error = PayingClientError(failure.code, failure.reason, negotiation: negotiation, paymentID: failure.paymentID)
            // A ledger that cannot release is no ledger to reserve the next candidate in.
            if failure.code == .ledgerWriteFailed { throw error }
            return .notPaid(error)
        case .unknown(let failure):
            throw PayingClientError(failure.code, failure.reason, negotiation: negotiation, paymentID: ledgerID)
        }
    }

    // MARK: - Helpers

    func emit(_ event: PayingClientEvent) { configuration.onEvent?(event) }

    static func paymentID(for request: PaidRequest) throws(PayingClientError) -> String {
        if let given = request.paymentID ?? request.headers["Idempotency-Key"] {
            guard (try? X402PaymentIdentifier(given)) != nil else {
                throw PayingClientError(.invalidRequest, "a payment id is 16 to 128 letters, digits, '_' or '-'")
            }
            return given
        }
        do { return try X402PaymentIdentifier.generate().id } catch {
            throw PayingClientError(.invalidRequest, "no randomness for a payment id: \(error.reason)")
        }
    }

    static func digest(_ body: [UInt8]) -> String { "sha-256=:" + Base64.encode(SHA256.hash(body)) + ":" }
}

/// A call whose first answer was a challenge, negotiated: what every candidate's attempt shares.
struct ChallengedCall: Sendable {
    let request: PaidRequest
    /// The call's payment identifier (each reservation's ledger id starts with it).
    let paymentID: String
    /// The challenge, kept with each reservation so a later run can read the same offer again.
    let challenge: PaymentAnswer
    let receivedAt: Date
    let negotiationRequest: NegotiationRequest
    let negotiation: Negotiation
}
