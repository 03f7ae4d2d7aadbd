import FakeRail
import Foundation
import PayRail
import PayRailStore
import Testing

@testable import PayRailAgent

// An explicit payment id (`payrail fetch --payment-id`) names one logical purchase. A released
// attempt under it paid nothing, so the id may pay afresh; a committed one paid, so the id must never
// pay again, and the error must say what to do instead.

@Suite("PayingClient: reusing an explicit payment id", .serialized) struct PayingClientPaymentIDTests {
    @Test("a payment id whose earlier attempt was released (the wallet refused) pays afresh under a new ledger id")
    func releasedIDPaysAfresh() async throws {
        let world = try await SellerWorld()
        let request = PaidRequest(url: try world.url("/premium"), paymentID: "reuse-released-0001")
        let (refusing, governor) = try world.client(wallet: RefusingWallet(inner: world.payer))
        do throws(PayingClientError) {
            _ = try await refusing.send(request)
            Issue.record("a refusing wallet cannot pay")
        } catch {
            #expect(error.code == .paymentFailed)
        }
        #expect(try await governor.record("reuse-released-0001")?.state == .released)

        let (client, _) = try world.client()
        let response = try await client.send(request)
        await world.stop()
        #expect(response.status == 200)
        // The 402 offers the fake rail in several dialects: the refusing wallet released one ledger id
        // per candidate, and the fresh attempt took the first id after them.
        let ledger = try await governor.ledger()
        let released = ledger.count - 1
        #expect(released >= 1)
        #expect(ledger.map(\.paymentID) == (0...released).map { PayingClient.ledgerID("reuse-released-0001", index: $0) })
        #expect(ledger.map(\.state) == Array(repeating: .released, count: released) + [.committed])
        #expect(response.payment?.paymentID == ledger.last?.paymentID)
        #expect(await world.agentBalance() == 99_900)
        #expect(world.handlerCalls == 1)
    }

    @Test("a payment id committed without a receipt is refused with paymentIDAlreadyPaid, and nothing is paid again")
    func committedWithoutReceiptRefuses() async throws {
        let world = try await SellerWorld()
        let request = PaidRequest(url: try world.url("/premium"), paymentID: "reuse-committed-0001")
        let (bogus, governor) = try world.client(wallet: BogusVoucherWallet(inner: world.payer))
        // The server refuses the bogus voucher: the client counts it as paid (a real wallet would have
        // paid) and commits the spend without a receipt.
        _ = try? await bogus.send(request)
        let record = try #require(try await governor.record("reuse-committed-0001"))
        #expect(record.state == .committed && record.receipt == nil)

        let (client, _) = try world.client()
        do throws(PayingClientError) {
            _ = try await client.send(request)
            Issue.record("the id already paid: it must not pay again")
        } catch {
            #expect(error.code == .paymentIDAlreadyPaid)
            #expect(!error.isRetrySafe)
            #expect(error.paymentID == "reuse-committed-0001")
            #expect(error.description.contains("new payment id"))
        }
        await world.stop()
        #expect(try await governor.ledger().count == 1)
        #expect(await world.agentBalance() == 100_000)
        #expect(world.handlerCalls == 0)
    }

    @Test("the same payment id sent twice at once pays once: the second call is told another call is paying")
    func concurrentSameIDPaysOnce() async throws {
        let world = try await SellerWorld()
        let (client, governor) = try world.client()
        let request = PaidRequest(url: try world.url("/premium"), paymentID: "reuse-concurrent-0001")
        async let first = Result { () async throws(PayingClientError) -> Int in try await client.send(request).status }
        async let second = Result { () async throws(PayingClientError) -> Int in try await client.send(request).status }
        let outcomes = await [first, second]
        await world.stop()
        #expect(await world.agentBalance() == 99_900)
        #expect(try await governor.ledger().filter { $0.state == .committed }.count == 1)
        #expect(outcomes.contains { if case .success(200) = $0 { return true }; return false })
        for case .failure(let error) in outcomes {
            #expect(error.code == .paymentInProgress && error.isRetrySafe, "\(error)")
        }
    }

    @Test("a reserved spend that may be paid stays pending while its wallet cannot be asked: the id never pays twice")
    func resumedSpendStaysPendingWhenTheWalletCannotBeAsked() async throws {
        let world = try await SellerWorld()
        let request = PaidRequest(url: try world.url("/premium"), paymentID: "resume-unavailable-0001")
        // The wallet pays, but its answer is lost: the spend stays reserved, money has moved.
        let (lossy, governor) = try world.client(wallet: AnswerLosingWallet(inner: world.payer))
        do throws(PayingClientError) {
            _ = try await lossy.send(request)
            Issue.record("a lost answer cannot finish the call")
        } catch {
            #expect(error.code == .paymentOutcomeUnknown)
        }
        #expect(try await governor.record("resume-unavailable-0001")?.state == .reserved)
        #expect(await world.agentBalance() == 99_900)

        // The wallet cannot be reached to ask: the spend must stay reserved, not be released.
        let (unreachable, _) = try world.client(wallet: UnavailableWallet(inner: world.payer))
        do throws(PayingClientError) {
            _ = try await unreachable.send(request)
            Issue.record("an unreachable wallet cannot finish the call")
        } catch {
            #expect(error.code == .paymentOutcomeUnknown)
        }
        #expect(try await governor.record("resume-unavailable-0001")?.state == .reserved)
        #expect(try await governor.record("resume-unavailable-0001.1") == nil)

        // Reachable again: the same payment is finished, nothing is paid a second time.
        let (client, _) = try world.client()
        let response = try await client.send(request)
        await world.stop()
        #expect(response.status == 200)
        #expect(response.payment?.resumed == true)
        #expect(await world.agentBalance() == 99_900)
        #expect(try await governor.ledger().filter { $0.state == .committed }.count == 1)
    }
}

/// Pays (money moves), then loses the answer as a dropped connection would.
final class AnswerLosingWallet: PayerRail, @unchecked Sendable {
    let inner: FakePayerRail
    var id: RailID { inner.id }
    init(inner: FakePayerRail) { self.inner = inner }
    func quote(_ offer: Offer) async -> QuoteDecision { await inner.quote(offer) }
    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        _ = try await inner.pay(offer)
        throw RailError(.timedOut, "the answer was lost", retry: .afterLookup, rail: id)
    }
}

/// Cannot be reached at all.
final class UnavailableWallet: PayerRail, @unchecked Sendable {
    let inner: FakePayerRail
    var id: RailID { inner.id }
    init(inner: FakePayerRail) { self.inner = inner }
    func quote(_ offer: Offer) async -> QuoteDecision { await inner.quote(offer) }
    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        throw RailError(.unavailable, "the wallet is down", rail: id)
    }
}

extension Result where Failure == PayingClientError {
    init(_ body: () async throws(PayingClientError) -> Success) async {
        do throws(PayingClientError) { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Definitely refuses to pay: nothing moves.
final class RefusingWallet: PayerRail, @unchecked Sendable {
    let inner: FakePayerRail
    var id: RailID { inner.id }
    init(inner: FakePayerRail) { self.inner = inner }
    func quote(_ offer: Offer) async -> QuoteDecision { await inner.quote(offer) }
    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        throw RailError(.insufficientFunds, "no money", rail: id)
    }
}

/// "Pays" with a voucher the processor never signed, so the server refuses it.
final class BogusVoucherWallet: PayerRail, @unchecked Sendable {
    let inner: FakePayerRail
    var id: RailID { inner.id }
    init(inner: FakePayerRail) { self.inner = inner }
    func quote(_ offer: Offer) async -> QuoteDecision { await inner.quote(offer) }
    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        Credential(rail: id, offerID: offer.id, payload: ["voucher": "bogus"])
    }
}
