import Foundation
import LightningRail
import PayRail
import Testing

@Suite("Lightning refunds")
struct LightningRefundTests {
    @Test("a settled Lightning payment is not refunded by the rail: .unsupported, naming the payment hash and what to do")
    func refusal() async throws {
        let world = try await LightningWorld.make()
        let offer = try await world.payee.prepare(try world.charge())
        let settlement = try await world.payee.settle(try await world.payer.pay(offer), for: offer)
        #expect(world.payee.capabilities.refundable == false)
        await #expect { _ = try await world.payee.refund(settlement, amount: nil, reason: nil, idempotencyKey: "k") } throws: { error in
            guard let error = error as? RailError else { return false }
            return error.code == .unsupported && error.retry == .unsafe && error.reason.contains("invoice from the payer")
                && error.reason.contains(settlement.reference)
        }
    }
}
