import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailStore
import PayRailWire

// Replays by receipt: a receipt token presented again within its grant gets the stored response
// (or, when none was stored, the grant again), never a new settlement. Receipt replays are most of a
// busy gate's paid traffic, so the common case is answered from memory.

extension Gate {
    /// A receipt this gate has replayed before (these exact bytes, for this resource, within its
    /// grant), answered from memory without classifying the credential: `X-Receipt` is the first
    /// field the dialects read, so the answer is the one the full path would give. The cache holds
    /// only tokens that passed `replay` below (signature, claims, store record) and checks the
    /// grant's end, which is the receipt's `exp`, and the resource on every hit; the gate's key set
    /// never changes while it runs (a way to remove a key would have to empty this cache too).
    func cachedReplay(_ request: GateRequest, resource: Resource, now: Date) -> GateDecision? {
        guard let value = request.headers[PlainReceipt.fieldName],
              let cached = replays.response(for: value, resource: resource, now: now)
        else { return nil }
        log("\(resource) replay receipt challenge=\(Self.short(cached.challengeID))")
        return .replay(cached.response)
    }

    /// Replays the response a receipt token paid for, or grants it again when none was stored.
    func replay(token: String, dialect: PaymentDialect, resource: Resource, bodyDigest: String?, now: Date) async throws(GateRefusal) -> GateDecision {
        let claims: ReceiptClaims
        do { claims = try receipts.verify(token, resource: resource.description) } catch {
            let type: PaymentProblemType = error.code == .expired ? .paymentExpired : .invalidChallenge
            throw GateRefusal(credential: type, detail: "the receipt does not grant this resource (\(error.code)); pay the fresh challenge",
                              logReason: "receipt-\(error.code)")
        }
        // The replay cache is keyed by the token itself (a seeded hash, then a full comparison), so
        // the common case, a receipt replayed again, hashes nothing with SHA-256: the store's key
        // is computed only when the store must be asked.
        if let cached = replays.response(for: token, resource: resource, now: now) {
            log("\(resource) replay receipt challenge=\(Self.short(cached.challengeID))")
            return .replay(cached.response)
        }
        let found = try await consumption(of: token, claims: claims)
        guard let found, found.receipt.resource == resource, now < found.receipt.grantExpiresAt, found.settlement.reference == claims.ref else {
            throw GateRefusal(credential: .paymentExpired, detail: "the receipt's grant is over or unknown here; pay the fresh challenge",
                              logReason: "receipt-unknown")
        }
        if let response = found.receipt.response {
            // A stored response never changes once saved: later replays of this receipt skip the store.
            let ready = Self.response(response)
            replays.remember(token, ReplayCache.Entry(challengeID: found.challengeID, resource: found.receipt.resource,
                                                       grantExpiresAt: found.receipt.grantExpiresAt, response: ready,
                                                       recheckAt: now.addingTimeInterval(ReplayCache.recheckInterval)))
            log("\(resource) replay receipt challenge=\(Self.short(found.challengeID))")
            return .replay(ready)
        }
        // Paid, but the response was never stored (the upstream failed): serve it again, no new
        // settlement, but only the request that was paid for (its body, an MCP call's arguments).
        try await requireSameBody(as: found, bodyDigest: bodyDigest)
        log("\(resource) regrant receipt challenge=\(Self.short(found.challengeID))")
        return try regrant(found, token: token, dialect: dialect, resource: resource)
    }

    /// A receipt re-serves the request it paid for, not another body under the same resource (a POSTed
    /// job, an MCP tool's arguments). The paid body is the one the challenge was bound to: in a bound
    /// offer id (the settlement's offer id, its MAC checked) or in the stored challenge. When neither
    /// can be found, only a request without a body is re-served: fail closed.
    private func requireSameBody(as found: ConsumedChallenge, bodyDigest: String?) async throws(GateRefusal) {
        let paid: String??
        if let bound = BoundOfferToken(found.settlement.offerID),
           configuration.keyring.verifyOfferMAC(bound.macInput, mac: bound.mac, now: configuration.clock.now()),
           bound.terms.challengeID == found.challengeID {
            paid = .some(bound.terms.bodyDigest)
        } else if let record = try await store({ () async throws(StoreError) in try await configuration.store.challenge(id: found.challengeID) }) {
            paid = .some(record.bodyDigest)
        } else {
            paid = nil
        }
        let same: Bool
        switch paid {
        case .some(let digest): same = digest == bodyDigest
        case .none: same = bodyDigest == nil
        }
        guard same else {
            throw GateRefusal(credential: .invalidChallenge,
                              detail: "the receipt paid for another request body; send the request that was paid for, or pay the fresh challenge",
                              logReason: "receipt-other-body challenge=\(Self.short(found.challengeID))")
        }
    }

    /// Tokens are found by hash; a valid token signed again for the same payment (a regrant) is
    /// found by its challenge id: its signature already proves this gate issued it.
    private func consumption(of token: String, claims: ReceiptClaims) async throws(GateRefusal) -> ConsumedChallenge? {
        let hash = Data(SHA256.hash(Array(token.utf8)))
        if let found = try await store({ () async throws(StoreError) in try await configuration.store.consumedChallenge(receiptTokenHash: hash) }) {
            return found
        }
        return try await store { () async throws(StoreError) in try await configuration.store.consumedChallenge(id: claims.jti) }
    }
}

/// Responses of receipts replayed recently, by receipt token: a stored response never changes, so
/// later replays skip the store. Bounded (the oldest is forgotten first) and checked against the
/// grant's end on every hit; the store stays the truth. The entry holds the response ready to send.
/// A grant can end early (a refund by `payrail refund` in another process, a dispute), so an entry
/// is trusted for `recheckInterval` only: then the store is asked again.
final class ReplayCache: @unchecked Sendable {
    struct Entry {
        let challengeID: String
        let resource: Resource
        let grantExpiresAt: Date
        let response: GateResponse
        /// After this moment the store is asked again (the grant may have ended early).
        let recheckAt: Date
    }

    /// How long a remembered replay is served without asking the store whether its grant ended early.
    static let recheckInterval: TimeInterval = 2

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var order: [String?]
    private var next = 0

    init(capacity: Int) { order = Array(repeating: nil, count: max(1, capacity)) }

    /// The stored response for a receipt token, if remembered, for this resource, within its grant.
    func response(for token: String, resource: Resource, now: Date) -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[token], entry.resource == resource, now < entry.grantExpiresAt, now < entry.recheckAt else { return nil }
        return entry
    }

    func remember(_ token: String, _ entry: Entry) {
        lock.lock()
        defer { lock.unlock() }
        guard entries[token] == nil else {
            entries[token] = entry  // a re-check: same slot, fresh deadline
            return
        }
        if let evicted = order[next] { entries[evicted] = nil }
        order[next] = token
        next = (next + 1) % order.count
        entries[token] = entry
    }
}
