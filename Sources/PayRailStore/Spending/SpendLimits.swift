import PayRail

// "Never give an agent an unlimited wallet": a unit the owner did not name has no budget at all, so
// spending in it is refused rather than unlimited. Budgets are per unit because sat, msat and usd are
// never converted implicitly (converting is the negotiator's job, with an explicit rate table).

/// The owner's budgets, one `Limit` per unit; a unit without an entry may not be spent at all.
public struct SpendLimits: Sendable, Hashable {
    /// The caps for one unit. A `nil` cap means "no cap on this window"; all three `nil` is an explicit
    /// "unlimited in this unit", which is why a missing entry (not an empty `Limit`) means "no budget".
    public struct Limit: Sendable, Hashable {
        /// The most one logical paid call may reserve (price plus maximum fee).
        public var perRequest: Money?
        /// The most reserved, paid and committed spends may add up to within any sliding 60 minutes.
        public var perHour: Money?
        /// The most reserved, paid and committed spends may add up to within any sliding 24 hours.
        public var perDay: Money?

        /// Creates the caps; each amount must be in the unit this limit is registered under.
        public init(perRequest: Money? = nil, perHour: Money? = nil, perDay: Money? = nil) {
            self.perRequest = perRequest
            self.perHour = perHour
            self.perDay = perDay
        }
    }

    /// The caps by unit.
    public private(set) var limits: [MoneyUnit: Limit]

    /// Creates the budgets; units missing from `limits` have no budget (spending in them is refused).
    public init(_ limits: [MoneyUnit: Limit]) {
        self.limits = limits
    }

    /// No budget in any unit: every spend is refused.
    public static let none = SpendLimits([:])

    /// The caps for `unit`, or `nil` when spending in it is not allowed.
    public func limit(for unit: MoneyUnit) -> Limit? {
        limits[unit]
    }

    /// The units that have a budget, sorted by code for stable output.
    public var units: [MoneyUnit] {
        limits.keys.sorted { ($0.code, $0.exponent) < ($1.code, $1.exponent) }
    }

    /// Sets (or, with `nil`, removes) the caps for one unit.
    public mutating func setLimit(_ limit: Limit?, for unit: MoneyUnit) {
        limits[unit] = limit
    }

    /// Refuses caps written in another unit than the one they are registered under (for example an
    /// hourly cap in usd registered under sat): comparing them would be meaningless.
    ///
    /// - Throws: `StoreError` `.invalidArgument` naming the unit and the window.
    public func validate() throws(StoreError) {
        for (unit, limit) in limits {
            let caps: [(String, Money?)] = [("per-request", limit.perRequest), ("hourly", limit.perHour), ("daily", limit.perDay)]
            for case let (name, cap?) in caps where cap.unit != unit {
                throw StoreError(code: .invalidArgument,
                                 reason: "the \(name) budget registered for \(unit) is written in \(cap.unit); write it in \(unit)",
                                 isRetrySafe: false)
            }
        }
    }
}
