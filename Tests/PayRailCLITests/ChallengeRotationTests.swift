import Foundation
import PayRail
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `payrail keys rotate-challenge` (issue 18, "Secret rotation works across gates"): a bound offer
/// issued under one secret is still granted after `prepare` and after `promote` (the old secret
/// verifies until its time is over), and refused once the old secret's time is over.
@Suite("payrail keys rotate-challenge: the previous secret verifies until its time is over", .serialized)
struct ChallengeRotationTests {
    /// A 402's plain offer, paid at the processor but not presented yet.
    private func paidOffer(_ server: ServeProcess) async throws -> (ReadOffer, Credential) {
        let unpaid = try await exchange(server.url("/premium"))
        #expect(unpaid.status == 402)
        let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
        let read = try #require(reading.offers.first { $0.dialect == .x402 })
        #expect(BoundOfferToken.looksBound(read.offer.id))
        return (read, try await DemoPayer(dataDirectory: server.data).pay(read.offer))
    }

    private func rotate(_ data: URL, _ extra: [String]) throws -> AgentRun {
        let run = try AgentRun.run(["keys", "rotate-challenge", "--data", data.path] + extra)
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        return run
    }

    @Test("prepare, promote, then a rotation with --accept-for 0: granted, granted, refused; no secret printed")
    func rotationAcrossRestarts() async throws {
        var server = try ServeProcess([])
        let data = server.data
        let (first, firstCredential) = try await paidOffer(server)
        #expect(server.stop() == 0)
        let secretBefore = try String(contentsOf: data.appendingPathComponent("challenge-secret"), encoding: .utf8)

        let prepared = try rotate(data, ["--phase", "prepare"])
        server = try ServeProcess([], data: data)
        #expect(try await exchange(server.url("/premium"), headers: try first.credentialFields(for: firstCredential)).status == 200)
        let (second, secondCredential) = try await paidOffer(server)
        #expect(server.stop() == 0)

        let promoted = try rotate(data, ["--phase", "promote"])
        let file = try String(contentsOf: data.appendingPathComponent("challenge-secret"), encoding: .utf8)
        #expect(file.split(separator: "\n").count == 2 && file.contains(" until "), "one current, the old one retired")
        server = try ServeProcess([], data: data)
        #expect(try await exchange(server.url("/premium"), headers: try second.credentialFields(for: secondCredential)).status == 200)
        let (third, thirdCredential) = try await paidOffer(server)
        #expect(server.stop() == 0)

        _ = try rotate(data, ["--accept-for", "0"])
        server = try ServeProcess([], data: data)
        defer { server.kill() }
        let refused = try await exchange(server.url("/premium"), headers: try third.credentialFields(for: thirdCredential))
        #expect(refused.status == 402, "an offer of a secret whose time is over is refused with a fresh challenge")
        for run in [prepared, promoted] {
            for line in secretBefore.split(separator: "\n") { #expect(!(run.stdout + run.stderr).contains(String(line.prefix(43)))) }
        }
        #expect(try AgentRun.run(["keys", "rotate-challenge", "--data", data.path, "--accept-for", "-1"]).status == 2)
    }
}
