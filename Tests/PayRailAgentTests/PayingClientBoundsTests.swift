import Foundation
import PayRail
import PayRailStore
import PayRailTestServers
import Testing

@testable import PayRailAgent

// The library's own limits: a `PayingClient` with default settings is bounded like `payrail fetch`
// (bodies counted while they arrive, one deadline per call), and the default policy keeps an expiry
// margin.

@Suite("PayingClient limits and the default expiry margin", .serialized)
struct PayingClientBoundsTests {
    static let mib = 1 << 20

    /// A client with default limits (or `limits`) and a wallet that is never asked (no offer is payable).
    func client(_ limits: PayingClientLimits = PayingClientLimits()) throws -> PayingClient {
        let store = try SQLiteSpendStore(path: FileManager.default.temporaryDirectory
            .appendingPathComponent("bounds-\(UUID().uuidString).sqlite").path)
        let governor = SpendGovernor(store: store, limits: SpendLimits([.sat: .init(perRequest: try N.money("500sat"))]))
        let negotiator = Negotiator(policy: Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("500sat")])]),
                                    wallets: WalletRegistry([TestWallet(id: .fake, log: WalletLog())]))
        return PayingClient(configuration: PayingClientConfiguration(negotiator: negotiator, governor: governor, limits: limits))
    }

    /// The error a call ends with, or `nil` (recorded as an issue) when it succeeded.
    func failure(_ client: PayingClient, _ url: String, sink: ResponseBodySink? = nil) async throws -> PayingClientError? {
        let request = PaidRequest(url: try #require(URL(string: url)))
        do {
            _ = try await client.send(request, streamingBodyTo: sink)
            Issue.record("the call to \(url) must fail")
            return nil
        } catch {
            return error
        }
    }

    @Test("the defaults: 256 KiB of a 402, 64 KiB of a key set, 100 MiB of a body, 300 s a call, 10 s of expiry left")
    func defaults() throws {
        let configuration = PayingClientConfiguration(negotiator: Negotiator(policy: Policy(unit: .sat), wallets: WalletRegistry([])),
                                                      governor: SpendGovernor(store: MemorySpendStore(), limits: .none))
        #expect(configuration.limits == PayingClientLimits())
        #expect(configuration.limits.maxChallengeBodyBytes == 256 * 1024)
        #expect(configuration.limits.maxKeySetBytes == 64 * 1024)
        #expect(configuration.limits.maxResponseBodyBytes == 100 * 1024 * 1024)
        #expect(configuration.limits.maxCallDuration == .seconds(300))
        #expect(Policy(unit: .sat).minimumExpiryLeft == .seconds(10))
    }

    @Test("the default policy refuses an offer due to expire in 1 s, naming the rule and the margin")
    func defaultPolicyKeepsAnExpiryMargin() async throws {
        let log = WalletLog()
        let wallets = WalletRegistry([TestWallet(id: .fake, log: log)])
        let policy = Policy(unit: .sat, rules: [MaximumPerRequest([try N.money("1000sat")])])
        let offers = [try N.offer(.fake, "10sat", id: "soon", expiresIn: 1), try N.offer(.fake, "10sat", id: "gone", expiresIn: -1)]
        let negotiation = await Negotiator(policy: policy, wallets: wallets).negotiate(offers, for: N.request)
        #expect(negotiation.candidates.isEmpty)
        #expect(negotiation.refusals.map(\.rule) == ["min-expiry-left", "expired"])
        #expect(negotiation.refusals.first?.reason == "the offer expires in 1 s, less than the 10 s required")
        #expect(negotiation.explanationLines.joined(separator: "\n").contains("min-expiry-left"))
        #expect(log.quotes.isEmpty && log.pays == 0)

        // Configurable: a zero margin pays it, a larger one refuses more.
        var relaxed = policy
        relaxed.minimumExpiryLeft = .zero
        let paid = await Negotiator(policy: relaxed, wallets: wallets).negotiate([offers[0]], for: N.request)
        #expect(paid.candidates.count == 1)
        var strict = policy
        strict.minimumExpiryLeft = .seconds(600)
        let refused = await Negotiator(policy: strict, wallets: wallets).negotiate([try N.offer(.fake, "10sat", id: "a")], for: N.request)
        #expect(refused.refusals.map(\.rule) == ["min-expiry-left"])
    }

    @Test("a 402 with a 200 MB body: the client reads at most about its 256 KiB limit and pays nothing")
    func huge402Body() async throws {
        let total = 200 * Self.mib
        let server = try LoopbackBodyServer { _ in
            LazyAnswer(head: LazyAnswer.head("402 Payment Required", length: total), prefix: Array(#"{"x402Version":1,"accepts":["#.utf8),
                       chunk: [UInt8](repeating: 32, count: 65_536), bodyBytes: total)
        }
        defer { server.stop() }
        let error = try await failure(try client(), server.origin + "/premium")
        #expect(error?.code == .noOffers)
        #expect(error?.reason.contains("larger than 262144 bytes") == true, "\(String(describing: error))")
        // Intermittent: corelibs URLSession may read on after the cancel (see FetchBoundsTests.expectPeak).
        withKnownIssue("URLSession may read on after cancel (corelibs)", isIntermittent: true) {
            #expect(server.bodyBytesSent < total, "the client read \(server.bodyBytesSent) bytes of a 402")
        }
    }

    @Test("a 200 MB key set: refused while it arrives, the receipt left unverified")
    func hugeKeySet() async throws {
        let total = 200 * Self.mib
        let server = try LoopbackBodyServer { _ in
            LazyAnswer(head: LazyAnswer.head("200 OK", length: total), prefix: Array(#"{"keys":["#.utf8),
                       chunk: [UInt8](repeating: 32, count: 65_536), bodyBytes: total)
        }
        defer { server.stop() }
        let resolver = ReceiptKeyResolver(source: .wellKnown(cacheSeconds: 60), session: HTTPExchange.makeSession(),
                                          maxKeySetBytes: 64 * 1024, clock: SystemClock())
        let check = await resolver.check("a.b.c", resource: "GET /premium", from: try #require(URL(string: server.origin + "/premium")))
        #expect(check == .unverifiable("the server's key set is larger than 64 KB"))
    }

    @Test("a body dripped a byte every 200 ms: maxCallDuration ends the call (nothing paid, retry-safe)")
    func drippedBody() async throws {
        let server = try LoopbackBodyServer { _ in
            LazyAnswer(head: LazyAnswer.head("200 OK", length: 10_000), chunk: [UInt8(ascii: "x")], bodyBytes: 10_000, pause: 0.2)
        }
        defer { server.stop() }
        let client = try client(PayingClientLimits(maxCallDuration: .seconds(1)))
        let started = ContinuousClock.now
        let error = try await failure(client, server.origin + "/drip")
        #expect(error?.code == .transport && error?.isRetrySafe == true && error?.paymentID == nil)
        #expect(error?.reason.contains("time limit of 1 s") == true, "\(String(describing: error))")
        // A hang guard, not a timing claim: without the deadline this takes 2000 s.
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("a streamed body of undeclared length over maxResponseBodyBytes: the sink gets exactly the limit, the call fails as too large")
    func streamedBodyOverTheLimit() async throws {
        let total = 200 * Self.mib
        let server = try LoopbackBodyServer { _ in
            LazyAnswer(head: LazyAnswer.head("200 OK", length: nil), chunk: [UInt8](repeating: 32, count: 65_536), bodyBytes: total)
        }
        defer { server.stop() }
        let client = try client(PayingClientLimits(maxResponseBodyBytes: Self.mib))
        let sink = ResponseBodySink { _ in true }
        let error = try await failure(client, server.origin + "/big", sink: sink)
        #expect(error?.code == .responseTooLarge && error?.isRetrySafe == false && error?.paymentID == nil)
        #expect(sink.bytesWritten == Self.mib)
        // Intermittent: corelibs URLSession may read on after the cancel (see FetchBoundsTests.expectPeak).
        withKnownIssue("URLSession may read on after cancel (corelibs)", isIntermittent: true) {
            #expect(server.bodyBytesSent < total, "the client read \(server.bodyBytesSent) bytes")
        }
    }
}
