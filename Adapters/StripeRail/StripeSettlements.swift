import Foundation
import PayRail

/// Settlements made by this process (each offer at most once) and the per-offer queue that makes
/// concurrent presentations of one credential call Stripe one at a time: the first settles, the
/// others find its settlement and answer `.alreadySettled` without a second Stripe call.
actor StripeSettlements {
    /// Bounded like the Lightning rail's: a forgotten entry is safe because the gate records every
    /// consumption longer than it accepts a presentation, and Stripe still knows the intent is paid.
    static let capacity = 100_000
    private var byOffer: [String: (settlement: Settlement, proof: [UInt8])] = [:]
    private var order: [String] = []
    private var busy: Set<String> = []
    /// Token charges sent to Stripe while their offer was valid (offer id and proof digest), whose
    /// outcome may be unknown: their retry is allowed after the expiry, with the same key.
    private var attempts: Set<[UInt8]> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Waits until no other settle of `offerID` runs, then marks one as running.
    func acquire(_ offerID: String) async {
        while busy.contains(offerID) {
            await withCheckedContinuation { continuation in waiting[offerID, default: []].append(continuation) }
        }
        busy.insert(offerID)
    }

    /// Ends the running settle of `offerID` and wakes the next one.
    func release(_ offerID: String) {
        busy.remove(offerID)
        if var queue = waiting[offerID], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[offerID] = queue.isEmpty ? nil : queue
            next.resume()
        }
    }

    /// Notes that a charge for `offerID` with this proof was sent to Stripe.
    func recordAttempt(_ offerID: String, proof: [UInt8]) {
        if attempts.count >= Self.capacity { attempts.removeAll() }
        attempts.insert(Array(offerID.utf8) + [0] + proof)
    }

    /// Whether a charge for `offerID` with this proof was sent before.
    func attempted(_ offerID: String, proof: [UInt8]) -> Bool { attempts.contains(Array(offerID.utf8) + [0] + proof) }

    /// Records a settlement and a digest of the proof it was made with; false when the offer already has one.
    func claim(_ settlement: Settlement, proof: [UInt8]) -> Bool {
        guard byOffer[settlement.offerID] == nil else { return false }
        byOffer[settlement.offerID] = (settlement, proof)
        order.append(settlement.offerID)
        if order.count > Self.capacity {
            byOffer[order.removeFirst()] = nil
        }
        return true
    }

    /// The settlement of an offer and the digest of its proof.
    func settlement(for offerID: String) -> (settlement: Settlement, proof: [UInt8])? { byOffer[offerID] }
}
