import Foundation

/// The hash of the single-use credential whose settlement the rail accepted, per challenge, kept for an
/// hour after the settlement.
///
/// Why: between a rail's settlement and the gate's record of it (a store write that failed, a
/// concurrent request still consuming), the rail answers "already settled" to anyone holding the
/// proof, and the gate recovers that settlement as a grant. Without this memory, a copy of the proof
/// in other bytes (another `source`, another dialect) could take that recovery, and the payer's own
/// retry would then be refused as reuse: the payer would lose what it paid for. With it, only the
/// bytes that settled recover the settlement. Only a settlement is remembered, never a mere attempt:
/// a forged credential sent first must not lock the payer out. It lives in memory: after a restart
/// (or on another gate sharing the store) the recovery falls back to the rail's word alone.
final class FirstPresentations: @unchecked Sendable {
    // @unchecked: `entries` is guarded by `lock`.
    private struct Entry {
        let hash: Data
        let since: Date
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private let lifetime: TimeInterval
    private let capacity: Int

    init(lifetime: TimeInterval = 3_600, capacity: Int = 100_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Records that the credential of `hash` settled `challengeID` (a rail settles an offer once).
    func settled(_ challengeID: String, hash: Data, now: Date) {
        lock.withLock {
            if entries.count >= capacity { evict(now: now) }
            entries[challengeID] = Entry(hash: hash, since: now)
        }
    }

    /// The hash of the credential that settled `challengeID`, if remembered.
    func first(_ challengeID: String, now: Date) -> Data? {
        lock.withLock { entries[challengeID].flatMap { now.timeIntervalSince($0.since) < lifetime ? $0.hash : nil } }
    }

    /// Drops expired entries, then the oldest half when still full: memory stays bounded whatever
    /// the traffic (an evicted challenge falls back to the rail's word, as after a restart).
    private func evict(now: Date) {
        entries = entries.filter { now.timeIntervalSince($0.value.since) < lifetime }
        guard entries.count >= capacity else { return }
        let oldest = entries.sorted { $0.value.since < $1.value.since }.prefix(entries.count / 2).map(\.key)
        for key in oldest { entries[key] = nil }
    }
}
