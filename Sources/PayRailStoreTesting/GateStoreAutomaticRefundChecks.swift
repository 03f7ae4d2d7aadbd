import Foundation
import PayRail
import PayRailStore

// The automatic-refund listings (`AutomaticRefundStore`) as part of the gate store contract, so a
// store that can list them answers exactly as memory and SQLite do: the gate refunds only payments
// whose grant ended unserved, undisputed and never considered before, and retries only refunds
// still pending whose payment is still stored.

extension GateStoreContractSuite {
    func automaticRefundListings(_ store: any GateStore & PaymentEventStore, _ clock: ManualClock, _ probe: ContractProbe) async throws {
        guard let listing = store as? any AutomaticRefundStore else {
            throw probe.fail("a gate store lists unserved payments and pending refunds (AutomaticRefundStore)", "\(type(of: store)) does not")
        }
        for (id, grant) in [("late-ending", 200.0), ("first-ending", 100.0), ("served", 100.0), ("refunded", 100.0),
                            ("disputed", 100.0), ("running", 3600.0)] {
            try await store.saveChallenge(try ContractSample.challenge(id))
            _ = try await store.consume(challengeID: id, settlement: try ContractSample.settlement(id, reference: "pay-\(id)"),
                                        receipt: try ContractSample.receipt("rc-\(id)", grantSeconds: grant))
        }
        try await store.saveResponse(ContractSample.response, receiptID: "rc-served")
        var failed = try ContractSample.refund("refunded", "k", 100)
        failed = failed.with(status: .failed, railRefundID: nil, at: ContractSample.start)
        _ = try await store.reserveRefund(failed)
        _ = try await store.recordEvent(PaymentEventRecord(id: "evt_1", type: "charge.dispute.created", objectID: "ch_1",
                                                           challengeID: "disputed", receivedAt: ContractSample.start))
        let later = ContractSample.start.addingTimeInterval(300)
        let listed = try await listing.unservedConsumptions(grantEndedBefore: later, limit: 10).map(\.challengeID)
        try probe.expect(listed == ["first-ending", "late-ending"], "unserved: grant over, no response, no refund row, no dispute, oldest first",
                         "\(listed)")
        try probe.expect(try await listing.unservedConsumptions(grantEndedBefore: later, limit: 1).map(\.challengeID) == ["first-ending"],
                         "unserved: the limit holds")
        try probe.expect(try await listing.unservedConsumptions(grantEndedBefore: ContractSample.start.addingTimeInterval(150), limit: 10)
                            .map(\.challengeID) == ["first-ending"], "unserved: the cut-off is the grant's end")

        _ = try await store.reserveRefund(try ContractSample.refund("first-ending", "old", 40))
        _ = try await store.reserveRefund(try ContractSample.refund("late-ending", "done", 40))
        _ = try await store.completeRefund(challengeID: "late-ending", key: "done", status: .succeeded, railRefundID: "rfd_1")
        clock.advance(by: 30)
        _ = try await store.reserveRefund(try ContractSample.refund("first-ending", "new", 40, at: ContractSample.start.addingTimeInterval(30)))
        let pending = try await listing.pendingRefunds(updatedBefore: ContractSample.start.addingTimeInterval(20), limit: 10).map(\.key)
        try probe.expect(pending == ["old"], "pending: only refunds still pending, left alone long enough", "\(pending)")
        let all = try await listing.pendingRefunds(updatedBefore: ContractSample.start.addingTimeInterval(60), limit: 10).map(\.key)
        try probe.expect(all == ["old", "new"], "pending: oldest first", "\(all)")
    }
}

extension GateStoreContractSuite {
    /// An authorization (a card hold the gate captures after the response) is consumed once and read
    /// back as an authorization with its hold's end; it is never listed as unserved (it is voided).
    func authorizationsKept(_ store: any GateStore & PaymentEventStore, _ probe: ContractProbe) async throws {
        try await store.saveChallenge(try ContractSample.challenge("ch-hold"))
        let held = try ContractSample.settlement("ch-hold", reference: "pi_hold")
        let hold = Settlement(rail: held.rail, offerID: held.offerID, reference: held.reference, amount: held.amount,
                              settledAt: held.settledAt, kind: .authorization(expiresAt: ContractSample.start.addingTimeInterval(7 * 86_400)))
        let first = try await store.consume(challengeID: "ch-hold", settlement: hold, receipt: try ContractSample.receipt("rc-hold", grantSeconds: 60))
        guard case .consumed = first else { throw probe.fail("an authorization is consumed like a final settlement", "\(first)") }
        let read = try await store.consumedChallenge(id: "ch-hold")
        try probe.expect(read?.settlement == hold, "an authorization reads back as one, with its hold's end", "\(String(describing: read?.settlement))")
        let again = try await store.consume(challengeID: "ch-hold", settlement: hold, receipt: try ContractSample.receipt("rc-hold-2"))
        guard case .alreadyConsumed(let winner) = again, winner.settlement == hold else {
            throw probe.fail("an authorization is consumed once", "\(again)")
        }
        if let listing = store as? any AutomaticRefundStore {
            let unserved = try await listing.unservedConsumptions(grantEndedBefore: ContractSample.start.addingTimeInterval(3600), limit: 10)
            try probe.expect(unserved.isEmpty, "an authorization is voided, never listed for an automatic refund", "\(unserved.map(\.challengeID))")
        }
    }
}
