import Foundation
import PayRail
import PayRailAgent
import PayRailStore
import PayRailWire
import Testing

// The seam the MCP client and other transports will use: `PayingClient` driven over a transport of
// the test's own, with no socket and no HTTP, through the public API only (no `@testable` here). The
// spend steps must not care how challenges and answers travel.

/// A transport with no network: an unpaid request gets the challenge, every presentation is recorded
/// and answered by `answerToPresentation`. Its own convention for what an answer means (200 served,
/// 402 a challenge, anything else after a presentation a refusal) is all the client learns from.
final class InMemoryTransport: PaymentTransport, @unchecked Sendable {
    // @unchecked: the mutable fields are touched under `lock` only.
    private let lock = NSLock()
    private let challenge: PaymentAnswer
    private let answerToPresentation: PaymentAnswer
    private var unpaidSends = 0
    private var presented: [PaymentPresentation] = []

    init(challenge: PaymentAnswer, answerToPresentation: PaymentAnswer) {
        self.challenge = challenge
        self.answerToPresentation = answerToPresentation
    }

    var unpaidRequests: Int { lock.withLock { unpaidSends } }
    var presentations: [PaymentPresentation] { lock.withLock { presented } }

    func validate(_ request: PaidRequest) throws(PaymentTransportError) {}

    func send(_ request: PaidRequest, presenting presentation: PaymentPresentation?) async throws(PaymentTransportError) -> PaymentAnswer {
        lock.withLock {
            guard let presentation else {
                unpaidSends += 1
                return challenge
            }
            presented.append(presentation)
            return answerToPresentation
        }
    }

    func challenges(in answer: PaymentAnswer, for request: PaidRequest, receivedAt: Date) -> PaymentResponseReading {
        PaymentResponseReader.read(status: answer.status, headers: answer.headers, body: answer.body, receivedAt: receivedAt)
    }

    func classify(_ answer: PaymentAnswer, presented: Bool) -> PaymentAnswerKind {
        if !presented { return answer.status == 402 ? .challenged : .served(receipt: nil) }
        if answer.status == 200 { return .served(receipt: nil) }
        return .refused(detail: "in-memory refusal \(String(decoding: answer.body, as: UTF8.self))")
    }

    /// A challenge in the plain dialect for one fake-rail offer of `amount`.
    static func challenge(_ amount: Money, id: String) throws -> PaymentAnswer {
        let now = Date()
        let offer = Offer(rail: .fake, amount: amount, payee: "acct_merchant", expiresAt: now.addingTimeInterval(300), id: id)
        return PaymentAnswer(status: 402, body: try PlainChallenge(offers: [offer]).body(now: now))
    }
}

@Suite("PayingClient over a PaymentTransport of its own (no HTTP)", .serialized) struct PayingClientTransportSeamTests {
    private func client(
        _ transport: InMemoryTransport, log: WalletLog, events: EventLog
    ) throws -> (PayingClient, SpendGovernor) {
        let limits = SpendLimits([.sat: .init(perRequest: try Money(parsing: "500sat"), perHour: try Money(parsing: "1000sat"),
                                              perDay: try Money(parsing: "10000sat"))])
        let governor = SpendGovernor(store: MemorySpendStore(), limits: limits)
        let policy = Policy(unit: .sat, rules: [MaximumPerRequest([try Money(parsing: "500sat")])])
        let negotiator = Negotiator(policy: policy, wallets: WalletRegistry([TestWallet(id: .fake, log: log)]))
        let configuration = PayingClientConfiguration(negotiator: negotiator, governor: governor, deliveryAttempts: 3,
                                                      onEvent: { events.append($0) })
        return (PayingClient(configuration: configuration, transport: transport), governor)
    }

    @Test("pays the offered amount once, presents the credential under the call's payment id, returns the served body")
    func paysOnceAndServes() async throws {
        let transport = InMemoryTransport(challenge: try InMemoryTransport.challenge(try Money(parsing: "42sat"), id: "offer-1"),
                                          answerToPresentation: PaymentAnswer(status: 200, body: Array("the tool's result".utf8)))
        let log = WalletLog(), events = EventLog()
        let (client, governor) = try client(transport, log: log, events: events)
        let request = PaidRequest(url: try #require(URL(string: "https://tools.example/search")), paymentID: "seam-call-0000001")
        let response = try await client.send(request)

        #expect(String(decoding: response.body, as: UTF8.self) == "the tool's result")
        #expect(response.payment?.amount == (try Money(parsing: "42sat")))
        #expect(log.pays == 1)
        #expect(transport.unpaidRequests == 1)
        let presentation = try #require(transport.presentations.first)
        #expect(transport.presentations.count == 1)
        #expect(presentation.paymentID == "seam-call-0000001")
        #expect(presentation.fields[PlainReceipt.fieldName] != nil)  // the wallet's voucher, in the plain dialect
        #expect(events.names == ["challenged", "negotiated", "reserved", "paid", "presenting", "receipt", "committed"])
        let ledger = try await governor.ledger()
        #expect(ledger.map(\.state) == [.committed])
        #expect(ledger.first?.amount == (try Money(parsing: "42sat")))
    }

    @Test("a refused presentation is paidButRefused, with the transport's detail, and the spend is committed (money moved)")
    func refusalIsPaidButRefused() async throws {
        let transport = InMemoryTransport(challenge: try InMemoryTransport.challenge(try Money(parsing: "42sat"), id: "offer-2"),
                                          answerToPresentation: PaymentAnswer(status: 403, body: Array("no".utf8)))
        let log = WalletLog(), events = EventLog()
        let (client, governor) = try client(transport, log: log, events: events)
        let request = PaidRequest(url: try #require(URL(string: "https://tools.example/search")))
        do throws(PayingClientError) {
            _ = try await client.send(request)
            Issue.record("the presentation is refused: the call cannot succeed")
        } catch {
            #expect(error.code == .paidButRefused)
            #expect(error.reason.contains("in-memory refusal no"))
            #expect(!error.isRetrySafe)
        }
        #expect(log.pays == 1)
        #expect(transport.presentations.count == 1)  // a refusal is final: not presented again
        let ledger = try await governor.ledger()
        #expect(ledger.map(\.state) == [.committed])
        #expect(ledger.first?.note?.contains("refused by the server") == true)
    }
}
