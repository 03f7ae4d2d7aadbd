import Bolt11
import Foundation
import LightningRail
import PayRail
import PayRailCrypto
import PayRailTesting
import Testing

/// A Lightning node in memory, holding several wallets, that issues real signed BOLT11 invoices and
/// settles payments between its wallets at once (as LNbits does between wallets of one instance).
/// It is a test double for the rail's logic; the real peer is LNbits (LightningRailLNbitsTests).
actor InMemoryLightningNode {
    struct Invoice {
        let bolt11: String
        let preimage: [UInt8]
        let amountMsat: Int64
        let wallet: String
        let expiresAt: Date
        var paidAt: Date?
    }

    let network: Bolt11Network
    private let key: Secp256k1.PrivateKey
    private let clock: any PayRailClock
    private var balances: [String: Int64] = [:]
    private var invoices: [String: Invoice] = [:]
    private var outgoing: [String: (wallet: String, preimage: String)] = [:]
    private(set) var payCalls = 0
    /// The next `pay` moves the money but answers as if the connection dropped.
    var dropNextPayAnswer = false
    /// The next invoice is made for this many msat more than asked (a lying backend).
    var inflateNextInvoiceMsat: Int64 = 0

    init(network: Bolt11Network = .regtest, clock: any PayRailClock) throws {
        self.network = network
        self.key = try Secp256k1.PrivateKey()
        self.clock = clock
    }

    var nodeID: String { Self.hex(key.publicKey.compressedRepresentation) }

    func fund(_ wallet: String, msat: Int64) { balances[wallet, default: 0] += msat }
    func balance(_ wallet: String) -> Int64 { balances[wallet, default: 0] }
    func setDropNextPayAnswer() { dropNextPayAnswer = true }
    func setInflateNextInvoice(_ msat: Int64) { inflateNextInvoiceMsat = msat }

    func createInvoice(wallet: String, amountMsat: Int64, memo: String?, descriptionHash: [UInt8]?, expirySeconds: Int) throws(RailError) -> CreatedInvoice {
        let preimage: [UInt8]
        let secret: [UInt8]
        do {
            preimage = try SecureRandom.bytes(count: 32)
            secret = try SecureRandom.bytes(count: 32)
        } catch {
            throw RailError(.unavailable, "no randomness", rail: .lightning)
        }
        let hash = SHA256.hash(preimage)
        let now = clock.now()
        let amount = amountMsat + inflateNextInvoiceMsat
        inflateNextInvoiceMsat = 0
        var fields: [Bolt11Field] = [.paymentHash(Array(hash)), .paymentSecret(secret), .expiry(Int64(expirySeconds))]
        fields.append(descriptionHash.map { .descriptionHash($0) } ?? .description(memo ?? ""))
        let draft = Bolt11InvoiceDraft(network: network, amountMsat: amount, timestamp: Int64(now.timeIntervalSince1970), fields: fields)
        let bolt11: String
        do { bolt11 = try draft.encode(signingWith: key) } catch { throw RailError(.unavailable, "encode: \(error)", rail: .lightning) }
        let hex = Self.hex(hash)
        invoices[hex] = Invoice(bolt11: bolt11, preimage: preimage, amountMsat: amount, wallet: wallet,
                                expiresAt: Date(timeIntervalSince1970: TimeInterval(Int64(now.timeIntervalSince1970) + Int64(expirySeconds))))
        return CreatedInvoice(bolt11: bolt11, paymentHash: hex)
    }

    func incomingStatus(wallet: String, hash: String) throws(RailError) -> IncomingInvoiceStatus {
        guard let invoice = invoices[hash], invoice.wallet == wallet else {
            throw RailError(.mismatch, "no such invoice in this wallet", rail: .lightning)
        }
        if let paidAt = invoice.paidAt { return .paid(amountMsat: invoice.amountMsat, preimage: Self.hex(invoice.preimage), settledAt: paidAt) }
        return clock.now() >= invoice.expiresAt ? .closed : .open
    }

    func pay(wallet: String, bolt11: String) throws(RailError) -> OutgoingPaymentStatus {
        payCalls += 1
        let decoded: Bolt11Invoice
        do { decoded = try Bolt11Invoice.decode(bolt11) } catch { throw RailError(.malformed, "bad invoice", rail: .lightning) }
        let hash = Self.hex(decoded.paymentHash)
        guard var invoice = invoices[hash] else { return .failed(reason: "no route") }
        guard invoice.paidAt == nil else { return .failed(reason: "already paid") }
        guard clock.now() < invoice.expiresAt else { return .failed(reason: "invoice expired") }
        guard balances[wallet, default: 0] >= invoice.amountMsat else {
            throw RailError(.insufficientFunds, "insufficient balance", rail: .lightning)
        }
        balances[wallet, default: 0] -= invoice.amountMsat
        balances[invoice.wallet, default: 0] += invoice.amountMsat
        invoice.paidAt = clock.now()
        invoices[hash] = invoice
        outgoing[hash] = (wallet, Self.hex(invoice.preimage))
        if dropNextPayAnswer {
            dropNextPayAnswer = false
            throw RailError(.timedOut, "connection dropped", retry: .afterLookup, rail: .lightning)
        }
        return .succeeded(preimage: Self.hex(invoice.preimage), feeMsat: 0)
    }

    func outgoingStatus(wallet: String, hash: String) -> OutgoingPaymentStatus? {
        guard let payment = outgoing[hash], payment.wallet == wallet else { return nil }
        return .succeeded(preimage: payment.preimage, feeMsat: 0)
    }

    /// The preimage of an invoice, as someone with access to the node could read it.
    func leakedPreimage(_ hash: String) -> String? { invoices[hash].map { Self.hex($0.preimage) } }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// One wallet of the in-memory node, as a `LightningBackend`.
struct InMemoryWallet: LightningBackend {
    let node: InMemoryLightningNode
    let name: String

    func createInvoice(amountMsat: Int64, memo: String?, descriptionHash: [UInt8]?, expirySeconds: Int) async throws(RailError) -> CreatedInvoice {
        try await node.createInvoice(wallet: name, amountMsat: amountMsat, memo: memo, descriptionHash: descriptionHash, expirySeconds: expirySeconds)
    }
    func incomingStatus(paymentHash: String) async throws(RailError) -> IncomingInvoiceStatus {
        try await node.incomingStatus(wallet: name, hash: paymentHash)
    }
    func pay(bolt11: String, maxFeeMsat: Int64, timeout: Duration) async throws(RailError) -> OutgoingPaymentStatus {
        try await node.pay(wallet: name, bolt11: bolt11)
    }
    func outgoingStatus(paymentHash: String) async throws(RailError) -> OutgoingPaymentStatus? {
        await node.outgoingStatus(wallet: name, hash: paymentHash)
    }
    func balanceMsat() async throws(RailError) -> Int64 { await node.balance(name) }
}

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
