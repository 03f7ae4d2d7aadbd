// The owner's policy is a list of small rules, each answering one question about one offer. The shape
// follows swift-certificates' VerifierPolicy: a protocol with a single check, composed by a result
// builder, so an owner's own rule (a per-merchant cap, a business-hours window) sits next to the
// built-in ones without PayRail knowing about it.

import Foundation
import PayRail
import PayRailWire

/// A rule's answer for one offer.
public enum RuleVerdict: Hashable, Sendable {
    /// The rule has no objection.
    case allow
    /// The rule refuses the offer; the reason is shown to the owner, so write it for a person.
    case refuse(String)
}

/// When a rule runs: before the wallet is asked for a quote, or after, when the cost is known.
public enum RuleStage: String, Hashable, Sendable, Codable {
    /// Before quoting: only the offer, the request and the remembered price are known.
    /// Offers refused here are never shown to a wallet.
    case offer
    /// After quoting: `quote` and `cost` are set.
    case quote
}

/// Everything a rule may look at for one offer.
public struct RuleContext: Sendable {
    /// The offer as read from the 402 response, with its dialect.
    public let offer: ReadOffer
    /// The request being paid for.
    public let request: NegotiationRequest
    /// The unit the owner counts in (budgets, limits, ranking).
    public let ownerUnit: MoneyUnit
    /// What the same server last asked for the same resource on the same rail, after a paid request.
    public let remembered: RememberedPrice?
    /// The wallet's quote; `nil` at the `.offer` stage.
    public let quote: Quote?
    /// `quote.total` in the owner's unit (rounded up); `nil` at the `.offer` stage.
    public let cost: Money?
    /// The exchange rates of the policy, for rules that compare amounts across units.
    public let exchangeRates: ExchangeRates

    /// Creates a context (the negotiator does this; public so custom rules can be unit-tested).
    public init(
        offer: ReadOffer, request: NegotiationRequest, ownerUnit: MoneyUnit, remembered: RememberedPrice? = nil,
        quote: Quote? = nil, cost: Money? = nil, exchangeRates: ExchangeRates = ExchangeRates()
    ) {
        self.offer = offer
        self.request = request
        self.ownerUnit = ownerUnit
        self.remembered = remembered
        self.quote = quote
        self.cost = cost
        self.exchangeRates = exchangeRates
    }
}

/// One composable check of the owner's policy.
///
/// Conform a small value type to add your own rule; `check` must be fast and must not block (it runs
/// once per offer per 402). Refusing is always safe; allowing is how money moves, so a rule that
/// cannot decide should refuse.
public protocol PolicyRule: Sendable {
    /// A short stable name shown in explanations and JSON (`allowed-rails`, `max-fee`).
    var name: String { get }
    /// When the rule runs; defaults to `.offer`.
    var stage: RuleStage { get }
    /// Allows or refuses one offer.
    func check(_ context: RuleContext) -> RuleVerdict
}

extension PolicyRule {
    /// Rules run before quoting unless they say otherwise.
    public var stage: RuleStage { .offer }
}

/// Builds a list of rules with Swift's result-builder syntax (`if`, `for`, optionals included).
///
/// ```swift
/// let policy = try Policy(unit: .sat) {
///     AllowedRails([.fake, .lightning])
///     MaximumPerRequest([try Money(parsing: "500sat")])
///     if strict { AllowedHosts(["api.example.com"]) }
/// }
/// ```
@resultBuilder
public enum PolicyBuilder {
    /// One rule.
    public static func buildExpression(_ rule: any PolicyRule) -> [any PolicyRule] { [rule] }
    /// Several rules at once (e.g. a preset).
    public static func buildExpression(_ rules: [any PolicyRule]) -> [any PolicyRule] { rules }
    /// The rules of a block, in order.
    public static func buildBlock(_ parts: [any PolicyRule]...) -> [any PolicyRule] { parts.flatMap { $0 } }
    /// An `if` without `else`.
    public static func buildOptional(_ part: [any PolicyRule]?) -> [any PolicyRule] { part ?? [] }
    /// The first branch of an `if`/`else` or `switch`.
    public static func buildEither(first part: [any PolicyRule]) -> [any PolicyRule] { part }
    /// The second branch of an `if`/`else` or `switch`.
    public static func buildEither(second part: [any PolicyRule]) -> [any PolicyRule] { part }
    /// A `for` loop.
    public static func buildArray(_ parts: [[any PolicyRule]]) -> [any PolicyRule] { parts.flatMap { $0 } }
    /// `if #available`.
    public static func buildLimitedAvailability(_ part: [any PolicyRule]) -> [any PolicyRule] { part }
}
