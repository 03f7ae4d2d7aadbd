// A server that quietly raises its price, or swaps the payee for someone else's account, looks like
// any other 402 unless the agent remembers what the same server asked last time. The memory is
// written only after a payment succeeded (the paying client calls `remember`), never while
// negotiating: otherwise a refused lie would become the baseline the next request is compared to.

import Foundation
import PayRail

/// What one server asked for one resource on one rail, the last time the agent paid it.
public struct RememberedPrice: Hashable, Sendable, Codable {
    /// Who was paid.
    public var payee: String
    /// The offer's amount (not including the rail's fee).
    public var amount: Money
    /// When it was paid.
    public var paidAt: Date

    /// Creates a remembered price.
    public init(payee: String, amount: Money, paidAt: Date) {
        self.payee = payee
        self.amount = amount
        self.paidAt = paidAt
    }
}

/// A price memory that could not be read or written; the negotiator refuses offers it cannot check.
public struct PriceMemoryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A sentence for operators; never a secret.
    public let reason: String
    /// Whether the same call may simply be repeated later (a busy database, not a corrupt one).
    public let isRetrySafe: Bool

    /// Creates an error.
    public init(reason: String, isRetrySafe: Bool) {
        self.reason = reason
        self.isRetrySafe = isRetrySafe
    }

    /// The reason and what to do next.
    public var description: String {
        "price memory: \(reason) (\(isRetrySafe ? "retrying later is safe" : "retrying will not help"))"
    }
}

/// Remembers per host + resource path + rail the payee and price of the last paid request.
///
/// Keys are compared exactly; callers pass the host lowercased and the path without query (as
/// `NegotiationRequest.host` and `.resourcePath` give them).
public protocol PriceMemory: Sendable {
    /// The last paid price for this host, resource path and rail, or `nil` when never paid.
    func lastSeen(host: String, resource: String, rail: RailID) async throws(PriceMemoryError) -> RememberedPrice?
    /// Records a paid price; call it after the payment succeeded, never before.
    func remember(_ price: RememberedPrice, host: String, resource: String, rail: RailID) async throws(PriceMemoryError)
}

/// A price memory for one process's lifetime (tests, short-lived agents); the ledger keeps it across runs.
public actor InMemoryPriceMemory: PriceMemory {
    private struct Key: Hashable {
        let host: String
        let resource: String
        let rail: RailID
    }

    private var prices: [Key: RememberedPrice] = [:]

    /// Creates an empty memory.
    public init() {}

    /// The last paid price for this key, if any.
    public func lastSeen(host: String, resource: String, rail: RailID) -> RememberedPrice? {
        prices[Key(host: host, resource: resource, rail: rail)]
    }

    /// Replaces the remembered price for this key.
    public func remember(_ price: RememberedPrice, host: String, resource: String, rail: RailID) {
        prices[Key(host: host, resource: resource, rail: rail)] = price
    }
}
