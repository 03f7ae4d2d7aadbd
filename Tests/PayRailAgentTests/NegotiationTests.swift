import Foundation
import PayRail
import PayRailCrypto
import Testing

@testable import PayRailAgent
@testable import PayRailWire

// Shared test doubles for the Negotiation*Tests suites, and the fixture-based explanation tests.

/// Counts what the negotiator (and the simulated client) asked of the wallets.
final class WalletLog: @unchecked Sendable {
    // @unchecked: every field is touched under `lock` only.
    private let lock = NSLock()
    private var quotedIDs: [String] = []
    private var payCount = 0

    func quoted(_ id: String) { lock.withLock { quotedIDs.append(id) } }
    func paid() { lock.withLock { payCount += 1 } }
    var quotes: [String] { lock.withLock { quotedIDs } }
    var pays: Int { lock.withLock { payCount } }
}

/// A wallet with a fixed fee (in sat; msat offers get it times 1000), that may read another amount
/// in the rail's own request than the offer says, or refuse to quote.
struct TestWallet: PayerRail {
    let id: RailID
    var feeSat: Int64 = 0
    var reportedAmount: Money?
    var refusal: RailError?
    let log: WalletLog

    func quote(_ offer: Offer) async -> QuoteDecision {
        log.quoted(offer.id)
        if let refusal { return .refused(refusal) }
        let amount = reportedAmount ?? offer.amount
        do throws(MoneyError) {
            let fee = try Money(amount: amount.unit == .msat ? feeSat * 1000 : feeSat, unit: amount.unit)
            return .payable(try Quote(amount: amount, fee: fee, feeKind: .maximum))
        } catch {
            return .refused(RailError(.malformed, "\(error)", rail: id))
        }
    }

    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        log.paid()
        return Credential(rail: id, offerID: offer.id, payload: ["voucher": "test"])
    }
}

/// Answers from a script and counts questions.
actor ScriptedApprover: Approver {
    private var answers: [Bool]
    private(set) var asked: [String] = []

    init(_ answers: [Bool]) { self.answers = answers }

    func approve(_ request: ApprovalRequest) async -> Bool {
        asked.append(request.offer.offer.id)
        return answers.isEmpty ? false : answers.removeFirst()
    }
}

/// A price memory whose reads fail (a locked or corrupt ledger).
struct BrokenPriceMemory: PriceMemory {
    func lastSeen(host: String, resource: String, rail: RailID) async throws(PriceMemoryError) -> RememberedPrice? {
        throw PriceMemoryError(reason: "the ledger is locked", isRetrySafe: true)
    }
    func remember(_ price: RememberedPrice, host: String, resource: String, rail: RailID) async throws(PriceMemoryError) {}
}

enum N {
    static let now = Date(timeIntervalSince1970: 1_767_225_600)
    static let url = URL(string: "https://api.example.com/article/A?token=secret-query")!
    static var request: NegotiationRequest { NegotiationRequest(url: url, method: "GET", now: now) }

    static func money(_ text: String) throws -> Money { try Money(parsing: text) }

    /// A synthetic offer in the plain dialect (or another answer) expiring in `expiresIn` seconds.
    static func offer(
        _ rail: RailID, _ amount: String, payee: String = "acct_merchant", id: String, expiresIn: TimeInterval = 300,
        answer: DialectOffer = .plain
    ) throws -> ReadOffer {
        ReadOffer(
            offer: Offer(rail: rail, amount: try money(amount), payee: payee, expiresAt: now.addingTimeInterval(expiresIn), id: id),
            answer: answer)
    }

    /// What the paying client does with a negotiation: pay the first candidate, if any.
    static func payChosen(_ negotiation: Negotiation, wallets: WalletRegistry) async throws {
        guard let chosen = negotiation.chosen, let wallet = wallets.wallet(for: chosen.offer.offer.rail) else { return }
        _ = try await wallet.pay(chosen.offer.offer)
    }

    static func fixtureURL(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(name)
    }
}

/// Refuses the plain dialect: an example of an owner's own rule.
struct NoPlainDialect: PolicyRule {
    var name: String { "no-plain-dialect" }
    func check(_ context: RuleContext) -> RuleVerdict {
        context.offer.dialect == .plain ? .refuse("the owner does not answer plain X-Receipt offers") : .allow
    }
}

@Suite struct NegotiationExplanationTests {
    // The ChallengeSet example response (every dialect), read as of the moment it was written.
    static let receivedAt = Date(timeIntervalSince1970: 1_700_000_000)

    private func fixtureOffers() throws -> [ReadOffer] {
        let text = try String(contentsOf: N.fixtureURL("negotiation-402-all-dialects.http"), encoding: .utf8)
        let raw = try PaymentResponseReader.parseHTTPResponse(Array(text.utf8))
        let binding = X402RequestBinding.http(method: "GET", url: "https://api.example.com/article/A", body: [], headers: [])
        let reading = PaymentResponseReader.read(
            status: raw.status, headers: raw.headers, body: raw.body, receivedAt: Self.receivedAt, expectedRequest: binding)
        #expect(reading.skipped.isEmpty, "\(reading.skipped)")
        return reading.offers
    }

    private func negotiate() async throws -> (Negotiation, WalletLog) {
        let log = WalletLog()
        let wallets = WalletRegistry([TestWallet(id: .fake, log: log), TestWallet(id: .lightning, feeSat: 2, log: log)])
        // 2 sat for 5 cents: the 2.50 usd fake offers cost 100 sat, the lightning ones 100 sat + up to 2 sat fee.
        let rate = try ExchangeRate(from: .usd, to: .sat, toAmount: 2, perFromAmount: 5, asOf: Self.receivedAt.addingTimeInterval(-60))
        let policy = try Policy(unit: .sat, exchangeRates: ExchangeRates([rate], maximumAge: .seconds(600))) {
            AllowedRails([.fake, .lightning])
            AllowedHosts(["*.example.com"])
            MinimumExpiryLeft(.seconds(60))
            NoPlainDialect()
            MaximumPerRequest([try N.money("500sat")])
            MaximumFee([try N.money("1sat")])
        }
        let request = NegotiationRequest(url: URL(string: "https://api.example.com/article/A")!, now: Self.receivedAt)
        let negotiation = await Negotiator(policy: policy, wallets: wallets).negotiate(try fixtureOffers(), for: request)
        return (negotiation, log)
    }

    @Test("a 402 in every dialect: one line per offer, taken in rank or refused by its rule")
    func explanationLines() async throws {
        let (negotiation, log) = try await negotiate()
        let lightningPayee = "038fd13a254f8e854fb5aecbbf5c360e96f27ebcf3e933b1e2068333333273233d"
        #expect(negotiation.explanationLines == [
            "payment lightning 100sat to \(lightningPayee): refused by max-fee: the rail's maximum fee 2sat is above the limit of 1sat",
            "payment fake 2.50usd to acct_merchant: taken #1 (cost 100sat)",
            "x402 lightning 100000msat to \(lightningPayee): refused by max-fee: the rail's maximum fee 2000msat (2sat) is above the limit of 1sat",
            "x402 fake 2.50usd to acct_merchant: taken #2 (cost 100sat)",
            "l402 lightning 100sat to \(lightningPayee): refused by max-fee: the rail's maximum fee 2sat is above the limit of 1sat",
            "plain lightning 100sat to \(lightningPayee): refused by no-plain-dialect: the owner does not answer plain X-Receipt offers",
            "plain fake 2.50usd to acct_merchant: refused by no-plain-dialect: the owner does not answer plain X-Receipt offers",
        ])
        #expect(negotiation.chosen?.offer.dialect == .payment)
        #expect(negotiation.chosen?.offer.offer.rail == .fake)
        // The plain offers were refused before quoting; the other five were quoted once per distinct offer.
        let quoted = (try fixtureOffers()).filter { $0.dialect != .plain }.map(\.offer)
        var distinct: [Offer] = []
        for offer in quoted where !distinct.contains(offer) { distinct.append(offer) }
        #expect(log.quotes.count == distinct.count)
        #expect(Set(log.quotes) == Set(quoted.map(\.id)))
        #expect(log.pays == 0)
    }

    @Test("the JSON form carries the same facts, and no query string")
    func explanationJSON() async throws {
        let (negotiation, _) = try await negotiate()
        let data = try negotiation.explanation.jsonData()
        // Compared as JSON values, so the fixture can be indented for reading.
        let expected = try Data(contentsOf: N.fixtureURL("negotiation-all-dialects.explain.json"))
        #expect(try CanonicalJSON.parse(Array(data)) == CanonicalJSON.parse(Array(expected)))
        #expect(String(decoding: data, as: UTF8.self).hasPrefix(#"{"entries":[{"amount":{"amount":"100","unit":"sat"},"dialect":"payment""#))

        let decoded = try JSONDecoder.iso8601.decode(NegotiationExplanation.self, from: data)
        #expect(decoded == negotiation.explanation)
        #expect(decoded.entries.map(\.outcome) == [.refused, .taken, .refused, .taken, .refused, .refused, .refused])
        #expect(decoded.entries.compactMap(\.rank) == [1, 2])
        #expect(decoded.entries.compactMap(\.total) == [try N.money("2.50usd"), try N.money("2.50usd")])
        #expect(decoded.entries.compactMap(\.rule) == ["max-fee", "max-fee", "max-fee", "no-plain-dialect", "no-plain-dialect"])
        #expect(decoded.host == "api.example.com" && decoded.path == "/article/A" && decoded.unit == "sat")
    }

    @Test("the URL's query never reaches the explanation")
    func noQueryInExplanation() async throws {
        let log = WalletLog()
        let negotiation = await Negotiator(
            policy: Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("500sat")])]),
            wallets: WalletRegistry([TestWallet(id: .fake, log: log)])
        ).negotiate([try N.offer(.fake, "10sat", id: "o1")], for: N.request)
        let text = String(decoding: try negotiation.explanation.jsonData(), as: UTF8.self)
        #expect(!text.contains("secret-query"))
        #expect(text.contains(#""path":"/article/A""#))
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
