import Foundation
import PayRailWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The HTTP transport: a 402 is the challenge, the credential travels in header fields, and the
/// status, `Retry-After`, receipt headers and problem types say what an answer means.
///
/// Redirects are never followed (the exchange's session refuses them), so a credential only ever
/// reaches the URL that asked for it; a 3xx to a presentation is an answer to try again, not a hop.
struct HTTPPaymentTransport: BoundedPaymentTransport {
    let exchange: HTTPExchange
    let limits: PayingClientLimits

    func validate(_ request: PaidRequest) throws(PaymentTransportError) {
        guard let scheme = request.url.scheme?.lowercased(), scheme == "http" || scheme == "https", request.url.host != nil else {
            throw PaymentTransportError("only absolute http(s) URLs can be fetched")
        }
    }

    func send(_ request: PaidRequest, presenting presentation: PaymentPresentation?) async throws(PaymentTransportError) -> PaymentAnswer {
        try await send(request, presenting: presentation, deadline: .now + limits.maxCallDuration, sink: nil)
    }

    /// Sends once, reading the final content's body up to `maxResponseBodyBytes` (into `sink` when
    /// given) and any other body up to `maxChallengeBodyBytes`, all before `deadline`.
    func send(
        _ request: PaidRequest, presenting presentation: PaymentPresentation?, deadline: ContinuousClock.Instant, sink: ResponseBodySink?
    ) async throws(PaymentTransportError) -> PaymentAnswer {
        var headers = request.headers
        if let presentation {
            for field in presentation.fields { headers.set(field.name, field.value) }
            headers.set("Idempotency-Key", presentation.paymentID)
        }
        let limits = self.limits
        let presented = presentation != nil
        // Decided from the head alone: only an answer that will be final content is streamed, so a
        // "try again" body never reaches the caller's output before the answer that counts.
        let handling: @Sendable (Int, [HTTPExchange.Field]) -> BodyHandling = { status, _ in
            guard Self.isServedHead(status: status, presented: presented) else {
                return .buffer(limit: limits.maxChallengeBodyBytes)
            }
            if let sink { return .stream(limit: limits.maxResponseBodyBytes, sink: sink) }
            return .buffer(limit: limits.maxResponseBodyBytes)
        }
        do {
            let response = try await exchange.send(method: request.method, url: request.url, headers: headers.exchangeFields,
                                                   body: request.body, deadline: deadline, handling: handling)
            let answerHeaders = HTTPFields(response.headers)
            let served = Self.isServedHead(status: response.status, presented: presented)
            // A cut challenge or problem body is ignored rather than half read.
            let body = response.truncated && !served ? [] : response.body
            return PaymentAnswer(status: response.status, headers: answerHeaders, body: body, bodyTruncated: response.truncated)
        } catch {
            switch error {
            case .deadline: throw PaymentTransportError("no complete answer before the call's deadline")
            case .notSent(let reason), .transport(let reason): throw PaymentTransportError(reason)
            }
        }
    }

    /// Whether an answer will be classified as final content (`.served`), from its status alone: the
    /// decision `classify` makes (only a 409's body can change a kind, and a 409 to a presentation is
    /// never final content), without reading the receipt `.served` would carry, which decides nothing
    /// here and costs a base64 and JSON parse per look (the tests compare both for every status).
    static func isServedHead(status: Int, presented: Bool) -> Bool {
        guard presented else { return status != 402 }
        switch status {
        case 402, 403, 300...399, 408, 409, 425, 429, 500...599: return false
        default: return true
        }
    }

    func challenges(in answer: PaymentAnswer, for request: PaidRequest, receivedAt: Date) -> PaymentResponseReading {
        // x402 `lnbtc` invoices commit to the request (method, URL, body): the reader refuses one that
        // commits to anything else, so a preimage bought here cannot have been meant for another request.
        let binding = X402RequestBinding.http(method: request.method == "HEAD" ? "GET" : request.method,
                                              url: request.url.absoluteString, body: request.body ?? [], headers: [])
        return PaymentResponseReader.read(status: answer.status, headers: answer.headers, body: answer.body,
                                          receivedAt: receivedAt, expectedRequest: binding)
    }

    func classify(_ answer: PaymentAnswer, presented: Bool) -> PaymentAnswerKind {
        Self.classify(answer, presented: presented)
    }

    static func classify(_ answer: PaymentAnswer, presented: Bool) -> PaymentAnswerKind {
        guard presented else { return answer.status == 402 ? .challenged : .served(receipt: receiptToken(in: answer.headers)) }
        if answer.status == 409, problemSlug(answer.body) == "idempotency-conflict" {
            // The server holds another request under this payment id: retrying cannot help.
            return .conflict
        }
        switch answer.status {
        case 402, 403:
            return .refused(detail: (try? ProblemDetails.parse(answer.body))?.detail ?? "status \(answer.status)")
        case 300...399, 408, 409, 425, 429, 500...599:
            // In progress, rail unavailable, or the upstream failed after settlement: the same proof
            // (or the receipt the failure carried) is safe to present again.
            return .retry(receipt: receiptToken(in: answer.headers), retryAfterSeconds: Int(answer.headers["Retry-After"] ?? ""))
        default:
            return .served(receipt: receiptToken(in: answer.headers))
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

}

/// A transport that honours the call's deadline and can stream the final answer's body: the client
/// passes both where it can (HTTP), and bounds other transports by checking the deadline between
/// steps and writing their buffered body to the sink itself.
protocol BoundedPaymentTransport: PaymentTransport {
    /// Sends once; an answer that is final content has its body streamed into `sink` when given.
    func send(
        _ request: PaidRequest, presenting presentation: PaymentPresentation?, deadline: ContinuousClock.Instant, sink: ResponseBodySink?
    ) async throws(PaymentTransportError) -> PaymentAnswer
}
