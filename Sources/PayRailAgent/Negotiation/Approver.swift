// Above a threshold the owner wants a human (or another system) to say yes. Asking is expensive and
// annoying, so the negotiator asks only about the one offer it is about to choose, never about
// every candidate; a "no" moves on to the next candidate, which may be cheap enough to need none.

import Foundation
import PayRail
import PayRailWire

/// What an approver is asked to decide.
public struct ApprovalRequest: Sendable {
    /// The offer about to be chosen.
    public let offer: ReadOffer
    /// The wallet's quote for it.
    public let quote: Quote
    /// Its total cost in the owner's unit.
    public let cost: Money
    /// The threshold it is above.
    public let threshold: Money
    /// The request being paid for.
    public let request: NegotiationRequest

    /// Creates a request (the negotiator does this; public for tests of approvers).
    public init(offer: ReadOffer, quote: Quote, cost: Money, threshold: Money, request: NegotiationRequest) {
        self.offer = offer
        self.quote = quote
        self.cost = cost
        self.threshold = threshold
        self.request = request
    }
}

/// Says yes or no to a payment above the policy's approval threshold.
///
/// Implementations may take time (a prompt, a chat message); answer `false` when unsure or on timeout.
public protocol Approver: Sendable {
    /// Whether the payment may go ahead.
    func approve(_ request: ApprovalRequest) async -> Bool
}
