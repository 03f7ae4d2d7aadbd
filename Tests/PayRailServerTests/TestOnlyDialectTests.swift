import FakeRail
import Foundation
import PayRail
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// A dialect no real client speaks, written only here: `X-Test-Offer: <offer id>` with
/// `X-Test-Voucher: <fake voucher>`, answered with `X-Test-Paid: <reference>`. Its keys live in a
/// namespace of their own, so a grant proves the gate resolved the credential through the keys
/// this dialect named at issuance, not through any built-in dialect's.
struct TestHeaderDialect: GateDialect {
    struct Presentation: Sendable {
        let offerID: String
        let voucher: String
    }

    var wireDialect: PaymentDialect { .plain }

    static func key(_ offerID: String) -> String { "test-offer:\(offerID)" }

    func read(_ request: GateRequest) throws(WireError) -> GateReading<Presentation>? {
        guard let offerID = request.headers["X-Test-Offer"] else { return nil }
        guard let voucher = request.headers["X-Test-Voucher"], !voucher.isEmpty else {
            throw WireError(.missingField, "X-Test-Voucher is required with X-Test-Offer")
        }
        return .credential(Presentation(offerID: offerID, voucher: voucher))
    }

    func keys(for issued: IssuedChallenge, context: GateDialectContext) -> [ChallengeKey] {
        issued.record.offers.filter { $0.rail == .fake }.map { ChallengeKey(key: Self.key($0.id), offer: $0) }
    }

    func lookup(_ presentation: Presentation, context: GateDialectContext) async throws(GateRefusal) -> CredentialLookup {
        CredentialLookup(key: Self.key(presentation.offerID), rail: .fake)
    }

    func credential(_ presentation: Presentation, lookup: CredentialLookup, answering offer: Offer, of record: ChallengeRecord,
                    context: GateDialectContext) throws(GateRefusal) -> Credential {
        Credential(rail: offer.rail, offerID: offer.id, payload: ["voucher": presentation.voucher])
    }

    func grantFields(_ presentation: Presentation, settlement: Settlement, context: GateDialectContext) -> HTTPFields {
        HTTPFields([("X-Test-Paid", settlement.reference)])
    }
}

@Suite("A dialect written outside the gate plugs in") struct TestOnlyDialectTests {
    /// The world's gate with the test dialect first, the standard ones after it.
    func gate(_ world: GateWorld) -> Gate {
        var configuration = world.configuration
        configuration.dialects = [TestHeaderDialect()] + GateDialects.standard
        return Gate(configuration: configuration)
    }

    @Test func paysSettlesOnceAndReplays() async throws {
        let world = try await GateWorld.make()
        let gate = gate(world)
        let (_, reading) = try await world.challenge(gate: gate)
        let offer = try world.offer(reading, .plain).offer
        #expect(try await world.store.challenge(id: TestHeaderDialect.key(offer.id)) != nil)
        let credential = try await world.payer.pay(offer)
        let fields = HTTPFields([("X-Test-Offer", offer.id), ("X-Test-Voucher", try #require(credential.payload["voucher"]))])

        let pass = try #require(await gate.handle(world.request("/premium", fields)).pass)
        let grant = try #require(pass.grant)
        #expect(pass.responseHeaders["X-Test-Paid"] == grant.settlement.reference)
        #expect(pass.responseHeaders["X-Receipt"] == grant.receiptToken)
        #expect(grant.dialect == .plain)
        #expect(await world.merchantBalance() == 100)
        try await gate.complete(pass, response: resourceBody)

        // The same credential again: the stored response, no second settlement.
        let again = await gate.handle(world.request("/premium", fields))
        #expect(again.isReplay)
        #expect(again.response?.body == resourceBody.body)
        #expect(await world.merchantBalance() == 100)
    }

    @Test func unknownOfferIsRefusedWithAFreshChallenge() async throws {
        let world = try await GateWorld.make()
        let gate = gate(world)
        let fields = HTTPFields([("X-Test-Offer", "no-such-offer"), ("X-Test-Voucher", "x.y")])
        let response = try #require(await gate.handle(world.request("/premium", fields)).response)
        #expect(response.status == 402)
        let body = String(decoding: response.body, as: UTF8.self)
        #expect(body.contains(PaymentProblemType.invalidChallenge.uri))
        #expect(await world.merchantBalance() == 0)

        let unreadable = try #require(await gate.handle(world.request("/premium", HTTPFields([("X-Test-Offer", "o")]))).response)
        #expect(unreadable.status == 402)
        #expect(String(decoding: unreadable.body, as: UTF8.self).contains(PaymentProblemType.malformedCredential.uri))
    }
}
