import Foundation
import LightningRail
import PayRail
import PayRailTestPeers
import PayRailTesting
import Testing

/// The Lightning rail (payee and payer) over two wallets of a real LNbits 1.6.2 (FakeWallet, mainnet
/// invoices): the same contract every rail must honour, with real invoices, real payments and real
/// waiting for expiry.
@Suite("Lightning rail against a real LNbits: the rail contract suite", .serialized)
struct LightningRailLNbitsTests {
    static func charge(lifetime: TimeInterval) -> Charge {
        // Constant inputs: 100 sat and "GET /premium" always parse.
        guard let amount = try? Money(amount: 100, unit: .sat), let resource = try? Resource(parsing: "GET /premium"),
              let charge = try? Charge(amount: amount, resource: resource, description: "premium",
                                       expiresAt: Date().addingTimeInterval(lifetime), challengeID: UUID().uuidString)
        else { preconditionFailure("constant charge") }
        return charge
    }

    @Test("payee (shop's invoice key) and payer (agent's admin key) pass every check, expiry by real waiting")
    func contractSuite() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let shop = try await lnbits.createWallet(name: "contract-shop")
        let agent = try await lnbits.createWallet(name: "contract-agent")
        try await lnbits.fund(agent, sats: 10_000)
        let payee = LightningPayeeRail(
            backend: LNbitsBackend(baseURL: lnbits.baseURL, adminKey: nil, invoiceKey: LNbitsAPIKey(shop.invoiceKey)), network: .mainnet)
        let payer = LightningPayerRail(
            backend: LNbitsBackend(baseURL: lnbits.baseURL, adminKey: LNbitsAPIKey(agent.adminKey), invoiceKey: LNbitsAPIKey(agent.invoiceKey)),
            network: .mainnet)
        // Short charges live 10 s: two invoices and one payment must fit before expiry on a loaded machine
        // (6 s was not enough at load average 11)
        // (the invoice's expiry is whole seconds from a whole-second timestamp). Few concurrent settles: LNbits answers 429 past 200 requests a minute from one address, and
        // every settle in backend-confirmed mode asks it.
        let suite = RailContractSuite(
            payee: payee, payer: payer, makeCharge: { Self.charge(lifetime: 300) }, clock: SystemClock(),
            expiry: .wait(makeShortCharge: { Self.charge(lifetime: 10) }, maximumWait: .seconds(25)), concurrentSettles: 8)
        let violations = await suite.runAll()
        #expect(violations.isEmpty, "\(violations)\n\(lnbits.logTail(lines: 10))")

        // Every payment the suite made moved exactly what the shop received (fees are 0 inside one instance).
        let spent = 10_000_000 - (try await lnbits.balanceMsat(agent))
        let received = try await lnbits.balanceMsat(shop)
        #expect(spent > 0 && spent == received, "agent spent \(spent) msat, shop received \(received) msat")
        #expect(received % 100_000 == 0, "only whole 100-sat invoices were paid: \(received) msat")
    }

    @Test("an invoice that expired is refused by the payer rail before LNbits is asked to pay, and nothing moves")
    func expiredInvoiceIsNotPaid() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let shop = try await lnbits.createWallet(name: "expiry-shop")
        let agent = try await lnbits.createWallet(name: "expiry-agent")
        try await lnbits.fund(agent, sats: 1_000)
        let payee = LightningPayeeRail(
            backend: LNbitsBackend(baseURL: lnbits.baseURL, adminKey: nil, invoiceKey: LNbitsAPIKey(shop.invoiceKey)), network: .mainnet)
        let payer = LightningPayerRail(
            backend: LNbitsBackend(baseURL: lnbits.baseURL, adminKey: LNbitsAPIKey(agent.adminKey), invoiceKey: nil), network: .mainnet)
        let offer = try await payee.prepare(Self.charge(lifetime: 2))
        #expect(offer.expiresAt.timeIntervalSinceNow <= 2)
        // Invoice timestamps are whole seconds: 3.2 s later it has expired whatever the rounding.
        try await Task.sleep(for: .milliseconds(3_200))
        guard case .refused(let refusal) = await payer.quote(offer) else {
            Issue.record("an expired offer was quoted as payable")
            return
        }
        #expect(refusal.code == .expired, "\(refusal)")
        do {
            _ = try await payer.pay(offer)
            Issue.record("an expired invoice was paid")
        } catch {
            #expect(error.code == .expired, "\(error)")
        }
        #expect(try await lnbits.balanceMsat(agent) == 1_000_000)
        #expect(try await lnbits.balanceMsat(shop) == 0)
    }
}
