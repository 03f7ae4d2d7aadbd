import Foundation
import PayRail
import PayRailCrypto
import PayRailStore
import PayRailWire

// Idempotent retries: an `Idempotency-Key` (scoped to the client) and any slot a dialect names
// (x402's `payment-identifier`) replay the response of their first use; the same key with another
// payload is refused with the slot's own conflict.

extension Gate {
    /// The request's `Idempotency-Key` slot, then every dialect's.
    func idempotencySlots(_ request: GateRequest, resource: Resource) throws(GateRefusal) -> [IdempotencySlot] {
        var slots: [IdempotencySlot] = []
        if let key = request.headers["Idempotency-Key"] {
            let trimmed = key.trimmingWireWhitespace()
            guard !trimmed.isEmpty, trimmed.utf8.count <= 255 else {
                throw GateRefusal.badRequest("Idempotency-Key must be 1 to 255 characters", logReason: "idempotency-key")
            }
            slots.append(IdempotencySlot(key: "idempotency-key|\(request.clientAddress)|\(trimmed)", payloadHash: Self.payloadHash(request),
                                         conflict: .idempotencyKeyReused))
        }
        for dialect in configuration.dialects { slots += dialect.idempotencySlots(request) }
        return slots
    }

    /// The stored response of the first slot used before with this payload, or its conflict. A
    /// request presenting a receipt token is not a conflict: the receipt is its own proof, and the
    /// receipt path replays what that receipt (and only it) paid for. An agent retrying a committed
    /// payment sends its receipt under the payment's key.
    func idempotentReplay(_ slots: [IdempotencySlot], request: GateRequest, resource: Resource) async throws(GateRefusal) -> GateDecision? {
        for slot in slots {
            let lookup = try await store { () async throws(StoreError) in
                try await configuration.store.idempotencyLookup(key: slot.key, payloadHash: slot.payloadHash)
            }
            switch lookup {
            case .notFound: continue
            case .replay(let record):
                log("\(resource) replay idempotency-key")
                return .replay(Self.response(record.response))
            case .payloadMismatch:
                if presentsReceipt(request) { continue }
                throw slot.conflict
            }
        }
        return nil
    }

    /// The request an `Idempotency-Key` was used for: method, target, body, and every credential
    /// field it carried. A key is only a retry handle, never a proof of payment: a request with the
    /// key of someone else's paid request (every client behind one proxy shares an address) but not
    /// its credential or receipt is another payload, refused as a conflict, and sees nothing paid.
    /// Whether any dialect reads a receipt token from the request.
    private func presentsReceipt(_ request: GateRequest) -> Bool {
        configuration.dialects.contains { Self.readsReceipt($0, request) }
    }

    private static func readsReceipt<Dialect: GateDialect>(_ dialect: Dialect, _ request: GateRequest) -> Bool {
        if case .receiptToken? = try? dialect.read(request) { return true }
        return false
    }

    static func payloadHash(_ request: GateRequest) -> Data {
        var text = "\(request.method) \(request.path)\n\(request.bodyDigest ?? "")"
        for name in CredentialFields.all {
            for value in request.headers.values(name) { text += "\n\(name.lowercased()): \(value)" }
        }
        return Data(SHA256.hash(Array(text.utf8)))
    }
}
