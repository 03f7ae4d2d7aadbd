// Every request field a 402 dialect reads a credential from, in one list. The gate's readers take
// their field names from here and a paywalling proxy strips exactly these before forwarding, so a
// dialect cannot read a field the proxy would pass on: a credential (a paid voucher, a preimage, a
// receipt that replays) given to an upstream is a secret given away. `CredentialFieldsTests` builds
// requests field by field through every dialect's `read` and fails when one reads a field not here.
//
// `Authorization` is shared: it carries the gate's schemes (Payment, L402, LSAT) and also whatever
// the upstream itself needs (`Bearer` API keys, `Basic`). A value naming one of the gate's schemes
// anywhere, as a whole word (a list such as `Bearer k, Payment id=...` included), is a credential and
// is removed; any other value is the upstream's and passes. Every other field here carries nothing
// but payment credentials and is removed whatever its value.

/// The request fields that carry 402 payment credentials, shared by the gate's dialect readers and
/// the proxy's stripping.
public enum CredentialFields {
    /// `Authorization`: a credential when its value names a scheme of `authorizationSchemes`.
    public static let authorization = PaymentChallenge.authorizationField
    /// The Payment scheme's alternative field (its challenge's `header` parameter).
    public static let paymentAuthorization = PaymentChallenge.paymentAuthorizationField
    /// The plain dialect's field (preimage, rail proof, Payment credential or receipt token).
    public static let receipt = PlainReceipt.fieldName
    /// x402 version 2's payment field.
    public static let paymentSignature = X402HeaderName.paymentSignature
    /// x402 version 1's payment field.
    public static let xPayment = X402HeaderName.xPayment
    /// L402 over gRPC gateways: a hex macaroon with a `preimage=` caveat.
    public static let grpcMetadataMacaroon = "Grpc-Metadata-Macaroon"
    /// L402's bare macaroon field, as `Grpc-Metadata-Macaroon`.
    public static let macaroon = "Macaroon"

    /// The fields the Payment scheme reads, in the order it reads them.
    public static let paymentSchemeFields: [String] = [authorization, paymentAuthorization]
    /// The macaroon fields L402 reads when no `Authorization` carries its scheme, in that order.
    public static let macaroonFields: [String] = [grpcMetadataMacaroon, macaroon]

    /// Fields that carry nothing but payment credentials: removed before forwarding, whatever their value.
    public static let dedicated: [String] = [paymentAuthorization, receipt, paymentSignature, xPayment, grpcMetadataMacaroon, macaroon]
    /// Every field any dialect reads a credential from.
    public static let all: [String] = [authorization] + dedicated

    /// The `Authorization` schemes that are the gate's, lowercased (RFC 9110: schemes are case-insensitive).
    public static let authorizationSchemes: Set<String> = Set(
        [PaymentChallenge.scheme.lowercased()] + L402Scheme.allCases.map { $0.rawValue.lowercased() })

    /// Whether the field `name` with `value` may carry a payment credential.
    public static func isCredential(name: String, value: String) -> Bool {
        if dedicated.contains(where: { $0.caseInsensitiveEquals(name) }) { return true }
        guard authorization.caseInsensitiveEquals(name) else { return false }
        return namesPaymentScheme(value)
    }

    /// Whether an `Authorization` value names one of `authorizationSchemes` as a whole word anywhere
    /// (so a list of credentials whose second one is ours counts): fail closed, an upstream's token
    /// that happens to be the word `payment` is removed too.
    public static func namesPaymentScheme(_ value: String) -> Bool {
        value.utf8.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x2C }).contains { word in
            authorizationSchemes.contains(String(decoding: word, as: UTF8.self).lowercased())
        }
    }

    /// `fields` without any field that may carry a payment credential.
    public static func removingCredentials(from fields: HTTPFields) -> HTTPFields {
        HTTPFields(fields.fields.filter { !isCredential(name: $0.name, value: $0.value) })
    }
}
