import Foundation
import PayRail
import Testing

@testable import PayRailAgent
@testable import PayRailWire

@Suite struct NegotiationApprovalTests {
    private let log = WalletLog()

    private func negotiator(threshold: String, approver: (any Approver)?) throws -> Negotiator {
        let policy = Policy(
            unit: .sat, rules: [MaximumPerRequest([try N.money("10000sat")])], approvalThreshold: try N.money(threshold))
        return Negotiator(
            policy: policy, wallets: WalletRegistry([TestWallet(id: .fake, log: log), TestWallet(id: .lightning, log: log)]),
            approver: approver)
    }

    @Test("asked exactly once, for the chosen offer, when it is above the threshold")
    func askedOnceForTheChosen() async throws {
        let approver = ScriptedApprover([true, true, true])
        let offers = [try N.offer(.fake, "600sat", id: "b"), try N.offer(.lightning, "500sat", id: "a"), try N.offer(.fake, "700sat", id: "c")]
        let negotiation = try await negotiator(threshold: "100sat", approver: approver).negotiate(offers, for: N.request)
        #expect(await approver.asked == ["a"])
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["a", "b", "c"])
        #expect(negotiation.candidates.map(\.approval) == [.approved, .required, .required])
        #expect(negotiation.explanationLines[1] == "plain lightning 500sat to acct_merchant: taken #1 (cost 500sat, approved)")
    }

    @Test("a denial moves on to the next candidate, which is asked in turn")
    func denialMovesOn() async throws {
        // Ranking is by cost, so the next candidate costs at least as much: it is above the threshold too.
        let approver = ScriptedApprover([false, true])
        let offers = [try N.offer(.fake, "150sat", id: "first"), try N.offer(.lightning, "200sat", id: "second")]
        let negotiation = try await negotiator(threshold: "100sat", approver: approver).negotiate(offers, for: N.request)
        #expect(await approver.asked == ["first", "second"])
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["second"])
        #expect(negotiation.candidates.first?.approval == .approved)
        #expect(negotiation.refusals.map(\.rule) == ["approval"])
        #expect(negotiation.refusals.first?.reason == "the approver declined the cost 150sat (threshold 100sat)")
    }

    @Test("denials of every candidate refuse them all, and nothing is paid")
    func denialRefusesAll() async throws {
        let approver = ScriptedApprover([false, false])
        let offers = [try N.offer(.fake, "50sat", id: "second"), try N.offer(.lightning, "40sat", id: "first")]
        let negotiation = try await negotiator(threshold: "30sat", approver: approver).negotiate(offers, for: N.request)
        #expect(await approver.asked == ["first", "second"])
        #expect(negotiation.candidates.isEmpty)
        #expect(negotiation.refusals.map(\.rule) == ["approval", "approval"])
        try await N.payChosen(negotiation, wallets: WalletRegistry([TestWallet(id: .fake, log: log), TestWallet(id: .lightning, log: log)]))
        #expect(log.pays == 0)
    }

    @Test("a cheapest candidate below the threshold is taken without asking; dearer fallbacks keep 'required'")
    func cheapFirstNeedsNoApproval() async throws {
        let approver = ScriptedApprover([false])
        let offers = [try N.offer(.lightning, "500sat", id: "dear"), try N.offer(.fake, "600sat", id: "dearer"), try N.offer(.fake, "20sat", id: "small")]
        let negotiation = try await negotiator(threshold: "100sat", approver: approver).negotiate(offers, for: N.request)
        #expect(await approver.asked.isEmpty)
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["small", "dear", "dearer"])
        #expect(negotiation.candidates.map(\.approval) == [.notRequired, .required, .required])
    }

    @Test("never asked at or below the threshold")
    func neverAskedBelow() async throws {
        let approver = ScriptedApprover([])
        let offers = [try N.offer(.fake, "100sat", id: "at"), try N.offer(.lightning, "99sat", id: "below")]
        let negotiation = try await negotiator(threshold: "100sat", approver: approver).negotiate(offers, for: N.request)
        #expect(await approver.asked.isEmpty)
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["below", "at"])
        #expect(negotiation.candidates.map(\.approval) == [.notRequired, .notRequired])
    }

    @Test("no approver: everything above the threshold is refused, the rest stays")
    func noApprover() async throws {
        let offers = [try N.offer(.fake, "101sat", id: "above"), try N.offer(.lightning, "100sat", id: "at")]
        let negotiation = try await negotiator(threshold: "100sat", approver: nil).negotiate(offers, for: N.request)
        #expect(negotiation.candidates.map(\.offer.offer.id) == ["at"])
        #expect(negotiation.refusals.map(\.rule) == ["approval"])
        #expect(negotiation.refusals.first?.reason == "the cost 101sat is above the approval threshold of 100sat and no approver is configured")
    }

    @Test("a fallback that needs approval is confirmed before paying it")
    func confirmFallback() async throws {
        let approver = ScriptedApprover([true, false])
        let offers = [try N.offer(.fake, "500sat", id: "a"), try N.offer(.lightning, "600sat", id: "b")]
        let negotiator = try negotiator(threshold: "100sat", approver: approver)
        let negotiation = await negotiator.negotiate(offers, for: N.request)
        let fallback = try #require(negotiation.candidates.last)
        #expect(fallback.approval == .required)
        #expect(await negotiator.confirmApproval(of: fallback, for: N.request) == false)
        #expect(await approver.asked == ["a", "b"])
        #expect(await negotiator.confirmApproval(of: try #require(negotiation.candidates.first), for: N.request))
        #expect(await approver.asked.count == 2)
    }
}
