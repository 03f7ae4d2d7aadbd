import FakeRail
import Foundation
import PayRail
import PayRailTestServers
import Testing

// The hosted fake processor is reached over HTTP, with the account's secret in each request body. A
// hostile or broken processor (or anything between) must not grow the client's memory, hold a call
// past its timeout, or get the secret sent on to another URL; an answer to `pay` that cannot be read
// is "may have paid" (`.timedOut`, pay again to find out), never a refusal.

/// Whether a pay reached the server yet, shared with the loopback server's threads.
private final class PaySeen: @unchecked Sendable {
    // @unchecked: `count` is guarded by `lock`.
    private let lock = NSLock()
    private var count = 0
    func next() -> Int { lock.withLock { count += 1; return count } }
}

@Suite("HostedFakeProcessor against a hostile processor", .serialized)
struct HostedFakeProcessorBoundsTests {
    static let mib = 1 << 20
    static let payer = FakeAccountCredentials(accountID: "acct_payer", secret: "s3cret-never-sent-elsewhere-0000")

    static func processor(_ server: LoopbackBodyServer) throws -> HostedFakeProcessor {
        HostedFakeProcessor(baseURL: try #require(URL(string: server.origin + "/.well-known/payrail/fake")))
    }

    /// Pays once; the `RailError` it ends with, or `nil` (recorded) when it paid.
    static func payFailure(_ processor: HostedFakeProcessor) async throws -> RailError? {
        let amount = try Money(parsing: "10sat")
        do throws(RailError) {
            let voucher = try await processor.pay(requestID: "req_1", amount: amount, payee: "acct_payee", payer: payer)
            Issue.record("expected a failure, got the voucher \(voucher)")
            return nil
        } catch {
            return error
        }
    }

    @Test("pay answered with 50 MiB: timedOut at the 1 MiB default before the server sent it all; paying again finds the voucher")
    func oversizedPayAnswer() async throws {
        let total = 50 * Self.mib
        let pays = PaySeen()
        let voucher = Array(#"{"voucher":"v-loop-1"}"#.utf8)
        let server = try LoopbackBodyServer { _ in
            guard pays.next() == 1 else { return LazyAnswer(head: LazyAnswer.head("200 OK", length: voucher.count), chunk: voucher, bodyBytes: voucher.count) }
            return LazyAnswer(head: LazyAnswer.head("200 OK", length: nil), prefix: Array(#"{"voucher":""#.utf8),
                              chunk: [UInt8](repeating: 0x61, count: 65_536), bodyBytes: total)
        }
        defer { server.stop() }
        let processor = try Self.processor(server)
        let failure = try await Self.payFailure(processor)
        let sentWhenItFailed = server.bodyBytesSent
        #expect(failure?.code == .timedOut, "\(String(describing: failure))")
        #expect(failure?.reason.contains("larger than \(Self.mib) bytes") == true, "\(String(describing: failure))")
        #expect(!String(describing: failure).contains(Self.payer.secret))
        #expect(sentWhenItFailed < total, "the client read \(sentWhenItFailed) bytes of a \(total)-byte answer")
        // The processor's pay is idempotent per request and payer: asking again tells what happened.
        #expect(try await processor.pay(requestID: "req_1", amount: try Money(parsing: "10sat"), payee: "acct_payee", payer: Self.payer) == "v-loop-1")
    }

    @Test("an answer dripped a byte every 200 ms: timedOut at the 1 s timeout, not when the drip ends (10 s)")
    func drippedAnswer() async throws {
        let server = try LoopbackBodyServer { _ in
            .dripping(bytes: 50, pause: 0.2)
        }
        defer { server.stop() }
        let processor = HostedFakeProcessor(baseURL: try #require(URL(string: server.origin + "/fake")), timeout: .seconds(1))
        let started = ContinuousClock.now
        let failure = try await Self.payFailure(processor)
        let took = ContinuousClock.now - started
        #expect(failure?.code == .timedOut, "\(String(describing: failure))")
        #expect(took < .seconds(4), "the call took \(took)")
    }

    @Test("a redirect is not followed: the account's secret never reaches its target, and nothing is paid there")
    func redirectNotFollowed() async throws {
        let target = try LoopbackBodyServer { _ in
            let voucher = Array(#"{"voucher":"v-stolen"}"#.utf8)
            return LazyAnswer(head: LazyAnswer.head("200 OK", length: voucher.count), chunk: voucher, bodyBytes: voucher.count)
        }
        defer { target.stop() }
        let location = target.origin + "/stolen/pay"
        let server = try LoopbackBodyServer { _ in
            .redirect(to: location)
        }
        defer { server.stop() }
        let failure = try await Self.payFailure(try Self.processor(server))
        #expect(failure != nil)
        #expect(target.requests.isEmpty, "the redirect target got \(target.requests.map(\.head))")
    }
}
