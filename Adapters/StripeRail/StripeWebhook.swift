import Foundation
import PayRailCrypto

// Stripe signs each webhook delivery: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<raw body>" under the endpoint's secret>[,v1=…]` (https://docs.stripe.com/webhooks#verify-manually).
// The check mirrors stripe-python's `WebhookSignature.verify_header`, which the tests use as the
// judge: items split on ",", keys compared exactly (so a space after a comma hides the item), any
// `v1` may match, lowercase hex, and a timestamp older than the tolerance is refused. Several
// secrets are accepted during a rotation. The body is the raw bytes received: never re-serialized.

/// Why a webhook delivery was refused (answer 400 and change nothing).
public enum StripeWebhookError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No header, no `t`, or a `t` that is not a number.
    case malformedHeader
    /// No `v1` signature in the header.
    case noSignature
    /// No `v1` signature matches the body under any configured secret.
    case signatureMismatch
    /// The timestamp is older than the tolerance (a replayed delivery).
    case stale(timestamp: Int64)
    /// No secret is configured.
    case noSecret
    /// The body is not a Stripe event.
    case notAnEvent

    /// The refusal in words; never a secret or a signature.
    public var description: String {
        switch self {
        case .malformedHeader: return "the Stripe-Signature header has no valid t= timestamp"
        case .noSignature: return "the Stripe-Signature header has no v1 signature"
        case .signatureMismatch: return "no v1 signature matches the body"
        case .stale(let timestamp): return "the signature timestamp \(timestamp) is outside the tolerance"
        case .noSecret: return "no webhook secret is configured"
        case .notAnEvent: return "the body is not a Stripe event"
        }
    }
}

/// Verifies `Stripe-Signature` headers.
public enum StripeWebhookSignature {
    /// Stripe's default tolerance, in seconds.
    public static let defaultTolerance: TimeInterval = 300

    /// Checks `header` over `body` with any of `secrets` (two during a rotation).
    ///
    /// - Returns: the signed timestamp.
    /// - Throws: `StripeWebhookError` naming what failed.
    @discardableResult
    public static func verify(body: [UInt8], header: String?, secrets: [String], now: Date,
                              tolerance: TimeInterval = defaultTolerance) throws(StripeWebhookError) -> Int64 {
        let usable = secrets.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        guard !usable.isEmpty else { throw .noSecret }
        guard let header, !header.isEmpty else { throw .malformedHeader }
        var timestamp: Int64?
        var signatures: [String] = []
        for item in header.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            if parts[0] == "t", timestamp == nil {
                guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(parts[1]) else {
                    throw .malformedHeader
                }
                timestamp = value
            } else if parts[0] == "v1" {
                signatures.append(String(parts[1]))
            }
        }
        guard let timestamp else { throw .malformedHeader }
        guard !signatures.isEmpty else { throw .noSignature }
        let signed = Array("\(timestamp).".utf8) + body
        let matches = usable.contains { secret in
            let expected = Array(Hex.encode(HMACSHA256.authenticationCode(for: signed, key: Array(secret.utf8))).utf8)
            return signatures.contains { constantTimeEquals(Array($0.utf8), expected) }
        }
        guard matches else { throw .signatureMismatch }
        if tolerance > 0, Double(timestamp) < now.timeIntervalSince1970 - tolerance { throw .stale(timestamp: timestamp) }
        return timestamp
    }
}

/// What a webhook event says, read only to know which object to fetch again: the object itself is
/// never trusted from the event (schema `event`: `id`, `type`, `data.object`).
public struct StripeWebhookEvent: Sendable, Hashable {
    /// `evt_…`, the de-duplication key.
    public let id: String
    /// `payment_intent.succeeded`, `charge.refunded`, …
    public let type: String
    /// The object's id (`pi_…`, `ch_…`).
    public let objectID: String
    /// The object's kind (`payment_intent`, `charge`, …).
    public let objectType: String

    /// Reads an event body (after its signature was verified).
    ///
    /// - Throws: `.notAnEvent` when a field is missing or an id is not a Stripe identifier.
    public init(body: [UInt8]) throws(StripeWebhookError) {
        guard let event = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any], event["object"] as? String == "event",
              let id = event["id"] as? String, let type = event["type"] as? String,
              let object = (event["data"] as? [String: Any])?["object"] as? [String: Any],
              let objectID = object["id"] as? String, let objectType = object["object"] as? String,
              StripeClient.isIdentifier(id), StripeClient.isIdentifier(objectID)
        else { throw .notAnEvent }
        self.id = id
        self.type = type
        self.objectID = objectID
        self.objectType = objectType
    }
}
