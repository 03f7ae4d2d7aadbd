import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailPaywall
import PayRailServer
import PayRailWire

/// Everything a request needs; immutable, shared by all handler tasks.
///
/// It answers the reserved routes itself and hands every other request to the paywall. Its
/// refusals come from `GateRefusal`, the one catalogue the gate and the paywall also answer from.
struct ServeContext: Sendable {
    static let fakePayPath = "/.well-known/payrail/fake/pay"
    static let fakeBalancePath = "/.well-known/payrail/fake/balance"
    static let fakeRefundPath = "/.well-known/payrail/fake/refund"
    /// The folder of every fake processor endpoint (what `--fake-processor` points a gate at).
    static let fakeFolderPath = "/.well-known/payrail/fake"
    static let fakeRequestPath = "/.well-known/payrail/fake/request"
    static let fakeRedeemPath = "/.well-known/payrail/fake/redeem"
    static let fakeRedemptionPath = "/.well-known/payrail/fake/redemption"
    static let jwksPath = "/.well-known/payrail/jwks.json"

    let gates: GateBox
    let metrics: GateMetrics
    /// The fake processor this server hosts, or `nil` when it takes payments through another
    /// server's (`--fake-processor`): then its own fake routes answer 404.
    let processor: FakeProcessor?
    /// The `--upstream` reverse proxy, or `nil` for the demo resource.
    let proxy: UpstreamClient?
    let jwks: [UInt8]
    /// The gate as middleware in front of `resource(_:)`, counting every decision.
    let paywall: HTTPMiddleware
    /// Throttles `/healthz`'s store probes while the store is unhealthy.
    let healthProbe = HealthProbe()
    /// `--stripe-webhook-path`'s receiver, or `nil`.
    var stripeWebhook: StripeWebhookEndpoint? = nil
    /// A route answered before the paywall (`payrail mcp proxy`'s MCP endpoint), or `nil`.
    var extraRoute: ServeExtraRoute? = nil
    /// Whether requests that are not reserved reach the paywalled resource (else 404).
    var servesResource = true

    /// The reserved routes (never priced), else the paywall in front of the resource. Routing reads
    /// the canonical target the paywall prices, so `//healthz` is `/healthz` and never the upstream's.
    func route(_ received: HTTPRequest) async -> HTTPResponse {
        let request: HTTPRequest
        switch Paywall.canonical(received) {
        case .success(let canonical): request = canonical
        case .failure(let refusal): return problem(refusal)
        }
        let isRead = request.method == "GET" || request.method == "HEAD"
        if let extra = extraRoute, request.path == extra.path {
            return await extra.handler(request)
        }
        if let hook = stripeWebhook, request.path == hook.path {
            return request.method == "POST" ? await hook.handle(request) : problem(.methodNotAllowed(request.method))
        }
        switch request.path {
        case "/healthz" where isRead:
            // Priced requests fail while the store does: say so to the load balancer. A healthy gate
            // answers from a flag; an unhealthy one probes the store at most once a second, so a
            // database that is back puts the gate back in rotation at once, not at the next purge.
            if let gate = gates.current, !gate.isStoreHealthy, !(await healthProbe.heals(gate)) {
                return problem(GateRefusal(status: 503, slug: "store-unavailable", title: "Store Unavailable",
                                           detail: "\(gate.storeProblem ?? "the store failed"); priced requests fail until it answers",
                                           retryAfter: 5))
            }
            return HTTPResponse(headers: ["Cache-Control": "no-store"], text: "ok\n")
        case "/metrics" where isRead:
            return HTTPResponse(headers: ["Content-Type": GateMetrics.contentType, "Cache-Control": "no-store"],
                                text: metrics.prometheusText())
        case Self.jwksPath where isRead:
            return HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "max-age=300"], body: jwks)
        case PaymentDiscovery.path where isRead:
            return discoveryDocument()
        case Self.fakePayPath, Self.fakeBalancePath, Self.fakeRefundPath, Self.fakeRequestPath, Self.fakeRedeemPath,
             Self.fakeRedemptionPath:
            guard request.method == "POST" else { return problem(.methodNotAllowed(request.method)) }
            guard let processor else {
                return problem(GateRefusal(status: 404, slug: "not-found", title: "Not Found",
                                           detail: "this server hosts no fake processor; use the one its fake-payer.json names"))
            }
            return await fakeProcessorCall(request, processor: processor)
        case "/healthz", "/metrics", Self.jwksPath, PaymentDiscovery.path:
            return problem(.methodNotAllowed(request.method))
        default:
            return servesResource ? await gated(request) : problem(.notFound)
        }
    }

    private func gated(_ request: HTTPRequest) async -> HTTPResponse {
        let response = await paywall(request) { request in await self.resource(request) }
        // Fault injection for the crash tests (see README, "Tests"): PAYRAIL_SERVE_CRASH_AT=settled
        // kills this process with SIGKILL once a paid answer is ready (settled, consumed, receipt
        // signed) and before any byte of it is sent. Read from the environment only, never a flag.
        if Self.crashAtSettled, response.headers["Payment-Receipt"] != nil || response.headers["X-Receipt"] != nil {
            Foundation.kill(getpid(), SIGKILL)
        }
        return response
    }

    private static let crashAtSettled = ProcessInfo.processInfo.environment["PAYRAIL_SERVE_CRASH_AT"] == "settled"

    /// The fake processor's endpoints, by path.
    private func fakeProcessorCall(_ request: HTTPRequest, processor: FakeProcessor) async -> HTTPResponse {
        switch request.path {
        case Self.fakePayPath: return await fakePay(request, processor: processor)
        case Self.fakeBalancePath: return await fakeBalance(request, processor: processor)
        case Self.fakeRefundPath: return await fakeRefund(request, processor: processor)
        default: return await FakeProcessorPayeeEndpoints(processor: processor).handle(request)
        }
    }

    /// What the paywall lets through: the upstream's answer, or the demo resource without one.
    private func resource(_ request: HTTPRequest) async -> HTTPResponse {
        let pass = Paywall.pass
        let paid = pass.map { !$0.isFree } ?? false
        if let proxy {
            switch await proxy.forward(request) {
            case .success(let answer):
                return answer
            case .failure(let failure):
                metrics.recordUpstreamFailure()
                return problem(failure.refusal(payment: UpstreamPayment(pass)))
            }
        }
        guard let pass, paid else {
            return problem(.notFound)
        }
        return demoResource(pass)
    }

    private func demoResource(_ pass: GatePass) -> HTTPResponse {
        var object: [String: JSONValue] = [
            "resource": .string(pass.resource?.description ?? ""),
            "message": .string("You paid for this with HTTP 402. This is payrail serve's demo resource; use --upstream to sell your own API."),
        ]
        if let grant = pass.grant {
            object["paidWith"] = .string(grant.settlement.rail.rawValue)
            object["amount"] = .string(grant.settlement.amount.description)
        }
        return HTTPResponse(headers: ["Content-Type": "application/json"], body: (try? EndpointJSON.bytes(object)) ?? [])
    }

    /// The fake processor's pay call over HTTP, so an agent in another process can pay the fake rail.
    private func fakePay(_ request: HTTPRequest, processor: FakeProcessor) async -> HTTPResponse {
        guard let object = EndpointJSON.object(request.body),
              let accountID = object["accountID"]?.stringValue, let secret = object["secret"]?.stringValue,
              let requestID = object["requestID"]?.stringValue, let amountText = object["amount"]?.stringValue,
              let payee = object["payee"]?.stringValue
        else {
            return problem(.badRequest("send JSON {\"accountID\",\"secret\",\"requestID\",\"amount\":\"100sat\",\"payee\"}"))
        }
        do {
            let amount = try Money(parsing: amountText)
            let voucher = try await processor.pay(requestID: requestID, amount: amount, payee: payee,
                                                  payer: FakeAccountCredentials(accountID: accountID, secret: secret))
            return try EndpointJSON.answer(["voucher": .string(voucher)])
        } catch let error as RailError {
            return problem(.fakeProcessorRefused(error))
        } catch {
            return problem(.badRequest("\(error)"))
        }
    }

    /// The fake processor's balance call over HTTP, for an agent's quotes.
    private func fakeBalance(_ request: HTTPRequest, processor: FakeProcessor) async -> HTTPResponse {
        guard let object = EndpointJSON.object(request.body),
              let accountID = object["accountID"]?.stringValue, let secret = object["secret"]?.stringValue,
              let unitCode = object["unit"]?.stringValue, let unit = try? MoneyUnit(code: unitCode)
        else {
            return problem(.badRequest("send JSON {\"accountID\",\"secret\",\"unit\":\"sat\"}"))
        }
        do {
            let balance = try await processor.balance(of: FakeAccountCredentials(accountID: accountID, secret: secret), unit: unit)
            // The voucher key rides along so a gate on this processor (`--fake-processor`) can check at
            // start that its copy of the key is this processor's.
            return try EndpointJSON.answer([
                "balance": .string(balance.description), "processorKey": .string(Base64URL.encode(processor.publicKey.rawRepresentation)),
            ])
        } catch let error as RailError {
            return problem(.fakeProcessorRefused(error))
        } catch {
            return problem(.badRequest("\(error)"))
        }
    }

    /// The fake processor's refund call over HTTP, for `payrail refund` while this server holds the
    /// processor's file: only the request's payee (the merchant, whose secret is in the data directory)
    /// can refund, at most once per key, never more than paid minus refunded (the processor checks).
    private func fakeRefund(_ request: HTTPRequest, processor: FakeProcessor) async -> HTTPResponse {
        guard let object = EndpointJSON.object(request.body),
              let accountID = object["accountID"]?.stringValue, let secret = object["secret"]?.stringValue,
              let requestID = object["requestID"]?.stringValue, let key = object["key"]?.stringValue, !key.isEmpty,
              object["amount"].map({ $0.stringValue != nil }) ?? true
        else {
            return problem(.badRequest("send JSON {\"accountID\",\"secret\",\"requestID\",\"key\",\"amount\"?}"))
        }
        do {
            let amount = try object["amount"]?.stringValue.map { try Money(parsing: $0) }
            let refund = try await processor.refund(requestID: requestID, amount: amount, key: key,
                                                    payee: FakeAccountCredentials(accountID: accountID, secret: secret))
            return try EndpointJSON.answer([
                "id": .string(refund.id), "requestID": .string(refund.requestID), "amount": .string(refund.amount.description),
                "key": .string(refund.key),
                "refundedAt": EndpointJSON.milliseconds(Int64((refund.refundedAt.timeIntervalSince1970 * 1000).rounded(.down))),
            ])
        } catch let error as RailError {
            return problem(.fakeProcessorRefused(error))
        } catch {
            return problem(.badRequest("\(error)"))
        }
    }

    /// Every refusal `payrail serve` gives comes from the gate's catalogue.
    private func problem(_ refusal: GateRefusal) -> HTTPResponse { Paywall.httpResponse(refusal.response()) }
}

/// At most one store probe a second from `/healthz`, however many load balancers ask.
final class HealthProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var last: ContinuousClock.Instant?

    /// Probes `gate`'s store when no probe ran in the last second; whether the store is healthy now.
    func heals(_ gate: Gate) async -> Bool {
        let now = ContinuousClock.now
        let due = lock.withLock { () -> Bool in
            if let last, now - last < .seconds(1) { return false }
            last = now
            return true
        }
        if due { try? await gate.probeStore() }
        return gate.isStoreHealthy
    }
}
