import Foundation
import PayRail
import PayRailCrypto
import PayRailMCP
import PayRailServer
import PayRailWire

/// The `Gate` as `MCPToolMiddleware`: a priced tool runs only for a call whose credential the gate
/// settled (or whose paid result it replays); every challenge, refusal and replay is answered here.
///
/// A call is priced as `POST /mcp/tools/<name>` (`MCPToolRoute`) by the gate's own `PricingTable`
/// (build it from `MCPToolPrice`s), bound to its arguments (their JCS digest is the request's body
/// digest, so a credential bought for one set of arguments pays for no other) and carries its
/// credential in `params._meta` under either transport (`MCPCredentialMeta`). The gate then does what it
/// does for HTTP: every rail, rate-limited issuance, single use, expiry, receipts.
///
/// After a paid call:
/// - a result (an `isError` one too: the tool answered) gets the receipts in `_meta` and is stored
///   with `Gate.complete`, so the same credential (or the `payrail/receipt` token) replays it without
///   a new settlement;
/// - a JSON-RPC error of the tool (or of the upstream behind a proxy) stores nothing (`Gate.abandon`):
///   the same credential presented again is served again at no charge within the grant (the gate's
///   409 `grant-not-stored` receipt is presented for the caller at once), and a payment never served
///   is refunded by `Gate.purgeExpired(automaticRefunds:)` where the rail can, like an HTTP 5xx.
///
/// Credentials and receipt tokens are never logged; the paywall strips them from `_meta` before the
/// tools below see the call.
public struct MCPPaywall: MCPToolMiddleware {
    /// How an unpaid call of a priced tool is answered.
    public enum UnpaidAnswer: Sendable {
        /// The Payment transport's `-32042` error with `data.challenges`, x402's `PaymentRequired` beside
        /// them under `data["x402/payment-required"]` (the default; see `MCPGateAnswer.swift` for why).
        case paymentError
        /// x402's tool-result binding: an `isError` result with `PaymentRequired` in `structuredContent`
        /// and `content[0].text`, the Payment challenges in `_meta["org.paymentauth/challenges"]`, for
        /// hosts whose clients read x402 only.
        case x402ToolResult
    }

    /// The gate that prices, settles and receipts the calls.
    public let gate: Gate
    /// The `server` of x402 `mcp:1` request bindings (a Lightning invoice commits to it).
    public let bindingServer: String
    /// How unpaid calls are answered.
    public let unpaidAnswer: UnpaidAnswer

    /// Creates the paywall.
    ///
    /// - Parameter bindingServer: the absolute URI this server is known by to x402 `lnbtc` payers
    ///   (`mcp:1` binding); the default is `mcp://<realm>`.
    public init(gate: Gate, bindingServer: String? = nil, unpaidAnswer: UnpaidAnswer = .paymentError) {
        self.gate = gate
        self.bindingServer = bindingServer ?? "mcp://\(gate.configuration.realm)"
        self.unpaidAnswer = unpaidAnswer
    }

    /// The `_meta` members a paywall reads and never passes down.
    static let paymentMembers = MCPCredentialMeta.credentialMembers + [MCPPaymentMeta.payrailReceipt]

    /// The price of `tool`, or `nil` when it is free.
    public func price(of tool: String) -> Price? {
        gate.configuration.pricing.price(method: MCPToolRoute.method, path: MCPToolRoute.path(for: tool))
    }

    /// The tools below, each priced one showing its price in `_meta["payrail/price"]`.
    public func listTools(_ below: [MCPTool]) -> [MCPTool] {
        below.map { tool in
            // Only this gate says what a tool costs: a price the tools below claim is dropped.
            var shown = tool
            shown.meta[MCPPaymentMeta.price] = nil
            guard let price = price(of: tool.name) else { return shown }
            var priced = shown
            priced.meta[MCPPaymentMeta.price] = MCPToolPrice.metaValue(price)
            return priced
        }
    }

    /// Runs `call` through the gate: free tools at once, priced ones once paid.
    public func callTool(_ call: MCPToolCall, next: @Sendable (MCPToolCall) async -> MCPToolOutcome) async -> MCPToolOutcome {
        var forwarded = call
        for member in Self.paymentMembers { forwarded.meta[member] = nil }
        // What the tools below return never carries payment members of their own making (a forged
        // receipt or settlement): only the gate's, added below, reach the caller.
        guard price(of: call.name) != nil else { return MCPPaymentMeta.withoutPaymentMembers(await next(forwarded)) }
        let presented = Self.paymentMembers.contains { call.meta[$0] != nil }
        let (gate, request) = (self.gate, gateRequest(call))
        var decision = await Self.shielded { await gate.handle(request) }
        // The same single-use credential after a grant that stored nothing: the gate hands back the
        // grant's receipt, which re-serves the call at no charge; present it now for the caller.
        if case .respond(let response) = decision, response.status == 409,
           let value = response.headers[PlainReceipt.fieldName], case .receiptToken(let token)? = try? PlainReceipt.parse(value) {
            let again = gateRequest(call, receiptToken: token)
            decision = await Self.shielded { await gate.handle(again) }
        }
        switch decision {
        case .respond(let response):
            return answer(response, presented: presented)
        case .replay(let response):
            guard let outcome = MCPOutcomeJSON.decode(response.body) else {
                return .error(MCPError(code: MCPError.internalError, message: "the stored paid result cannot be read",
                                       data: .object(["httpStatus": .number(500)])))
            }
            return outcome
        case .pass(let pass):
            guard !pass.isFree else { return MCPPaymentMeta.withoutPaymentMembers(await next(forwarded)) }
            return await serve(forwarded, pass: pass, next: next)
        }
    }

    /// Calls the tool for a paid pass and stores its result for replays, or abandons the pass.
    private func serve(_ call: MCPToolCall, pass: GatePass, next: @Sendable (MCPToolCall) async -> MCPToolOutcome) async -> MCPToolOutcome {
        let receipts = MCPGateAnswer.receiptMeta(pass.responseHeaders)
        switch MCPPaymentMeta.withoutPaymentMembers(await next(call)) {
        case .result(var result):
            for (name, value) in receipts { result.meta[name] = value }
            let body = MCPOutcomeJSON.encode(.result(result))
            let gate = self.gate
            let completed = await Self.shielded { () async -> GateError? in
                do throws(GateError) {
                    try await gate.complete(pass, response: GateResponse(status: 200, headers: HTTPFields([("Content-Type", "application/json")]),
                                                                          body: body))
                    return nil
                } catch { return error }
            }
            // A charge already final stands even if the store fails: the receipt then regrants on
            // replay. An authorization whose capture failed paid for nothing: the result is withheld.
            if completed != nil, pass.grant?.settlement.kind.isFinal == false {
                return .error(MCPGateAnswer.error(GateRefusal.captureFailed.response(), credentialPresented: true))
            }
            return .result(result)
        case .error(var error):
            let gate = self.gate
            await Self.shielded { await gate.abandon(pass) }
            var data: [String: JSONValue] = [:]
            switch error.data {
            case .object(let object)?: data = object
            case nil: break
            case let other?: data["upstream"] = other
            }
            // Paid and not served: the same credential (or this receipt) serves the call again at no charge.
            data["httpStatus"] = .number(502)
            data["retryAfterSeconds"] = .number(1)
            if let token = receipts[MCPPaymentMeta.payrailReceipt] { data[MCPPaymentMeta.payrailReceipt] = token }
            error.data = .object(data)
            return .error(error)
        }
    }
}

extension MCPPaywall {
    /// Runs money-moving gate work (settle, capture, void, store) in a task the caller's
    /// cancellation does not reach: a client's `notifications/cancelled`, a dropped connection or a
    /// closed stdin cancel the tool, never a settlement or a capture half way.
    static func shielded<Value: Sendable>(_ work: @escaping @Sendable () async -> Value) async -> Value {
        await Task { await work() }.value
    }

    /// The gate's view of a call: its priced route, its credential's `_meta` (or the receipt token it
    /// presents), the x402 `mcp:1` binding and the digest of its arguments' JCS form.
    func gateRequest(_ call: MCPToolCall, receiptToken: String? = nil) -> GateRequest {
        let arguments = (try? CanonicalJSON.serialize(.object(call.arguments))) ?? []
        let digest = "sha-256=:" + Base64.encode(SHA256.hash(arguments)) + ":"
        var source = GateCredentialSource.mcpMeta(call.meta)
        if let token = receiptToken ?? Self.receiptToken(in: call.meta) {
            // A receipt replays through the plain dialect's reader, exactly as its HTTP form would.
            source = .httpFields(HTTPFields([(PlainReceipt.fieldName, token)]))
        }
        let binding = X402RequestBinding.mcp(server: bindingServer, toolName: call.name, arguments: call.arguments, metadata: [])
        return GateRequest(method: MCPToolRoute.method, path: MCPToolRoute.path(for: call.name), source: source, binding: binding,
                           clientAddress: call.clientAddress, bodyDigest: digest)
    }

    /// A `payrail/receipt` token in a call's `_meta`, if it holds a string.
    static func receiptToken(in meta: [String: JSONValue]) -> String? {
        guard case .string(let token)? = meta[MCPPaymentMeta.payrailReceipt], !token.isEmpty else { return nil }
        return token
    }

    /// The gate's answer, in the transport's terms.
    func answer(_ response: GateResponse, presented: Bool) -> MCPToolOutcome {
        let error = MCPGateAnswer.error(response, credentialPresented: presented)
        guard unpaidAnswer == .x402ToolResult, error.code == MCPPaymentMeta.paymentRequiredCode, case .object(let data)? = error.data,
              let required = data[MCPPaymentMeta.x402PaymentRequired] else { return .error(error) }
        // x402 specs/transports-v2/mcp.md, "Server Requirements": the same object in both places.
        let text = (try? CanonicalJSON.serialize(required)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var meta: [String: JSONValue] = [:]
        if let challenges = data["challenges"] { meta["org.paymentauth/challenges"] = challenges }
        return .result(MCPToolResult(content: [.object(["type": .string("text"), "text": .string(text)])], structuredContent: required,
                                     isError: true, meta: meta))
    }
}
