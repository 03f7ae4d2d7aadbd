import Foundation
import PayRail
import PayRailCrypto

/// A `ReceiptVerifier` with a bounded memory of tokens it has already verified.
///
/// A gate sees the same receipt again on every replayed request; verifying its signature once is
/// enough. Entries are keyed by the whole token (a per-process seeded hash, then a full comparison,
/// so a hit means byte-for-byte the same token), and every hit re-runs the checks that can change:
/// expiry and the resource asked for. Tokens refused for a bad signature are remembered too, so
/// replaying garbage costs no signature check. Removing a key forgets every entry it verified.
/// Safe to share between threads and tasks.
public final class CachingReceiptVerifier: @unchecked Sendable {
    private enum Entry {
        case verified(ReceiptClaims, notBefore: Int64?, keyID: String)
        case forged(ReceiptVerificationError, keyID: String?)

        var keyID: String? {
            switch self {
            case .verified(_, _, let keyID): keyID
            case .forged(_, let keyID): keyID
            }
        }
    }

    /// At most this many tokens are remembered; the oldest is forgotten first.
    public let capacity: Int
    private let lock = NSLock()
    private var verifier: ReceiptVerifier
    private var entries: [String: Entry]
    /// Insertion order as a ring, for first-in first-out eviction in constant time.
    private var ring: [String?]
    private var next = 0
    /// Bumped on every key change, so a verification that raced a key removal is not remembered.
    private var generation = 0

    /// Wraps `verifier`, remembering up to `capacity` tokens (at least 1).
    public init(verifier: ReceiptVerifier, capacity: Int = 10_000) {
        self.verifier = verifier
        self.capacity = max(1, capacity)
        self.entries = Dictionary(minimumCapacity: self.capacity)
        self.ring = Array(repeating: nil, count: self.capacity)
    }

    /// How many tokens are remembered now.
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }

    /// Verifies `token` as `ReceiptVerifier.verify` does, from memory when it was seen before.
    public func verify(_ token: String, resource: String?) throws(ReceiptVerificationError) -> ReceiptClaims {
        lock.lock()
        let remembered = entries[token]
        let current = verifier
        let seenGeneration = generation
        lock.unlock()

        switch remembered {
        case .verified(let claims, let notBefore, _)?:
            try current.checkClaims(claims, notBefore: notBefore, resource: resource)
            return claims
        case .forged(let error, _)?:
            throw error
        case nil:
            break
        }
        do {
            let outcome = try current.verifyDetailed(token, resource: nil)
            remember(token, .verified(outcome.claims, notBefore: outcome.notBefore, keyID: outcome.keyID), generation: seenGeneration)
            try current.checkClaims(outcome.claims, notBefore: outcome.notBefore, resource: resource)
            return outcome.claims
        } catch {
            // Only a signature failure is a fact about the token itself; expiry and the like are
            // answered from the claims each time, and an unknown kid may become known.
            if error.code == .badSignature, token.utf8.count <= current.maxTokenLength {
                remember(token, .forged(error, keyID: (try? JWSCompact(parsing: token))?.keyID), generation: seenGeneration)
            }
            throw error
        }
    }

    /// Stops trusting the key `keyID` and forgets every token it verified.
    public func removeKey(_ keyID: String) {
        lock.lock()
        defer { lock.unlock() }
        verifier = verifier.replacingKeys(verifier.keys.removing(keyID: keyID))
        generation &+= 1
        entries = entries.filter { $0.value.keyID != keyID }
    }

    /// Trusts `keys` from now on and forgets everything remembered.
    public func replaceKeys(_ keys: ReceiptKeySet) {
        lock.lock()
        defer { lock.unlock() }
        verifier = verifier.replacingKeys(keys)
        generation &+= 1
        entries.removeAll(keepingCapacity: true)
        ring = Array(repeating: nil, count: capacity)
        next = 0
    }

    private func remember(_ token: String, _ entry: Entry, generation seen: Int) {
        lock.lock()
        defer { lock.unlock() }
        // Keys changed while this token was being verified: its verdict may no longer hold.
        guard seen == generation, entries[token] == nil else { return }
        if let evicted = ring[next] { entries[evicted] = nil }
        ring[next] = token
        next = (next + 1) % capacity
        entries[token] = entry
    }
}

extension ReceiptVerifier {
    /// The same verifier with another key set.
    func replacingKeys(_ keys: ReceiptKeySet) -> ReceiptVerifier {
        ReceiptVerifier(keys: keys, leewaySeconds: leewaySeconds, maxTokenLength: maxTokenLength, clock: clock)
    }
}
