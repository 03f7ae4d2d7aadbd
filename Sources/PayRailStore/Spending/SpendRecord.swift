import Foundation
import PayRail

// One logical paid call, from the moment budget is set aside for it until the money is either
// accounted for (committed) or given back (released). The record is written before any money moves,
// so after a crash the agent finds every call that may have paid and can finish it instead of paying
// again. The proof (credential headers) is a bearer secret: it is kept only while it may still be
// needed to retry, erased at commit, and never printed.

/// Where one spend stands. The only moves are reserved -> paid -> committed, reserved -> committed and
/// reserved -> released; each happens at most once.
public enum SpendState: String, Sendable, Codable, CaseIterable {
    /// Budget is set aside; no money has moved yet (or the agent does not know yet that it did).
    case reserved
    /// The wallet paid; the proof is stored so the request can be retried without paying again.
    case paid
    /// Finished: the money is spent and accounted for, with its receipt when there is one.
    case committed
    /// Given back without paying; it no longer counts against any budget.
    case released

    /// Whether the spend still needs finishing (reserved or paid).
    public var isUnfinished: Bool { self == .reserved || self == .paid }

    /// Whether the spend counts against the budget windows (everything but released).
    public var countsAgainstBudget: Bool { self != .released }
}

/// One entry of the agent's spend ledger.
///
/// `description`, `debugDescription` and the mirror (`dump`) never show `proof` or `receipt`.
public struct SpendRecord: Sendable, Hashable {
    /// The stable id of one logical paid call (x402 payment-identifier, Idempotency-Key); unique in a store.
    public let paymentID: String
    /// Where the spend stands.
    public var state: SpendState
    /// The amount reserved: the quote's total (price plus maximum fee), in the rail's unit; once
    /// committed, what was actually spent when the wallet reported its fee (never more than reserved).
    public let amount: Money
    /// The rail paying.
    public let rail: RailID
    /// The host asked to be paid.
    public let host: String
    /// The HTTP method of the paid request.
    public let method: String
    /// The paid URL.
    public let url: String
    /// The id of the offer taken.
    public let offerID: String
    /// Agent-defined JSON (no secret) needed to finish the call after a crash.
    public let context: String
    /// Agent-defined secret JSON (credential headers), set when paid and erased at commit.
    public var proof: String?
    /// The receipt token, set at commit when the server gave one (a bearer token: never printed).
    public var receipt: String?
    /// The rail's public settlement reference, set at commit.
    public var reference: String?
    /// The server's standard `Payment-Receipt` (reference, status, time) and whether it was signed and
    /// verified or only recorded, set at commit when the server sent one.
    public var standardReceipt: LedgerReceipt?
    /// Why the spend was released, or why it was committed without a receipt.
    public var note: String?
    /// When the budget was reserved; the sliding windows count from here.
    public let reservedAt: Date
    /// When the state last changed.
    public var updatedAt: Date

    /// A new reservation (state `.reserved`), as passed to `SpendStore.reserve`.
    ///
    /// Dates are kept to whole milliseconds, as stores keep them, so a record read back equals this one.
    public init(paymentID: String, amount: Money, rail: RailID, host: String, method: String, url: String,
                offerID: String, context: String, reservedAt: Date) {
        self.init(paymentID: paymentID, state: .reserved, amount: amount, rail: rail, host: host, method: method, url: url,
                  offerID: offerID, context: context, proof: nil, receipt: nil, reference: nil, note: nil,
                  reservedAt: reservedAt, updatedAt: reservedAt)
    }

    /// A record in any state, for store implementations reading their rows back.
    public init(paymentID: String, state: SpendState, amount: Money, rail: RailID, host: String, method: String, url: String,
                offerID: String, context: String, proof: String?, receipt: String?, reference: String?, note: String?,
                reservedAt: Date, updatedAt: Date, standardReceipt: LedgerReceipt? = nil) {
        self.paymentID = paymentID
        self.state = state
        self.amount = amount
        self.rail = rail
        self.host = host
        self.method = method
        self.url = url
        self.offerID = offerID
        self.context = context
        self.proof = proof
        self.receipt = receipt
        self.reference = reference
        self.standardReceipt = standardReceipt
        self.note = note
        self.reservedAt = StoreTime.normalized(reservedAt)
        self.updatedAt = StoreTime.normalized(updatedAt)
    }
}

extension SpendRecord: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// One line for logs: id, state, amount, rail, method and host; never the proof, receipt, URL or context.
    public var description: String {
        var text = "spend \(paymentID) \(state.rawValue) \(amount) on \(rail) for \(method) \(host)"
        if let reference { text += " reference \(reference)" }
        if receipt != nil { text += " with receipt" }
        if proof != nil { text += " (proof kept)" }
        return text
    }

    /// The same as `description`: debug output is logged too, so it hides the same secrets.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: every field but the secrets, which appear only as present or absent.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "paymentID": paymentID, "state": state, "amount": amount, "rail": rail, "host": host, "method": method,
            "offerID": offerID, "hasProof": proof != nil, "hasReceipt": receipt != nil, "reference": reference as Any,
            "standardReceipt": standardReceipt as Any,
            "note": note as Any, "reservedAt": reservedAt, "updatedAt": updatedAt,
        ], displayStyle: .struct)
    }
}
