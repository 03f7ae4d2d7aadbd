import Bolt11
import Foundation
import LightningRail
import LightningTestSupport
import PayRail
import PayRailCrypto
import PayRailTesting
import Testing

struct LightningWorld {
    let clock: ManualClock
    let node: InMemoryLightningNode
    let payee: LightningPayeeRail
    let payer: LightningPayerRail

    static func make(mode: LightningSettlementMode = .backendConfirmed) async throws -> LightningWorld {
        let clock = ManualClock()
        let node = try InMemoryLightningNode(clock: clock)
        await node.fund("agent", msat: 10_000_000)
        return LightningWorld(
            clock: clock, node: node,
            payee: LightningPayeeRail(backend: InMemoryWallet(node: node, name: "shop"), network: .regtest, mode: mode, clock: clock),
            payer: LightningPayerRail(backend: InMemoryWallet(node: node, name: "agent"), network: .regtest, clock: clock))
    }

    func charge(_ sats: Int64 = 100, lifetime: TimeInterval = 300) throws -> Charge {
        try Charge(amount: Money(amount: sats, unit: .sat), resource: Resource(parsing: "GET /premium"), description: "premium",
                   expiresAt: clock.now().addingTimeInterval(lifetime), challengeID: UUID().uuidString)
    }

    /// The offer with one detail or field changed, as a lying server would send it.
    func altered(_ offer: Offer, amount: Money? = nil, payee: String? = nil, id: String? = nil, invoice: String? = nil) -> Offer {
        var details = offer.details
        if let invoice { details["invoice"] = invoice }
        return Offer(rail: offer.rail, amount: amount ?? offer.amount, payee: payee ?? offer.payee, expiresAt: offer.expiresAt,
                     id: id ?? offer.id, details: details)
    }
}

@Suite("Lightning rail over an in-memory node") struct LightningRailTests {
    @Test("payee and payer pass the rail contract suite")
    func contractSuite() async throws {
        let world = try await LightningWorld.make()
        let clock = world.clock
        let suite = RailContractSuite(
            payee: world.payee, payer: world.payer,
            makeCharge: {
                guard let amount = try? Money(amount: 100, unit: .sat), let resource = try? Resource(parsing: "GET /premium"),
                      let charge = try? Charge(amount: amount, resource: resource, expiresAt: clock.now().addingTimeInterval(300),
                                               challengeID: UUID().uuidString)
                else { preconditionFailure("constant charge") }
                return charge
            },
            clock: clock, expiry: .advance(clock))
        let violations = await suite.runAll()
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("an offer is one invoice: amount, hash, payee and expiry as decoded from the invoice itself")
    func offerMatchesInvoice() async throws {
        let world = try await LightningWorld.make()
        let offer = try await world.payee.prepare(try world.charge(100, lifetime: 7200))
        let invoice = try Bolt11Invoice.decode(try #require(offer.details["invoice"]))
        #expect(invoice.amountMsat == 100_000)
        #expect(InMemoryLightningNode.hex(invoice.paymentHash) == offer.id)
        #expect(offer.payee == (await world.node.nodeID))
        #expect(invoice.expirySeconds == 3600)  // never more than the rail's maximum
        #expect(offer.expiresAt <= invoice.expiresAt)
        #expect(offer.details["network"] == "regtest")
    }

    @Test("a backend that makes another invoice than asked is refused at prepare")
    func lyingBackendIsRefused() async throws {
        let world = try await LightningWorld.make()
        await world.node.setInflateNextInvoice(1_000)
        await #expect(throws: RailError.self) { try await world.payee.prepare(try world.charge()) }
    }

    @Test("the payer refuses an offer whose invoice disagrees with it, and pays nothing", arguments: ["amount", "payee", "hash", "network", "expired"])
    func payerRefusesLies(_ lie: String) async throws {
        let world = try await LightningWorld.make()
        let honest = try await world.payee.prepare(try world.charge(100))
        let offer: Offer
        switch lie {
        case "amount": offer = world.altered(honest, amount: try Money(amount: 50, unit: .sat))
        case "payee": offer = world.altered(honest, payee: String(repeating: "02", count: 1) + String(repeating: "ab", count: 32))
        case "hash": offer = world.altered(honest, id: String(repeating: "cd", count: 32))
        case "network":
            let mainnetNode = try InMemoryLightningNode(network: .mainnet, clock: world.clock)
            let other = try await InMemoryWallet(node: mainnetNode, name: "x").createInvoice(amountMsat: 100_000, memo: "x", descriptionHash: nil, expirySeconds: 600)
            offer = world.altered(honest, id: other.paymentHash, invoice: other.bolt11)
        default:
            world.clock.advance(by: 3_601)
            offer = honest
        }
        guard case .refused(let error) = await world.payer.quote(offer) else {
            Issue.record("the quote must refuse a lying offer (\(lie))")
            return
        }
        #expect([.mismatch, .unsupported, .expired].contains(error.code))
        await #expect(throws: RailError.self) { try await world.payer.pay(offer) }
        #expect(await world.node.payCalls == 0)
        #expect(await world.node.balance("agent") == 10_000_000)
    }

    @Test("the payer reports the routing fee it actually paid, rounded up to whole satoshis, also when looked up again")
    func reportsTheFeePaid() async throws {
        let world = try await LightningWorld.make()
        await world.node.setRoutingFee(msat: 1_500)
        let offer = try await world.payee.prepare(try world.charge(100))
        let paid = try await world.payer.payReportingFee(offer)
        #expect(paid.fee == (try Money(amount: 2, unit: .sat)))
        #expect(await world.node.balance("agent") == 10_000_000 - 100_000 - 1_500)
        // Asked again for the same offer: the same proof and fee, nothing paid twice.
        let again = try await world.payer.payReportingFee(offer)
        #expect(again.credential == paid.credential && again.fee == paid.fee)
        #expect(await world.node.balance("agent") == 10_000_000 - 100_000 - 1_500)
        // A route dearer than the fee limit (max(10 sat, 1 %)) is not taken: nothing moves.
        await world.node.setRoutingFee(msat: 10_001)
        let second = try await world.payee.prepare(try world.charge(100))
        await #expect(throws: RailError.self) { try await world.payer.payReportingFee(second) }
        #expect(await world.node.balance("agent") == 10_000_000 - 100_000 - 1_500)
    }

    @Test("a payment whose answer was lost is looked up, not paid twice")
    func lostAnswerIsLookedUp() async throws {
        let world = try await LightningWorld.make()
        let offer = try await world.payee.prepare(try world.charge(100))
        await world.node.setDropNextPayAnswer()
        let credential = try await world.payer.pay(offer)
        #expect(await world.node.payCalls == 1)
        // Paying the same offer again (the agent retrying) returns the same proof without paying.
        let again = try await world.payer.pay(offer)
        #expect(again == credential)
        #expect(await world.node.payCalls == 1)
        #expect(await world.node.balance("agent") == 10_000_000 - 100_000)
        let settlement = try await world.payee.settle(credential, for: offer)
        #expect(settlement.reference == offer.id && settlement.amount == offer.amount)
    }

    @Test("an invoice paid before it expired gives back its preimage after expiry, not 'expired'")
    func paidThenExpiredStillGivesTheProof() async throws {
        let world = try await LightningWorld.make()
        let offer = try await world.payee.prepare(try world.charge(100))
        let credential = try await world.payer.pay(offer)
        world.clock.advance(by: 3_700)
        #expect(try await world.payer.pay(offer) == credential)
        #expect(await world.node.payCalls == 1)
        // An expired invoice never paid is refused as expired, with nothing sent.
        let unpaid = try await world.payee.prepare(try world.charge(100))
        world.clock.advance(by: 3_700)
        await #expect(throws: RailError.self) { try await world.payer.pay(unpaid) }
        #expect(await world.node.payCalls == 1)
    }

    @Test("backend-confirmed mode refuses a leaked preimage of an unpaid invoice; preimage-only mode accepts it")
    func settlementModes() async throws {
        let confirmed = try await LightningWorld.make(mode: .backendConfirmed)
        let offer = try await confirmed.payee.prepare(try confirmed.charge(100))
        let leaked = try #require(await confirmed.node.leakedPreimage(offer.id))
        let credential = Credential(rail: .lightning, offerID: offer.id, payload: ["preimage": leaked])
        await #expect(throws: RailError.self) { try await confirmed.payee.settle(credential, for: offer) }

        let trusting = try await LightningWorld.make(mode: .preimageOnly)
        let offer2 = try await trusting.payee.prepare(try trusting.charge(100))
        let leaked2 = try #require(await trusting.node.leakedPreimage(offer2.id))
        let settlement = try await trusting.payee.settle(Credential(rail: .lightning, offerID: offer2.id, payload: ["preimage": leaked2]), for: offer2)
        #expect(settlement.reference == offer2.id)
        await #expect(throws: RailError.self) {
            try await trusting.payee.settlement(of: try await trusting.payee.prepare(try trusting.charge(100)))
        }
    }

    @Test("a wrong preimage is an invalid proof; a wrong length is malformed")
    func wrongPreimages() async throws {
        let world = try await LightningWorld.make()
        let offer = try await world.payee.prepare(try world.charge(100))
        do {
            _ = try await world.payee.settle(Credential(rail: .lightning, offerID: offer.id, payload: ["preimage": String(repeating: "00", count: 32)]), for: offer)
            Issue.record("a wrong preimage must be refused")
        } catch {
            #expect(error.code == .invalidProof)
        }
        do {
            _ = try await world.payee.settle(Credential(rail: .lightning, offerID: offer.id, payload: ["preimage": "abcd"]), for: offer)
            Issue.record("a short preimage must be refused")
        } catch {
            #expect(error.code == .malformed)
        }
    }

    @Test("a request commitment becomes the invoice's description hash")
    func commitmentIsDescriptionHash() async throws {
        let world = try await LightningWorld.make()
        let commitment = Array(SHA256.hash(Array("GET https://api.example/x".utf8)))
        let charge = try Charge(amount: Money(amount: 21, unit: .sat), resource: Resource(parsing: "GET /x"),
                                expiresAt: world.clock.now().addingTimeInterval(300), challengeID: "c-commit", commitment: commitment)
        let offer = try await world.payee.prepare(charge)
        let invoice = try Bolt11Invoice.decode(try #require(offer.details["invoice"]))
        #expect(invoice.descriptionHash == commitment)
        #expect(invoice.descriptionText == nil)
    }
}
