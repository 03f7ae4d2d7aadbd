import Foundation
import PayRail
import Testing

@testable import PayRailAgent
@testable import PayRailWire

// Every rule once allowing and once refusing, checked on its own and, where the negotiator decides
// the refusal itself, through `negotiate`.

@Suite struct NegotiationRuleTests {
    private func context(
        _ read: ReadOffer, host: String = "api.example.com", remembered: RememberedPrice? = nil, quote: Quote? = nil, cost: Money? = nil,
        unit: MoneyUnit = .sat, rates: ExchangeRates = ExchangeRates()
    ) -> RuleContext {
        RuleContext(
            offer: read, request: NegotiationRequest(url: URL(string: "https://\(host)/article/A")!, now: N.now), ownerUnit: unit,
            remembered: remembered, quote: quote, cost: cost, exchangeRates: rates)
    }

    private func refusal(_ verdict: RuleVerdict) -> String? {
        if case .refuse(let reason) = verdict { return reason }
        return nil
    }

    @Test func allowedRails() throws {
        let rule = AllowedRails([.fake])
        #expect(rule.name == "allowed-rails")
        #expect(rule.check(context(try N.offer(.fake, "10sat", id: "a"))) == .allow)
        #expect(refusal(rule.check(context(try N.offer(.lightning, "10sat", id: "b")))) == "rail lightning is not allowed (allowed: fake)")
    }

    @Test func allowedHostsExactAndWildcard() throws {
        let offer = try N.offer(.fake, "10sat", id: "a")
        let exact = AllowedHosts(["API.example.com"])
        #expect(exact.name == "allowed-hosts")
        #expect(exact.check(context(offer, host: "api.example.com")) == .allow)
        #expect(refusal(exact.check(context(offer, host: "www.example.com"))) == "host www.example.com is not allowed (allowed: API.example.com)")
        let wildcard = AllowedHosts(["*.example.com"])
        #expect(wildcard.matches("a.b.example.com") && wildcard.matches("api.example.com."))
        #expect(!wildcard.matches("example.com"))
        #expect(!wildcard.matches("evil-example.com"))
        #expect(!wildcard.matches("example.com.evil.net"))
        #expect(refusal(wildcard.check(context(offer, host: "evil-example.com"))) != nil)
    }

    @Test func allowedPayeesPerRail() throws {
        let rule = AllowedPayees([.fake: ["acct_merchant"]])
        #expect(rule.name == "allowed-payees")
        #expect(rule.check(context(try N.offer(.fake, "10sat", payee: "acct_merchant", id: "a"))) == .allow)
        #expect(refusal(rule.check(context(try N.offer(.fake, "10sat", payee: "acct_thief", id: "b"))))
            == "payee acct_thief is not an allowed payee on fake")
        // A rail absent from the table is free unless the rule says otherwise.
        #expect(rule.check(context(try N.offer(.lightning, "10sat", payee: "node", id: "c"))) == .allow)
        let strict = AllowedPayees([.fake: ["acct_merchant"]], refuseUnlistedRails: true)
        #expect(refusal(strict.check(context(try N.offer(.lightning, "10sat", payee: "node", id: "c")))) == "no payee is allowed on rail lightning")
    }

    @Test func maximumPerRequestCountsTheFee() throws {
        let rule = MaximumPerRequest([try N.money("105sat")])
        #expect(rule.name == "max-per-request" && rule.stage == .quote)
        let offer = try N.offer(.lightning, "100sat", id: "a")
        let atLimit = try Quote(amount: try N.money("100sat"), fee: try N.money("5sat"), feeKind: .maximum)
        #expect(rule.check(context(offer, quote: atLimit, cost: atLimit.total)) == .allow)
        let above = try Quote(amount: try N.money("100sat"), fee: try N.money("6sat"), feeKind: .maximum)
        #expect(refusal(rule.check(context(offer, quote: above, cost: above.total))) == "the total 106sat is above the maximum of 105sat per request")
    }

    @Test func maximumPerRequestInTheOwnersUnitAndForUncappedUnits() throws {
        let offer = try N.offer(.fake, "2.50usd", id: "a")
        let quote = Quote.free(try N.money("2.50usd"))
        let ownerCap = MaximumPerRequest([try N.money("100sat")])
        #expect(ownerCap.check(context(offer, quote: quote, cost: try N.money("100sat"))) == .allow)
        #expect(refusal(ownerCap.check(context(offer, quote: quote, cost: try N.money("101sat"))))
            == "the total 2.50usd (101sat) is above the maximum of 100sat per request")
        // Both limits apply when both exist.
        let both = MaximumPerRequest([try N.money("100sat"), try N.money("2.00usd")])
        #expect(refusal(both.check(context(offer, quote: quote, cost: try N.money("100sat")))) == "the total 2.50usd is above the maximum of 2.00usd per request")
        // A unit nobody capped is never spent without limit.
        let eurOnly = MaximumPerRequest([try N.money("1.00eur")])
        #expect(refusal(eurOnly.check(context(offer, quote: quote, cost: try N.money("100sat")))) == "no maximum per request is set for usd or sat")
    }

    @Test func maximumFee() throws {
        let rule = MaximumFee([try N.money("3sat")])
        #expect(rule.name == "max-fee" && rule.stage == .quote)
        let offer = try N.offer(.lightning, "100sat", id: "a")
        let cheap = try Quote(amount: try N.money("100sat"), fee: try N.money("3sat"), feeKind: .maximum)
        #expect(rule.check(context(offer, quote: cheap, cost: cheap.total)) == .allow)
        let dear = try Quote(amount: try N.money("100sat"), fee: try N.money("4sat"), feeKind: .exact)
        #expect(refusal(rule.check(context(offer, quote: dear, cost: dear.total))) == "the rail's fee 4sat is above the limit of 3sat")
        // A fee in msat is converted (rounded up) to the owner's sat limit.
        let msatOffer = try N.offer(.lightning, "100000msat", id: "b")
        let msatFee = try Quote(amount: try N.money("100000msat"), fee: try N.money("3001msat"), feeKind: .maximum)
        #expect(refusal(rule.check(context(msatOffer, quote: msatFee, cost: try N.money("104sat"))))
            == "the rail's maximum fee 3001msat (4sat) is above the limit of 3sat")
    }

    @Test func minimumExpiryLeft() throws {
        let rule = MinimumExpiryLeft(.seconds(30))
        #expect(rule.name == "min-expiry-left")
        #expect(rule.check(context(try N.offer(.fake, "10sat", id: "a", expiresIn: 30))) == .allow)
        #expect(refusal(rule.check(context(try N.offer(.fake, "10sat", id: "b", expiresIn: 29)))) == "the offer expires in 29 s, less than the 30 s required")
    }

    @Test func notExpired() throws {
        let rule = NotExpired()
        #expect(rule.name == "expired")
        #expect(rule.check(context(try N.offer(.fake, "10sat", id: "a", expiresIn: 1))) == .allow)
        #expect(refusal(rule.check(context(try N.offer(.fake, "10sat", id: "b", expiresIn: 0))))
            == "the offer expired 0 s before the request (at 2026-01-01T00:00:00Z)")
        #expect(refusal(rule.check(context(try N.offer(.fake, "10sat", id: "c", expiresIn: -90))))?.hasPrefix("the offer expired 90 s") == true)
        // A far-past expiry (an hostile invoice) is reported, not trapped on.
        #expect(refusal(rule.check(context(try N.offer(.fake, "10sat", id: "d", expiresIn: -1e300))))?.hasPrefix("the offer expired more than") == true)
    }

    @Test func payeeUnchanged() throws {
        let remembered = RememberedPrice(payee: "acct_merchant", amount: try N.money("10sat"), paidAt: N.now)
        let rule = PayeeUnchanged()
        #expect(rule.name == "payee-changed")
        #expect(rule.check(context(try N.offer(.fake, "10sat", payee: "acct_merchant", id: "a"), remembered: remembered)) == .allow)
        #expect(rule.check(context(try N.offer(.fake, "10sat", payee: "acct_new", id: "a"))) == .allow)  // nothing remembered
        #expect(refusal(rule.check(context(try N.offer(.fake, "10sat", payee: "acct_thief", id: "b"), remembered: remembered)))
            == "the server now asks to pay acct_thief; it was paid to acct_merchant before for the same resource")
        #expect(PayeeUnchanged(allowChange: true).check(context(try N.offer(.fake, "10sat", payee: "acct_thief", id: "b"), remembered: remembered)) == .allow)
    }

    @Test func priceNotIncreased() throws {
        let remembered = RememberedPrice(payee: "acct_merchant", amount: try N.money("100sat"), paidAt: N.now)
        let strict = PriceNotIncreased()
        #expect(strict.name == "price-increase")
        #expect(strict.check(context(try N.offer(.fake, "100sat", id: "a"), remembered: remembered)) == .allow)
        #expect(strict.check(context(try N.offer(.fake, "90sat", id: "a"), remembered: remembered)) == .allow)
        #expect(strict.check(context(try N.offer(.fake, "100000msat", id: "a"), remembered: remembered)) == .allow)
        #expect(refusal(strict.check(context(try N.offer(.fake, "101sat", id: "b"), remembered: remembered)))
            == "the price rose from 100sat to 101sat since the last payment")
        let tenPercent = PriceNotIncreased(allowance: .upToPercent(10))
        #expect(tenPercent.check(context(try N.offer(.fake, "110sat", id: "c"), remembered: remembered)) == .allow)
        #expect(refusal(tenPercent.check(context(try N.offer(.fake, "111sat", id: "d"), remembered: remembered)))
            == "the price rose from 100sat to 111sat since the last payment (more than the 10% allowed)")
        #expect(refusal(strict.check(context(try N.offer(.fake, "0.01usd", id: "e"), remembered: remembered)))
            == "the price changed unit from sat to usd (100sat before, 0.01usd now)")
        #expect(PriceNotIncreased(allowance: .any).check(context(try N.offer(.fake, "999sat", id: "f"), remembered: remembered)) == .allow)
    }

    @Test func quoteMatchesOffer() throws {
        let rule = QuoteMatchesOffer()
        #expect(rule.name == "amount-mismatch" && rule.stage == .quote)
        let offer = try N.offer(.lightning, "100sat", id: "a")
        #expect(rule.check(context(offer, quote: Quote.free(try N.money("100sat")))) == .allow)
        #expect(rule.check(context(offer, quote: Quote.free(try N.money("100000msat")))) == .allow)
        #expect(refusal(rule.check(context(offer, quote: Quote.free(try N.money("10000sat")))))
            == "the offer says 100sat but the lightning request itself asks 10000sat")
    }

    @Test("the builder composes rules with if, for and arrays; users add their own rules")
    func builderAndCustomRules() throws {
        let strict = true
        let payees = ["acct_a", "acct_b"]
        let policy = try Policy(unit: .sat) {
            AllowedRails([.fake])
            if strict { NoPlainDialect() }
            if !strict { AllowedHosts(["nowhere"]) } else { MinimumExpiryLeft(.seconds(1)) }
            for payee in payees { AllowedPayees([.fake: [payee]]) }
            [MaximumPerRequest([try N.money("1sat")]), MaximumFee([])]
        }
        #expect(policy.rules.map(\.name) == [
            "allowed-rails", "no-plain-dialect", "min-expiry-left", "allowed-payees", "allowed-payees", "max-per-request", "max-fee",
        ])
        #expect(policy.builtInOfferRules.map(\.name) == ["expired", "payee-changed", "price-increase"])
        // A builder that cannot fail needs no `try`.
        let simple = Policy(unit: .usd) { AllowedRails([.stripe]) }
        #expect(simple.rules.map(\.name) == ["allowed-rails"] && simple.unit == .usd)
        #expect(policy.builtInQuoteRules.map(\.name) == ["amount-mismatch"])
    }

    @Test("a custom rule refuses through the negotiator, before any quote")
    func customRuleThroughTheNegotiator() async throws {
        let log = WalletLog()
        let wallets = WalletRegistry([TestWallet(id: .fake, log: log)])
        let policy = Policy(unit: .sat, rules: [NoPlainDialect(), MaximumPerRequest([try N.money("100sat")])])
        let negotiation = await Negotiator(policy: policy, wallets: wallets).negotiate([try N.offer(.fake, "10sat", id: "a")], for: N.request)
        #expect(negotiation.candidates.isEmpty)
        #expect(negotiation.refusals.map(\.rule) == ["no-plain-dialect"])
        #expect(log.quotes.isEmpty)
    }

    @Test("quotes are asked only for offers that passed the offer-stage rules")
    func quotesOnlyForSurvivors() async throws {
        let log = WalletLog()
        let wallets = WalletRegistry([TestWallet(id: .fake, log: log), TestWallet(id: .lightning, log: log)])
        let policy = try Policy(unit: .sat) {
            AllowedRails([.fake])
            MaximumPerRequest([try N.money("100sat")])
        }
        let offers = [
            try N.offer(.fake, "10sat", id: "ok"), try N.offer(.lightning, "10sat", id: "wrong-rail"),
            try N.offer(.fake, "10sat", id: "expired", expiresIn: -1),
        ]
        let negotiation = await Negotiator(policy: policy, wallets: wallets).negotiate(offers, for: N.request)
        #expect(log.quotes == ["ok"])
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["ok"])
        #expect(negotiation.refusals.map(\.rule) == ["allowed-rails", "expired"])
    }

    @Test("the same rail request in two dialects is quoted once and both stay candidates")
    func oneQuotePerDistinctOffer() async throws {
        let log = WalletLog()
        let same = try N.offer(.fake, "10sat", id: "shared")
        var other = same
        other.answer = .x402v1(try X402PaymentRequirements(scheme: "exact", network: "payrail:fake", amount: "10", asset: "sat", payTo: "acct_merchant", maxTimeoutSeconds: 60, extra: [:]))
        let negotiation = await Negotiator(
            policy: Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("100sat")])]), wallets: WalletRegistry([TestWallet(id: .fake, log: log)])
        ).negotiate([same, other], for: N.request)
        #expect(log.quotes == ["shared"])
        #expect(negotiation.candidates.map(\.offer.dialect) == [.x402v1, .plain])
    }

    @Test("no wallet for the rail: refused by no-wallet; a wallet with one: taken")
    func noWallet() async throws {
        let log = WalletLog()
        let negotiator = Negotiator(
            policy: Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("100sat")])]), wallets: WalletRegistry([TestWallet(id: .fake, log: log)]))
        let negotiation = await negotiator.negotiate([try N.offer(.lightning, "10sat", id: "ln"), try N.offer(.fake, "10sat", id: "f")], for: N.request)
        #expect(negotiation.refusals.map(\.rule) == ["no-wallet"])
        #expect(negotiation.refusals.first?.reason == "the agent has no wallet for rail lightning (wallets: fake)")
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["f"])
        #expect(log.quotes == ["f"])
    }

    @Test("a wallet that refuses to quote: refused by rail-quote with the rail's reason")
    func railQuoteRefusal() async throws {
        let log = WalletLog()
        let refusing = TestWallet(id: .lightning, refusal: RailError(.insufficientFunds, "balance 5sat is below 10sat", rail: .lightning), log: log)
        let negotiator = Negotiator(
            policy: Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("100sat")])]),
            wallets: WalletRegistry([refusing, TestWallet(id: .fake, log: log)]))
        let negotiation = await negotiator.negotiate([try N.offer(.lightning, "10sat", id: "ln"), try N.offer(.fake, "10sat", id: "f")], for: N.request)
        #expect(negotiation.refusals.map(\.rule) == ["rail-quote"])
        #expect(negotiation.refusals.first?.reason == "the lightning wallet will not pay it (insufficientFunds): balance 5sat is below 10sat")
        #expect(negotiation.chosen?.offer.offer.id == "f")
    }

    @Test("an unreadable price memory refuses what it cannot check; a readable one allows")
    func priceMemoryFailure() async throws {
        let log = WalletLog()
        let policy = Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("100sat")])])
        let wallets = WalletRegistry([TestWallet(id: .fake, log: log)])
        let broken = await Negotiator(policy: policy, wallets: wallets, priceMemory: BrokenPriceMemory())
            .negotiate([try N.offer(.fake, "10sat", id: "a")], for: N.request)
        #expect(broken.refusals.map(\.rule) == ["price-memory"])
        #expect(broken.refusals.first?.reason.contains("the ledger is locked") == true)
        let working = await Negotiator(policy: policy, wallets: wallets, priceMemory: InMemoryPriceMemory())
            .negotiate([try N.offer(.fake, "10sat", id: "a")], for: N.request)
        #expect(working.candidates.count == 1 && working.refusals.isEmpty)
    }

    @Test func requestHostAndPath() {
        let request = NegotiationRequest(url: URL(string: "https://API.Example.COM.:8443/a%20b/c?x=1#f")!, now: N.now)
        #expect(request.host == "api.example.com")
        #expect(request.resourcePath == "/a%20b/c")
        #expect(NegotiationRequest(url: URL(string: "https://api.example.com")!, now: N.now).resourcePath == "/")
        #expect(request.description == "GET api.example.com/a%20b/c")
    }
}
