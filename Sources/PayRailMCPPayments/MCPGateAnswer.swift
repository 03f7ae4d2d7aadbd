import Foundation
import PayRailCrypto
import PayRailMCP
import PayRailServer
import PayRailWire

// The gate answers an MCP call as it would an HTTP request (a 402 with every dialect's challenges, a
// problem); this file says it again in the MCP transports' terms. Nothing is rendered here: the
// challenges are read back from the fields the gate wrote and carried as JSON.
//
// One answer, every dialect (the brief's "as the HTTP 402 carries every dialect"): the Payment
// scheme's transport answers with a JSON-RPC error (draft-payment-transport-mcp-00, "Signaling Payment
// Required": `-32042`, `data.challenges`), x402's tool-result binding with a successful result whose
// `isError` is set (specs/transports-v2/mcp.md, "Payment Required Signaling"). A JSON-RPC response is
// either an error or a result, so one of them must host the other. The paywall answers with the
// `-32042` error and adds x402's `PaymentRequired` to its `data` under `x402/payment-required`:
//
// - a result would make the call look completed to every client that does not read x402 (the
//   Payment transport says a payment-required answer MUST be the `-32042` error), while the error is
//   what both the Payment transport and MCP 2025-11-25 expect for a call that did not run;
// - `error.data` is free-form (JSON-RPC 2.0 section 5.1), so the x402 object rides along without
//   breaking a Payment client, and the x402 payer (ours) reads it there; x402 `_meta` credentials and
//   `x402/payment-response` receipts are then exactly the spec's.
//
// An x402-only client that reads nothing but the tool-result binding does not see the challenge;
// `MCPPaywall(gate:unpaidAnswer: .x402ToolResult)` answers such clients with the binding instead.

enum MCPGateAnswer {
    /// The MCP error for a gate's non-pass answer (`credentialPresented`: the call carried one).
    static func error(_ response: GateResponse, credentialPresented: Bool) -> MCPError {
        let problem = problemObject(response.body)
        let slug = problem.flatMap { object -> String? in
            guard case .string(let type)? = object["type"] else { return nil }
            return type.split(separator: "/").last.map(String.init)
        }
        var data: [String: JSONValue] = ["httpStatus": .number(Double(response.status))]
        if let problem { data["problem"] = .object(problem) }
        if let retry = response.headers["Retry-After"].flatMap(Int.init) { data["retryAfterSeconds"] = .number(Double(retry)) }
        if response.status == 402 {
            data["challenges"] = .array(paymentChallenges(response.headers))
            if let x402 = x402PaymentRequired(response.headers) { data[MCPPaymentMeta.x402PaymentRequired] = x402 }
            guard credentialPresented, let slug, slug != "payment-required" else {
                return MCPError(code: MCPPaymentMeta.paymentRequiredCode, message: "Payment Required", data: .object(data))
            }
            if slug == "malformed-credential" {
                data["detail"] = problem?["detail"] ?? .string("the payment credential cannot be read")
                return MCPError(code: MCPPaymentMeta.malformedCredentialCode, message: "Invalid params", data: .object(data))
            }
            data["failure"] = .object(["reason": .string(slug), "detail": problem?["detail"] ?? .string(slug)])
            return MCPError(code: MCPPaymentMeta.paymentVerificationFailedCode, message: "Payment Verification Failed", data: .object(data))
        }
        let title: String
        if case .string(let text)? = problem?["title"] { title = text } else { title = "Payment Error" }
        switch response.status {
        case 403:
            data["failure"] = .object(["reason": .string(slug ?? "forbidden"), "detail": problem?["detail"] ?? .string(title)])
            return MCPError(code: MCPPaymentMeta.paymentVerificationFailedCode, message: "Payment Verification Failed", data: .object(data))
        case 400:
            if let detail = problem?["detail"] { data["detail"] = detail }
            return MCPError(code: MCPError.invalidParams, message: title, data: .object(data))
        case 500...599 where response.headers["Retry-After"] == nil:
            return MCPError(code: MCPError.internalError, message: title, data: .object(data))
        default:
            return MCPError(code: MCPPaymentMeta.paymentUnavailableCode, message: title, data: .object(data))
        }
    }

    /// The Payment challenges of `WWW-Authenticate`, as MCP challenge objects: `request` and
    /// `opaque` as the JSON objects their base64url holds (draft-payment-transport-mcp-00, "Challenge
    /// Structure": servers MUST NOT base64url-encode the request over JSON-RPC).
    static func paymentChallenges(_ headers: HTTPFields) -> [JSONValue] {
        var challenges: [JSONValue] = []
        for value in headers.values("WWW-Authenticate") {
            guard let parsed = try? PaymentChallenge.parseAll(value) else { continue }
            for challenge in parsed {
                if let object = mcpObject(challenge) { challenges.append(.object(object)) }
            }
        }
        return challenges
    }

    /// One challenge as its MCP object, or `nil` when its `request` is not a JSON object.
    static func mcpObject(_ challenge: PaymentChallenge) -> [String: JSONValue]? {
        var object = challenge.echo
        guard let request = try? challenge.decodedRequest() else { return nil }
        object["request"] = .object(request)
        if let opaque = challenge.opaque {
            guard let bytes = try? Base64URL.decode(opaque), case .object(let decoded)? = try? CanonicalJSON.parse(bytes) else { return nil }
            object["opaque"] = .object(decoded)
        }
        return object
    }

    /// x402's `PaymentRequired` from `PAYMENT-REQUIRED`, as JSON.
    static func x402PaymentRequired(_ headers: HTTPFields) -> JSONValue? {
        guard let value = headers[X402HeaderName.paymentRequired] else { return nil }
        return try? X402Codec.decodeHeaderJSON(value)
    }

    /// The problem object of a problem body, if it is one.
    static func problemObject(_ body: [UInt8]) -> [String: JSONValue]? {
        guard !body.isEmpty, body.count <= 64 * 1024, case .object(let object)? = try? CanonicalJSON.parse(body),
              case .string? = object["type"] else { return nil }
        return object
    }

    /// The receipts a pass adds, as `_meta` members: the Payment scheme's receipt object, x402's
    /// settlement response and PayRail's signed receipt token.
    static func receiptMeta(_ fields: HTTPFields) -> [String: JSONValue] {
        var meta: [String: JSONValue] = [:]
        if let value = fields[PaymentReceipt.fieldName], let receipt = try? PaymentReceipt.parse(value) {
            meta[MCPPaymentMeta.paymentReceipt] = .object(receipt.jsonObject)
        }
        if let value = fields[X402HeaderName.paymentResponse], let response = try? X402Codec.decodeHeaderJSON(value) {
            meta[MCPPaymentMeta.x402PaymentResponse] = response
        }
        if let value = fields[PlainReceipt.fieldName], case .receiptToken(let token)? = try? PlainReceipt.parse(value) {
            meta[MCPPaymentMeta.payrailReceipt] = .string(token)
        }
        return meta
    }
}
