import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// A gate store that fails chosen operations on demand, forwarding everything else to a memory store:
/// the failures a disk, a lock or a crash give a real store.
final class FailingGateStore: GateStore, @unchecked Sendable {
    enum Operation: Hashable, Sendable { case saveChallenge, challenge, consume, consumedChallenge, take }

    private let inner: MemoryGateStore
    private let lock = NSLock()
    private var failures: [Operation: (code: StoreError.Code, remaining: Int)] = [:]

    init(clock: ManualClock) { inner = MemoryGateStore(clock: clock) }

    /// Makes the next `times` calls of `operation` fail with `code`.
    func fail(_ operation: Operation, with code: StoreError.Code, times: Int = 1) {
        lock.withLock { failures[operation] = (code, times) }
    }

    private func check(_ operation: Operation) throws(StoreError) {
        let code: StoreError.Code? = lock.withLock {
            guard let failure = failures[operation], failure.remaining > 0 else { return nil }
            failures[operation] = (failure.code, failure.remaining - 1)
            return failure.code
        }
        if let code { throw StoreError(code: code, reason: "injected \(operation) failure", isRetrySafe: code == .busy) }
    }

    func saveChallenge(_ challenge: ChallengeRecord) async throws(StoreError) {
        try check(.saveChallenge)
        try await inner.saveChallenge(challenge)
    }
    func challenge(id: String) async throws(StoreError) -> ChallengeRecord? {
        try check(.challenge)
        return try await inner.challenge(id: id)
    }
    func consume(challengeID: String, settlement: Settlement, receipt: ReceiptRecord) async throws(StoreError) -> ConsumeResult {
        try check(.consume)
        return try await inner.consume(challengeID: challengeID, settlement: settlement, receipt: receipt)
    }
    func consumedChallenge(id challengeID: String) async throws(StoreError) -> ConsumedChallenge? {
        try check(.consumedChallenge)
        return try await inner.consumedChallenge(id: challengeID)
    }
    func consumedChallenge(receiptTokenHash tokenHash: Data) async throws(StoreError) -> ConsumedChallenge? {
        try await inner.consumedChallenge(receiptTokenHash: tokenHash)
    }
    func saveResponse(_ response: StoredResponse, receiptID: String) async throws(StoreError) {
        try await inner.saveResponse(response, receiptID: receiptID)
    }
    func idempotencyLookup(key: String, payloadHash: Data) async throws(StoreError) -> IdempotencyLookup {
        try await inner.idempotencyLookup(key: key, payloadHash: payloadHash)
    }
    func saveIdempotentResponse(_ record: IdempotencyRecord) async throws(StoreError) -> IdempotencySaveResult {
        try await inner.saveIdempotentResponse(record)
    }
    func take(_ count: Int, from clientKey: String, policy: TokenBucketPolicy) async throws(StoreError) -> RateLimitDecision {
        try check(.take)
        return try await inner.take(count, from: clientKey, policy: policy)
    }
    func purgeExpired(now: Date) async throws(StoreError) -> PurgeReport {
        try await inner.purgeExpired(now: now)
    }
}

@Suite("Gate recovery, store failures, x402 payment-identifier, HEAD") struct GateRecoveryTests {
    // These tests are about a store that fails on the paths that write it: challenges stored when the
    // 402 is issued (offers that are not bound, as a Lightning invoice's are) and buckets counted in
    // the shared store. Stateless 402s, which write nothing, are tested in GateStatelessTests.
    private func failingWorld(rateLimit: TokenBucketPolicy? = nil) async throws -> (GateWorld, FailingGateStore) {
        let box = StoreBox()
        let world = try await GateWorld.make(store: { clock in
            let store = FailingGateStore(clock: clock)
            box.store = store
            return store
        }, rateLimit: rateLimit, configure: { $0.statelessOffers = false; $0.challengeRateScope = .shared })
        return (world, try #require(box.store))
    }

    private final class StoreBox: @unchecked Sendable { var store: FailingGateStore? }

    @Test("the store fails after the rail settled: 503, and the same credential later gets its one grant")
    func settledButNotRecordedIsGrantedOnRetry() async throws {
        let (world, store) = try await failingWorld()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .payment)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        store.fail(.consume, with: .busy)
        let failed = try #require(await world.gate.handle(world.request("/premium", fields)).response)
        #expect(failed.status == 503)
        #expect(failed.headers["Retry-After"] != nil)
        #expect(failed.headers["Content-Type"] == ProblemDetails.mediaType)
        // The rail moved the money once already.
        #expect(await world.merchantBalance() == 100)

        let retried = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        let grant = try #require(retried.grant)
        #expect(!grant.isRegrant)
        #expect(try world.configuration.verifier.verify(grant.receiptToken, resource: "GET /premium").jti == grant.challengeID)
        #expect(world.logs.lines.contains { $0.contains("recovered settlement") })
        // While that grant is being served the same credential is asked to wait; once it is over (its
        // response never stored), the proof buys no second serving (draft-httpauth-payment-02, "Replay
        // Protection": single use), but the answer hands back the grant's receipt, which re-serves the
        // same payment. Nobody is charged twice, nothing paid is lost.
        let third = await world.gate.handle(world.request("/premium", fields))
        #expect(third.response?.status == 409)
        world.clock.advance(by: 61)
        let token = try #require(receiptHandedBack(await world.gate.handle(world.request("/premium", fields))))
        let fourth = try #require(await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", token)]))).pass?.grant)
        #expect(fourth.isRegrant && fourth.settlement.reference == grant.settlement.reference)
        #expect(await world.agentBalance() == 99_900)
        #expect(await world.merchantBalance() == 100)
    }

    @Test("the store fails after the rail settled: a copy of the proof in other bytes cannot take the recovery; the payer's retry gets it")
    func copiedProofCannotTakeAnUnrecordedSettlement() async throws {
        let (world, store) = try await failingWorld()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .payment)
        let credential = try await world.payer.pay(read.offer)
        let fields = try read.credentialFields(for: credential)
        store.fail(.consume, with: .busy)
        #expect(await world.gate.handle(world.request("/premium", fields)).response?.status == 503)

        // Someone who saw the credential sends the same voucher with another payer id first.
        guard case .payment(let challenge) = read.answer else { throw TestFailure("not a Payment offer") }
        var respelled = PaymentCharge.credential(answering: challenge, with: credential)
        respelled.source = "did:example:eavesdropper"
        let copy = await world.gate.handle(world.request("/premium", HTTPFields([("Authorization", try respelled.headerValue())])))
        #expect(copy.pass == nil, "a copy of the proof took the payer's settlement")
        #expect(copy.response?.status == 402)

        let retried = try #require(await world.gate.handle(world.request("/premium", fields)).pass?.grant, "the payer lost its payment")
        #expect(!retried.isRegrant)
        #expect(await world.merchantBalance() == 100)
        #expect(await world.agentBalance() == 99_900)
    }

    @Test("a store that breaks (not busy) after the rail settled still answers 503 with Retry-After, and the retry is granted once")
    func brokenStoreAfterSettlementIsRetrySafe() async throws {
        for code in [StoreError.Code.unavailable, .corrupt] {
            let (world, store) = try await failingWorld()
            let (_, reading) = try await world.challenge()
            let read = try world.offer(reading, .plain)
            let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
            store.fail(.consume, with: code)
            let failed = try #require(await world.gate.handle(world.request("/premium", fields)).response)
            #expect(failed.status == 503, "\(code)")
            #expect(failed.headers["Retry-After"] != nil, "\(code)")
            #expect(await world.merchantBalance() == 100)
            let retried = try #require(await world.gate.handle(world.request("/premium", fields)).pass?.grant, "\(code)")
            #expect(!retried.isRegrant)
            #expect(await world.merchantBalance() == 100)
        }
    }

    @Test("the gate's store health: a failed store call marks it unhealthy at once, only a successful write probe heals it")
    func storeHealthFollowsFailuresAndProbes() async throws {
        let (world, store) = try await failingWorld()
        #expect(world.gate.isStoreHealthy)
        try await world.gate.probeStore()
        store.fail(.saveChallenge, with: .unavailable)
        #expect(try #require(await world.gate.handle(world.request()).response).status == 500)
        #expect(!world.gate.isStoreHealthy)
        #expect(world.gate.storeProblem == "store error unavailable")
        store.fail(.take, with: .unavailable)
        await #expect(throws: StoreError.self) { try await world.gate.probeStore() }
        #expect(!world.gate.isStoreHealthy)
        try await world.gate.probeStore()
        #expect(world.gate.isStoreHealthy && world.gate.storeProblem == nil)
    }

    @Test("a store failure while issuing a challenge is a retry-safe 503, a damaged store a 500; neither leaks")
    func storeFailuresBecomeProblems() async throws {
        let (world, store) = try await failingWorld()
        store.fail(.saveChallenge, with: .busy)
        let busy = try #require(await world.gate.handle(world.request()).response)
        #expect(busy.status == 503 && busy.headers["Retry-After"] == "1")
        #expect(try ProblemDetails.parse(busy.body).type == "https://payrail.dev/problems/store-unavailable")

        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .plain)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        store.fail(.challenge, with: .corrupt)
        let broken = try #require(await world.gate.handle(world.request("/premium", fields)).response)
        #expect(broken.status == 500)
        #expect(broken.headers["Retry-After"] == nil)
        // Nothing was settled on the failed attempt: the merchant has not been paid yet, and the
        // credential still works once the store answers.
        #expect(await world.merchantBalance() == 0)
        #expect(await world.gate.handle(world.request("/premium", fields)).pass?.grant != nil)
        #expect(await world.merchantBalance() == 100)
    }

    @Test("a rate-limit store failure is a 503, not a free pass")
    func rateLimitStoreFailure() async throws {
        let (world, store) = try await failingWorld(rateLimit: try TokenBucketPolicy(capacity: 5, refillTokens: 1, per: .seconds(1)))
        store.fail(.take, with: .busy)
        let response = try #require(await world.gate.handle(world.request()).response)
        #expect(response.status == 503)
    }

    @Test("x402 payment-identifier: the same payment replays, another payment under the same id is 409")
    func x402PaymentIdentifierReplays() async throws {
        let world = try await GateWorld.make()
        let identifier = try X402PaymentIdentifier.generate()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .x402)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer), paymentIdentifier: identifier)
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        try await world.gate.complete(pass, response: resourceBody)

        let again = await world.gate.handle(world.request("/premium", fields))
        #expect(again.isReplay)
        #expect(again.response?.body == resourceBody.body)
        #expect(await world.agentBalance() == 99_900)

        // A second, different payment (a new challenge) sent under the same identifier: a conflict, unpaid.
        let (_, secondReading) = try await world.challenge()
        let secondRead = try world.offer(secondReading, .x402)
        let secondFields = try secondRead.credentialFields(for: try await world.payer.pay(secondRead.offer), paymentIdentifier: identifier)
        let conflict = try #require(await world.gate.handle(world.request("/premium", secondFields)).response)
        #expect(conflict.status == 409)
        #expect(await world.merchantBalance() == 100)
        #expect(world.logs.lines.contains { $0.contains("payment-identifier-reused") })
    }

    @Test("the same credential again: 409 while its grant is being served, then its receipt handed back, which regrants (never charged twice); a forged one is refused")
    func samePaymentPresentedAgainIsRegranted() async throws {
        let world = try await GateWorld.make()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .payment)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        // Granted, but the answer never reached the client and nothing was stored.
        let first = try #require(await world.gate.handle(world.request("/premium", fields)).pass?.grant)

        let meanwhile = try #require(await world.gate.handle(world.request("/premium", fields)).response)
        #expect(meanwhile.status == 409)

        // Single use (draft-httpauth-payment-02): the proof itself is not granted again; its grant's
        // receipt comes back instead, and the receipt re-serves the unstored response.
        world.clock.advance(by: 61)
        let handedBack = try #require(receiptHandedBack(await world.gate.handle(world.request("/premium", fields))))
        let again = try #require(await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", handedBack)]))).pass)
        let regrant = try #require(again.grant)
        #expect(regrant.isRegrant)
        #expect(regrant.challengeID == first.challengeID)
        #expect(regrant.settlement.reference == first.settlement.reference)
        let claims = try world.configuration.verifier.verify(regrant.receiptToken, resource: "GET /premium")
        #expect(claims.exp <= Int64(first.grantExpiresAt.timeIntervalSince1970))
        #expect(await world.agentBalance() == 99_900)
        #expect(await world.merchantBalance() == 100)

        // The new token replays the stored response once the regrant completes (found by its jti).
        try await world.gate.complete(again, response: resourceBody)
        let replay = await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", regrant.receiptToken)])))
        #expect(replay.isReplay && replay.response?.body == resourceBody.body)
        // And the same credential bytes now replay that stored response.
        let sameBytes = await world.gate.handle(world.request("/premium", fields))
        #expect(sameBytes.isReplay && sameBytes.response?.body == resourceBody.body)

        // A credential that is not the payment behind the challenge gets nothing.
        guard case .payment(let challenge) = read.answer else { throw TestFailure("not a Payment offer") }
        var forged = PaymentCharge.credential(answering: challenge, with: Credential(
            rail: .fake, offerID: read.offer.id, payload: ["voucher": "AAAA.BBBB.CCCC"]))
        forged.source = nil
        let refused = await world.gate.handle(world.request("/premium", HTTPFields([("Authorization", try forged.headerValue())])))
        #expect(refused.pass == nil && !refused.isReplay)
        #expect(refused.response?.status != 200)

        // After the grant is over, the same credential buys nothing more.
        world.clock.advance(by: 3_600)
        let over = await world.gate.handle(world.request("/premium", fields))
        #expect(over.pass == nil && !over.isReplay)
        #expect(await world.agentBalance() == 99_900)
    }

    @Test("a Payment credential paid before its challenge expired gets its grant's receipt after the expiry, within its grant")
    func paidPaymentCredentialOutlivesItsChallenge() async throws {
        let world = try await GateWorld.make()
        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .payment)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let first = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
        await world.gate.abandon(first)

        // The challenge lived 300 s; the grant lasts an hour. The payer lost the answer and retries late.
        world.clock.advance(by: 400)
        let handedBack = try #require(receiptHandedBack(await world.gate.handle(world.request("/premium", fields))))
        let again = try #require(await world.gate.handle(world.request("/premium", HTTPFields([("X-Receipt", handedBack)]))).pass?.grant)
        #expect(again.isRegrant)
        #expect(again.settlement.reference == first.grant?.settlement.reference)
        #expect(await world.merchantBalance() == 100)

        // A challenge not consumed is refused once the presentation grace after its expiry is over.
        let (_, unpaid) = try await world.challenge()
        let unpaidRead = try world.offer(unpaid, .payment)
        let late = try unpaidRead.credentialFields(for: try await world.payer.pay(unpaidRead.offer))
        world.clock.advance(by: 301 + 86_400)
        let refused = try #require(await world.gate.handle(world.request("/premium", late)).response)
        #expect(String(decoding: refused.body, as: UTF8.self).contains(PaymentProblemType.paymentExpired.uri))
        #expect(await world.merchantBalance() == 100)
    }

    @Test("after its grant, the same credential buys nothing more in any dialect: no replay, no regrant, no charge")
    func sameCredentialAfterTheGrantInEveryDialect() async throws {
        for dialect in [PaymentDialect.plain, .payment, .x402] {
            let world = try await GateWorld.make()
            let (_, reading) = try await world.challenge()
            let read = try world.offer(reading, dialect)
            let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
            let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass)
            try await world.gate.complete(pass, response: resourceBody)
            #expect(await world.gate.handle(world.request("/premium", fields)).isReplay, "\(dialect)")

            world.clock.advance(by: 3_601)
            let over = await world.gate.handle(world.request("/premium", fields))
            #expect(over.pass == nil && !over.isReplay, "\(dialect)")
            #expect(await world.merchantBalance() == 100, "\(dialect)")
        }
    }

    @Test("x402 version 1: a payrail:fake voucher in X-PAYMENT pays once, answered with X-PAYMENT-RESPONSE; other networks are refused")
    func x402Version1FakeVoucher() async throws {
        let world = try await GateWorld.make()
        let (_, reading) = try await world.challenge()
        let offer = try world.offer(reading, .plain).offer
        let voucher = try #require(try await world.payer.pay(offer).payload["voucher"])
        func xPayment(network: String) -> HTTPFields {
            let json = #"{"x402Version":1,"scheme":"exact","network":"\#(network)","payload":{"voucher":"\#(voucher)"}}"#
            return HTTPFields([("X-PAYMENT", Data(json.utf8).base64EncodedString())])
        }
        let other = try #require(await world.gate.handle(world.request("/premium", xPayment(network: "base-sepolia"))).response)
        #expect(other.status == 402)
        #expect(await world.merchantBalance() == 0)

        let pass = try #require(await world.gate.handle(world.request("/premium", xPayment(network: X402Network.fake))).pass)
        #expect(pass.grant?.dialect == .x402v1)
        #expect(pass.responseHeaders[X402HeaderName.xPaymentResponse] != nil)
        #expect(await world.merchantBalance() == 100)
        try await world.gate.complete(pass, response: resourceBody)
        #expect(await world.gate.handle(world.request("/premium", xPayment(network: X402Network.fake))).isReplay)
        #expect(await world.merchantBalance() == 100)
    }

    @Test("HEAD on a priced GET is priced as that GET, and a GET receipt replays for HEAD")
    func headIsPricedAsGet() async throws {
        let world = try await GateWorld.make()
        let head = GateRequest(method: "HEAD", path: "/premium", headers: HTTPFields(), clientAddress: "10.0.0.1")
        #expect(await world.gate.handle(head).response?.status == 402)

        let (_, reading) = try await world.challenge()
        let read = try world.offer(reading, .plain)
        let pass = try #require(await world.gate.handle(world.request("/premium", try read.credentialFields(for: try await world.payer.pay(read.offer)))).pass)
        try await world.gate.complete(pass, response: resourceBody)
        let token = try #require(pass.grant?.receiptToken)
        let replay = await world.gate.handle(GateRequest(method: "HEAD", path: "/premium", headers: HTTPFields([("X-Receipt", token)]), clientAddress: "10.0.0.1"))
        #expect(replay.isReplay)
        // HEAD on a free path stays free.
        #expect(await world.gate.handle(GateRequest(method: "HEAD", path: "/free", headers: HTTPFields(), clientAddress: "10.0.0.1")).pass?.isFree == true)
    }
}

/// The receipt token a 409 `grant-not-stored` answer hands back to a single-use credential presented
/// again after a grant whose response was never stored; `nil` for any other answer.
func receiptHandedBack(_ decision: GateDecision) -> String? {
    guard case .respond(let response) = decision, response.status == 409,
          (try? ProblemDetails.parse(response.body))?.type == "https://payrail.dev/problems/grant-not-stored",
          response.headers[PaymentReceipt.fieldName] == nil
    else { return nil }
    return response.headers[PlainReceipt.fieldName]
}
