import Foundation
import PayRail
import PayRailAgent
import PayRailStore
import PayRailWire
import Testing

/// Issue #16, point 2: a server that answers with the Payment scheme's own `Payment-Receipt`
/// (draft-httpauth-payment-02, base64url JSON {challengeId, method, reference, status, timestamp}) and
/// no PayRail token: the agent keeps reference, status and time in the ledger and says plainly that
/// the receipt was only recorded (unsigned), never that it was verified.
@Suite("PayingClient keeps standard receipts in the ledger (issue 16)", .serialized) struct StandardReceiptLedgerTests {
    private static let standard = PaymentReceipt(method: "fake", timestamp: Date(timeIntervalSince1970: 1_790_000_000),
                                                 reference: "pay_ref_0001", challengeId: "ch-standard-1")

    private func client(_ transport: any PaymentTransport, store: any SpendStore) throws -> (PayingClient, SpendGovernor) {
        let limits = SpendLimits([.sat: .init(perRequest: try Money(parsing: "500sat"), perHour: try Money(parsing: "1000sat"),
                                              perDay: try Money(parsing: "10000sat"))])
        let governor = SpendGovernor(store: store, limits: limits)
        let policy = Policy(unit: .sat, rules: [MaximumPerRequest([try Money(parsing: "500sat")])])
        let negotiator = Negotiator(policy: policy, wallets: WalletRegistry([TestWallet(id: .fake, log: WalletLog())]))
        let configuration = PayingClientConfiguration(negotiator: negotiator, governor: governor, deliveryAttempts: 3)
        return (PayingClient(configuration: configuration, transport: transport), governor)
    }

    @Test("an unsigned standard Payment-Receipt is recorded with its reference, status and time, marked unsigned, in a SQLite wallet")
    func unsignedStandardReceiptIsRecorded() async throws {
        let served = PaymentAnswer(status: 200, headers: HTTPFields([(PaymentReceipt.fieldName, try Self.standard.headerValue())]),
                                   body: Array("result".utf8))
        let transport = InMemoryTransport(challenge: try InMemoryTransport.challenge(try Money(parsing: "42sat"), id: "offer-std"),
                                          answerToPresentation: served)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-std-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("wallet.sqlite").path
        let (client, _) = try client(transport, store: try SQLiteSpendStore(path: path))
        let response = try await client.send(PaidRequest(url: try #require(URL(string: "https://other.example/data")),
                                                         paymentID: "std-receipt-000001"))

        let payment = try #require(response.payment)
        #expect(payment.reference == "pay_ref_0001")
        guard case .unverifiable(let why) = payment.receiptCheck else { throw StandardReceiptFailure("expected an unverified receipt") }
        #expect(why.contains("unsigned") && !why.contains("sent no receipt"))
        #expect(payment.standardReceipt?.trust == .unsigned)

        // Read back from the file by a fresh store, as `payrail ledger` does.
        let record = try #require(try await SQLiteSpendStore(path: path).record(paymentID: "std-receipt-000001"))
        #expect(record.state == .committed)
        #expect(record.reference == "pay_ref_0001")
        #expect(record.receipt == nil)
        let kept = try #require(record.standardReceipt)
        #expect(kept == LedgerReceipt(method: "fake", reference: "pay_ref_0001", status: "success", timestamp: Self.standard.timestamp,
                                      challengeID: "ch-standard-1", trust: .unsigned))
    }

    @Test("a standard receipt carrying a PayRail token that does not verify is recorded as invalid, not as unsigned or verified")
    func signedButInvalidIsSaidSo() async throws {
        var signed = Self.standard
        signed.receipt = "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2ln"
        let served = PaymentAnswer(status: 200, headers: HTTPFields([(PaymentReceipt.fieldName, try signed.headerValue())]),
                                   body: Array("result".utf8))
        let transport = SigningTransport(InMemoryTransport(
            challenge: try InMemoryTransport.challenge(try Money(parsing: "42sat"), id: "offer-std-2"), answerToPresentation: served))
        let store = MemorySpendStore()
        let (client, _) = try client(transport, store: store)
        let response = try await client.send(PaidRequest(url: try #require(URL(string: "https://other.example/data")),
                                                                paymentID: "std-receipt-000002"))
        let kept = try #require(try await store.record(paymentID: "std-receipt-000002")?.standardReceipt)
        #expect(kept.trust != .unsigned && kept.trust != .verified)
        #expect(response.payment?.standardReceipt == kept)
    }
}

/// The in-memory transport, but reading PayRail's token out of the `Payment-Receipt` as the HTTP
/// transport does, so the client tries to verify it.
final class SigningTransport: PaymentTransport, @unchecked Sendable {
    let inner: InMemoryTransport
    init(_ inner: InMemoryTransport) { self.inner = inner }
    func validate(_ request: PaidRequest) throws(PaymentTransportError) {}
    func send(_ request: PaidRequest, presenting presentation: PaymentPresentation?) async throws(PaymentTransportError) -> PaymentAnswer {
        try await inner.send(request, presenting: presentation)
    }
    func challenges(in answer: PaymentAnswer, for request: PaidRequest, receivedAt: Date) -> PaymentResponseReading {
        inner.challenges(in: answer, for: request, receivedAt: receivedAt)
    }
    func classify(_ answer: PaymentAnswer, presented: Bool) -> PaymentAnswerKind {
        guard presented, answer.status == 200 else { return inner.classify(answer, presented: presented) }
        let token = answer.headers[PaymentReceipt.fieldName].flatMap { try? PaymentReceipt.parse($0) }?.receipt
        return .served(receipt: token)
    }
}

struct StandardReceiptFailure: Error { let reason: String; init(_ reason: String) { self.reason = reason } }
