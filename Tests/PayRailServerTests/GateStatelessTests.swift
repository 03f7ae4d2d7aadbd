import FakeRail
import Foundation
@testable import PayRail
import PayRailCrypto
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

// Issue 18, "Stateless 402s": on the fake rail a 402 writes nothing to any store; every dialect's
// credential brings its bound offer back, the gate checks the MAC and rebuilds the challenge, and the
// payment is consumed once, as before.

@Suite("Gate: stateless 402s (bound offers)") struct GateStatelessTests {
    /// A world whose store fails every write a 402 could make: a 402 still goes out, so it wrote nothing.
    private func storelessWorld(rateLimit: TokenBucketPolicy? = nil,
                                configure: @escaping (inout GateConfiguration) -> Void = { _ in }) async throws -> (GateWorld, FailingGateStore) {
        final class Box: @unchecked Sendable { var store: FailingGateStore? }
        let box = Box()
        let world = try await GateWorld.make(store: { clock in
            let store = FailingGateStore(clock: clock)
            box.store = store
            return store
        }, rateLimit: rateLimit, configure: configure)
        let store = try #require(box.store)
        store.fail(.saveChallenge, with: .unavailable, times: 1_000)
        store.fail(.take, with: .unavailable, times: 1_000)
        return (world, store)
    }

    @Test("a 402 on the fake rail writes nothing: no challenge, no key, no bucket, no processor request")
    func issuingWritesNothing() async throws {
        let (world, _) = try await storelessWorld(rateLimit: try TokenBucketPolicy(capacity: 10, refillTokens: 10, per: .seconds(60)))
        for _ in 0..<3 {
            let (response, reading) = try await world.challenge()
            #expect(response.status == 402)
            let offer = try world.offer(reading, .plain).offer
            #expect(BoundOfferToken(offer.id) != nil)
            #expect(try await world.store.challenge(id: ChallengeKey.railOfferKey(.fake, offer.id)) == nil)
        }
        #expect(await world.processor.requestCount == 0)
    }

    @Test("a bound offer is paid and granted once in every dialect, and the processor learns of it only when paid",
          arguments: [PaymentDialect.payment, .x402, .plain])
    func boundOfferPaysOnce(_ dialect: PaymentDialect) async throws {
        let (world, _) = try await storelessWorld()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, dialect)
        #expect(await world.processor.requestCount == 0)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        #expect(await world.processor.requestCount == 1)
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        let grant = try #require(pass.grant)
        #expect(grant.dialect == dialect)
        try await world.gate.complete(pass, response: resourceBody)
        #expect(try await world.store.consumedChallenge(id: grant.challengeID) != nil)
        // The same credential replays the stored response; it never settles again.
        let again = await world.gate.handle(world.request("/premium", fields))
        #expect(again.isReplay && again.response?.body == resourceBody.body)
        #expect(await world.merchantBalance() == 100)
        #expect(await world.agentBalance() == 99_900)
    }

    @Test("twenty concurrent presentations of one bound credential: one settlement, one grant")
    func concurrentPresentationsGrantOnce() async throws {
        let (world, _) = try await storelessWorld()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .plain)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let passes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 { group.addTask { await world.gate.handle(world.request("/premium", fields)).pass?.grant != nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(passes == 1)
        #expect(await world.merchantBalance() == 100)
    }

    @Test("an altered bound offer is refused before any redemption: other terms, a forged MAC, another gate's secret, another resource")
    func alteredOffersAreRefused() async throws {
        let (world, _) = try await storelessWorld()
        let (_, reading) = try await world.challenge()
        let offer = try world.offer(reading, .plain).offer
        let token = try #require(BoundOfferToken(offer.id))
        let cheaper = BoundOfferTerms(challengeID: token.terms.challengeID, resource: token.terms.resource,
                                      amount: try Money(amount: 1, unit: .sat), payee: token.terms.payee,
                                      createdAt: token.terms.createdAt, expiresAt: token.terms.expiresAt, bodyDigest: nil)
        let encoded = try #require(BoundOfferToken.encodedTerms(cheaper))
        let otherSecret = try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32))
        let forgedIDs = [
            BoundOfferToken.compose(encodedTerms: encoded, mac: token.mac),
            BoundOfferToken.compose(encodedTerms: encoded, mac: try #require(otherSecret.offerMAC(BoundOfferToken.macInput(encodedTerms: encoded)))),
        ]
        for forgedID in forgedIDs {
            let forged = Offer(rail: offer.rail, amount: cheaper.amount, payee: offer.payee, expiresAt: offer.expiresAt, id: forgedID,
                               details: offer.details.merging(["requestID": forgedID]) { $1 })
            // The processor takes the payer's money for the terms it reads (its own loss to make)...
            let credential = try await world.payer.pay(forged)
            let fields = HTTPFields([("X-Receipt", try #require(credential.payload["voucher"]))])
            // ...and the gate grants nothing for it and redeems nothing.
            let answer = await world.gate.handle(world.request("/premium", fields))
            #expect(answer.pass == nil && answer.response?.status == 402)
            #expect(await world.merchantBalance() == 0)
        }
        // A genuine offer for /premium presented on /other is refused too (the terms name the resource).
        let read = try world.offer(reading, .plain)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let elsewhere = await world.gate.handle(world.request("/other", fields))
        #expect(elsewhere.pass == nil && elsewhere.response?.status == 402)
        #expect(await world.merchantBalance() == 0)
    }

    @Test("a version 1 bound offer (minted before the upgrade to version 2 ids) is paid and granted once")
    func versionOneOffersStillPay() async throws {
        let (world, _) = try await storelessWorld()
        let (_, reading) = try await world.challenge()
        let offer = try world.offer(reading, .plain).offer
        #expect(offer.id.hasPrefix(BoundOfferToken.prefix))
        let terms = try #require(BoundOfferToken(offer.id)).terms
        let encoded = try #require(BoundOfferToken.legacyEncodedTerms(terms))
        let mac = try #require(world.configuration.keyring.offerMAC(BoundOfferToken.legacyMACInput(encodedTerms: encoded)))
        let legacyID = BoundOfferToken.legacyCompose(encodedTerms: encoded, mac: mac)
        let legacy = Offer(rail: offer.rail, amount: offer.amount, payee: offer.payee, expiresAt: offer.expiresAt, id: legacyID,
                           details: offer.details.merging(["requestID": legacyID]) { $1 })
        let credential = try await world.payer.pay(legacy)
        let fields = HTTPFields([("X-Receipt", try #require(credential.payload["voucher"]))])
        let first = await world.gate.handle(world.request("/premium", fields))
        let pass = try #require(first.pass)
        try await world.gate.complete(pass, response: resourceBody)
        #expect(await world.merchantBalance() == 100)
        // The same payment again is the stored response replayed, not a second grant.
        let again = await world.gate.handle(world.request("/premium", fields))
        #expect(again.isReplay && again.response?.body == resourceBody.body)
        #expect(await world.merchantBalance() == 100)
    }

    @Test("several gates on one store and one key set: an offer from one is paid at another once; the retired secret verifies until its cut-off")
    func gatesShareKeysAndRotate() async throws {
        let (world, _) = try await storelessWorld()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .x402)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))

        // A second gate on the same store, after a rotation: the first gate's secret is retired but live.
        var rotated = world.configuration
        rotated.keyring = try world.configuration.keyring.rotated(to: try SecureRandom.bytes(count: 32), at: world.clock.now(),
                                                                   maximumChallengeLifetime: 300)
        let second = Gate(configuration: rotated)
        let pass = try #require(await second.handle(world.request("/premium", fields)).pass)
        try await second.complete(pass, response: resourceBody)
        // Back at the first gate the same payment replays; it is never granted twice.
        let back = await world.gate.handle(world.request("/premium", fields))
        #expect(back.isReplay)
        #expect(await world.merchantBalance() == 100)

        // Once the retired secret's cut-off passed, its offers verify no more (a fresh 402 instead).
        let (_, late) = try await world.challenge()
        let lateRead = try world.offer(late, .plain)
        let lateFields = try lateRead.credentialFields(for: try await world.payer.pay(lateRead.offer))
        var afterCutOff = world.configuration
        afterCutOff.keyring = try world.configuration.keyring.rotated(to: try SecureRandom.bytes(count: 32), at: world.clock.now(),
                                                                       maximumChallengeLifetime: 0)
        world.clock.advance(by: 1)
        let refused = await Gate(configuration: afterCutOff).handle(world.request("/premium", lateFields))
        #expect(refused.pass == nil && refused.response?.status == 402)
        #expect(await world.merchantBalance() == 100)
    }

    @Test("the rate limit counted per process: with four gates each allows a quarter of the burst, and no store is touched")
    func perProcessRateLimitSplitsBetweenGates() async throws {
        let policy = try TokenBucketPolicy(capacity: 8, refillTokens: 8, per: .seconds(60))
        let (world, _) = try await storelessWorld(rateLimit: policy) { $0.challengeRateScope = .perProcess(gates: 4) }
        var statuses: [Int] = []
        for _ in 0..<3 { statuses.append(await world.gate.handle(world.request()).response?.status ?? 0) }
        #expect(statuses == [402, 402, 429])
        // Another client has its own bucket; the refill comes n times slower (8 per 4 minutes here: 2 per minute).
        #expect(await world.gate.handle(world.request(client: "10.0.0.2")).response?.status == 402)
        world.clock.advance(by: 30)
        #expect(await world.gate.handle(world.request()).response?.status == 402)
        #expect(await world.gate.handle(world.request()).response?.status == 429)
    }

    @Test("a gate that makes no bound offers stores its challenges as before")
    func statefulGateStillStores() async throws {
        let world = try await GateWorld.make(configure: { $0.statelessOffers = false })
        let (_, reading) = try await world.challenge()
        let offer = try world.offer(reading, .plain).offer
        #expect(BoundOfferToken(offer.id) == nil)
        #expect(try await world.store.challenge(id: ChallengeKey.railOfferKey(.fake, offer.id)) != nil)
    }
}
