import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailStore
import PayRailWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

// The agent's HTTP client. The order of steps is the safety argument: budget is reserved before any
// wallet is asked to pay, the proof is written to the ledger before it is sent, and the spend is
// committed only once the server answered. A crash anywhere leaves a pending spend that the next call
// for the same request finishes with the same proof, so no step can pay twice.

/// Something the client did, reported as it happens (for `--explain`, the demo, logs). Carries no
/// secret: no credential, proof or preimage.
public enum PayingClientEvent: Sendable {
    /// The server asked for payment; the offers read from its 402, and what could not be read.
    case challenged(offers: [ReadOffer], skipped: [SkippedChallenge])
    /// The negotiation over those offers.
    case negotiated(Negotiation)
    /// Budget reserved for a candidate.
    case reserved(paymentID: String, amount: Money, rail: RailID, dialect: PaymentDialect)
    /// A reservation given back (the wallet could not pay; nothing moved).
    case released(paymentID: String, reason: String)
    /// The wallet paid.
    case paid(paymentID: String, rail: RailID, dialect: PaymentDialect)
    /// The request was sent again with the credential (or the receipt).
    case presenting(attempt: Int, dialect: PaymentDialect)
    /// A pending spend from an earlier run or attempt is being finished instead of paying again.
    case resuming(paymentID: String, state: SpendState)
    /// The receipt was checked.
    case receipt(ReceiptCheck)
    /// The spend is committed to the ledger.
    case committed(paymentID: String, amount: Money)
}

/// How the paying client behaves.
public struct PayingClientConfiguration: Sendable {
    /// Chooses among the offers of a 402.
    public var negotiator: Negotiator
    /// Reserves and records every spend.
    public var governor: SpendGovernor
    /// Where receipt keys come from.
    public var receiptKeys: ReceiptKeySource
    /// How many times the paid request is sent (network failures, 409 in progress, 5xx) before giving
    /// up with the spend left pending.
    public var deliveryAttempts: Int
    /// Timeout of each HTTP exchange, in seconds.
    public var requestTimeout: TimeInterval
    /// The clock for expiries and the ledger.
    public var clock: any PayRailClock
    /// Called with every event; never with a secret.
    public var onEvent: (@Sendable (PayingClientEvent) -> Void)?
    /// Called when a ledger write failed, so the ledger may not show what happened (never with a
    /// secret). Such a spend is never reported as released: it stays pending (reserved or paid) in the
    /// ledger, and `LedgerWriteFailure.mayHavePaid` says whether money may have moved.
    public var onLedgerWriteFailure: (@Sendable (LedgerWriteFailure) -> Void)?

    /// Creates a configuration.
    public init(
        negotiator: Negotiator, governor: SpendGovernor, receiptKeys: ReceiptKeySource = .wellKnown(cacheSeconds: 300),
        deliveryAttempts: Int = 3, requestTimeout: TimeInterval = 30, clock: any PayRailClock = SystemClock(),
        onEvent: (@Sendable (PayingClientEvent) -> Void)? = nil,
        onLedgerWriteFailure: (@Sendable (LedgerWriteFailure) -> Void)? = nil
    ) {
        self.negotiator = negotiator
        self.governor = governor
        self.receiptKeys = receiptKeys
        self.deliveryAttempts = max(1, deliveryAttempts)
        self.requestTimeout = requestTimeout
        self.clock = clock
        self.onEvent = onEvent
        self.onLedgerWriteFailure = onLedgerWriteFailure
    }
}

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

/// An HTTP client that pays the 402s it meets, by policy and within budget, and proves every spend.
public final class PayingClient: Sendable {
    private let configuration: PayingClientConfiguration
    private let http: HTTPExchange
    private let receipts: ReceiptKeyResolver
    private let inFlight = InFlightSet()

    /// Creates a client. The default session never follows redirects and keeps no cookies.
    ///
    /// A `session` given here lends its configuration and its delegate's answers to authentication
    /// challenges, but the client sends through a session of its own made from them, which never follows
    /// a redirect: a credential must never be replayed to another URL than the one that asked for it.
    public init(configuration: PayingClientConfiguration, session: URLSession? = nil) {
        self.configuration = configuration
        let session = session.map(HTTPExchange.refusingRedirects(like:)) ?? HTTPExchange.makeSession()
        self.http = HTTPExchange(session: session, timeout: configuration.requestTimeout)
        self.receipts = ReceiptKeyResolver(source: configuration.receiptKeys, session: session, clock: configuration.clock)
    }

    deinit {
        // The session holds its delegate until invalidated; the client owns the session, so let it go.
        http.session.finishTasksAndInvalidate()
    }

    /// Sends `request`, paying a 402 if the policy and the budget allow.
    ///
    /// - Throws: `PayingClientError`; its `isRetrySafe` says whether calling again with the same request
    ///   can succeed without paying twice.
    public func send(_ request: PaidRequest) async throws(PayingClientError) -> PaidResponse {
        guard let scheme = request.url.scheme?.lowercased(), scheme == "http" || scheme == "https", request.url.host != nil else {
            throw PayingClientError(.invalidRequest, "only absolute http(s) URLs can be fetched")
        }
        let paymentID = try Self.paymentID(for: request)

        // A call already paid (same payment id) or left pending by an earlier run is finished, not paid again.
        let firstLedgerIndex: Int
        switch try await resumeIfPending(request, paymentID: paymentID) {
        case .finished(let response): return response
        case .fresh(let index): firstLedgerIndex = index
        }

        let first: HTTPExchange.Response
        do {
            first = try await http.send(method: request.method, url: request.url, headers: request.headers, body: request.body)
        } catch {
            throw PayingClientError(.transport, "the request failed before any payment: \(Self.describe(error))")
        }
        guard first.status == 402 else {
            return PaidResponse(status: first.status, headers: first.headers, body: first.body, payment: nil, negotiation: nil)
        }
        return try await pay(first, request: request, paymentID: paymentID, firstLedgerIndex: firstLedgerIndex)
    }

    // MARK: - Paying a 402

    private func pay(
        _ challenge: HTTPExchange.Response, request: PaidRequest, paymentID: String, firstLedgerIndex: Int
    ) async throws(PayingClientError) -> PaidResponse {
        let receivedAt = configuration.clock.now()
        // x402 `lnbtc` invoices commit to the request (method, URL, body): the reader refuses one that
        // commits to anything else, so a preimage bought here cannot have been meant for another request.
        let binding = X402RequestBinding.http(method: request.method == "HEAD" ? "GET" : request.method,
                                              url: request.url.absoluteString, body: request.body ?? [], headers: [])
        let reading = PaymentResponseReader.read(status: challenge.status, headers: challenge.headers, body: challenge.body,
                                                 receivedAt: receivedAt, expectedRequest: binding)
        emit(.challenged(offers: reading.offers, skipped: reading.skipped))
        guard !reading.offers.isEmpty else {
            let reasons = reading.skipped.map(\.description).joined(separator: "; ")
            throw PayingClientError(.noOffers, "the 402 carries no offer this client can read" + (reasons.isEmpty ? "" : " (\(reasons))"))
        }
        let negotiationRequest = NegotiationRequest(url: request.url, method: request.method, now: receivedAt)
        let negotiation = await configuration.negotiator.negotiate(reading.offers, for: negotiationRequest)
        emit(.negotiated(negotiation))
        guard !negotiation.candidates.isEmpty else {
            let reasons = negotiation.refusals.map { "\($0.offer.dialect.rawValue)/\($0.offer.offer.rail): \($0.rule): \($0.reason)" }
            throw PayingClientError(.refusedByPolicy, "the policy refused every offer: " + reasons.joined(separator: "; "),
                                    negotiation: negotiation)
        }

        var lastFailure: PayingClientError?
        var ledgerIndex = firstLedgerIndex
        candidates: for candidate in negotiation.candidates {
            guard await configuration.negotiator.confirmApproval(of: candidate, for: negotiationRequest) else {
                lastFailure = PayingClientError(.refusedByPolicy, "the approver declined \(candidate.cost) on \(candidate.offer.offer.rail)",
                                                negotiation: negotiation)
                continue
            }
            let context = SpendContext(paymentID: paymentID, offer: candidate.offer, bodyDigest: request.bodyDigest,
                                       challenge: challenge, receivedAt: receivedAt)
            let reserved = await budgetAmount(candidate.quote.total)
            // Each reservation of the call takes the next free ledger id: a released one (nothing was paid
            // under it) is skipped, so a payment id whose earlier attempt was released pays afresh.
            var ledgerID = ""
            while true {
                guard ledgerIndex < Self.maximumLedgerIDs else {
                    throw PayingClientError(.ledger, "payment id \(paymentID) has used all \(Self.maximumLedgerIDs) ledger ids; use a new id",
                                            negotiation: negotiation)
                }
                ledgerID = Self.ledgerID(paymentID, index: ledgerIndex)
                ledgerIndex += 1
                // Claimed before the reservation exists, so no other task of this client can take the
                // new reserved spend for an abandoned one and pay it at the same time.
                guard inFlight.claim(ledgerID) else {
                    throw PayingClientError(.paymentInProgress, "payment id \(paymentID) is being paid by another call right now; "
                                                + "call again when it ends and it will be finished, not paid twice",
                                            negotiation: negotiation, paymentID: ledgerID)
                }
                let spend = SpendRequest(paymentID: ledgerID, amount: reserved, rail: candidate.offer.offer.rail,
                                         host: negotiationRequest.host, method: request.method, url: request.url.absoluteString,
                                         offerID: candidate.offer.offer.id, context: context.encoded())
                do {
                    _ = try await configuration.governor.reserve(spend)
                    break
                } catch {
                    inFlight.release(ledgerID)
                    if error.code == .overBudget {
                        lastFailure = PayingClientError(.overBudget, error.refusal?.description ?? error.reason,
                                                        negotiation: negotiation, budget: error.refusal)
                        ledgerIndex -= 1  // nothing was written under this id
                        continue candidates
                    }
                    if error.code == .duplicate, let existing = error.record {
                        if existing.state == .released, ledgerIndex < Self.maximumLedgerIDs { continue }
                        throw Self.reuseError(existing, paymentID: paymentID, negotiation: negotiation)
                    }
                    throw PayingClientError(.ledger, "the spend ledger refused the reservation: \(error)", negotiation: negotiation)
                }
            }
            defer { inFlight.release(ledgerID) }
            emit(.reserved(paymentID: ledgerID, amount: reserved, rail: candidate.offer.offer.rail, dialect: candidate.offer.dialect))

            switch await payWithWallet(candidate.offer, ledgerID: ledgerID, resumed: false) {
            case .paid(let credential, let fee):
                let spent = await spentAmount(candidate.offer.offer, fee: fee, reserved: reserved)
                return try await deliver(credential, offer: candidate.offer, ledgerID: ledgerID, paymentID: paymentID,
                                         reserved: candidate.quote.total, spent: spent, request: request, negotiation: negotiation,
                                         resumed: false)
            case .refused(let failure):
                let error = PayingClientError(failure.code, failure.reason, negotiation: negotiation, paymentID: failure.paymentID)
                // A ledger that cannot release is no ledger to reserve the next candidate in.
                if failure.code == .ledgerWriteFailed { throw error }
                lastFailure = error
                continue
            case .unknown(let failure):
                throw PayingClientError(failure.code, failure.reason, negotiation: negotiation, paymentID: ledgerID)
            }
        }
        throw lastFailure ?? PayingClientError(.paymentFailed, "no candidate could be paid", negotiation: negotiation)
    }

    private enum WalletOutcome {
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
    private func payWithWallet(_ offer: ReadOffer, ledgerID: String, resumed: Bool) async -> WalletOutcome {
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
    private func release(_ ledgerID: String, reason: String) async -> LedgerWriteFailure? {
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
    private static func notPaid(_ reason: String, releaseFailure: LedgerWriteFailure?) -> PayingClientError {
        guard let releaseFailure else { return PayingClientError(.paymentFailed, reason) }
        return PayingClientError(.ledgerWriteFailed, "\(reason); \(releaseFailure)", paymentID: releaseFailure.paymentID)
    }

    /// Commits a spend after paying. A spend already committed (a receipt replayed) is no failure;
    /// any other failure is reported and leaves the spend pending, so the fact that money moved is kept.
    private func commitPaid(
        _ ledgerID: String, receipt: String?, reference: String?, note: String?, spent: Money?
    ) async -> (record: SpendRecord?, failure: LedgerWriteFailure?) {
        do {
            return (try await configuration.governor.commit(ledgerID, receipt: receipt, reference: reference, note: note, amount: spent),
                    nil)
        } catch {
            if error.code == .invalidTransition, error.record?.state == .committed { return (nil, nil) }
            // An actual amount the ledger will not take must not leave a paid spend pending: commit it
            // at the reserved amount instead (more, never less, than was spent).
            if spent != nil, error.storeError?.code == .invalidArgument {
                return await commitPaid(ledgerID, receipt: receipt, reference: reference, note: note, spent: nil)
            }
            let failure = LedgerWriteFailure(paymentID: ledgerID, step: .commit, mayHavePaid: true, error: error)
            reportLedgerFailure(failure)
            return (nil, failure)
        }
    }

    private func reportLedgerFailure(_ failure: LedgerWriteFailure) { configuration.onLedgerWriteFailure?(failure) }

    // MARK: - Presenting the credential

    /// Writes the proof to the ledger, then presents it until the server answers.
    private func deliver(
        _ credential: Credential, offer: ReadOffer, ledgerID: String, paymentID: String, reserved: Money, spent: Money?,
        request: PaidRequest, negotiation: Negotiation?, resumed: Bool
    ) async throws(PayingClientError) -> PaidResponse {
        let identifier = try? X402PaymentIdentifier(paymentID)
        let fields: HTTPFields
        do {
            fields = try offer.credentialFields(for: credential, paymentIdentifier: identifier)
        } catch {
            // Money moved but the dialect cannot carry the proof: record it, the operator must sort it out.
            let (_, failure) = await commitPaid(ledgerID, receipt: nil, reference: nil,
                                                note: "paid, but the credential could not be written: \(error.reason)", spent: spent)
            throw PayingClientError(.paidButRefused, "the credential cannot be sent in \(offer.dialect.rawValue): \(error.reason)"
                                        + Self.pendingNote(failure), negotiation: negotiation, paymentID: ledgerID)
        }
        do {
            _ = try await configuration.governor.markPaid(ledgerID, proof: SpendProof.encode(fields))
        } catch {
            // Already paid (a resumed spend) is fine. Anything else is a failed write, not a release: the
            // spend stays reserved (counted, never given back) and the proof is still presented now.
            if !(error.code == .invalidTransition && error.record?.state == .paid) {
                reportLedgerFailure(LedgerWriteFailure(paymentID: ledgerID, step: .markPaid, mayHavePaid: true, error: error))
            }
        }
        return try await present(fields, dialect: offer.dialect, rail: offer.offer.rail, amount: offer.offer.amount, payee: offer.offer.payee,
                                 ledgerID: ledgerID, paymentID: paymentID, reserved: reserved, spent: spent, request: request,
                                 negotiation: negotiation, resumed: resumed)
    }

    private func present(
        _ credentialFields: HTTPFields, dialect: PaymentDialect, rail: RailID, amount: Money, payee: String?, ledgerID: String,
        paymentID: String, reserved: Money, spent: Money? = nil, request: PaidRequest, negotiation: Negotiation?, resumed: Bool
    ) async throws(PayingClientError) -> PaidResponse {
        var proof = credentialFields
        var receiptFromFailure: String?
        var last: HTTPExchange.Response?
        var lastTransportError = ""
        for attempt in 1...configuration.deliveryAttempts {
            var headers = request.headers
            for field in proof { headers.set(field.name, field.value) }
            headers.set("Idempotency-Key", paymentID)
            emit(.presenting(attempt: attempt, dialect: dialect))
            let response: HTTPExchange.Response
            do {
                response = try await http.send(method: request.method, url: request.url, headers: headers, body: request.body)
            } catch {
                lastTransportError = Self.describe(error)
                await pause(seconds: Double(attempt) * 0.2)
                continue
            }
            last = response
            if response.status == 409, Self.problemSlug(response.body) == "idempotency-conflict" {
                // The server holds another request under this payment id: retrying cannot help.
                let (_, failure) = await commitPaid(ledgerID, receipt: nil, reference: nil,
                                                    note: "paid, but the server holds another request under this payment id", spent: spent)
                throw PayingClientError(.paidButRefused, "the server already used payment id \(paymentID) for another request"
                                            + Self.pendingNote(failure), negotiation: negotiation, paymentID: ledgerID)
            }
            switch response.status {
            case 402, 403:
                let detail = (try? ProblemDetails.parse(response.body))?.detail ?? "status \(response.status)"
                let (_, failure) = await commitPaid(ledgerID, receipt: receiptFromFailure, reference: nil,
                                                    note: "paid, refused by the server: \(detail)", spent: spent)
                throw PayingClientError(.paidButRefused, "the server refused the payment: \(detail)" + Self.pendingNote(failure),
                                        negotiation: negotiation, paymentID: ledgerID)
            case 300...399, 408, 409, 425, 429, 500...599:
                // In progress, rail unavailable, or the upstream failed after settlement: the same proof
                // (or the receipt the failure carried) is safe to present again.
                if let receipt = Self.receiptToken(in: response.headers) {
                    receiptFromFailure = receipt
                    proof = HTTPFields([(PlainReceipt.fieldName, receipt)])
                }
                let wait = min(Double(Int(response.headers["Retry-After"] ?? "") ?? 1), 2.0)
                if attempt < configuration.deliveryAttempts { await pause(seconds: max(0.1, wait)) }
                continue
            default:
                return await complete(response, dialect: dialect, rail: rail, amount: amount, payee: payee, ledgerID: ledgerID,
                                      paymentID: paymentID, reserved: reserved, spent: spent, request: request, negotiation: negotiation,
                                      resumed: resumed)
            }
        }
        if let last, let receipt = receiptFromFailure {
            // Paid and granted, but the resource failed: the receipt fetches it later at no charge.
            let check = await receipts.check(receipt, resource: Self.resource(of: request), from: request.url)
            let (_, failure) = await commitPaid(ledgerID, receipt: receipt, reference: Self.reference(check),
                                                note: "granted; the resource answered \(last.status)", spent: spent)
            let outcome = PaymentOutcome(paymentID: ledgerID, rail: rail, dialect: dialect, amount: amount, reserved: reserved,
                                         receipt: receipt, receiptCheck: check, reference: Self.reference(check), resumed: resumed,
                                         ledgerWriteFailure: failure)
            return PaidResponse(status: last.status, headers: last.headers, body: last.body, payment: outcome, negotiation: negotiation)
        }
        let why = last.map { "the server answered \($0.status)" } ?? "the server could not be reached (\(lastTransportError))"
        throw PayingClientError(.paidButUndelivered, "paid, but \(why) after \(configuration.deliveryAttempts) attempts",
                                negotiation: negotiation, paymentID: ledgerID)
    }

    private func complete(
        _ response: HTTPExchange.Response, dialect: PaymentDialect, rail: RailID, amount: Money, payee: String?, ledgerID: String,
        paymentID: String, reserved: Money, spent: Money? = nil, request: PaidRequest, negotiation: Negotiation?, resumed: Bool
    ) async -> PaidResponse {
        let receipt = Self.receiptToken(in: response.headers)
        let check: ReceiptCheck
        if let receipt {
            check = await receipts.check(receipt, resource: Self.resource(of: request), from: request.url)
        } else {
            check = .unverifiable("the server sent no receipt")
        }
        emit(.receipt(check))
        var note: String?
        if case .invalid(let reason) = check { note = "the receipt does not verify: \(reason)" }
        let (record, failure) = await commitPaid(ledgerID, receipt: receipt, reference: Self.reference(check), note: note, spent: spent)
        if let record { emit(.committed(paymentID: ledgerID, amount: record.amount)) }
        if let payee, let memory = configuration.negotiator.priceMemory, let host = request.url.host {
            try? await memory.remember(RememberedPrice(payee: payee, amount: amount, paidAt: configuration.clock.now()),
                                       host: host.lowercased(), resource: NegotiationRequest(url: request.url, method: request.method,
                                                                                             now: configuration.clock.now()).resourcePath,
                                       rail: rail)
        }
        let outcome = PaymentOutcome(paymentID: ledgerID, rail: rail, dialect: dialect, amount: amount, reserved: reserved,
                                     receipt: receipt, receiptCheck: check, reference: Self.reference(check), resumed: resumed,
                                     ledgerWriteFailure: failure)
        return PaidResponse(status: response.status, headers: response.headers, body: response.body, payment: outcome, negotiation: negotiation)
    }

    // MARK: - Finishing what an earlier run started

    /// What `send` does after looking at the ledger: return what an earlier attempt already got, or pay
    /// afresh with the first ledger id no earlier attempt of this payment id used.
    private enum Resumption {
        case finished(PaidResponse)
        case fresh(firstLedgerIndex: Int)
    }

    private func resumeIfPending(_ request: PaidRequest, paymentID: String) async throws(PayingClientError) -> Resumption {
        let (pending, firstFree) = try await findPending(request, paymentID: paymentID)
        let fresh = Resumption.fresh(firstLedgerIndex: firstFree)
        guard let record = pending, let context = SpendContext.decode(record.context) else { return fresh }
        // Claimed atomically: of two tasks that both found this spend unattended, one finishes it.
        guard inFlight.claim(record.paymentID) else { throw Self.reuseError(record, paymentID: paymentID, negotiation: nil) }
        defer { inFlight.release(record.paymentID) }
        emit(.resuming(paymentID: record.paymentID, state: record.state))
        let dialect = PaymentDialect(rawValue: context.dialect) ?? .plain
        switch record.state {
        case .committed:
            // The same call again: its receipt replays the response without paying. Without a receipt
            // there is nothing to replay, and paying again under the same id would pay twice.
            guard let receipt = record.receipt else { throw Self.reuseError(record, paymentID: paymentID, negotiation: nil) }
            return .finished(try await present(HTTPFields([(PlainReceipt.fieldName, receipt)]), dialect: dialect, rail: record.rail,
                                               amount: context.amount, payee: nil, ledgerID: record.paymentID,
                                               paymentID: context.paymentID, reserved: record.amount, request: request,
                                               negotiation: nil, resumed: true))
        case .paid:
            guard let proofText = record.proof, let fields = SpendProof.decode(proofText) else {
                // Paid, but the proof is gone: paying again could pay twice, so stop and say so.
                throw PayingClientError(.paymentOutcomeUnknown,
                                        "payment \(record.paymentID) is paid but its proof cannot be read; check the rail before paying again",
                                        paymentID: record.paymentID)
            }
            return .finished(try await present(fields, dialect: dialect, rail: record.rail, amount: context.amount, payee: nil,
                                               ledgerID: record.paymentID, paymentID: context.paymentID, reserved: record.amount,
                                               request: request, negotiation: nil, resumed: true))
        case .reserved:
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
                return .finished(try await deliver(credential, offer: offer, ledgerID: record.paymentID, paymentID: context.paymentID,
                                                   reserved: record.amount, spent: spent, request: request, negotiation: nil,
                                                   resumed: true))
            case .refused(let failure):
                // Released: nothing had moved; pay afresh under the next ledger id. Not released: stop.
                if failure.code == .ledgerWriteFailed { throw failure }
                return fresh
            case .unknown(let failure):
                throw failure
            }
        case .released:
            return fresh
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
    private func findPending(_ request: PaidRequest, paymentID: String) async throws(PayingClientError) -> (SpendRecord?, Int) {
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
            unfinished = try await configuration.governor.unfinished()
        } catch {
            throw PayingClientError(.ledger, "the spend ledger could not be read: \(error)")
        }
        for record in unfinished where record.method == request.method && record.url == url && !inFlight.contains(record.paymentID) {
            guard let context = SpendContext.decode(record.context), context.bodyDigest == digest else { continue }
            if context.paymentID == paymentID || context.ownerIsGone { return (record, chain.count) }
        }
        return (nil, chain.count)
    }

    /// The most ledger ids one payment id may use (its reservations and fresh attempts after releases).
    static let maximumLedgerIDs = 64

    /// The ledger id of a payment id's `index`th reservation: the id itself, then `id.1`, `id.2`, ...
    static func ledgerID(_ paymentID: String, index: Int) -> String {
        index == 0 ? paymentID : "\(paymentID).\(index)"
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

    // MARK: - Helpers

    /// The amount to reserve, in the unit the owner budgets: a millisatoshi total counts against a
    /// satoshi budget (rounded up) when only satoshis are budgeted, so one budget covers both units
    /// Lightning prices come in, instead of two budgets each as large.
    private func budgetAmount(_ total: Money) async -> Money {
        guard total.unit == .msat else { return total }
        let limits = await configuration.governor.limits
        guard limits.limit(for: .msat) == nil, limits.limit(for: .sat) != nil else { return total }
        let sats = total.amount / 1000 + (total.amount % 1000 == 0 ? 0 : 1)
        return (try? Money(amount: sats, unit: .sat)) ?? total
    }

    private func emit(_ event: PayingClientEvent) { configuration.onEvent?(event) }

    /// What to commit once the wallet reported its fee: the offer's amount plus that fee, in the
    /// ledger's unit (as `budgetAmount` reserved it), never more than `reserved`; `nil` (keep the
    /// reserved amount) when the fee is unknown or cannot be compared with the reservation.
    private func spentAmount(_ offer: Offer, fee: Money?, reserved: Money) async -> Money? {
        guard let fee, fee.amount >= 0, let total = try? offer.amount.adding(fee) else { return nil }
        let spent = await budgetAmount(total)
        guard spent.unit == reserved.unit else { return nil }
        return spent.amount <= reserved.amount ? spent : reserved
    }

    /// What a paid-but-refused error adds when the ledger could not commit the spend.
    private static func pendingNote(_ failure: LedgerWriteFailure?) -> String {
        guard let failure else { return "" }
        return " (the ledger could not commit it: \(failure.error.code); the spend stays pending in the ledger)"
    }

    private func pause(seconds: Double) async {
        try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
    }

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

    /// The last path segment of a problem's `type` (`idempotency-conflict`), when the body is a problem.
    static func problemSlug(_ body: [UInt8]) -> String? {
        guard let type = (try? ProblemDetails.parse(body))?.type else { return nil }
        return type.split(separator: "/").last.map(String.init)
    }

    static func receiptToken(in headers: HTTPFields) -> String? {
        if let plain = headers[PlainReceipt.fieldName], case .receiptToken(let token)? = try? PlainReceipt.parse(plain) { return token }
        if let value = headers[PaymentReceipt.fieldName], let receipt = try? PaymentReceipt.parse(value) { return receipt.receipt }
        return nil
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

    static func digest(_ body: [UInt8]) -> String { "sha-256=:" + Base64.encode(SHA256.hash(body)) + ":" }

    static func describe(_ error: any Error) -> String {
        if let urlError = error as? URLError { return "URLError \(urlError.code.rawValue)" }
        return String(describing: type(of: error))
    }
}

/// The ledger ids this client is working on right now, so a concurrent call never "resumes" them.
final class InFlightSet: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: Set<String> = []
    /// Takes `id` for the caller; false when another task holds it (test and set in one step).
    func claim(_ id: String) -> Bool { lock.withLock { ids.insert(id).inserted } }
    /// Gives back an id this caller claimed.
    func release(_ id: String) { lock.withLock { _ = ids.remove(id) } }
    func contains(_ id: String) -> Bool { lock.withLock { ids.contains(id) } }
}
