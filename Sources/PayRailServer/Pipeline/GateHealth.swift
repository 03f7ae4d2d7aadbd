import Foundation
import PayRail
import PayRailStore

// Whether priced requests can be served is a question about the store: every 402 and every sale
// writes to it. `/healthz` must answer it without touching the disk (load balancers and the HTTP
// benchmark call it thousands of times a second), so the answer is remembered: any failed store call
// marks the gate unhealthy at once, and only a probe that writes (a throwaway rate-limit bucket, a
// real committed write on every store) marks it healthy again.

/// The store's health as the gate last saw it.
final class GateHealth: @unchecked Sendable {
    private let lock = NSLock()
    private var healthy = true
    private var lastFailure: String?

    var isHealthy: Bool { lock.withLock { healthy } }
    var failure: String? { lock.withLock { lastFailure } }

    func storeFailed(_ error: StoreError) {
        lock.withLock {
            healthy = false
            lastFailure = "store error \(error.code)"
        }
    }

    /// Runs a store call for the gate: a failure marks the store unhealthy and becomes the store's
    /// refusal (503 when retrying is safe). The one place both the pipeline and the dialects go through.
    static func guarded<T>(_ health: GateHealth?, _ body: () async throws(StoreError) -> T) async throws(GateRefusal) -> T {
        do { return try await body() } catch {
            health?.storeFailed(error)
            throw GateRefusal.store(error)
        }
    }

    func probed(_ error: StoreError?) {
        lock.withLock {
            healthy = error == nil
            lastFailure = error.map { "store error \($0.code)" }
        }
    }
}

extension Gate {
    /// Whether the store answered the last probe and no store call has failed since. Cheap: it
    /// reads a flag, so `/healthz` may call it on every request.
    public var isStoreHealthy: Bool { health.isHealthy }

    /// Why the store is unhealthy (its error code, never a secret), or `nil` when it is healthy.
    public var storeProblem: String? { health.failure }

    /// Writes to the store (a throwaway rate-limit bucket, committed like every other write) and
    /// records whether it worked. Call it at start (refuse to serve when it fails) and periodically.
    ///
    /// - Throws: the store's error when the write failed.
    public func probeStore() async throws(StoreError) {
        do {
            try await Self.probe(configuration.store)
            health.probed(nil)
        } catch {
            health.probed(error)
            throw error
        }
    }

    /// Writes to `store` as `probeStore` does, before any gate exists (a server's start-up check).
    ///
    /// - Throws: the store's error when the write failed.
    public static func probe(_ store: any GateStore) async throws(StoreError) {
        let policy = try TokenBucketPolicy(capacity: 1_000_000, refillTokens: 1_000_000, per: .seconds(1))
        _ = try await store.take(1, from: "payrail-health-probe", policy: policy)
    }
}
