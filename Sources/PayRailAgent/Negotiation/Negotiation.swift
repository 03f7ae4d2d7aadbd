// The negotiator's answer must be explainable to the owner after the fact: for every offer the
// server made, either its rank or the one rule that refused it and why. The same facts are given as
// lines for a terminal and as JSON for `payrail fetch --explain --json`.

import Foundation
import PayRail
import PayRailWire

/// Whether a candidate's cost needed the approver.
public enum ApprovalStatus: String, Hashable, Sendable, Codable {
    /// At or below the threshold, or no threshold set.
    case notRequired
    /// The approver said yes to this candidate.
    case approved
    /// Above the threshold and not asked yet (a fallback behind the chosen offer): ask the approver
    /// before paying it.
    case required
}

/// An offer the policy allows, with what it will cost.
public struct Candidate: Hashable, Sendable {
    /// The offer, with its dialect.
    public let offer: ReadOffer
    /// Its position in the offers given to `negotiate`.
    public let index: Int
    /// The wallet's quote (amount + maximum fee in the offer's unit): what the budget must reserve.
    public let quote: Quote
    /// `quote.total` in the owner's unit, rounded up.
    public let cost: Money
    /// Whether the approver had to, or still has to, agree.
    public let approval: ApprovalStatus
}

/// An offer the policy refused, and the rule that refused it.
public struct Refusal: Hashable, Sendable {
    /// The offer, with its dialect.
    public let offer: ReadOffer
    /// Its position in the offers given to `negotiate`.
    public let index: Int
    /// The name of the refusing rule (`allowed-rails`, `amount-mismatch`, a custom rule's name).
    public let rule: String
    /// Why, for a person.
    public let reason: String
}

/// The outcome of one negotiation.
public struct Negotiation: Hashable, Sendable {
    /// The request negotiated for.
    public let request: NegotiationRequest
    /// The unit costs are given in.
    public let ownerUnit: MoneyUnit
    /// The offers as given.
    public let offers: [ReadOffer]
    /// The allowed offers, best first; the first is the one to pay.
    public let candidates: [Candidate]
    /// The refused offers, in the order they were given.
    public let refusals: [Refusal]

    /// The offer to pay, or `nil` when every offer was refused.
    public var chosen: Candidate? { candidates.first }

    /// One line per offer, in the order given: dialect, rail, amount, payee, and "taken #n" or
    /// "refused by <rule>: <reason>".
    public var explanationLines: [String] { explanation.entries.map(\.line) }

    /// The same facts in a Codable form.
    public var explanation: NegotiationExplanation {
        var entries: [NegotiationExplanation.Entry] = []
        let ranks = Dictionary(candidates.enumerated().map { ($1.index, ($0 + 1, $1)) }, uniquingKeysWith: { first, _ in first })
        let refused = Dictionary(refusals.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        for (index, read) in offers.enumerated() {
            let offer = read.offer
            let head = "\(read.dialect.rawValue) \(offer.rail) \(offer.amount) to \(offer.payee)"
            if case let (rank, candidate)? = ranks[index] {
                var line = "\(head): taken #\(rank) (cost \(candidate.cost)"
                if !candidate.quote.fee.isZero { line += ", fee \(candidate.quote.feeKind == .maximum ? "up to " : "")\(candidate.quote.fee)" }
                if candidate.approval == .approved { line += ", approved" }
                if candidate.approval == .required { line += ", needs approval before paying" }
                line += ")"
                entries.append(.init(
                    index: index, dialect: read.dialect, rail: offer.rail, amount: offer.amount, payee: offer.payee, offerID: offer.id,
                    expiresAt: offer.expiresAt, outcome: .taken, rank: rank, total: candidate.quote.total, cost: candidate.cost,
                    fee: candidate.quote.fee,
                    feeKind: candidate.quote.feeKind, approval: candidate.approval, rule: nil, reason: nil, line: line))
            } else {
                let refusal = refused[index]
                let rule = refusal?.rule ?? "unknown"
                let reason = refusal?.reason ?? "not considered"
                entries.append(.init(
                    index: index, dialect: read.dialect, rail: offer.rail, amount: offer.amount, payee: offer.payee, offerID: offer.id,
                    expiresAt: offer.expiresAt, outcome: .refused, rank: nil, total: nil, cost: nil, fee: nil, feeKind: nil, approval: nil,
                    rule: rule, reason: reason, line: "\(head): refused by \(rule): \(reason)"))
            }
        }
        return NegotiationExplanation(
            host: request.host, path: request.resourcePath, method: request.method, unit: ownerUnit.code, entries: entries)
    }
}

/// A negotiation as data: what `--explain --json` prints.
///
/// Holds no secret: offers carry public payment requests; the URL is reduced to host and path so a
/// token in the query string is never printed.
public struct NegotiationExplanation: Hashable, Sendable, Codable {
    /// Whether an offer was taken (a candidate) or refused.
    public enum Outcome: String, Hashable, Sendable, Codable {
        /// A candidate, with its rank.
        case taken
        /// Refused, with the rule and reason.
        case refused
    }

    /// One offer's fate.
    public struct Entry: Hashable, Sendable, Codable {
        /// Position in the offers given.
        public let index: Int
        /// The dialect the offer came in.
        public let dialect: PaymentDialect
        /// The offer's rail.
        public let rail: RailID
        /// The offer's amount.
        public let amount: Money
        /// Who would be paid.
        public let payee: String
        /// The rail's id of the offer (payment hash, request id): public.
        public let offerID: String
        /// When the offer expires.
        public let expiresAt: Date
        /// Taken or refused.
        public let outcome: Outcome
        /// 1 for the offer to pay, 2 for the first fallback, ...; `nil` when refused.
        public let rank: Int?
        /// What the budget must reserve, in the offer's unit (amount + maximum fee); `nil` when refused.
        public let total: Money?
        /// `total` in the owner's unit, rounded up; `nil` when refused.
        public let cost: Money?
        /// The rail's fee; `nil` when refused.
        public let fee: Money?
        /// Whether the fee is exact or a maximum; `nil` when refused.
        public let feeKind: Quote.FeeKind?
        /// Whether approval was needed; `nil` when refused.
        public let approval: ApprovalStatus?
        /// The refusing rule; `nil` when taken.
        public let rule: String?
        /// Why it was refused; `nil` when taken.
        public let reason: String?
        /// The same entry as one line of text.
        public let line: String
    }

    /// The request's host.
    public let host: String
    /// The request's path (no query).
    public let path: String
    /// The request's method.
    public let method: String
    /// The owner's unit.
    public let unit: String
    /// One entry per offer, in the order given.
    public let entries: [Entry]

    /// The lines, one per offer.
    public var lines: [String] { entries.map(\.line) }

    /// Stable JSON (sorted keys, RFC 3339 dates) for the CLI.
    ///
    /// - Throws: `EncodingError` only if a value cannot be encoded (not expected for these types).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }
}
