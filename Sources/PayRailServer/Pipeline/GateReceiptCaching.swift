import Foundation
import PayRailWire

// Caching of responses that carry a receipt. draft-httpauth-payment-02 ("Caching"): a response with
// `Payment-Receipt` MUST include `Cache-Control: private`, so no shared cache stores a paid answer
// (and the receipt in it) and hands it to the next client. PayRail's own `X-Receipt` is a bearer
// token too, so it is treated the same. Every path that attaches receipt fields goes through here:
// the grant's fields (`Gate.receiptFields`, used by first grants and regrants, and so by the proxy
// and any other host, MCP included), the response stored for replays (`Gate.complete`), and every
// replayed response (`Gate.response(_:)`), so a response stored before this rule existed is made
// private when it is replayed.

/// The `Cache-Control` rule for responses carrying a receipt.
public enum ReceiptCaching {
    /// `Cache-Control`.
    public static let fieldName = "Cache-Control"
    /// Fields that tell a CDN or a reverse-proxy cache to store a response whatever `Cache-Control`
    /// says (RFC 9213 `CDN-Cache-Control` and its Cloudflare spelling, `Surrogate-Control`, nginx's
    /// `X-Accel-Expires`): a response carrying a receipt drops them, so only `private` speaks.
    public static let sharedCacheFields = ["CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Surrogate-Control", "X-Accel-Expires"]
    /// `Payment-Receipt`, which an error response must not carry.
    public static let standardReceiptFieldName = PaymentReceipt.fieldName

    /// The `Cache-Control` value for a response carrying a receipt, given the values it already had
    /// (the upstream's, say): `private` first, then every directive of theirs except those that
    /// would let a shared cache store it (`public`, `s-maxage`) or a qualified `private`. Stricter
    /// directives (`no-store`, `no-cache`, `max-age`) are kept: the upstream may only tighten it.
    public static func cacheControl(merging existing: [String]) -> String {
        var directives = ["private"]
        for value in existing {
            for part in value.split(separator: ",") {
                let directive = part.trimmingCharacters(in: .whitespaces)
                guard !directive.isEmpty else { continue }
                let name = directive.split(separator: "=", maxSplits: 1).first.map { $0.lowercased() } ?? ""
                guard !["public", "s-maxage", "private"].contains(name),
                      !directives.contains(where: { $0.caseInsensitiveCompare(directive) == .orderedSame })
                else { continue }
                directives.append(directive)
            }
        }
        return directives.joined(separator: ", ")
    }

    /// Whether `headers` carry a receipt (`Payment-Receipt`, `X-Receipt`, or x402's settlement answer,
    /// which carries PayRail's signed receipt in its `offer-receipt` extension).
    public static func carriesReceipt(_ headers: HTTPFields) -> Bool {
        headers[PaymentReceipt.fieldName] != nil || headers[PlainReceipt.fieldName] != nil || headers[X402HeaderName.paymentResponse] != nil
    }

    /// The receipt fields a response of `status` may carry, made private: draft-httpauth-payment
    /// ("Payment-Receipt Header") says servers MUST NOT return `Payment-Receipt` on an error response,
    /// so a 4xx or 5xx after a settled payment (an upstream that failed, say) keeps only PayRail's
    /// `X-Receipt`, which fetches the resource again at no further charge, and x402's settlement
    /// answer, which tells the payer its payment went through.
    public static func applied(to headers: HTTPFields, status: Int) -> HTTPFields {
        var kept = headers
        if status >= 400 { kept.remove(PaymentReceipt.fieldName) }
        return applied(to: kept)
    }

    /// `headers` with one `Cache-Control` made private when they carry a receipt; unchanged otherwise.
    public static func applied(to headers: HTTPFields) -> HTTPFields {
        guard carriesReceipt(headers) else { return headers }
        var result = headers
        for name in sharedCacheFields { result.remove(name) }
        let merged = cacheControl(merging: headers.values(fieldName))
        result.remove(fieldName)
        result.append(fieldName, merged)
        return result
    }
}
