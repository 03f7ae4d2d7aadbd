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
}
