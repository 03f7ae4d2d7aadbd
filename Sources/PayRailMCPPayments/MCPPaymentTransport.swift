import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailWire

/// The MCP transport of the paying client: a `tools/call` over any `MCPToolCaller` (stdio, Streamable
/// HTTP, in process), so `PayingClient` pays for tool calls with the same negotiator, budgets, ledger
/// and wallets as for HTTP.
///
/// A call travels as a `PaidRequest` made by `request(tool:arguments:paymentID:)`:
/// `POST mcp://<server>/mcp/tools/<name>` with the arguments' JCS bytes as its body, which is the
/// route and body digest a PayRail paywall prices and receipts. Answers are mapped onto the client's
/// HTTP-shaped terms:
/// - a `-32042` error with `data.challenges` (draft-payment-transport-mcp-00) is a 402 whose Payment
///   challenges become `WWW-Authenticate` fields again (`request` re-encoded as base64url of its JCS
///   form, the bytes the challenge id binds), and an x402 `PaymentRequired` (in `data`, or an `isError`
///   result of x402's tool-result binding) becomes `PAYMENT-REQUIRED`;
/// - a credential the client presents goes back in `params._meta` as the spec's JSON objects
///   (`org.paymentauth/credential`, `x402/payment`), a PayRail receipt as `payrail/receipt`;
/// - a result is a 200 whose receipts (`payrail/receipt`, `org.paymentauth/receipt`,
///   `x402/payment-response`) become the fields the client checks and records.
///
/// A remote that advertised a tool's price in `tools/list` (`_meta["payrail/price"]`) and then asks
/// more, or in another unit, is a lying remote: every offer of that challenge is dropped, nothing is
/// paid, and `PayingMCPClient` reports `.priceAboveAdvertised`.
public final class MCPPaymentTransport: PaymentTransport, @unchecked Sendable {
    // @unchecked: `advertised` and `lies` are touched under `lock` only.
    /// The remote's tools.
    public let caller: any MCPToolCaller
    /// The host of the URLs of this remote's calls (the price memory and the ledger group by it).
    public let server: String
    /// The `server` URI x402 `lnbtc` offers must bind (`mcp:1` profile) when known: an invoice bound to
    /// another server, tool or arguments is then skipped instead of paid. `nil` checks only that an
    /// offer's binding is consistent.
    public let bindingServer: String?
    private let lock = NSLock()
    private var advertised: [String: JSONValue] = [:]
    private var lies: [String: MCPPriceLie] = [:]

    /// Creates the transport.
    ///
    /// - Parameters:
    ///   - server: a host name for this remote in the agent's ledger (`mcp://<server>/…`).
    ///   - bindingServer: the URI the remote's paywall binds x402 `lnbtc` invoices to (a PayRail
    ///     paywall's `MCPPaywall.bindingServer`, by default `mcp://<realm>`), when known.
    public init(caller: any MCPToolCaller, server: String = "mcp-server", bindingServer: String? = nil) {
        self.caller = caller
        self.server = server
        self.bindingServer = bindingServer
    }

    /// The remote's tools, remembering the price each priced one advertises.
    public func listTools() async throws(MCPError) -> [MCPTool] {
        let tools = try await caller.listTools()
        remember(tools)
        return tools
    }

    /// Remembers the prices `tools` advertise (a later list replaces them).
    public func remember(_ tools: [MCPTool]) {
        lock.withLock {
            for tool in tools { advertised[tool.name] = tool.meta[MCPPaymentMeta.price] }
        }
    }

    /// The paid request of one tool call.
    ///
    /// - Throws: `PaymentTransportError` when the server name or tool name make no URL, or the
    ///   arguments cannot be serialized.
    public func request(tool: String, arguments: [String: JSONValue], paymentID: String? = nil) throws(PaymentTransportError) -> PaidRequest {
        guard let url = URL(string: "mcp://\(server)\(MCPToolRoute.path(for: tool))") else {
            throw PaymentTransportError("no URL for server \(server) and tool \(tool)")
        }
        let body: [UInt8]
        do { body = try CanonicalJSON.serialize(.object(arguments)) } catch {
            throw PaymentTransportError("the arguments cannot be serialized as JSON (\(error.code))")
        }
        return PaidRequest(method: MCPToolRoute.method, url: url, body: body, paymentID: paymentID)
    }

    /// The lie found in the challenge of `paymentID`'s call, if any.
    public func priceLie(forPaymentID paymentID: String) -> MCPPriceLie? {
        lock.withLock { lies[paymentID] }
    }

    // MARK: - PaymentTransport

    /// Only requests made by `request(tool:arguments:paymentID:)`.
    public func validate(_ request: PaidRequest) throws(PaymentTransportError) {
        _ = try Self.call(in: request)
    }

    /// Calls the tool once, the presentation's proof in `params._meta`.
    public func send(_ request: PaidRequest, presenting presentation: PaymentPresentation?) async throws(PaymentTransportError) -> PaymentAnswer {
        let (tool, arguments) = try Self.call(in: request)
        let meta = try presentation.map { (presentation) throws(PaymentTransportError) in try Self.meta(presenting: presentation.fields) } ?? [:]
        let outcome: MCPToolOutcome
        do { outcome = try await caller.callTool(name: tool, arguments: arguments, meta: meta) } catch {
            throw PaymentTransportError(error.description)
        }
        return MCPAnswerMapping.answer(outcome)
    }

    /// The offers of a challenge, none at all when one asks more than the tool's advertised price.
    public func challenges(in answer: PaymentAnswer, for request: PaidRequest, receivedAt: Date) -> PaymentResponseReading {
        let call = try? Self.call(in: request)
        let binding = bindingServer.flatMap { server in
            call.map { X402RequestBinding.mcp(server: server, toolName: $0.0, arguments: $0.1, metadata: []) }
        }
        var reading = PaymentResponseReader.read(status: answer.status, headers: answer.headers, body: [], receivedAt: receivedAt,
                                                 expectedRequest: binding)
        guard let tool = call?.0, let price = lock.withLock({ advertised[tool] }) else { return reading }
        for read in reading.offers {
            guard let lie = MCPPriceLie.check(read.offer, tool: tool, advertised: price) else { continue }
            lock.withLock { if let id = request.paymentID { lies[id] = lie } }
            reading.skipped.append(SkippedChallenge(dialect: read.dialect, reason: lie.description))
            reading.offers = []
            break
        }
        return reading
    }

    /// What an answer means: a 402 is a challenge; after a presentation 400/402/403 refuse it,
    /// 408/409/425/429/5xx are worth presenting again (the paywall keeps a paid call replayable).
    public func classify(_ answer: PaymentAnswer, presented: Bool) -> PaymentAnswerKind {
        let receipt = answer.headers[PlainReceipt.fieldName]
        guard presented else { return answer.status == 402 ? .challenged : .served(receipt: receipt) }
        if answer.status == 409, MCPAnswerMapping.problemSlug(answer.body) == "idempotency-conflict" {
            // The server holds another payment under this payment id: presenting again cannot help.
            return .conflict
        }
        switch answer.status {
        case 400, 402, 403:
            return .refused(detail: MCPAnswerMapping.detail(answer.body))
        case 408, 409, 425, 429, 500...599:
            return .retry(receipt: receipt, retryAfterSeconds: Int(answer.headers["Retry-After"] ?? ""))
        default:
            return .served(receipt: receipt)
        }
    }

    // MARK: - Helpers

    /// The tool and arguments a request of this transport carries.
    static func call(in request: PaidRequest) throws(PaymentTransportError) -> (String, [String: JSONValue]) {
        guard request.url.scheme == "mcp", request.method == MCPToolRoute.method,
              let tool = MCPToolRoute.tool(inPath: request.url.path) ?? Self.tool(inEncodedPath: request.url) else {
            throw PaymentTransportError("an MCP tool call is POST mcp://<server>/mcp/tools/<name>; make it with MCPPaymentTransport.request")
        }
        guard let body = request.body, !body.isEmpty else { return (tool, [:]) }
        guard case .object(let arguments)? = try? CanonicalJSON.parse(body) else {
            throw PaymentTransportError("the body of an MCP tool call must be its arguments as a JSON object")
        }
        return (tool, arguments)
    }

    /// The tool of a URL whose path Foundation decoded (a name with escaped bytes).
    static func tool(inEncodedPath url: URL) -> String? {
        let path = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? ""
        return MCPToolRoute.tool(inPath: path)
    }

    /// The `_meta` members carrying the presented proof: a Payment credential as the MCP transport's
    /// JSON object, an x402 payload as its JSON object, a PayRail receipt as its token.
    static func meta(presenting fields: HTTPFields) throws(PaymentTransportError) -> [String: JSONValue] {
        var meta: [String: JSONValue] = [:]
        for name in [PaymentChallengeFieldNames.authorization, PaymentChallengeFieldNames.paymentAuthorization] {
            for value in fields.values(name) {
                guard let credential = try? PaymentCredential.parse(value) else { continue }
                meta[MCPPaymentMeta.paymentCredential] = try mcpCredential(credential)
            }
        }
        if let value = fields[X402HeaderName.paymentSignature] {
            do { meta[MCPPaymentMeta.x402Payment] = try X402Codec.decodeHeaderJSON(value) } catch {
                throw PaymentTransportError("the x402 payment cannot be carried: \(error.reason)")
            }
        }
        if let value = fields[PlainReceipt.fieldName] {
            meta[MCPPaymentMeta.payrailReceipt] = .string(value)
        }
        guard !meta.isEmpty else {
            throw PaymentTransportError("this proof's dialect has no MCP form (the MCP transports carry Payment and x402 credentials)")
        }
        return meta
    }

    /// A Payment credential as draft-payment-transport-mcp-00 carries it: the challenge echoed with
    /// its `request` (and `opaque`) as JSON objects.
    static func mcpCredential(_ credential: PaymentCredential) throws(PaymentTransportError) -> JSONValue {
        guard let challenge = MCPAnswerMapping.mcpChallenge(credential.challenge) else {
            throw PaymentTransportError("the challenge's request is not a JSON object")
        }
        var object: [String: JSONValue] = ["challenge": .object(challenge), "payload": .object(credential.payload)]
        if let source = credential.source { object["source"] = .string(source) }
        return .object(object)
    }
}

/// The field names a Payment credential may travel in.
enum PaymentChallengeFieldNames {
    static let authorization = PaymentChallenge.authorizationField
    static let paymentAuthorization = PaymentChallenge.paymentAuthorizationField
}

/// A challenge asking more for a tool than `tools/list` advertised, or in another unit.
public struct MCPPriceLie: Hashable, Sendable, CustomStringConvertible {
    /// The tool.
    public let tool: String
    /// What `tools/list` advertised on the offer's rail (`nil`: the rail was not advertised).
    public let advertised: Money?
    /// What the challenge asked.
    public let asked: Money
    /// The rail of the offer.
    public let rail: RailID

    /// The lie, for the error and the ledger.
    public var description: String {
        "the challenge asks \(asked) on \(rail.rawValue) for tool \(tool), but tools/list advertised "
            + (advertised.map { "\($0)" } ?? "no price on that rail")
    }

    /// The lie `offer` tells against `advertised` (the `payrail/price` value), or `nil` when it asks
    /// at most the advertised amount in the advertised unit.
    static func check(_ offer: Offer, tool: String, advertised: JSONValue) -> MCPPriceLie? {
        let limit = amount(advertised, rail: offer.rail)
        // The same price may be told in another unit of fixed rate (x402 prices Lightning in msat where
        // tools/list says sat): compared in the offer's unit, the advertised limit rounded down, so a
        // conversion never lets a higher price through. Units without a fixed rate never compare.
        guard let limit, let comparable = try? limit.converted(to: offer.amount.unit, rounding: .down),
              offer.amount.amount <= comparable.amount else {
            return MCPPriceLie(tool: tool, advertised: limit, asked: offer.amount, rail: offer.rail)
        }
        return nil
    }

    /// The advertised amount on `rail`: its own entry, else the amount every rail shares.
    static func amount(_ advertised: JSONValue, rail: RailID) -> Money? {
        guard case .object(let object) = advertised else { return nil }
        if case .object(let rails)? = object["rails"], case .object(let entry)? = rails[rail.rawValue] { return money(entry) }
        return money(object)
    }

    private static func money(_ object: [String: JSONValue]) -> Money? {
        guard case .string(let amount)? = object["amount"], let value = Int64(amount), value >= 0,
              case .string(let code)? = object["unit"], let unit = try? MoneyUnit(code: code) else { return nil }
        return try? Money(amount: value, unit: unit)
    }
}
