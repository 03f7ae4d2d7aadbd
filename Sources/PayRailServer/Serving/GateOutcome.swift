import Foundation
import PayRail
import PayRailWire

// Metrics and logs want to know what a decision meant for the business (a challenge issued, a sale,
// a replay, a refusal and why) without parsing the gate's log lines. Everything needed is already in
// the decision: the grant carries the rail, and every refusal carries a problem type URI, whose last
// path segment is a stable, secret-free reason (`rate-limited`, `verification-failed`, ...).

/// What one gate decision meant, in the terms an operator counts.
public enum GateOutcome: Hashable, Sendable {
    /// An unpriced route passed without payment.
    case free
    /// A 402 challenge set was issued for an unpaid request.
    case challenged
    /// A credential was settled on `rail` and access granted (one sale).
    case granted(rail: RailID)
    /// A receipt re-served an earlier grant whose response was never stored (no new settlement).
    case regranted
    /// A stored response was replayed (receipt token or idempotency key); nothing was charged.
    case replayed
    /// The request was refused; `reason` is the problem type's last segment (no secret ever).
    /// A refused credential also gets a fresh challenge, counted in `issuedChallenge`.
    case refused(reason: String, issuedChallenge: Bool)

    /// Classifies a decision.
    public init(_ decision: GateDecision) {
        switch decision {
        case .pass(let pass):
            guard let grant = pass.grant else { self = .free; return }
            self = grant.isRegrant ? .regranted : .granted(rail: grant.settlement.rail)
        case .replay:
            self = .replayed
        case .respond(let response):
            // A fresh 402 names no problem: skip parsing its body (most of a 402's cost otherwise).
            let names = response.status != 402 || Self.contains(response.body, Self.problemMember, anchor: 4)
            let reason = names ? Self.problemReason(response.body) : nil
            if response.status == 402 {
                if let reason, reason != "payment-required" {
                    self = .refused(reason: reason, issuedChallenge: true)
                } else {
                    self = .challenged
                }
            } else {
                self = .refused(reason: reason ?? "status-\(response.status)", issuedChallenge: false)
            }
        }
    }

    /// The plain body's member naming a refusal's problem (made once, not per 402).
    private static let problemMember: [UInt8] = Array("\"problem\"".utf8)

    /// Whether `needle` occurs in `body`. Candidates are found by `memchr` on `needle[anchor]`: every
    /// 402 is scanned, and the anchor of `"problem"` is its `b` (a handful per body) rather than its
    /// quote (a JSON body has a hundred and more).
    static func contains(_ body: [UInt8], _ needle: [UInt8], anchor: Int = 0) -> Bool {
        guard needle.indices.contains(anchor), body.count >= needle.count else { return false }
        let anchorByte = Int32(needle[anchor])
        return body.withUnsafeBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            // The anchor can only sit where a whole needle fits around it.
            var index = anchor
            let lastAnchor = buffer.count - needle.count + anchor
            while index <= lastAnchor {
                guard let hit = memchr(base + index, anchorByte, lastAnchor - index + 1) else { return false }
                let start = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) - anchor
                if UnsafeBufferPointer(rebasing: buffer[start..<(start + needle.count)]).elementsEqual(needle) { return true }
                index = start + anchor + 1
            }
            return false
        }
    }

    /// The problem type's last segment from a problem+json `type` or a plain body's `problem`,
    /// restricted to a short token so a hostile upstream or odd body cannot inject into metrics.
    static func problemReason(_ body: [UInt8]) -> String? {
        guard body.count <= 64 * 1024, body.first == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        else { return nil }
        // A plain 402 body has `type: "x402"` (a dialect tag, not a problem) and names its problem in
        // `problem`; problem+json names it in `type`, always a URI.
        let typeURI = (object["type"] as? String).flatMap { $0.contains("://") ? $0 : nil }
        guard let uri = (object["problem"] as? String) ?? typeURI else { return nil }
        let last = uri.split(separator: "/").last.map(String.init) ?? uri
        guard !last.isEmpty, last.utf8.count <= 64,
              last.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D })
        else { return "other" }
        return last
    }
}
