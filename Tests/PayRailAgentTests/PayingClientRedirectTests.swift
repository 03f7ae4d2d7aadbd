import Foundation
import PayRail
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import PayRailAgent

// A credential must never follow a redirect to another URL: the client refuses redirects whatever
// session it is given, including a plain one whose own default is to follow them.

@Suite("PayingClient never follows redirects, with any URLSession", .serialized) struct PayingClientRedirectTests {
    @Test("a custom session: a paid retry answered 302 is not followed, the credential never reaches the other URL")
    func paidRedirectNotFollowed() async throws {
        let world = try await SellerWorld()
        world.redirectPaidRequests(to: "/stray")
        let (client, governor) = try world.client(session: URLSession(configuration: .ephemeral))
        let url = try world.url("/premium")
        do throws(PayingClientError) {
            _ = try await client.send(PaidRequest(url: url))
            Issue.record("every paid attempt is redirected: the call cannot finish")
        } catch {
            #expect(error.code == .paidButUndelivered)
        }
        await world.stop()
        #expect(world.strayHits == 0)
        // Paid, not delivered: the spend stays pending for a later retry with the same proof.
        #expect(try await governor.unfinished().count == 1)
    }

    @Test("a custom session: an unpaid request answered 302 comes back as the 302, nothing followed or paid")
    func unpaidRedirectNotFollowed() async throws {
        let world = try await SellerWorld()
        let (client, governor) = try world.client(session: URLSession(configuration: .ephemeral))
        let response = try await client.send(PaidRequest(url: try world.url("/moved")))
        await world.stop()
        #expect(response.status == 302)
        #expect(response.payment == nil)
        #expect(try await governor.ledger().isEmpty)
        #expect(await world.agentBalance() == 100_000)
    }

    @Test("a custom session still pays and fetches normally")
    func customSessionPays() async throws {
        let world = try await SellerWorld()
        let (client, _) = try world.client(session: URLSession(configuration: .ephemeral))
        let response = try await client.send(PaidRequest(url: try world.url("/premium")))
        await world.stop()
        #expect(response.status == 200)
        guard case .verified = response.payment?.receiptCheck else {
            Issue.record("the receipt should verify through the custom session: \(String(describing: response.payment?.receiptCheck))")
            return
        }
    }
}
