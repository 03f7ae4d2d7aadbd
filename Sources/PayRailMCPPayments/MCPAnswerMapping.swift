import Foundation
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailWire

// The paying side's reading of an MCP answer: what the remote said, in the HTTP-shaped terms the
// paying client keeps (`PaymentAnswer`: a status, fields, the outcome's JSON as the body). The mapping
// is the inverse of the paywall's (`MCPGateAnswer`), and reads other servers' answers the specs'
// way: a pympp server's `-32042`/`-32043` errors, an x402 tool-result binding.

enum MCPAnswerMapping {
    /// `outcome` as an answer: 402 for a payment challenge, 200 for a result, otherwise the status the
    /// error's `data.httpStatus` names or its code implies.
    static func answer(_ outcome: MCPToolOutcome) -> PaymentAnswer {
        let body = MCPOutcomeJSON.encode(outcome)
        switch outcome {
        case .result(let result):
            if let required = x402ToolResultBinding(result) {
                var headers = HTTPFields()
                if let value = base64JSON(required) { headers.append(X402HeaderName.paymentRequired, value) }
                return PaymentAnswer(status: 402, headers: headers, body: body)
            }
            return PaymentAnswer(status: 200, headers: receiptFields(result.meta), body: body)
        case .error(let error):
            return PaymentAnswer(status: status(of: error), headers: errorFields(error), body: body)
        }
    }

    /// The HTTP status an error stands for.
    static func status(of error: MCPError) -> Int {
        if case .object(let data)? = error.data, case .number(let status)? = data["httpStatus"], status >= 100, status < 600,
           status == status.rounded() {
            // A payment-required error is a challenge whatever status it names.
            return error.code == MCPPaymentMeta.paymentRequiredCode && hasChallenges(error) ? 402 : Int(status)
        }
        switch error.code {
        case MCPPaymentMeta.paymentRequiredCode: return hasChallenges(error) ? 402 : 500
        case MCPPaymentMeta.paymentVerificationFailedCode: return 402
        case MCPError.invalidParams: return 400
        default: return 500
        }
    }

    /// Whether `error.data` holds challenges of either transport (not a URL elicitation `-32042`).
    static func hasChallenges(_ error: MCPError) -> Bool {
        guard case .object(let data)? = error.data else { return false }
        if case .array(let challenges)? = data["challenges"], challenges.contains(where: { if case .object = $0 { true } else { false } }) {
            return true
        }
        return data[MCPPaymentMeta.x402PaymentRequired] != nil
    }

    /// The fields a challenge or refusal carries: its Payment challenges, its x402 `PaymentRequired`,
    /// `Retry-After` and a PayRail receipt handed back for a paid call that was not served.
    static func errorFields(_ error: MCPError) -> HTTPFields {
        var fields = HTTPFields()
        guard case .object(let data)? = error.data else { return fields }
        if case .array(let challenges)? = data["challenges"] {
            for case .object(let object) in challenges {
                if let value = try? paymentChallenge(object).headerValue() { fields.append("WWW-Authenticate", value) }
            }
        }
        if let required = data[MCPPaymentMeta.x402PaymentRequired], let value = base64JSON(required) {
            fields.append(X402HeaderName.paymentRequired, value)
        }
        if case .number(let seconds)? = data["retryAfterSeconds"], seconds >= 0, seconds < 86_400 {
            fields.append("Retry-After", String(Int(seconds)))
        }
        if case .string(let token)? = data[MCPPaymentMeta.payrailReceipt] { fields.append(PlainReceipt.fieldName, token) }
        return fields
    }

    /// A result's receipts as the fields the client checks: PayRail's token (`X-Receipt`, from
    /// `payrail/receipt` or the Payment receipt's `receipt` member), the Payment receipt and x402's
    /// settlement response in their header forms.
    static func receiptFields(_ meta: [String: JSONValue]) -> HTTPFields {
        var fields = HTTPFields()
        var token: String?
        if case .string(let value)? = meta[MCPPaymentMeta.payrailReceipt] { token = value }
        if case .object(let receipt)? = meta[MCPPaymentMeta.paymentReceipt] {
            if token == nil, case .string(let value)? = receipt["receipt"] { token = value }
            if let bytes = try? CanonicalJSON.serialize(.object(receipt)) { fields.append(PaymentReceipt.fieldName, Base64URL.encode(bytes)) }
        }
        if let response = meta[MCPPaymentMeta.x402PaymentResponse], let value = base64JSON(response) {
            fields.append(X402HeaderName.paymentResponse, value)
        }
        if let token { fields.append(PlainReceipt.fieldName, token) }
        return fields
    }

    /// x402's `PaymentRequired` in an `isError` result (x402 specs/transports-v2/mcp.md, "Client
    /// Requirements": `structuredContent` first, else `content[0].text`), when it holds one.
    static func x402ToolResultBinding(_ result: MCPToolResult) -> JSONValue? {
        guard result.isError else { return nil }
        func isPaymentRequired(_ value: JSONValue) -> Bool {
            guard case .object(let object) = value, object["x402Version"] != nil, case .array? = object["accepts"] else { return false }
            return true
        }
        if let structured = result.structuredContent, isPaymentRequired(structured) { return structured }
        guard case .object(let first)? = result.content.first, case .string(let text)? = first["text"],
              let parsed = try? CanonicalJSON.parse(Array(text.utf8)), isPaymentRequired(parsed) else { return nil }
        return parsed
    }

    /// An MCP challenge object as the Payment challenge it stands for (`request`, `opaque` re-encoded).
    static func paymentChallenge(_ object: [String: JSONValue]) throws(WireError) -> PaymentChallenge {
        var echo = object
        for member in ["request", "opaque"] {
            guard case .object(let inner)? = object[member] else { continue }
            do { echo[member] = .string(Base64URL.encode(try CanonicalJSON.serialize(.object(inner)))) } catch {
                throw WireError(.malformed, "challenge.\(member) cannot be canonicalized")
            }
        }
        return try PaymentChallenge(echo: echo)
    }

    /// A Payment challenge as its MCP object.
    static func mcpChallenge(_ challenge: PaymentChallenge) -> [String: JSONValue]? {
        MCPGateAnswer.mcpObject(challenge)
    }

    /// Standard base64 of the JCS bytes (x402's header form).
    static func base64JSON(_ value: JSONValue) -> String? {
        (try? CanonicalJSON.serialize(value)).map { Base64.encode($0) }
    }

    /// The last path segment of the problem type an error answer's `data.problem` carries.
    static func problemSlug(_ body: [UInt8]) -> String? {
        guard case .error(let error)? = MCPOutcomeJSON.decode(body), case .object(let data)? = error.data,
              case .object(let problem)? = data["problem"], case .string(let type)? = problem["type"] else { return nil }
        return type.split(separator: "/").last.map(String.init)
    }

    /// A short reason from an error answer's body, for a refusal's detail (never a credential: the
    /// body is the server's answer).
    static func detail(_ body: [UInt8]) -> String {
        guard let outcome = MCPOutcomeJSON.decode(body) else { return "the server refused the payment" }
        switch outcome {
        case .result: return "the server refused the payment"
        case .error(let error):
            var text = "MCP error \(error.code): \(error.message)"
            if case .object(let data)? = error.data {
                if case .object(let failure)? = data["failure"], case .string(let detail)? = failure["detail"] { text += " (\(detail))" }
                else if case .string(let detail)? = data["detail"] { text += " (\(detail))" }
            }
            return String(text.prefix(500))
        }
    }
}
