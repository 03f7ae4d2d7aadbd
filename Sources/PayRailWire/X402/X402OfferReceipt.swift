// The x402 `offer-receipt` extension (specs/extensions/extension-offer-and-receipt.md, x402-foundation/x402),
// receipt side only: on success the SettlementResponse MAY carry `extensions["offer-receipt"].info.receipt`
// = {format: "jws", signature: <JWS compact>} ("§3.1.1: when format = jws, payload MUST be omitted").
//
// PayRail puts its own signed receipt token there (the one `Payment-Receipt` and `X-Receipt` carry), so an
// x402 client finds it where x402 looks. Deliberate deviations, recorded in docs/wire.md: the JWS claims
// are PayRail's (iss, sub, jti, iat, exp, method, amount, currency, ref), not the extension's receipt
// payload (version, network, resourceUrl, payer, issuedAt); the `kid` is a key id of the gate's JWKS, not
// a DID URL. Signed offers (the other half of the extension) are not written.

import PayRailCrypto

/// The `offer-receipt` extension of an x402 settlement response.
public enum X402OfferReceipt {
    /// The extension key.
    public static let extensionKey = "offer-receipt"

    /// The extension value carrying `jws` as the receipt.
    public static func extensionValue(receiptJWS jws: String) -> JSONValue {
        .object(["info": .object(["receipt": .object(["format": .string("jws"), "signature": .string(jws)])])])
    }

    /// The JWS receipt in `extensions`, when it carries one in the `jws` format.
    public static func receiptJWS(in extensions: [String: JSONValue]) -> String? {
        guard case .object(let value)? = extensions[extensionKey], case .object(let info)? = value["info"],
              case .object(let receipt)? = info["receipt"], receipt["format"] == .string("jws"),
              case .string(let jws)? = receipt["signature"], jws.split(separator: ".", omittingEmptySubsequences: false).count == 3
        else { return nil }
        return jws
    }

    /// `fields` with every `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` value re-encoded to carry
    /// `receiptJWS` in the extension; other fields, and values that do not decode, stay as they are
    /// (the receipt also travels in `Payment-Receipt` and `X-Receipt`).
    public static func attaching(receiptJWS jws: String, to fields: HTTPFields) -> HTTPFields {
        var result = HTTPFields()
        for field in fields {
            let name = field.name.uppercased()
            guard name == X402HeaderName.paymentResponse || name == X402HeaderName.xPaymentResponse,
                  var response = try? X402Codec.decodePaymentResponse(field.value), response.success
            else {
                result.append(field.name, field.value)
                continue
            }
            response.extensions[extensionKey] = extensionValue(receiptJWS: jws)
            result.append(field.name, (try? X402Codec.encodePaymentResponse(response)) ?? field.value)
        }
        return result
    }
}

extension X402SettlementResponse {
    /// The receipt carried in the `offer-receipt` extension (JWS format), if any.
    public var offerReceiptJWS: String? { X402OfferReceipt.receiptJWS(in: extensions) }
}
