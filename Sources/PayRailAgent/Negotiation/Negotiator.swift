// The negotiator turns the offers of one 402 into a decision the owner can audit. It works in
// stages so that nothing is asked of a wallet (or a human) that a cheaper check could refuse:
//   1. offer rules: the lying-server checks, then the owner's rules, then "is there a wallet";
//   2. quotes, concurrently, for the offers left; the rail's own reading must match the offer;
//   3. the cost in the owner's unit, then the owner's quote-stage rules (maximums, fees);
//   4. ranking by cost, then preference, then the server's order;
//   5. approval, asked only about the offer about to be chosen.
// Nothing here pays or remembers: the paying client does both, after a successful payment.

import Foundation
import PayRail
import PayRailWire

/// Chooses which offers of a 402 the agent may pay, in which order, and why every other one was refused.
public struct Negotiator: Sendable {
    /// Names of the refusals the negotiator itself decides (the rules have their own `ruleName`).
    public enum RuleName {
        /// No wallet pays on the offer's rail.
        public static let noWallet = "no-wallet"
        /// The wallet refused to quote; the reason is the rail's.
        public static let railQuote = "rail-quote"
        /// The cost could not be converted to the owner's unit (missing or stale rate).
        public static let exchangeRate = "exchange-rate"
        /// Above the approval threshold, and the approver said no or there is none.
        public static let approval = "approval"
        /// The price memory could not be read, so payee and price cannot be checked.
        public static let priceMemory = "price-memory"
    }

    /// The owner's policy.
    public let policy: Policy
    /// The agent's wallets (quotes only; the negotiator never pays).
    public let wallets: WalletRegistry
    /// What the same servers asked before; `nil` skips the payee-change and price-increase checks.
    public let priceMemory: (any PriceMemory)?
    /// Says yes or no above the approval threshold; `nil` refuses everything above it.
    public let approver: (any Approver)?

    /// Creates a negotiator.
    public init(policy: Policy, wallets: WalletRegistry, priceMemory: (any PriceMemory)? = nil, approver: (any Approver)? = nil) {
        self.policy = policy
        self.wallets = wallets
        self.priceMemory = priceMemory
        self.approver = approver
    }

    /// Decides on the offers read from one 402 response.
    ///
    /// Never throws: every failure (a rail that will not quote, a missing rate, an unreadable price
    /// memory) refuses the offers it concerns and says so.
    public func negotiate(_ offers: [ReadOffer], for request: NegotiationRequest) async -> Negotiation {
        var refusals: [Refusal] = []
        func refuse(_ read: ReadOffer, _ index: Int, _ rule: String, _ reason: String) {
            refusals.append(Refusal(offer: read, index: index, rule: rule, reason: reason))
        }

        // 1. Offer-stage rules.
        let offerRules = policy.builtInOfferRules + policy.rules.filter { $0.stage == .offer }
        var memory: [RailID: Result<RememberedPrice?, PriceMemoryError>] = [:]
        var passed: [(index: Int, read: ReadOffer, remembered: RememberedPrice?)] = []
        for (index, read) in offers.enumerated() {
            let rail = read.offer.rail
            if memory[rail] == nil { memory[rail] = await lookUp(rail: rail, for: request) }
            let remembered: RememberedPrice?
            switch memory[rail] {
            case .failure(let error)?:
                refuse(read, index, RuleName.priceMemory, "the price memory cannot be read, so payee and price cannot be checked: \(error.reason)")
                continue
            case .success(let value)?: remembered = value
            case nil: remembered = nil
            }
            let context = RuleContext(
                offer: read, request: request, ownerUnit: policy.unit, remembered: remembered, exchangeRates: policy.exchangeRates)
            if case let (rule, reason)? = Self.firstRefusal(offerRules, context) {
                refuse(read, index, rule, reason)
                continue
            }
            guard wallets.wallet(for: rail) != nil else {
                let have = wallets.rails.map(\.rawValue).joined(separator: ", ")
                refuse(read, index, RuleName.noWallet, "the agent has no wallet for rail \(rail) (wallets: \(have.isEmpty ? "none" : have))")
                continue
            }
            passed.append((index, read, remembered))
        }

        // 2. Quotes, concurrently, so a wallet's latency does not add up across offers; once per distinct
        //    offer, since one server often repeats the same rail request in several dialects.
        let wallets = self.wallets
        var distinct: [Offer] = []
        for item in passed where !distinct.contains(item.read.offer) { distinct.append(item.read.offer) }
        let decisions = await withTaskGroup(of: (Offer, QuoteDecision).self) { group in
            for offer in distinct {
                group.addTask { (offer, await wallets.quote(offer)) }
            }
            var collected: [Offer: QuoteDecision] = [:]
            for await (offer, decision) in group { collected[offer] = decision }
            return collected
        }

        // 3. Quote-stage rules and cost.
        let quoteRules = policy.rules.filter { $0.stage == .quote }
        var priced: [(index: Int, read: ReadOffer, quote: Quote, cost: Money)] = []
        for item in passed {
            let rail = item.read.offer.rail
            let quote: Quote
            switch decisions[item.read.offer] {
            case .payable(let value)?: quote = value
            case .refused(let error)?:
                refuse(item.read, item.index, RuleName.railQuote, "the \(rail) wallet will not pay it (\(error.code)): \(error.reason)")
                continue
            case nil:
                refuse(item.read, item.index, RuleName.railQuote, "the \(rail) wallet gave no quote")
                continue
            }
            var context = RuleContext(
                offer: item.read, request: request, ownerUnit: policy.unit, remembered: item.remembered, quote: quote,
                exchangeRates: policy.exchangeRates)
            if case let (rule, reason)? = Self.firstRefusal(policy.builtInQuoteRules, context) {
                refuse(item.read, item.index, rule, reason)
                continue
            }
            let cost: Money
            do { cost = try policy.exchangeRates.convert(quote.total, to: policy.unit, at: request.now) } catch {
                refuse(item.read, item.index, RuleName.exchangeRate, "the total \(quote.total) cannot be counted in \(policy.unit): \(error.reason)")
                continue
            }
            context = RuleContext(
                offer: item.read, request: request, ownerUnit: policy.unit, remembered: item.remembered, quote: quote, cost: cost,
                exchangeRates: policy.exchangeRates)
            if case let (rule, reason)? = Self.firstRefusal(quoteRules, context) {
                refuse(item.read, item.index, rule, reason)
                continue
            }
            priced.append((item.index, item.read, quote, cost))
        }

        // 4. Ranking: cost, then the owner's rail and dialect preference, then the server's order.
        let preferences = policy.preferences
        func position<T: Equatable>(_ value: T, in list: [T]) -> Int { list.firstIndex(of: value) ?? list.count }
        let ranked = priced.sorted { a, b in
            if a.cost.amount != b.cost.amount { return a.cost.amount < b.cost.amount }
            let railA = position(a.read.offer.rail, in: preferences.rails), railB = position(b.read.offer.rail, in: preferences.rails)
            if railA != railB { return railA < railB }
            let dialectA = position(a.read.dialect, in: preferences.dialects), dialectB = position(b.read.dialect, in: preferences.dialects)
            if dialectA != dialectB { return dialectA < dialectB }
            return a.index < b.index
        }

        // 5. Approval, only for the offer about to be chosen.
        var candidates: [Candidate] = []
        for item in ranked {
            let status: ApprovalStatus
            switch approvalNeed(cost: item.cost) {
            case .notNeeded:
                status = .notRequired
            case .cannotCompare(let reason):
                refuse(item.read, item.index, RuleName.approval, reason)
                continue
            case .needed(let threshold):
                guard let approver else {
                    refuse(item.read, item.index, RuleName.approval,
                           "the cost \(item.cost) is above the approval threshold of \(threshold) and no approver is configured")
                    continue
                }
                if !candidates.isEmpty {
                    status = .required  // a fallback: asked only if the client ever falls back to it
                } else if await approver.approve(ApprovalRequest(
                    offer: item.read, quote: item.quote, cost: item.cost, threshold: threshold, request: request)) {
                    status = .approved
                } else {
                    refuse(item.read, item.index, RuleName.approval, "the approver declined the cost \(item.cost) (threshold \(threshold))")
                    continue
                }
            }
            candidates.append(Candidate(offer: item.read, index: item.index, quote: item.quote, cost: item.cost, approval: status))
        }

        refusals.sort { $0.index < $1.index }
        return Negotiation(request: request, ownerUnit: policy.unit, offers: offers, candidates: candidates, refusals: refusals)
    }

    /// Asks the approver about a fallback candidate (`approval == .required`) before paying it.
    ///
    /// - Returns: `true` when it needs no approval or the approver said yes.
    public func confirmApproval(of candidate: Candidate, for request: NegotiationRequest) async -> Bool {
        switch candidate.approval {
        case .notRequired, .approved: return true
        case .required:
            guard let approver, let threshold = policy.approvalThreshold else { return false }
            return await approver.approve(ApprovalRequest(
                offer: candidate.offer, quote: candidate.quote, cost: candidate.cost, threshold: threshold, request: request))
        }
    }

    private enum ApprovalNeed {
        case notNeeded
        case needed(Money)
        case cannotCompare(String)
    }

    private func approvalNeed(cost: Money) -> ApprovalNeed {
        guard let threshold = policy.approvalThreshold else { return .notNeeded }
        guard threshold.unit == cost.unit else {
            return .cannotCompare("the approval threshold \(threshold) is not in the owner's unit \(cost.unit); fix the policy")
        }
        return cost.amount > threshold.amount ? .needed(threshold) : .notNeeded
    }

    private func lookUp(rail: RailID, for request: NegotiationRequest) async -> Result<RememberedPrice?, PriceMemoryError> {
        guard let priceMemory else { return .success(nil) }
        do { return .success(try await priceMemory.lastSeen(host: request.host, resource: request.resourcePath, rail: rail)) } catch {
            return .failure(error)
        }
    }

    private static func firstRefusal(_ rules: [any PolicyRule], _ context: RuleContext) -> (String, String)? {
        for rule in rules {
            if case .refuse(let reason) = rule.check(context) { return (rule.name, reason) }
        }
        return nil
    }
}
