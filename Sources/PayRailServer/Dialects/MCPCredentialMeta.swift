import Foundation
import PayRail
import PayRailCrypto
import PayRailWire

// The read side of the MCP payment transports: where a `tools/call` request's `params._meta` carries a
// credential, and how the dialects turn it back into the values they already check. Both transports
// carry plain JSON where HTTP carries base64 (draft-payment-transport-mcp-00, "Design Goals": native
// JSON), so a credential is re-encoded into its HTTP form and read by the same strict readers: one
// parser per dialect, whatever carried it.

/// The `_meta` members of an MCP `tools/call` that carry a payment credential.
public enum MCPCredentialMeta {
    /// The Payment scheme's credential (draft-payment-transport-mcp-00, "Transmitting Payment Data").
    public static let paymentCredential = "org.paymentauth/credential"
    /// x402's `PaymentPayload` (x402 specs/transports-v2/mcp.md, "Payment Payload Transmission").
    public static let x402Payment = "x402/payment"

    /// Every member that is part of a credential's bytes: the single-use hash covers these and
    /// nothing else of `_meta` (a `progressToken` or a tracing member may change on a retry).
    public static let credentialMembers = [paymentCredential, x402Payment]

    /// The Payment credential in `meta`, or `nil` when it carries none.
    ///
    /// The MCP credential echoes the challenge with `request` (and `opaque`) as JSON objects; the
    /// challenge id binds the base64url of their JCS form (draft-payment-transport-mcp-00, "Challenge
    /// Structure": both parties canonicalize `request` with RFC 8785), which is exactly the form this
    /// gate wrote, so re-encoding gives back the bytes the HMAC covers.
    ///
    /// - Throws: `WireError` for a member of the wrong shape (answered as a malformed credential).
    public static func paymentCredential(in meta: [String: JSONValue]) throws(WireError) -> PaymentCredential? {
        guard let value = meta[paymentCredential] else { return nil }
        guard case .object(let object) = value else { throw WireError(.malformed, "\(paymentCredential) must be a JSON object") }
        guard case .object(var challenge)? = object["challenge"] else {
            throw WireError(.missingField, "credential.challenge is missing or not an object")
        }
        guard case .object(let payload)? = object["payload"] else {
            throw WireError(.missingField, "credential.payload is missing or not an object")
        }
        for member in ["request", "opaque"] {
            switch challenge[member] {
            case nil: continue
            case .object(let inner)?: challenge[member] = .string(try encoded(.object(inner), what: "challenge.\(member)"))
            default: throw WireError(.malformed, "credential.challenge.\(member) must be a JSON object over MCP")
            }
        }
        var source: String?
        switch object["source"] {
        case nil: source = nil
        case .string(let text)?: source = text
        default: throw WireError(.malformed, "credential.source must be a string")
        }
        let credential = PaymentCredential(challenge: try PaymentChallenge(echo: challenge), source: source, payload: payload)
        // The same bound as the header form: a huge `_meta` is refused before anything is looked up.
        _ = try credential.headerValue()
        return credential
    }

    /// The x402 payment in `meta` in its `PAYMENT-SIGNATURE` form, or `nil` when it carries none.
    ///
    /// - Throws: `WireError` for a member that is not an object or too large.
    public static func x402PaymentSignature(in meta: [String: JSONValue]) throws(WireError) -> String? {
        guard let value = meta[x402Payment] else { return nil }
        guard case .object = value else { throw WireError(.malformed, "\(x402Payment) must be a JSON object") }
        let bytes: [UInt8]
        do { bytes = try CanonicalJSON.serialize(value) } catch {
            throw WireError(.malformed, "\(x402Payment) cannot be serialized (\(error.code))")
        }
        return Base64.encode(bytes)
    }

    private static func encoded(_ value: JSONValue, what: String) throws(WireError) -> String {
        do { return Base64URL.encode(try CanonicalJSON.serialize(value)) } catch {
            throw WireError(.malformed, "\(what) cannot be canonicalized (\(error.code))")
        }
    }
}
