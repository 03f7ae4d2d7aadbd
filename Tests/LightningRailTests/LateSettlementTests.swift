import Foundation
import LightningRail
import LightningTestSupport
import PayRail
import Testing

/// A backend that confirms payments but never says when they were made (as LNbits does when its
/// row has no readable `updated_at`).
struct TimelessWallet: LightningBackend {
    let inner: InMemoryWallet

    func createInvoice(amountMsat: Int64, memo: String?, descriptionHash: [UInt8]?, expirySeconds: Int) async throws(RailError) -> CreatedInvoice {
        try await inner.createInvoice(amountMsat: amountMsat, memo: memo, descriptionHash: descriptionHash, expirySeconds: expirySeconds)
    }

    func incomingStatus(paymentHash: String) async throws(RailError) -> IncomingInvoiceStatus {
        switch try await inner.incomingStatus(paymentHash: paymentHash) {
        case .paid(let amount, let preimage, _): return .paid(amountMsat: amount, preimage: preimage, settledAt: nil)
        case let other: return other
        }
    }

    func pay(bolt11: String, maxFeeMsat: Int64, timeout: Duration) async throws(RailError) -> OutgoingPaymentStatus {
        try await inner.pay(bolt11: bolt11, maxFeeMsat: maxFeeMsat, timeout: timeout)
    }

    func outgoingStatus(paymentHash: String) async throws(RailError) -> OutgoingPaymentStatus? {
        try await inner.outgoingStatus(paymentHash: paymentHash)
    }

    func balanceMsat() async throws(RailError) -> Int64 { try await inner.balanceMsat() }
}

@Suite("Lightning: a payment presented after its invoice expired") struct LateSettlementTests {
    @Test("settles when the backend shows it was paid in time; refused when it cannot say when (fail closed)")
    func latePresentation() async throws {
        let world = try await LightningWorld.make()
        let timeless = LightningPayeeRail(backend: TimelessWallet(inner: InMemoryWallet(node: world.node, name: "shop")), network: .regtest,
                                          clock: world.clock)
        let shown = try await world.payee.prepare(try world.charge())
        let unshown = try await timeless.prepare(try world.charge())
        let shownCredential = try await world.payer.pay(shown)
        let unshownCredential = try await world.payer.pay(unshown)
        world.clock.advance(by: 3_600)
        let settled = try await world.payee.settle(shownCredential, for: shown)
        #expect(settled.amount == shown.amount)
        await #expect(throws: RailError.self) { try await timeless.settle(unshownCredential, for: unshown) }
        do { _ = try await timeless.settle(unshownCredential, for: unshown) } catch { #expect(error.code == .expired) }
    }
}
