// The built-in rules. Each is a small value type with one job, so an explanation can name exactly
// which rule refused an offer. The ones guarding against a lying server (expired, payee-changed,
// price-increase, amount-mismatch) are always part of a policy; the others are the owner's choice.

import Foundation
import PayRail
import PayRailWire

// MARK: - The owner's choices

/// Only offers on these rails may be paid.
public struct AllowedRails: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "allowed-rails"
    /// The rails allowed.
    public let rails: [RailID]

    /// Allows offers on `rails` only.
    public init(_ rails: [RailID]) { self.rails = rails }

    /// `allowed-rails`.
    public var name: String { Self.ruleName }

    /// Refuses an offer on any other rail.
    public func check(_ context: RuleContext) -> RuleVerdict {
        let rail = context.offer.offer.rail
        if rails.contains(rail) { return .allow }
        let allowed = rails.isEmpty ? "none" : rails.map(\.rawValue).joined(separator: ", ")
        return .refuse("rail \(rail) is not allowed (allowed: \(allowed))")
    }
}

/// Only requests to these hosts may be paid: exact names, or `*.example.com` for any subdomain
/// (at any depth, not `example.com` itself). Case and a trailing dot are ignored; ports are not part
/// of the host.
public struct AllowedHosts: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "allowed-hosts"
    /// The patterns, as given.
    public let patterns: [String]

    /// Allows requests to hosts matching one of `patterns`.
    public init(_ patterns: [String]) { self.patterns = patterns }

    /// `allowed-hosts`.
    public var name: String { Self.ruleName }

    /// Whether `host` matches one of the patterns.
    public func matches(_ host: String) -> Bool {
        let host = Self.normalized(host)
        guard !host.isEmpty else { return false }
        return patterns.contains { pattern in
            let pattern = Self.normalized(pattern)
            if pattern.hasPrefix("*.") {
                let suffix = pattern.dropFirst(1)  // ".example.com"
                return host.count > suffix.count && host.hasSuffix(suffix)
            }
            return host == pattern
        }
    }

    /// Refuses a request to any other host.
    public func check(_ context: RuleContext) -> RuleVerdict {
        let host = context.request.host
        if matches(host) { return .allow }
        return .refuse("host \(host.isEmpty ? "(none)" : host) is not allowed (allowed: \(patterns.joined(separator: ", ")))")
    }

    private static func normalized(_ name: String) -> String {
        var lower = name.lowercased()
        if lower.hasSuffix(".") { lower.removeLast() }
        return lower
    }
}

/// Only these payees may be paid, per rail (node keys, Stripe accounts, fake account ids).
///
/// A rail absent from the table is not restricted by this rule unless `refuseUnlistedRails` is set.
public struct AllowedPayees: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "allowed-payees"
    /// Allowed payees per rail, compared exactly.
    public let payees: [RailID: Set<String>]
    /// Whether an offer on a rail missing from `payees` is refused.
    public let refuseUnlistedRails: Bool

    /// Allows only `payees` on the rails listed.
    public init(_ payees: [RailID: Set<String>], refuseUnlistedRails: Bool = false) {
        self.payees = payees
        self.refuseUnlistedRails = refuseUnlistedRails
    }

    /// `allowed-payees`.
    public var name: String { Self.ruleName }

    /// Refuses a payee not listed for the offer's rail.
    public func check(_ context: RuleContext) -> RuleVerdict {
        let offer = context.offer.offer
        guard let allowed = payees[offer.rail] else {
            return refuseUnlistedRails ? .refuse("no payee is allowed on rail \(offer.rail)") : .allow
        }
        if allowed.contains(offer.payee) { return .allow }
        return .refuse("payee \(offer.payee) is not an allowed payee on \(offer.rail)")
    }
}

/// The most one request may cost, per unit (price plus the rail's maximum fee).
///
/// The limit in the offer's own unit is checked against the quote's total; the limit in the owner's
/// unit against the cost converted (rounded up). At least one of them must exist, so a unit the
/// owner never capped cannot be spent without limit.
public struct MaximumPerRequest: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "max-per-request"
    /// At most one limit per unit (a later one for the same unit replaces an earlier one).
    public let limits: [MoneyUnit: Money]

    /// Caps each request at `limits`.
    public init(_ limits: [Money]) {
        self.limits = Dictionary(limits.map { ($0.unit, $0) }, uniquingKeysWith: { _, later in later })
    }

    /// `max-per-request`.
    public var name: String { Self.ruleName }
    /// Needs the quote.
    public var stage: RuleStage { .quote }

    /// Refuses a total above a limit, or a unit with no applicable limit.
    public func check(_ context: RuleContext) -> RuleVerdict {
        guard let quote = context.quote else { return .refuse("no quote to check against the maximum") }
        var checked = false
        if let limit = limits[quote.total.unit] {
            checked = true
            if quote.total.amount > limit.amount {
                return .refuse("the total \(quote.total) is above the maximum of \(limit) per request")
            }
        }
        if let cost = context.cost, cost.unit != quote.total.unit, let limit = limits[cost.unit] {
            checked = true
            if cost.amount > limit.amount {
                return .refuse("the total \(quote.total) (\(cost)) is above the maximum of \(limit) per request")
            }
        }
        if checked { return .allow }
        return .refuse("no maximum per request is set for \(quote.total.unit) or \(context.ownerUnit)")
    }
}

/// The most a rail's fee may be, per unit, absolute (the quote's exact or maximum fee).
///
/// The limit in the fee's unit applies, else the limit in the owner's unit on the converted fee;
/// a fee in a unit with neither is allowed (the per-request maximum still bounds the total).
public struct MaximumFee: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "max-fee"
    /// At most one limit per unit.
    public let limits: [MoneyUnit: Money]

    /// Caps fees at `limits`.
    public init(_ limits: [Money]) {
        self.limits = Dictionary(limits.map { ($0.unit, $0) }, uniquingKeysWith: { _, later in later })
    }

    /// `max-fee`.
    public var name: String { Self.ruleName }
    /// Needs the quote.
    public var stage: RuleStage { .quote }

    /// Refuses a fee above its limit.
    public func check(_ context: RuleContext) -> RuleVerdict {
        guard let quote = context.quote else { return .refuse("no quote to check the fee of") }
        let kind = quote.feeKind == .maximum ? "maximum fee" : "fee"
        if let limit = limits[quote.fee.unit] {
            return quote.fee.amount > limit.amount ? .refuse("the rail's \(kind) \(quote.fee) is above the limit of \(limit)") : .allow
        }
        guard let limit = limits[context.ownerUnit] else { return .allow }
        do {
            let fee = try context.exchangeRates.convert(quote.fee, to: context.ownerUnit, at: context.request.now)
            return fee.amount > limit.amount ? .refuse("the rail's \(kind) \(quote.fee) (\(fee)) is above the limit of \(limit)") : .allow
        } catch {
            return .refuse("the fee \(quote.fee) cannot be compared with the limit of \(limit): \(error.reason)")
        }
    }
}

/// An offer must stay payable for at least this long after the request (time to pay and retry).
public struct MinimumExpiryLeft: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "min-expiry-left"
    /// The time that must be left.
    public let minimum: Duration

    /// Requires `minimum` before the offer expires.
    public init(_ minimum: Duration) { self.minimum = minimum }

    /// `min-expiry-left`.
    public var name: String { Self.ruleName }

    /// Refuses an offer expiring sooner than `minimum`.
    public func check(_ context: RuleContext) -> RuleVerdict {
        let left = context.offer.offer.expiresAt.timeIntervalSince(context.request.now)
        let required = Double(minimum.components.seconds) + Double(minimum.components.attoseconds) / 1e18
        if left >= required { return .allow }
        return .refuse("the offer expires in \(Seconds.text(left)) s, less than the \(Seconds.text(required, rounding: .up)) s required")
    }
}

// MARK: - A lying server (always part of a policy)

/// Refuses an offer that has already expired when the request is negotiated.
public struct NotExpired: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "expired"

    /// Creates the rule.
    public init() {}

    /// `expired`.
    public var name: String { Self.ruleName }

    /// Refuses an offer whose expiry is not after `now`.
    public func check(_ context: RuleContext) -> RuleVerdict {
        let expiresAt = context.offer.offer.expiresAt
        let late = context.request.now.timeIntervalSince(expiresAt)
        guard late >= 0 else { return .allow }
        return .refuse("the offer expired \(Seconds.text(late)) s before the request (at \(Self.format(expiresAt)))")
    }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// Refuses a payee other than the one the same server was paid last time for the same resource and
/// rail (a swapped account is how a compromised server steals), unless the policy allows changes.
public struct PayeeUnchanged: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "payee-changed"
    /// Whether a different payee is accepted.
    public let allowChange: Bool

    /// Creates the rule.
    public init(allowChange: Bool = false) { self.allowChange = allowChange }

    /// `payee-changed`.
    public var name: String { Self.ruleName }

    /// Refuses a payee that differs from the remembered one.
    public func check(_ context: RuleContext) -> RuleVerdict {
        guard !allowChange, let remembered = context.remembered else { return .allow }
        let payee = context.offer.offer.payee
        if payee == remembered.payee { return .allow }
        return .refuse("the server now asks to pay \(payee); it was paid to \(remembered.payee) before for the same resource")
    }
}

/// How much more than last time the same server may ask for the same resource.
public enum PriceIncreaseAllowance: Hashable, Sendable, Codable {
    /// Never more than last time.
    case none
    /// At most this many percent more (e.g. 10 allows 100 sat -> 110 sat).
    case upToPercent(Int)
    /// Any increase (the remembered price is then not checked).
    case any
}

/// Refuses a price above what the same server asked last time for the same resource and rail.
public struct PriceNotIncreased: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "price-increase"
    /// How much of an increase is tolerated.
    public let allowance: PriceIncreaseAllowance

    /// Creates the rule.
    public init(allowance: PriceIncreaseAllowance = .none) { self.allowance = allowance }

    /// `price-increase`.
    public var name: String { Self.ruleName }

    /// Refuses an increase beyond the allowance, or a change of unit it cannot compare.
    public func check(_ context: RuleContext) -> RuleVerdict {
        guard let remembered = context.remembered, allowance != .any else { return .allow }
        let asked = context.offer.offer.amount
        guard case let (now, before)? = Amounts.comparable(asked, remembered.amount) else {
            return .refuse("the price changed unit from \(remembered.amount.unit) to \(asked.unit) (\(remembered.amount) before, \(asked) now)")
        }
        let percent: Int64
        switch allowance {
        case .none: percent = 0
        case .upToPercent(let value): percent = Int64(max(0, value))
        case .any: return .allow
        }
        // now * 100 <= before * (100 + percent), exactly; an overflow refuses rather than guesses.
        let (left, overflowLeft) = now.multipliedReportingOverflow(by: 100)
        let (factor, overflowFactor) = percent.addingReportingOverflow(100)
        let (right, overflowRight) = before.multipliedReportingOverflow(by: factor)
        if !overflowLeft, !overflowFactor, !overflowRight, left <= right { return .allow }
        let allowed = percent == 0 ? "" : " (more than the \(percent)% allowed)"
        return .refuse("the price rose from \(remembered.amount) to \(asked) since the last payment\(allowed)")
    }
}

/// Refuses an offer whose amount differs from what the rail reads in its own request (the wallet's
/// quote): a server that writes 10 sat in the header and a 10,000 sat invoice is lying.
public struct QuoteMatchesOffer: PolicyRule {
    /// The rule's name in explanations.
    public static let ruleName = "amount-mismatch"

    /// Creates the rule.
    public init() {}

    /// `amount-mismatch`.
    public var name: String { Self.ruleName }
    /// Needs the quote.
    public var stage: RuleStage { .quote }

    /// Refuses when the quote's amount is not the offer's.
    public func check(_ context: RuleContext) -> RuleVerdict {
        guard let quote = context.quote else { return .refuse("no quote to compare the offer with") }
        let offered = context.offer.offer.amount
        if case let (a, b)? = Amounts.comparable(offered, quote.amount), a == b { return .allow }
        return .refuse("the offer says \(offered) but the \(context.offer.offer.rail) request itself asks \(quote.amount)")
    }
}

/// Exact comparisons across sat and msat (the only units with a fixed rate between them).
enum Amounts {
    /// Both amounts in one unit (msat when either is msat), or `nil` when they cannot be compared exactly.
    static func comparable(_ a: Money, _ b: Money) -> (Int64, Int64)? {
        if a.unit == b.unit { return (a.amount, b.amount) }
        guard a.unit.kind == .bitcoin, b.unit.kind == .bitcoin,
              let left = try? a.converted(to: .msat), let right = try? b.converted(to: .msat) else { return nil }
        return (left.amount, right.amount)
    }
}
