import PayRailMCP

// Where the two MCP payment transports put payments in a JSON-RPC message: the Payment scheme's MCP
// transport (tempoxyz/mpp-specs, draft-payment-transport-mcp) and x402's (x402-foundation/x402,
// specs/transports-v2/mcp.md). Kept in one place so the paywall and the paying client agree.

/// `_meta` member names and error codes of the MCP payment transports.
public enum MCPPaymentMeta {
    /// The Payment scheme's credential, in a `tools/call` request's `params._meta`.
    public static let paymentCredential = "org.paymentauth/credential"
    /// The Payment scheme's receipt, in a result's `_meta`.
    public static let paymentReceipt = "org.paymentauth/receipt"
    /// x402's payment payload, in a `tools/call` request's `params._meta`.
    public static let x402Payment = "x402/payment"
    /// x402's settlement response, in a result's `_meta`.
    public static let x402PaymentResponse = "x402/payment-response"
    /// The JSON-RPC error code of a payment challenge (Payment scheme MCP transport).
    public static let paymentRequiredCode = -32042
    /// The JSON-RPC error code of a refused credential, answered with fresh challenges and a
    /// `failure` (draft-payment-transport-mcp-00, "Payment Verification Failure").
    public static let paymentVerificationFailedCode = -32043
    /// The JSON-RPC error code of a credential that cannot be read (draft-payment-transport-mcp-00,
    /// "Error Code Mapping": Invalid params).
    public static let malformedCredentialCode = -32602
    /// A server error of the gate that is not about the credential (rate limited, a payment being
    /// granted, an unavailable store or rail): `data.httpStatus` and `data.retryAfterSeconds` say
    /// whether and when to try again. In the JSON-RPC server error range.
    public static let paymentUnavailableCode = -32000

    /// PayRail's signed receipt token (a JWS), in a paid result's `_meta` and, to replay a paid call
    /// without paying again, in a request's `params._meta`. A bearer credential: never log it.
    public static let payrailReceipt = "payrail/receipt"
    /// A priced tool's price, in its `tools/list` entry's `_meta` (neither MCP payment transport
    /// defines one): `{"amount": "10", "unit": "sat", "rails": {"fake": {"amount": "10", "unit": "sat"}}}`,
    /// amounts as decimal strings of integer minor units; top-level `amount` and `unit` only when
    /// every rail asks the same.
    public static let price = "payrail/price"
    /// x402's `PaymentRequired`, beside the Payment scheme's challenges in a `-32042` error's `data`
    /// (see `MCPPaywall`: one answer carries every dialect, as an HTTP 402 does).
    public static let x402PaymentRequired = "x402/payment-required"

    /// Every `_meta` member that carries a payment: credentials, receipts (bearer tokens that replay
    /// or re-serve a paid call), settlement responses and challenges. None may cross into a place
    /// that must not hold them: the tools behind a paywall, or the host behind a bridge.
    public static let paymentMembers = [
        paymentCredential, x402Payment, paymentReceipt, x402PaymentResponse, payrailReceipt, x402PaymentRequired,
        "org.paymentauth/challenges",
    ]

    /// `outcome` without any payment member in its result's `_meta` or its error's `data`.
    public static func withoutPaymentMembers(_ outcome: MCPToolOutcome) -> MCPToolOutcome {
        switch outcome {
        case .result(var result):
            for member in paymentMembers { result.meta[member] = nil }
            return .result(result)
        case .error(var error):
            if case .object(var data)? = error.data {
                for member in paymentMembers { data[member] = nil }
                error.data = .object(data)
            }
            return .error(error)
        }
    }
}

