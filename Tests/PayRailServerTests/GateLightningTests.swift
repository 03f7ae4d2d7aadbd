import Foundation
import LightningRail
import LightningTestSupport
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import Testing

/// A gate selling `GET /premium` for 100 sat on the Lightning rail (an in-memory testnet node issuing
/// real signed invoices), with L402 enabled, and an agent wallet on the same node.
struct LightningGateWorld {
    let clock: ManualClock
    let node: InMemoryLightningNode
    let payer: LightningPayerRail
    let gate: Gate
    let configuration: GateConfiguration
    static let origin = "https://api.example.com"

    static func make() async throws -> LightningGateWorld {
        let clock = ManualClock()
        let node = try InMemoryLightningNode(network: .testnet, clock: clock)
        await node.fund("agent", msat: 10_000_000)
        let payee = LightningPayeeRail(backend: InMemoryWallet(node: node, name: "shop"), network: .testnet, clock: clock)
        let payer = LightningPayerRail(backend: InMemoryWallet(node: node, name: "agent"), network: .testnet, clock: clock)
        let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "ln-1")
        let configuration = GateConfiguration(
            realm: "api.example.com", rails: [payee],
            pricing: try PricingTable(parsing: ["GET /premium=100sat", "GET /other=100sat"], rails: [.lightning]),
            store: MemoryGateStore(clock: clock), keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)),
            signer: signer, verifier: ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])), clock: clock),
            macaroonRootKey: try SecureRandom.bytes(count: 32), publicOrigin: origin, clock: clock)
        return LightningGateWorld(clock: clock, node: node, payer: payer, gate: Gate(configuration: configuration), configuration: configuration)
    }

    func request(_ path: String = "/premium", _ headers: HTTPFields = HTTPFields()) -> GateRequest {
        GateRequest(method: "GET", path: path, headers: headers, clientAddress: "10.0.0.7")
    }

    /// The 402 read back as the agent reads it, with the request it intends to pay for.
    func challenge(_ path: String = "/premium") async throws -> PaymentResponseReading {
        let response = try #require(await gate.handle(request(path)).response)
        #expect(response.status == 402)
        return PaymentResponseReader.read(status: response.status, headers: response.headers, body: response.body, receivedAt: clock.now(),
                                          expectedRequest: .http(method: "GET", url: Self.origin + path, body: [], headers: []))
    }
}

@Suite("Gate on the Lightning rail: every dialect, L402 included") struct GateLightningTests {
    @Test("one 402 carries the invoice in every dialect, x402 as exact on lnbtc bound to the request")
    func everyDialectCarriesTheInvoice() async throws {
        let world = try await LightningGateWorld.make()
        let reading = try await world.challenge()
        #expect(Set(reading.offers.map(\.dialect)).isSuperset(of: [.payment, .x402, .l402, .plain]), "\(reading.skipped)")
        #expect(Set(reading.offers.map(\.offer.id)).count == 1)  // one invoice behind all of them
        guard case .x402(let requirements, _, _)? = reading.offers.first(where: { $0.dialect == .x402 })?.answer else {
            Issue.record("no x402 offer")
            return
        }
        #expect(requirements.network == X402Network.lightningTestnet)
        // Read for another URL, the x402 offer no longer matches the request and is skipped.
        let response = try #require(await world.gate.handle(world.request()).response)
        let elsewhere = PaymentResponseReader.read(status: 402, headers: response.headers, body: response.body, receivedAt: world.clock.now(),
                                                   expectedRequest: .http(method: "GET", url: LightningGateWorld.origin + "/other", body: [], headers: []))
        #expect(!elsewhere.offers.contains { $0.dialect == .x402 })
    }

    @Test("paying in each dialect gives one grant and a receipt naming the payment hash", arguments: [PaymentDialect.payment, .x402, .l402, .plain])
    func payInEachDialect(_ dialect: PaymentDialect) async throws {
        let world = try await LightningGateWorld.make()
        let reading = try await world.challenge()
        let read = try #require(reading.offers.first { $0.dialect == dialect }, "\(reading.skipped)")
        let credential = try await world.payer.pay(read.offer)
        let fields = try read.credentialFields(for: credential)
        let pass = try #require(await world.gate.handle(world.request("/premium", fields)).pass, "dialect \(dialect)")
        let grant = try #require(pass.grant)
        #expect(grant.dialect == dialect)
        #expect(grant.settlement.reference == read.offer.id)
        let claims = try world.configuration.verifier.verify(grant.receiptToken, resource: "GET /premium")
        #expect(claims.method == "lightning" && claims.ref == read.offer.id)
        #expect(await world.node.balance("shop") == 100_000)
        #expect(await world.node.balance("agent") == 10_000_000 - 100_000)
        // The same proof again is the same payment: nothing more is charged.
        _ = await world.gate.handle(world.request("/premium", fields))
        #expect(await world.node.balance("agent") == 10_000_000 - 100_000)
    }

    @Test("a preimage bought for /premium does not buy /other, in any dialect")
    func preimageIsBoundToItsResource() async throws {
        let world = try await LightningGateWorld.make()
        let reading = try await world.challenge()
        let read = try #require(reading.offers.first { $0.dialect == .plain })
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let decision = await world.gate.handle(world.request("/other", fields))
        #expect(decision.pass == nil)
        #expect(decision.response?.status == 402)
    }

    @Test("an L402 token with a wrong preimage or a forged macaroon is refused")
    func l402Forgeries() async throws {
        let world = try await LightningGateWorld.make()
        let reading = try await world.challenge()
        let read = try #require(reading.offers.first { $0.dialect == .l402 })
        let paid = try read.credentialFields(for: try await world.payer.pay(read.offer))
        let header = try #require(paid["Authorization"])
        let wrongPreimage = String(header.dropLast(64)) + String(repeating: "0", count: 64)
        #expect(await world.gate.handle(world.request("/premium", HTTPFields([("Authorization", wrongPreimage)]))).pass == nil)
        let forged = header.replacingOccurrences(of: "L402 A", with: "L402 B")
        if forged != header {
            #expect(await world.gate.handle(world.request("/premium", HTTPFields([("Authorization", forged)]))).pass == nil)
        }
        #expect(await world.gate.handle(world.request("/premium", paid)).pass?.grant != nil)
    }

    @Test("an invoice paid in time but presented after its challenge expired is granted within the grace, in every dialect; after it, refused",
          arguments: [PaymentDialect.payment, .x402, .l402, .plain])
    func paidInTimePresentedLate(_ dialect: PaymentDialect) async throws {
        let world = try await LightningGateWorld.make()
        let reading = try await world.challenge()
        let read = try #require(reading.offers.first { $0.dialect == dialect })
        let fields = try read.credentialFields(for: try await world.payer.pay(read.offer))
        world.clock.advance(by: 3_600)  // the 300 s challenge (and its invoice) expired long ago
        let late = try #require(await world.gate.handle(world.request("/premium", fields)).pass?.grant, "\(dialect)")
        #expect(late.settlement.reference == read.offer.id)

        let unpresented = try await world.challenge()
        let second = try #require(unpresented.offers.first { $0.dialect == dialect })
        let secondFields = try second.credentialFields(for: try await world.payer.pay(second.offer))
        world.clock.advance(by: 86_400 + 301)
        let tooLate = await world.gate.handle(world.request("/premium", secondFields))
        #expect(tooLate.pass == nil && !tooLate.isReplay, "\(dialect)")
        #expect(tooLate.response?.status == 402)
    }
}
