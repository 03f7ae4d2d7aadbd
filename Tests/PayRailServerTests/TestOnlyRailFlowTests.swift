import FakeRail
import Foundation
import PayRail
import PayRailHTTP
import PayRailPaywall
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// A rail flow written only here: the fake rail's payments become authorizations (as a card
/// authorized for later capture would), captured or voided by `finish`, and unpaid offers are
/// discarded when their challenges are purged. It records every call the gate makes.
final class AuthorizingRail: PayeeRail, @unchecked Sendable {
    private let inner: FakePayeeRail
    private let lock = NSLock()
    private var finishedStore: [(reference: String, served: Bool)] = []
    private var discardedStore: [String] = []
    /// When set, captures fail as a card network that did not answer would make them.
    let captureFails: Bool
    /// When set, every discard fails with this code (after being recorded).
    let discardFails: RailError.Code?

    init(_ inner: FakePayeeRail, captureFails: Bool = false, discardFails: RailError.Code? = nil) {
        self.inner = inner
        self.captureFails = captureFails
        self.discardFails = discardFails
    }

    var id: RailID { inner.id }
    var capabilities: RailCapabilities { inner.capabilities }
    var finished: [(reference: String, served: Bool)] { lock.withLock { finishedStore } }
    var discarded: [String] { lock.withLock { discardedStore } }

    func prepare(_ charge: Charge) async throws(RailError) -> Offer { try await inner.prepare(charge) }

    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        let settled = try await inner.settle(credential, for: offer)
        return Settlement(rail: settled.rail, offerID: settled.offerID, reference: settled.reference, amount: settled.amount,
                          settledAt: settled.settledAt, kind: .authorization(expiresAt: settled.settledAt.addingTimeInterval(600)))
    }

    func finish(_ settlement: Settlement, served: Bool) async throws(RailError) {
        if served, captureFails { throw RailError(.declined, "capture refused", rail: id) }
        lock.withLock { finishedStore.append((settlement.reference, served)) }
    }

    func discard(_ offer: Offer) async throws(RailError) {
        lock.withLock { discardedStore.append(offer.id) }
        if let discardFails { throw RailError(discardFails, "discard refused", rail: id) }
    }
}

@Suite("A rail flow written outside the gate plugs in") struct TestOnlyRailFlowTests {
    func world(captureFails: Bool = false, discardFails: RailError.Code? = nil) async throws -> (GateWorld, Gate, AuthorizingRail) {
        let world = try await GateWorld.make()
        let rail = AuthorizingRail(world.payee, captureFails: captureFails, discardFails: discardFails)
        var configuration = world.configuration
        configuration.rails = [rail]
        return (world, Gate(configuration: configuration), rail)
    }

    func paidPass(_ world: GateWorld, _ gate: Gate) async throws -> (GatePass, HTTPFields) {
        let (_, reading) = try await world.challenge(gate: gate)
        let read = try world.offer(reading, .plain)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        return (try #require(await gate.handle(world.request("/premium", fields)).pass), fields)
    }

    @Test func servedAuthorizationIsCapturedOnce() async throws {
        let (world, gate, rail) = try await world()
        let (pass, fields) = try await paidPass(world, gate)
        let grant = try #require(pass.grant)
        #expect(!grant.settlement.kind.isFinal)
        #expect(rail.finished.isEmpty)
        try await gate.complete(pass, response: resourceBody)
        #expect(rail.finished.map(\.reference) == [grant.settlement.reference])
        #expect(rail.finished.map(\.served) == [true])
        // A replay of the served response finishes nothing again.
        #expect(await gate.handle(world.request("/premium", fields)).isReplay)
        #expect(rail.finished.count == 1)
    }

    @Test func unservedAuthorizationIsVoidedAndNotServedAgain() async throws {
        let (world, gate, rail) = try await world()
        let (pass, fields) = try await paidPass(world, gate)
        await gate.abandon(pass)
        #expect(rail.finished.map(\.served) == [false])
        // The hold was released: the same credential must not buy the resource again.
        let again = try #require(await gate.handle(world.request("/premium", fields)).response)
        #expect(again.status == 402)
        #expect(String(decoding: again.body, as: UTF8.self).contains("grant-over"))
        #expect(rail.finished.count == 1)
    }

    @Test func aFailedCaptureStoresNothingToReplay() async throws {
        let (world, gate, _) = try await world(captureFails: true)
        let (pass, fields) = try await paidPass(world, gate)
        let token = try #require(pass.grant?.receiptToken)
        await #expect(throws: GateError.self) { try await gate.complete(pass, response: resourceBody) }
        for presented in [fields, HTTPFields([("X-Receipt", token)])] {
            let answer = await gate.handle(world.request("/premium", presented))
            #expect(answer.pass == nil && !answer.isReplay)
            #expect(answer.response?.status == 402)
        }
    }

    @Test("behind the Paywall, an authorization whose capture fails after serving withholds the resource: 502, nothing charged")
    func aFailedCaptureWithholdsTheResponse() async throws {
        let (world, gate, rail) = try await world(captureFails: true)
        let (_, reading) = try await world.challenge(gate: gate)
        let read = try world.offer(reading, .plain)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        var headers = HTTPHeaders()
        for field in fields { headers.add(field.name, field.value) }
        let request = HTTPRequest(method: "GET", path: "/premium", headers: headers, clientAddress: "203.0.113.9")
        let secret = "the resource, paid for only once captured"
        let response = await Paywall.middleware(gate)(request) { _ in HTTPResponse(text: secret) }
        #expect(response.status.code == 502)
        #expect(!String(decoding: response.body, as: UTF8.self).contains(secret), "the resource was given away")
        #expect(String(decoding: response.body, as: UTF8.self).contains("capture-failed"))
        #expect(rail.finished.isEmpty, "nothing was captured: nothing charged")
    }

    @Test func expiredUnpaidOffersAreDiscardedWhenPurged() async throws {
        let (world, gate, rail) = try await world()
        let (_, unpaid) = try await world.challenge(gate: gate)
        let unpaidOffer = try world.offer(unpaid, .plain).offer
        let (pass, _) = try await paidPass(world, gate)
        try await gate.complete(pass, response: resourceBody)
        // Challenges are kept for the presentation grace (24 h) after they expire.
        world.clock.advance(by: 301)
        #expect(try await gate.purgeExpired().challenges == 0)
        #expect(rail.discarded.isEmpty)
        world.clock.advance(by: 86_400)
        let report = try await gate.purgeExpired()
        #expect(rail.discarded == [unpaidOffer.id])
        #expect(report.challenges >= 2)
        #expect(try await world.store.challenge(id: ChallengeKey.railOfferKey(.fake, unpaidOffer.id)) == nil)
    }

    @Test("a rail that does not answer holds the purge until the next round; any other refusal never stalls it")
    func discardFailuresDoNotStallThePurge() async throws {
        for (code, purged) in [(RailError.Code.unavailable, false), (.alreadySettled, true), (.declined, true)] {
            let (world, gate, rail) = try await world(discardFails: code)
            _ = try await world.challenge(gate: gate)
            _ = try await world.challenge(gate: gate)
            world.clock.advance(by: 301 + 86_400)
            let report = try await gate.purgeExpired()
            #expect((report.challenges > 0) == purged, "\(code): \(report)")
            #expect(rail.discarded.count == (purged ? 2 : 1), "\(code)")
        }
    }
}

/// A rail whose card was declined by the issuer: the fake rail's offers, every settle refused with
/// a decline code (as Stripe's `decline_code` comes back).
final class DecliningRail: PayeeRail, @unchecked Sendable {
    private let inner: FakePayeeRail
    let declineCode: String
    init(_ inner: FakePayeeRail, declineCode: String) {
        self.inner = inner
        self.declineCode = declineCode
    }
    var id: RailID { inner.id }
    var capabilities: RailCapabilities { inner.capabilities }
    func prepare(_ charge: Charge) async throws(RailError) -> Offer { try await inner.prepare(charge) }
    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        throw RailError(.declined, "the card was declined", rail: id, declineCode: declineCode)
    }
}

@Suite("A decline tells the payer the issuer's decline code, in a fresh challenge") struct DeclineCodeTests {
    @Test("the Payment scheme and plain problems carry the decline code; x402 says only declined (card binding §8.2); a code that is not a short token is dropped",
          arguments: [PaymentDialect.payment, .plain, .x402])
    func declineCodeOnTheWire(_ dialect: PaymentDialect) async throws {
        let world = try await GateWorld.make()
        var configuration = world.configuration
        configuration.rails = [DecliningRail(world.payee, declineCode: "insufficient_funds")]
        let gate = Gate(configuration: configuration)
        let (_, reading) = try await world.challenge(gate: gate)
        let read = try world.offer(reading, dialect)
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let answer = try #require(await gate.handle(world.request("/premium", fields)).response)
        #expect(answer.status == 402)
        let wire = String(decoding: answer.body, as: UTF8.self) + answer.headers.map { $0.value }.joined(separator: " ")
        let decoded = answer.headers[X402HeaderName.paymentRequired].flatMap { try? X402Codec.decodePaymentRequired($0) }
        let x402Error = decoded?.error ?? ""
        if dialect == .x402 {
            #expect(!wire.contains("insufficient_funds") && !x402Error.contains("insufficient_funds"), "\(wire)")
        } else {
            #expect(wire.contains("decline code insufficient_funds"), "\(wire)")
        }
        #expect(RailError(.declined, "x", declineCode: "bad code\" <script>").declineCode == nil)
    }
}
