// The owner's policy: the unit the owner counts in, the rules (composable, in order), the preferred
// rails and dialects, the rate table and the approval threshold. The rules that catch a lying server
// are not in `rules`: they always run, and only their tolerance (payee changes, price increases) is
// configurable, so an owner cannot build a policy that forgets them.

import Foundation
import PayRail
import PayRailWire

/// The request an agent is about to pay for.
public struct NegotiationRequest: Hashable, Sendable {
    /// The resource's URL.
    public var url: URL
    /// The HTTP method.
    public var method: String
    /// The moment of negotiation (expiries and rate staleness are judged against it).
    public var now: Date

    /// Creates a request.
    public init(url: URL, method: String = "GET", now: Date) {
        self.url = url
        self.method = method
        self.now = now
    }

    /// The URL's host, lowercased, without a trailing dot (empty when the URL has none).
    public var host: String {
        var host = (URLComponents(url: url, resolvingAgainstBaseURL: true)?.host ?? "").lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// The URL's path without query or fragment (`/` when empty): the key the price memory uses.
    public var resourcePath: String {
        let path = URLComponents(url: url, resolvingAgainstBaseURL: true)?.percentEncodedPath ?? ""
        return path.isEmpty ? "/" : path
    }
}

extension NegotiationRequest: CustomStringConvertible {
    /// `GET api.example.com/path`: no query string, which may carry a token.
    public var description: String { "\(method) \(host)\(resourcePath)" }
}

/// The owner's order among offers of equal cost.
public struct Preferences: Hashable, Sendable {
    /// The dialect order used when the owner gives none: the IETF scheme first, plain last.
    public static let defaultDialects: [PaymentDialect] = [.payment, .x402, .x402v1, .l402, .plain]

    /// Preferred rails, best first; rails not listed come after, equal among themselves.
    public var rails: [RailID]
    /// Preferred dialects, best first; dialects not listed come after.
    public var dialects: [PaymentDialect]

    /// Creates preferences.
    public init(rails: [RailID] = [], dialects: [PaymentDialect] = Preferences.defaultDialects) {
        self.rails = rails
        self.dialects = dialects
    }
}

/// Everything the negotiator needs to know about what the owner allows and prefers.
public struct Policy: Sendable {
    /// The unit budgets, limits and ranking count in.
    public var unit: MoneyUnit
    /// The owner's rules, checked in order (the first refusal is the one reported).
    public var rules: [any PolicyRule]
    /// Order among offers of equal cost.
    public var preferences: Preferences
    /// How offers in other units are converted to `unit`.
    public var exchangeRates: ExchangeRates
    /// Above this cost (in `unit`) the approver must say yes; `nil` never asks.
    public var approvalThreshold: Money?
    /// Whether a payee different from the one paid last time (same host, resource, rail) is accepted.
    public var allowPayeeChange: Bool
    /// How much more than last time the same server may ask for the same resource.
    public var priceIncrease: PriceIncreaseAllowance
    /// The least time an offer must still be payable when negotiated: one due to expire sooner is
    /// refused (`min-expiry-left`), since paying it would likely leave a payment the server refuses
    /// as expired. `.zero` refuses only offers already expired.
    public var minimumExpiryLeft: Duration

    /// The default `minimumExpiryLeft`: 10 seconds, time to pay, present and retry once.
    public static let defaultMinimumExpiryLeft: Duration = .seconds(10)

    /// Creates a policy from a list of rules.
    public init(
        unit: MoneyUnit, rules: [any PolicyRule] = [], preferences: Preferences = Preferences(),
        exchangeRates: ExchangeRates = ExchangeRates(), approvalThreshold: Money? = nil, allowPayeeChange: Bool = false,
        priceIncrease: PriceIncreaseAllowance = .none, minimumExpiryLeft: Duration = Policy.defaultMinimumExpiryLeft
    ) {
        self.unit = unit
        self.rules = rules
        self.preferences = preferences
        self.exchangeRates = exchangeRates
        self.approvalThreshold = approvalThreshold
        self.allowPayeeChange = allowPayeeChange
        self.priceIncrease = priceIncrease
        self.minimumExpiryLeft = max(.zero, minimumExpiryLeft)
    }

    /// Creates a policy whose rules are written with `PolicyBuilder` syntax.
    ///
    /// - Throws: whatever building the rules throws (e.g. a `MoneyError` from parsing a limit).
    public init<Failure: Error>(
        unit: MoneyUnit, preferences: Preferences = Preferences(), exchangeRates: ExchangeRates = ExchangeRates(),
        approvalThreshold: Money? = nil, allowPayeeChange: Bool = false, priceIncrease: PriceIncreaseAllowance = .none,
        minimumExpiryLeft: Duration = Policy.defaultMinimumExpiryLeft,
        @PolicyBuilder rules: () throws(Failure) -> [any PolicyRule]
    ) throws(Failure) {
        self.init(
            unit: unit, rules: try rules(), preferences: preferences, exchangeRates: exchangeRates,
            approvalThreshold: approvalThreshold, allowPayeeChange: allowPayeeChange, priceIncrease: priceIncrease,
            minimumExpiryLeft: minimumExpiryLeft)
    }

    /// The rules that guard against a lying server before quoting; always checked first.
    public var builtInOfferRules: [any PolicyRule] {
        [NotExpired(), PayeeUnchanged(allowChange: allowPayeeChange), PriceNotIncreased(allowance: priceIncrease)]
    }

    /// The expiry margin every policy keeps (`minimumExpiryLeft`), checked right after the lying-server
    /// rules so an already expired offer is still reported as expired; none when the margin is zero.
    public var expiryMarginRules: [any PolicyRule] {
        minimumExpiryLeft > .zero ? [MinimumExpiryLeft(minimumExpiryLeft)] : []
    }

    /// The rule that guards against a lying server once the wallet has read the rail's own request.
    public var builtInQuoteRules: [any PolicyRule] { [QuoteMatchesOffer()] }
}
