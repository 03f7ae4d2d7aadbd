import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailPaywall
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import PayRailAgent

/// A live seller on loopback (PayRail's HTTP server, the paywall middleware, a gate on the fake rail)
/// and everything an agent needs to pay it from the same fake processor.
final class SellerWorld: @unchecked Sendable {
    let processor: FakeProcessor
    let payer: FakePayerRail
    let server: HTTPServer
    let port: UInt16
    let directory: URL
    private let lock = NSLock()
    private var failPaidAttempts = 0
    private var resourceCalls = 0
    private var redirectPaidTo: String?
    private var strayCalls = 0

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var handlerCalls: Int { lock.withLock { resourceCalls } }

    /// Makes the next `count` requests that carry a credential fail with a 503 before the gate sees them.
    func dropPaidRequests(_ count: Int) { lock.withLock { failPaidAttempts = count } }

    private func shouldDrop(_ request: HTTPRequest) -> Bool {
        let carriesProof = request.headers["Authorization"] != nil || request.headers["PAYMENT-SIGNATURE"] != nil
            || request.headers["X-Receipt"] != nil
        return lock.withLock {
            guard carriesProof, failPaidAttempts > 0 else { return false }
            failPaidAttempts -= 1
            return true
        }
    }

    private func countResource() { lock.withLock { resourceCalls += 1 } }

    /// Makes every request that carries a credential answer 302 to `path` (another URL of this server).
    func redirectPaidRequests(to path: String) { lock.withLock { redirectPaidTo = path } }
    /// How many requests reached the `/stray` route, where only a followed redirect leads.
    var strayHits: Int { lock.withLock { strayCalls } }
    fileprivate func countStray() { lock.withLock { strayCalls += 1 } }

    fileprivate func redirect(for request: HTTPRequest) -> String? {
        let carriesProof = request.headers["Authorization"] != nil || request.headers["PAYMENT-SIGNATURE"] != nil
            || request.headers["X-Receipt"] != nil
        guard carriesProof, request.path != "/stray" else { return nil }
        return lock.withLock { redirectPaidTo }
    }

    init(prices: [String] = ["GET /premium=100sat"], agentFunds: Int64 = 100_000) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = try Ed25519.PrivateKey()
        processor = FakeProcessor(signingKey: key)
        let merchant = try await processor.openAccount("merchant")
        let agent = try await processor.openAccount("agent")
        try await processor.deposit(Money(amount: agentFunds, unit: .sat), into: "agent")
        let payee = FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant)
        payer = FakePayerRail(processor: processor, processorKey: key.publicKey, account: agent)
        let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "seller-1")
        let keySet = JSONWebKeySet(keys: [signer.verificationJWK])
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: keySet))
        let gate = Gate(configuration: GateConfiguration(
            realm: "seller.test", rails: [payee], pricing: try PricingTable(parsing: prices, rails: [.fake]),
            store: MemoryGateStore(), keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)),
            signer: signer, verifier: verifier))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let jwks = Array(try encoder.encode(keySet))

        var router = Router()
        let box = WorldBox()
        router.get("/premium") { _ in
            box.world?.countResource()
            return HTTPResponse(status: .ok, text: "premium content")
        }
        router.get("/stray") { _ in
            box.world?.countStray()
            return HTTPResponse(status: .ok, text: "followed a redirect")
        }
        router.get("/moved") { _ in HTTPResponse(status: HTTPStatus(code: 302), headers: ["Location": "/premium"], text: "moved") }
        router.get(ReceiptKeySource.wellKnownPath) { _ in HTTPResponse(headers: ["Content-Type": "application/json"], body: jwks) }
        let dropper: HTTPMiddleware = { request, next in
            if let target = box.world?.redirect(for: request) {
                return HTTPResponse(status: HTTPStatus(code: 302), headers: ["Location": target], text: "elsewhere")
            }
            if box.world?.shouldDrop(request) == true {
                return HTTPResponse(status: HTTPStatus(code: 503), headers: ["Retry-After": "0"], text: "try again")
            }
            return await next(request)
        }
        server = HTTPServer(configuration: HTTPServerConfiguration(port: 0, threadCount: 2),
                            handler: chain([dropper, Paywall.middleware(gate)], handler: router.handler))
        port = try server.start()
        box.world = self
    }

    func stop() async {
        await server.shutdown(grace: .seconds(2))
        try? FileManager.default.removeItem(at: directory)
    }

    func url(_ path: String) throws -> URL { try #require(URL(string: baseURL + path)) }

    func agentBalance() async -> Int64 { await processor.balance(ofAccount: "agent", unit: .sat).amount }
    func merchantBalance() async -> Int64 { await processor.balance(ofAccount: "merchant", unit: .sat).amount }

    /// A paying client with a wallet on this processor, a SQLite ledger in the world's directory, and budgets.
    func client(maxPerRequest: Int64 = 500, perHour: Int64 = 1_000, perDay: Int64 = 10_000, ledger: String = "wallet.sqlite",
                events: EventLog? = nil, receiptKeys: ReceiptKeySource = .wellKnown(cacheSeconds: 300),
                wallet: (any PayerRail)? = nil, session: URLSession? = nil) throws -> (PayingClient, SpendGovernor) {
        let limits = SpendLimits([.sat: .init(perRequest: try Money(amount: maxPerRequest, unit: .sat),
                                              perHour: try Money(amount: perHour, unit: .sat),
                                              perDay: try Money(amount: perDay, unit: .sat))])
        let store = try SQLiteSpendStore(path: directory.appendingPathComponent(ledger).path)
        let governor = SpendGovernor(store: store, limits: limits)
        let policy = Policy(unit: .sat, rules: [MaximumPerRequest([try Money(amount: maxPerRequest, unit: .sat)])])
        let negotiator = Negotiator(policy: policy, wallets: WalletRegistry([wallet ?? payer]), priceMemory: InMemoryPriceMemory())
        var onEvent: (@Sendable (PayingClientEvent) -> Void)?
        if let events { onEvent = { events.append($0) } }
        let client = PayingClient(configuration: PayingClientConfiguration(
            negotiator: negotiator, governor: governor, receiptKeys: receiptKeys, deliveryAttempts: 3, onEvent: onEvent), session: session)
        return (client, governor)
    }
}

private final class WorldBox: @unchecked Sendable {
    weak var world: SellerWorld?
}

/// Events seen by a client, for assertions on what happened in which order.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [PayingClientEvent] = []
    func append(_ event: PayingClientEvent) { lock.withLock { storage.append(event) } }
    var events: [PayingClientEvent] { lock.withLock { storage } }
    var names: [String] {
        events.map { event in
            switch event {
            case .challenged: "challenged"
            case .negotiated: "negotiated"
            case .reserved: "reserved"
            case .released: "released"
            case .paid: "paid"
            case .presenting: "presenting"
            case .resuming: "resuming"
            case .receipt: "receipt"
            case .committed: "committed"
            }
        }
    }
}

@Suite("PayingClient against a live gate on loopback", .serialized) struct PayingClientLiveTests {
    @Test("pays a 402, gets the resource, verifies the receipt from the server's JWKS, records the spend")
    func paysAndVerifies() async throws {
        let world = try await SellerWorld()
        let events = EventLog()
        let (client, governor) = try world.client(events: events)
        let response = try await client.send(PaidRequest(url: try world.url("/premium")))
        await world.stop()

        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "premium content")
        let payment = try #require(response.payment)
        #expect(payment.amount == (try Money(amount: 100, unit: .sat)))
        guard case .verified(let claims) = payment.receiptCheck else {
            Issue.record("the receipt should verify against the server's JWKS: \(payment.receiptCheck)")
            return
        }
        #expect(claims.sub == "GET /premium")
        #expect(events.names == ["challenged", "negotiated", "reserved", "paid", "presenting", "receipt", "committed"])
        let ledger = try await governor.ledger()
        #expect(ledger.count == 1)
        #expect(ledger.first?.state == .committed && ledger.first?.receipt == payment.receipt && ledger.first?.proof == nil)
        #expect(await world.agentBalance() == 99_900)
        #expect(await world.merchantBalance() == 100)
    }

    @Test("50 concurrent fetches of a 100 sat resource with 1000 sat of budget: exactly 10 paid, 40 refused by the budget")
    func concurrentFetchesNeverOverspend() async throws {
        let world = try await SellerWorld()
        let (client, governor) = try world.client(perHour: 1_000)
        let url = try world.url("/premium")
        let outcomes = await withTaskGroup(of: Result<Int, PayingClientError>.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do throws(PayingClientError) {
                        return .success(try await client.send(PaidRequest(url: url)).status)
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var all: [Result<Int, PayingClientError>] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        await world.stop()
        let paid = outcomes.filter { if case .success(200) = $0 { return true }; return false }.count
        let overBudget = outcomes.filter { if case .failure(let error) = $0 { return error.code == .overBudget }; return false }.count
        #expect(paid == 10)
        #expect(overBudget == 40)
        let committed = try await governor.ledger().filter { $0.state == .committed }
        #expect(committed.count == 10)
        // The ledger and the server agree: ten grants of 100 sat, nothing more.
        #expect(await world.merchantBalance() == 1_000)
        #expect(await world.agentBalance() == 99_000)
        #expect(world.handlerCalls == 10)
    }

    @Test("paid but the retry failed: the spend stays pending, and the same call later finishes it without paying twice")
    func paidButUndeliveredResumes() async throws {
        let world = try await SellerWorld()
        let (client, governor) = try world.client()
        world.dropPaidRequests(3)
        let request = PaidRequest(url: try world.url("/premium"), paymentID: "call-0001-resume-test")
        do throws(PayingClientError) {
            _ = try await client.send(request)
            Issue.record("three dropped deliveries should fail the call")
        } catch {
            #expect(error.code == .paidButUndelivered)
            #expect(error.isRetrySafe)
        }
        let pending = try await governor.unfinished()
        #expect(pending.count == 1 && pending.first?.state == .paid)
        #expect(await world.agentBalance() == 99_900)

        let events = EventLog()
        let (secondClient, _) = try world.client(events: events)
        let response = try await secondClient.send(request)
        #expect(response.status == 200)
        #expect(response.payment?.resumed == true)
        #expect(events.names.first == "resuming")
        #expect(!events.names.contains("paid"))
        #expect(try await governor.unfinished().isEmpty)
        // Charged exactly once.
        #expect(await world.agentBalance() == 99_900)
        #expect(await world.merchantBalance() == 100)

        // The same call a third time replays by its receipt: no new payment, same content.
        let again = try await secondClient.send(request)
        await world.stop()
        #expect(again.status == 200 && String(decoding: again.body, as: UTF8.self) == "premium content")
        #expect(await world.agentBalance() == 99_900)
        #expect(world.handlerCalls == 1)
    }

    @Test("a price above the per-request maximum is refused by the policy with nothing paid")
    func policyRefusal() async throws {
        let world = try await SellerWorld(prices: ["GET /premium=600sat"])
        let (client, governor) = try world.client(maxPerRequest: 500)
        let url = try world.url("/premium")
        do throws(PayingClientError) {
            _ = try await client.send(PaidRequest(url: url))
            Issue.record("600 sat is above the 500 sat maximum")
        } catch {
            #expect(error.code == .refusedByPolicy)
            #expect(error.negotiation?.refusals.isEmpty == false)
        }
        await world.stop()
        #expect(try await governor.ledger().isEmpty)
        #expect(await world.agentBalance() == 100_000)
    }

    @Test("pinned receipt keys: the server's own key verifies, another key makes the receipt invalid (the spend is still recorded)")
    func pinnedReceiptKeys() async throws {
        let world = try await SellerWorld()
        let (jwksData, _) = try await URLSession(configuration: .ephemeral).data(from: try world.url(ReceiptKeySource.wellKnownPath))
        let (pinnedRight, _) = try world.client(ledger: "right.sqlite", receiptKeys: .pinned(try ReceiptKeySet(jwksJSON: jwksData)))
        let right = try await pinnedRight.send(PaidRequest(url: try world.url("/premium")))
        guard case .verified = right.payment?.receiptCheck else {
            Issue.record("the server's own pinned key should verify: \(String(describing: right.payment?.receiptCheck))")
            return
        }
        let stranger = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "seller-1")
        let (pinnedWrong, governor) = try world.client(ledger: "wrong.sqlite",
                                                       receiptKeys: .pinned(try ReceiptKeySet(jwks: JSONWebKeySet(keys: [stranger.verificationJWK]))))
        let wrong = try await pinnedWrong.send(PaidRequest(url: try world.url("/premium")))
        await world.stop()
        guard case .invalid = wrong.payment?.receiptCheck else {
            Issue.record("a receipt signed by another key must be invalid: \(String(describing: wrong.payment?.receiptCheck))")
            return
        }
        let record = try #require(try await governor.ledger().first)
        #expect(record.state == .committed)
        #expect(record.note?.contains("does not verify") == true)
    }

    @Test("a wallet that timed out after paying and then reports unavailable keeps the spend pending, never released")
    func maybePaidIsNeverReleased() async throws {
        let world = try await SellerWorld()
        let (client, governor) = try world.client(wallet: TimeoutThenUnavailableWallet(inner: world.payer))
        let url = try world.url("/premium")
        do throws(PayingClientError) {
            _ = try await client.send(PaidRequest(url: url))
            Issue.record("the outcome is unknown: the call must not succeed")
        } catch {
            #expect(error.code == .paymentOutcomeUnknown)
        }
        await world.stop()
        let records = try await governor.ledger()
        #expect(records.count == 1)
        #expect(records.first?.state == .reserved)  // still counted against the budget
        #expect(await world.agentBalance() == 99_900)  // the money did move
    }

    @Test("an msat price counts against a sat budget (rounded up): one budget, not one per unit")
    func msatPricesShareTheSatBudget() async throws {
        let world = try await SellerWorld(prices: ["GET /premium=150000msat"])
        try await world.processor.deposit(Money(amount: 1_000_000, unit: .msat), into: "agent")
        let (client, governor) = try world.client(maxPerRequest: 500, perHour: 300)
        let url = try world.url("/premium")
        #expect(try await client.send(PaidRequest(url: url)).status == 200)
        #expect(try await client.send(PaidRequest(url: url)).status == 200)
        do throws(PayingClientError) {
            _ = try await client.send(PaidRequest(url: url))
            Issue.record("300 sat of hourly budget buys two 150 sat resources, not three")
        } catch {
            #expect(error.code == .overBudget)
        }
        await world.stop()
        let committed = try await governor.ledger().filter { $0.state == .committed }
        #expect(committed.map(\.amount) == [try Money(amount: 150, unit: .sat), try Money(amount: 150, unit: .sat)])
    }

    @Test("a free route is fetched without any payment")
    func freeRoute() async throws {
        let world = try await SellerWorld()
        let (client, governor) = try world.client()
        let response = try await client.send(PaidRequest(url: try world.url(ReceiptKeySource.wellKnownPath)))
        await world.stop()
        #expect(response.status == 200 && response.payment == nil)
        #expect(try await governor.ledger().isEmpty)
    }
}

/// Pays through the real wallet, then claims it timed out; asked again, claims the processor is down.
private final class TimeoutThenUnavailableWallet: PayerRail, @unchecked Sendable {
    let inner: FakePayerRail
    private let lock = NSLock()
    private var calls = 0
    var id: RailID { inner.id }

    init(inner: FakePayerRail) { self.inner = inner }

    func quote(_ offer: Offer) async -> QuoteDecision { await inner.quote(offer) }

    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        let call = lock.withLock { () -> Int in
            calls += 1
            return calls
        }
        if call == 1 {
            _ = try await inner.pay(offer)
            throw RailError(.timedOut, "the answer was lost", retry: .afterLookup, rail: id)
        }
        throw RailError(.unavailable, "the processor is down", retry: .safe, rail: id)
    }
}
