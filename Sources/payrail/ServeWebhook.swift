import Foundation
import PayRail
import PayRailHTTP
import PayRailPaywall
import PayRailServer
import PayRailStore
import StripeRail

/// `--stripe-webhook-path PATH` with the endpoint secret(s) in `$PAYRAIL_STRIPE_WEBHOOK_SECRET`
/// (comma-separated during a rotation) or `--stripe-webhook-secret-file FILE` (the same, or one per
/// line). Parsed here rather than in StripeRailCommandSettings: only `payrail serve` receives events.
struct StripeWebhookSettings: Sendable {
    static let secretVariable = "PAYRAIL_STRIPE_WEBHOOK_SECRET"
    static let maximumSecretFileBytes = 4096

    /// The options `payrail serve` adds.
    static let options: [OptionSpec] = [
        OptionSpec(name: "stripe-webhook-path", valueName: "PATH",
                   help: "receive signed Stripe events at this POST path (secrets in $\(secretVariable), comma-separated)"),
        OptionSpec(name: "stripe-webhook-secret-file", valueName: "FILE",
                   help: "the webhook signing secret(s) (whsec_…), comma- or line-separated, instead of $\(secretVariable)"),
    ]

    let path: String
    let secrets: [String]

    /// `nil` without `--stripe-webhook-path`.
    init?(_ arguments: ParsedArguments, rails: [RailID], environment: [String: String] = ProcessInfo.processInfo.environment) throws(CommandFailure) {
        guard let path = arguments.value("stripe-webhook-path") else {
            if arguments.value("stripe-webhook-secret-file") != nil {
                throw .usage("--stripe-webhook-secret-file needs --stripe-webhook-path PATH")
            }
            return nil
        }
        guard rails.contains(.stripe) else { throw .usage("--stripe-webhook-path needs --rail stripe") }
        let reserved = ["/healthz", "/metrics", ServeContext.jwksPath, ServeContext.fakePayPath, ServeContext.fakeBalancePath]
        guard path.hasPrefix("/"), path.count > 1, path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3F && $0 != 0x23 }),
              !reserved.contains(path), !path.hasPrefix("/.well-known/")
        else {
            throw .usage("--stripe-webhook-path must be an absolute path without query, not a reserved route, e.g. /stripe/webhook")
        }
        let text: String
        if let file = arguments.value("stripe-webhook-secret-file") {
            guard let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int, size <= Self.maximumSecretFileBytes,
                  let data = FileManager.default.contents(atPath: file) else {
                throw .usage("--stripe-webhook-secret-file cannot be read (or is larger than \(Self.maximumSecretFileBytes) bytes)")
            }
            text = String(decoding: data, as: UTF8.self)
        } else {
            text = environment[Self.secretVariable] ?? ""
        }
        let secrets = text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !secrets.isEmpty else {
            throw .usage("--stripe-webhook-path needs the signing secret in $\(Self.secretVariable) or --stripe-webhook-secret-file FILE")
        }
        guard secrets.allSatisfy({ $0.hasPrefix("whsec_") && $0.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } }) else {
            throw .usage("a Stripe webhook secret starts with whsec_ (check $\(Self.secretVariable) or the secret file)")
        }
        self.path = path
        self.secrets = secrets
    }
}

/// Receives Stripe events: the signature is checked over the raw body (400 and nothing changes when
/// it fails), a known event id is answered 200 at once, the object is fetched again from Stripe,
/// and the payment's record is updated: a refund recorded and a dispute or cancellation ending the
/// receipt's grant. A Stripe outage answers 503, so Stripe delivers the event again later.
struct StripeWebhookEndpoint: Sendable {
    let path: String
    let secrets: [String]
    let client: StripeClient
    let store: any GateStore & PaymentEventStore
    let log: @Sendable (String) -> Void

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let event: StripeWebhookEvent
        do {
            try StripeWebhookSignature.verify(body: request.body, header: request.headers["Stripe-Signature"], secrets: secrets, now: Date())
            event = try StripeWebhookEvent(body: request.body)
        } catch {
            log("payrail serve: stripe webhook refused: \(error)")
            return problem(.badRequest("the Stripe-Signature does not verify or the body is not an event: \(error)", logReason: "webhook-signature"))
        }
        if (try? await store.knownEvent(id: event.id)) == true {
            log("payrail serve: stripe event \(event.id) \(event.type) again (already recorded)")
            return received()
        }
        do {
            let facts = try await client.facts(of: event)
            let consumed = try await consumption(facts)
            let effect = try await apply(facts, to: consumed)
            _ = try await store.recordEvent(PaymentEventRecord(id: event.id, type: event.type, objectID: event.objectID,
                                                               challengeID: consumed?.challengeID, receivedAt: Date()))
            log("payrail serve: stripe event \(event.id) \(event.type) \(facts.summary) challenge=\(consumed.map { Self.short($0.challengeID) } ?? "-") \(effect)")
            return received()
        } catch let error as RailError where error.code == .malformed {
            // An object this server can never read (a `py_` charge of a non-card method, say): a retry
            // cannot help, and 503 would have Stripe redeliver it for days. Recorded once, said once.
            _ = try? await store.recordEvent(PaymentEventRecord(id: event.id, type: event.type, objectID: event.objectID,
                                                                challengeID: nil, receivedAt: Date()))
            log("payrail serve: stripe event \(event.id) \(event.type) cannot be processed here, recorded and not retried: \(error)")
            return received()
        } catch {
            log("payrail serve: stripe event \(event.id) \(event.type) not processed: \(error)")
            return problem(GateRefusal(status: 503, slug: "webhook-unavailable", title: "Service Unavailable",
                                       detail: "the event could not be processed now; deliver it again", retryAfter: 30))
        }
    }

    /// The consumption the event's payment belongs to: by intent (token form), else charge (plain form's reference).
    private func consumption(_ facts: StripeWebhookFacts) async throws -> ConsumedChallenge? {
        for reference in [facts.paymentIntentID, facts.chargeID].compactMap({ $0 }) {
            if let found = try await store.consumedChallenge(settlementReference: reference) { return found }
        }
        return nil
    }

    /// Updates the payment's record; returns a word for the log.
    private func apply(_ facts: StripeWebhookFacts, to consumed: ConsumedChallenge?) async throws -> String {
        guard let consumed else { return "effect=none(no payment recorded here)" }
        switch facts.effect {
        case .note:
            return "effect=none"
        case .canceled, .disputed:
            try await store.endGrant(challengeID: consumed.challengeID)
            return "effect=grant-ended"
        case .refunded(let total):
            let earlier = try await store.refunds(challengeID: consumed.challengeID)
            let counted = earlier.filter(\.counts).reduce(Int64(0)) { $0 + $1.amount.amount }
            let paid = consumed.settlement.amount
            guard total > counted, let delta = try? Money(amount: min(total, paid.amount) - counted, unit: paid.unit), delta.amount > 0 else {
                try await store.endGrant(challengeID: consumed.challengeID)
                return "effect=grant-ended(refund already recorded)"
            }
            let now = Date()
            _ = try await store.reserveRefund(RefundRecord(
                challengeID: consumed.challengeID, key: "stripe-event-" + facts.event.id, amount: delta, reason: "charge.refunded",
                status: .succeeded, railRefundID: facts.chargeID, createdAt: now, updatedAt: now))
            try await store.endGrant(challengeID: consumed.challengeID)
            return "effect=refund-recorded(\(delta)) grant-ended"
        }
    }

    private func received() -> HTTPResponse {
        HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "no-store"], text: "{\"received\":true}")
    }

    private func problem(_ refusal: GateRefusal) -> HTTPResponse { Paywall.httpResponse(refusal.response()) }

    static func short(_ id: String) -> String { String(id.prefix(12)) }
}
