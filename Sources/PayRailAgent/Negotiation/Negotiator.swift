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
        let passed = await offerStage(offers, for: request, refusals: &refusals)
        let decisions = await quotes(for: passed)
        let priced = quoteStage(passed, decisions: decisions, for: request, refusals: &refusals)
        let candidates = await approvalStage(rank(priced), for: request, refusals: &refusals)
        refusals.sort { $0.index < $1.index }
        return Negotiation(request: request, ownerUnit: policy.unit, offers: offers, candidates: candidates, refusals: refusals)
    }

    /// One offer's way through a stage: on to the next stage, or refused there.
    private enum StageVerdict<Value> {
        case pass(Value)
        case refuse(Refusal)
    }

    /// An offer the offer-stage rules let through, with what the price memory holds for its rail.
    private struct Passed {
        let index: Int
        let read: ReadOffer
        let remembered: RememberedPrice?
    }

    /// An offer the quote-stage rules let through, with its quote and its cost in the owner's unit.
    private struct Priced {
        let index: Int
        let read: ReadOffer
        let quote: Quote
        let cost: Money
    }

    /// 1. Offer-stage rules: the lying-server checks, then the owner's rules, then "is there a wallet".
    private func offerStage(_ offers: [ReadOffer], for request: NegotiationRequest, refusals: inout [Refusal]) async -> [Passed] {
        let offerRules = policy.builtInOfferRules + policy.expiryMarginRules + policy.rules.filter { $0.stage == .offer }
        var memory: [RailID: Result<RememberedPrice?, PriceMemoryError>] = [:]
        var passed: [Passed] = []
        for (index, read) in offers.enumerated() {
            let rail = read.offer.rail
            if memory[rail] == nil { memory[rail] = await lookUp(rail: rail, for: request) }
            let remembered: RememberedPrice?
            switch memory[rail] {
            case .failure(let error)?:
                refusals.append(Refusal(offer: read, index: index, rule: RuleName.priceMemory,
                                        reason: "the price memory cannot be read, so payee and price cannot be checked: \(error.reason)"))
                continue
            case .success(let value)?: remembered = value
            case nil: remembered = nil
            }
            let context = RuleContext(
                offer: read, request: request, ownerUnit: policy.unit, remembered: remembered, exchangeRates: policy.exchangeRates)
            if case let (rule, reason)? = Self.firstRefusal(offerRules, context) {
                refusals.append(Refusal(offer: read, index: index, rule: rule, reason: reason))
                continue
            }
            guard wallets.wallet(for: rail) != nil else {
                let have = wallets.rails.map(\.rawValue).joined(separator: ", ")
                refusals.append(Refusal(offer: read, index: index, rule: RuleName.noWallet,
                                        reason: "the agent has no wallet for rail \(rail) (wallets: \(have.isEmpty ? "none" : have))"))
                continue
            }
            passed.append(Passed(index: index, read: read, remembered: remembered))
        }
        return passed
    }

    /// 2. Quotes, concurrently, so a wallet's latency does not add up across offers; once per distinct
    ///    offer, since one server often repeats the same rail request in several dialects.
    private func quotes(for passed: [Passed]) async -> [Offer: QuoteDecision] {
        let wallets = self.wallets
        var distinct: [Offer] = []
        for item in passed where !distinct.contains(item.read.offer) { distinct.append(item.read.offer) }
        // One offer (the usual 402, repeated across dialects) has nothing to overlap with: asked
        // directly, it costs no child task and no hop to another thread.
        if distinct.count == 1, let only = distinct.first { return [only: await wallets.quote(only)] }
        return await withTaskGroup(of: (Offer, QuoteDecision).self) { group in
            for offer in distinct {
                group.addTask { (offer, await wallets.quote(offer)) }
            }
            var collected: [Offer: QuoteDecision] = [:]
            for await (offer, decision) in group { collected[offer] = decision }
            return collected
        }
    }

    /// 3. Quote-stage rules and cost, for every offer in the server's order.
    private func quoteStage(
        _ passed: [Passed], decisions: [Offer: QuoteDecision], for request: NegotiationRequest, refusals: inout [Refusal]
    ) -> [Priced] {
        let quoteRules = policy.rules.filter { $0.stage == .quote }
        var priced: [Priced] = []
        for item in passed {
            switch price(item, decision: decisions[item.read.offer], quoteRules: quoteRules, for: request) {
            case .pass(let value): priced.append(value)
            case .refuse(let refusal): refusals.append(refusal)
            }
        }
        return priced
    }

    /// One offer through the quote stage: the wallet's quote, the built-in quote checks, the cost in the
    /// owner's unit, then the owner's quote-stage rules (maximums, fees), the first refusal winning.
    private func price(
        _ item: Passed, decision: QuoteDecision?, quoteRules: [any PolicyRule], for request: NegotiationRequest
    ) -> StageVerdict<Priced> {
        func refuse(_ rule: String, _ reason: String) -> StageVerdict<Priced> {
            .refuse(Refusal(offer: item.read, index: item.index, rule: rule, reason: reason))
        }
        let rail = item.read.offer.rail
        let quote: Quote
        switch decision {
        case .payable(let value)?: quote = value
        case .refused(let error)?:
            return refuse(RuleName.railQuote, "the \(rail) wallet will not pay it (\(error.code)): \(error.reason)")
        case nil:
            return refuse(RuleName.railQuote, "the \(rail) wallet gave no quote")
        }
        var context = RuleContext(
            offer: item.read, request: request, ownerUnit: policy.unit, remembered: item.remembered, quote: quote,
            exchangeRates: policy.exchangeRates)
        if case let (rule, reason)? = Self.firstRefusal(policy.builtInQuoteRules, context) { return refuse(rule, reason) }
        let cost: Money
        do { cost = try policy.exchangeRates.convert(quote.total, to: policy.unit, at: request.now) } catch {
            return refuse(RuleName.exchangeRate, "the total \(quote.total) cannot be counted in \(policy.unit): \(error.reason)")
        }
        context = RuleContext(
            offer: item.read, request: request, ownerUnit: policy.unit, remembered: item.remembered, quote: quote, cost: cost,
            exchangeRates: policy.exchangeRates)
        if case let (rule, reason)? = Self.firstRefusal(quoteRules, context) { return refuse(rule, reason) }
        return .pass(Priced(index: item.index, read: item.read, quote: quote, cost: cost))
    }

    /// 4. Ranking: cost, then the owner's rail and dialect preference, then the server's order.
    private func rank(_ priced: [Priced]) -> [Priced] {
        let preferences = policy.preferences
        func position<T: Equatable>(_ value: T, in list: [T]) -> Int { list.firstIndex(of: value) ?? list.count }
        return priced.sorted { a, b in
            if a.cost.amount != b.cost.amount { return a.cost.amount < b.cost.amount }
            let railA = position(a.read.offer.rail, in: preferences.rails), railB = position(b.read.offer.rail, in: preferences.rails)
            if railA != railB { return railA < railB }
            let dialectA = position(a.read.dialect, in: preferences.dialects), dialectB = position(b.read.dialect, in: preferences.dialects)
            if dialectA != dialectB { return dialectA < dialectB }
            return a.index < b.index
        }
    }

    /// 5. Approval, only for the offer about to be chosen.
    private func approvalStage(_ ranked: [Priced], for request: NegotiationRequest, refusals: inout [Refusal]) async -> [Candidate] {
        var candidates: [Candidate] = []
        for item in ranked {
            let status: ApprovalStatus
            switch await approval(of: item, isFallback: !candidates.isEmpty, for: request) {
            case .pass(let value): status = value
            case .refuse(let refusal):
                refusals.append(refusal)
                continue
            }
            candidates.append(Candidate(offer: item.read, index: item.index, quote: item.quote, cost: item.cost, approval: status))
        }
        return candidates
    }

    /// Whether `item` needs the approver, and asks it when the item would be chosen now.
    private func approval(of item: Priced, isFallback: Bool, for request: NegotiationRequest) async -> StageVerdict<ApprovalStatus> {
        func refuse(_ reason: String) -> StageVerdict<ApprovalStatus> {
            .refuse(Refusal(offer: item.read, index: item.index, rule: RuleName.approval, reason: reason))
        }
        switch approvalNeed(cost: item.cost) {
        case .notNeeded:
            return .pass(.notRequired)
        case .cannotCompare(let reason):
            return refuse(reason)
        case .needed(let threshold):
            guard let approver else {
                return refuse("the cost \(item.cost) is above the approval threshold of \(threshold) and no approver is configured")
            }
            if isFallback {
                return .pass(.required)  // a fallback: asked only if the client ever falls back to it
            }
            if await approver.approve(ApprovalRequest(
                offer: item.read, quote: item.quote, cost: item.cost, threshold: threshold, request: request)) {
                return .pass(.approved)
            }
            return refuse("the approver declined the cost \(item.cost) (threshold \(threshold))")
        }
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
