import Foundation
import PayRail
import Testing
@testable import LightningRail

@Suite("Lightning rail: what it remembers of settlements is bounded") struct SettlementMemoryTests {
    @Test("past its capacity the oldest settlement is forgotten, the newest kept")
    func boundedMemory() async throws {
        let memory = LightningSettlements()
        let amount = try Money(amount: 1, unit: .sat)
        func settlement(_ index: Int) -> Settlement {
            Settlement(rail: .lightning, offerID: "h\(index)", reference: "h\(index)", amount: amount, settledAt: Date(timeIntervalSince1970: 0))
        }
        for index in 0...LightningSettlements.capacity { #expect(await memory.claim(settlement(index)) || index < 0) }
        #expect(await memory.settlement(for: "h0") == nil)
        #expect(await memory.settlement(for: "h1") != nil)
        #expect(await memory.settlement(for: "h\(LightningSettlements.capacity)") != nil)
        #expect(await memory.claim(settlement(LightningSettlements.capacity)) == false)
    }
}
