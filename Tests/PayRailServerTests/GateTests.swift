import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// Collects log lines from the gate so a test can search them for secrets.
final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    var lines: [String] { lock.withLock { storage } }
    func append(_ line: String) { lock.withLock { storage.append(line) } }
}

/// A fake processor, a funded agent, and a gate pricing `GET /premium` at 100 sat on the fake rail.
struct GateWorld {
    let clock: ManualClock
    let processor: FakeProcessor
    let payer: FakePayerRail
    let payee: FakePayeeRail
    let store: any GateStore
    let gate: Gate
    let logs: LogSink
    let secret: [UInt8]
    let configuration: GateConfiguration

    static func make(store makeStore: ((ManualClock) throws -> any GateStore)? = nil, rateLimit: TokenBucketPolicy? = nil,
                     keyring: ChallengeIDKeyring? = nil,
                     configure: (inout GateConfiguration) -> Void = { _ in }) async throws -> GateWorld {
        let clock = ManualClock()
        let key = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: key, clock: clock)
        let merchant = try await processor.openAccount("merchant")
        let agent = try await processor.openAccount("agent")
        try await processor.deposit(Money(amount: 100_000, unit: .sat), into: "agent")
        let payee = FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant, clock: clock)
        let payer = FakePayerRail(processor: processor, processorKey: key.publicKey, account: agent, clock: clock)
        let store = try makeStore?(clock) ?? MemoryGateStore(clock: clock)
        let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "gate-1")
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock)
        let secret = try SecureRandom.bytes(count: 32)
        let logs = LogSink()
        var configuration = GateConfiguration(
            realm: "api.example.com", rails: [payee],
            pricing: try PricingTable(parsing: ["GET /premium=100sat", "GET /other=100sat"], rails: [.fake]),
            store: store, keyring: try keyring ?? ChallengeIDKeyring(currentSecret: secret), signer: signer, verifier: verifier,
            rateLimit: rateLimit, clock: clock, log: { logs.append($0) })
        configure(&configuration)
        return GateWorld(clock: clock, processor: processor, payer: payer, payee: payee, store: store,
                         gate: Gate(configuration: configuration), logs: logs, secret: secret, configuration: configuration)
    }

    func request(_ path: String = "/premium", _ headers: HTTPFields = HTTPFields(), client: String = "10.0.0.1") -> GateRequest {
        GateRequest(method: "GET", path: path, headers: headers, clientAddress: client)
    }

    /// Asks for the resource without paying and reads the 402 back like an agent.
    func challenge(_ path: String = "/premium", gate: Gate? = nil) async throws -> (GateResponse, PaymentResponseReading) {
        let decision = await (gate ?? self.gate).handle(request(path))
        guard case .respond(let response) = decision else { throw TestFailure("expected a 402, got \(decision)") }
        let reading = PaymentResponseReader.read(status: response.status, headers: response.headers, body: response.body, receivedAt: clock.now())
        return (response, reading)
    }

    func offer(_ reading: PaymentResponseReading, _ dialect: PaymentDialect) throws -> ReadOffer {
        try #require(reading.offers.first { $0.dialect == dialect })
    }

    /// Pays `/premium` in the plain dialect and completes the grant with `resourceBody`: the
    /// credential fields the agent sent and the receipt token the gate issued.
    func paidAndServed() async throws -> (fields: HTTPFields, token: String) {
        let (_, reading) = try await challenge()
        let read = try offer(reading, .plain)
        let fields = try read.credentialFields(for: try await payer.pay(read.offer))
        let pass = try #require(await gate.handle(request("/premium", fields)).pass)
        try await gate.complete(pass, response: resourceBody)
        return (fields, try #require(pass.grant?.receiptToken))
    }

    func agentBalance() async -> Int64 { await processor.balance(ofAccount: "agent", unit: .sat).amount }
    func merchantBalance() async -> Int64 { await processor.balance(ofAccount: "merchant", unit: .sat).amount }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension GateDecision {
    var pass: GatePass? { if case .pass(let pass) = self { return pass }; return nil }
    var response: GateResponse? {
        switch self {
        case .respond(let response), .replay(let response): return response
        case .pass: return nil
        }
    }
    var isReplay: Bool { if case .replay = self { return true }; return false }
}

let resourceBody = GateResponse(status: 200, headers: HTTPFields([("Content-Type", "text/plain")]), body: Array("premium content".utf8))

@Suite("Gate") struct GateTests {
    @Test func freeRoutePasses() async throws {
        let world = try await GateWorld.make()
        let pass = try #require(await world.gate.handle(world.request("/free")).pass)
        #expect(pass.isFree)
        #expect(pass.responseHeaders.fields.isEmpty)
    }

    @Test func pricingTableParsesAndMatches() throws {
        let table = try PricingTable(parsing: ["GET /premium=100sat", "GET /api/*=0.50usd", "* /jobs=fake:2sat"], rails: [.fake, .lightning])
        #expect(try #require(table.price(method: "GET", path: "/premium")).amount(on: .lightning) == (try Money(amount: 100, unit: .sat)))
        #expect(try #require(table.price(method: "GET", path: "/api/v1/x?q=1")).amount(on: .fake) == (try Money(amount: 50, unit: .usd)))
        #expect(try #require(table.price(method: "POST", path: "/jobs")).rails == [.fake])
        #expect(table.price(method: "POST", path: "/premium") == nil)
        #expect(table.price(method: "GET", path: "/api") == nil)
        #expect(throws: PricingError.self) { try PricingTable(parsing: ["GET /x"], rails: [.fake]) }
        #expect(throws: PricingError.self) { try PricingTable(parsing: ["get /x=1sat"], rails: [.fake]) }
        #expect(throws: PricingError.self) { try PricingTable(parsing: ["GET /x=1.5"], rails: [.fake]) }
    }

    @Test func unpaidRequestGets402InEveryDialect() async throws {
        let world = try await GateWorld.make()
        let (response, reading) = try await world.challenge()
        #expect(response.status == 402)
        #expect(response.headers["Cache-Control"] == "no-store")
        let dialects = Set(reading.offers.map(\.dialect))
        #expect(dialects.isSuperset(of: [.payment, .x402, .plain]))
        #expect(reading.offers.allSatisfy { $0.offer.amount == (try? Money(amount: 100, unit: .sat)) })
    }

    @Test(arguments: [PaymentDialect.payment, .x402, .plain])
    func payInEachDialect(_ dialect: PaymentDialect) async throws {
        let world = try await GateWorld.make()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, dialect)
        let credential = try await world.payer.pay(read.offer)
        let fields = try read.credentialFields(for: credential)
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        let grant = try #require(pass.grant)
        #expect(grant.dialect == dialect)
        #expect(pass.responseHeaders[PaymentReceipt.fieldName] != nil)
        #expect(pass.responseHeaders[PlainReceipt.fieldName] == grant.receiptToken)
        if dialect == .x402 { #expect(pass.responseHeaders[X402HeaderName.paymentResponse] != nil) }
        let claims = try world.configuration.verifier.verify(grant.receiptToken, resource: "GET /premium")
        #expect(claims.iss == "api.example.com" && claims.jti == grant.challengeID && claims.ref == grant.settlement.reference)
        #expect(await world.merchantBalance() == 100)
        #expect(await world.agentBalance() == 99_900)
    }

    @Test func receiptReplaysWithoutSecondSettlement() async throws {
        let world = try await GateWorld.make()
        let (fields, token) = try await world.paidAndServed()
        for headers in [HTTPFields([("X-Receipt", token)]), HTTPFields([("Authorization", "Payment " + token)])] {
            let decision = await world.gate.handle(world.request("/premium", headers))
            #expect(decision.isReplay)
            #expect(decision.response?.body == resourceBody.body)
        }
        // Same credential again: never charged twice.
        let again = await world.gate.handle(world.request("/premium", fields))
        #expect(again.pass == nil)
        #expect(await world.agentBalance() == 99_900)
        // The receipt is for /premium only.
        let other = await world.gate.handle(world.request("/other", HTTPFields([("X-Receipt", token)])))
        #expect(other.response?.status == 402)
        // After the grant it no longer replays.
        world.clock.advance(by: 3601)
        #expect(await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token)]))).response?.status == 402)
    }

    @Test func receiptReplayedAgainAndAgainStaysBoundToItsResourceGrantAndBytes() async throws {
        let world = try await GateWorld.make()
        let (_, token) = try await world.paidAndServed()
        // The first replay reads the store; the later ones are answered from the gate's memory.
        for _ in 0..<5 {
            let decision = await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token)])))
            #expect(decision.isReplay)
            #expect(decision.response?.body == resourceBody.body)
        }
        #expect(world.logs.lines.filter { $0.contains("replay receipt") }.count == 5)
        // Remembered, but for /premium only.
        #expect(await world.gate.handle(world.request("/other", HTTPFields([("X-Receipt", token)]))).response?.status == 402)
        // One byte of the signature changed: not the remembered token, and refused.
        var tampered = Array(token.utf8)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let forged = await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", String(decoding: tampered, as: UTF8.self))])))
        #expect(forged.response?.status == 402)
        #expect(!forged.isReplay)
        // With an Idempotency-Key the key is looked up first, as for any request, then the receipt replays.
        let keyed = await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token), ("Idempotency-Key", "k-9")])))
        #expect(keyed.isReplay)
        // The grant's end ends the replays from memory too.
        world.clock.advance(by: 3601)
        #expect(await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token)]))).response?.status == 402)
        #expect(await world.agentBalance() == 99_900)
    }

    @Test func idempotencyKeyReplaysAndConflicts() async throws {
        let world = try await GateWorld.make()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .payment)
        var fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        fields.append("Idempotency-Key", "key-1")
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        try await world.gate.complete(pass, response: resourceBody)
        // The same request, credential included, replays (issue 15: the key alone must not; see below).
        let same = await world.gate.handle(world.request("/premium", fields))
        #expect(same.isReplay && same.response?.body == resourceBody.body)
        let different = await world.gate.handle(world.request("/other", HTTPFields([("Idempotency-Key", "key-1")])))
        #expect(different.response?.status == 409)
        #expect(await world.agentBalance() == 99_900)
    }

    @Test("an Idempotency-Key alone never replays paid content, whichever dialect paid and whoever shares the address")
    func idempotencyKeyAloneReplaysNothing() async throws {
        for dialect in [PaymentDialect.payment, .plain, .x402] {
            let world = try await GateWorld.make()
            let (_, reading) = try await world.challenge()
            let read = try world.offer(reading, dialect)
            var fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
            fields.append("Idempotency-Key", "shared-key")
            let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
            try await world.gate.complete(pass, response: resourceBody)

            for stranger in [HTTPFields([("Idempotency-Key", "shared-key")]),
                             HTTPFields([("Idempotency-Key", "shared-key"), ("X-Receipt", "not.avoucher")]),
                             HTTPFields([("Idempotency-Key", " shared-key ")]),
                             HTTPFields([("Idempotency-Key", "shared-key"), ("X-Receipt", "eyJhbGciOiJFZERTQSJ9.eyJ4IjoxfQ.c2ln")])] {
                let answer = await world.gate.handle(world.request("/premium", stranger))
                #expect(!answer.isReplay && answer.pass == nil, "\(dialect)")
                #expect(answer.response?.body != resourceBody.body, "\(dialect)")
                let text = String(decoding: answer.response?.body ?? [], as: UTF8.self)
                #expect(!text.contains(pass.grant?.receiptToken ?? "-"), "\(dialect)")
                #expect(answer.response.map { $0.headers["X-Receipt"] == nil } ?? true, "\(dialect)")
            }
            #expect(await world.gate.handle(world.request("/premium", fields)).isReplay, "\(dialect)")
        }
    }

    @Test("every 402 passes the rate limit, the fresh challenge of a refused credential included")
    func refusedCredentialsAreRateLimited() async throws {
        let policy = try TokenBucketPolicy(capacity: 3, refillTokens: 1, per: .seconds(60))
        let world = try await GateWorld.make(rateLimit: policy)
        let bad: [HTTPFields] = [
            HTTPFields([("X-Receipt", "not.avoucher")]), HTTPFields([("Authorization", "Payment e30")]),
            HTTPFields([("PAYMENT-SIGNATURE", "e30=")]), HTTPFields([("X-Receipt", "00")]),
            HTTPFields([("Authorization", "L402 AAAA:00")]),
        ]
        var statuses: [Int] = []
        for fields in bad + bad { statuses.append(await world.gate.handle(world.request("/premium", fields)).response?.status ?? 0) }
        #expect(statuses.prefix(3).allSatisfy { $0 != 429 })
        #expect(statuses.dropFirst(3).allSatisfy { $0 == 429 }, "\(statuses)")
        #expect(await world.gate.handle(world.request()).response?.status == 429)
    }

    @Test("the rate limit counts an IPv6 client by its /64 and an IPv4-mapped address as its IPv4 address")
    func rateLimitCountsNetworks() async throws {
        let policy = try TokenBucketPolicy(capacity: 2, refillTokens: 1, per: .seconds(600))
        let world = try await GateWorld.make(rateLimit: policy)
        func status(_ client: String) async -> Int { await world.gate.handle(world.request(client: client)).response?.status ?? 0 }
        #expect(await status("2001:db8:1:2::1") == 402)
        #expect(await status("2001:db8:1:2:ffff::9") == 402)
        #expect(await status("2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd") == 429)
        #expect(await status("2001:db8:1:3::1") == 402)
        #expect(await status("10.1.2.3") == 402)
        #expect(await status("::ffff:10.1.2.3") == 402)
        #expect(await status("::FFFF:10.1.2.3") == 429)
        #expect(await status("api-key-7") == 402)
    }

    @Test func rateLimitAnswers429() async throws {
        let policy = try TokenBucketPolicy(capacity: 2, refillTokens: 1, per: .seconds(10))
        let world = try await GateWorld.make(rateLimit: policy)
        _ = try await world.challenge()
        _ = try await world.challenge()
        let limited = try #require(await world.gate.handle(world.request()).response)
        #expect(limited.status == 429)
        #expect(Int(limited.headers["Retry-After"] ?? "") ?? 0 >= 1)
        #expect(limited.headers["Content-Type"] == ProblemDetails.mediaType)
        #expect(await world.gate.handle(world.request(client: "10.0.0.2")).response?.status == 402)
    }
}
