import Foundation
import LightningRail
import PayRail
import PayRailCrypto
import Testing

/// Answers LNbits requests from a script and records what was sent, so each test can assert the
/// exact outgoing request and feed the backend answers recorded from a real LNbits 1.6.2.
final class CannedLNbits: HTTPTransport, @unchecked Sendable {
    // @unchecked: `answers` and `sent` are only touched under `lock`.
    private let lock = NSLock()
    private var answers: [Result<BackendResponse, TransportFailure>]
    private var sent: [BackendRequest] = []

    init(_ answers: [Result<BackendResponse, TransportFailure>]) { self.answers = answers }

    var requests: [BackendRequest] { lock.withLock { sent } }

    func send(_ request: BackendRequest) async throws(TransportFailure) -> BackendResponse {
        let next: Result<BackendResponse, TransportFailure>? = lock.withLock {
            sent.append(request)
            return answers.isEmpty ? nil : answers.removeFirst()
        }
        guard let next else { throw .notSent("the test scripted no answer for \(request.method) \(request.url.path)") }
        return try next.get()
    }
}

/// The recorded LNbits answers under Fixtures/lnbits-*.json.
enum LNbitsFixture {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func body(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: folder.appendingPathComponent("lnbits-\(name).json")))
    }

    static func answer(_ status: Int, _ name: String) throws -> Result<BackendResponse, TransportFailure> {
        .success(BackendResponse(status: status, body: try body(name)))
    }

    static func object(_ name: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body(name))) as? [String: Any])
    }

    /// A field of the recorded payment row (top level, or under `details`).
    static func field(_ name: String, _ key: String) throws -> String {
        let object = try object(name)
        let row = (object["details"] as? [String: Any]) ?? object
        return try #require(row[key] as? String)
    }
}

/// Keys that appear nowhere in the fixtures, so a leak is easy to spot.
enum CannedKeys {
    static let admin = "adm1n0000aaaabbbbccccddddeeeeffff"
    static let invoice = "1nv0000011112222333344445555666"
    static let base = URL(string: "http://lnbits.test:5000")
}

@Suite("LNbits backend against canned LNbits answers")
struct LNbitsCannedTests {
    // The recorded invoice: 21 sat, memo "coffee", expiry 600 s, made at unix 1795576474.
    let bolt11: String
    let paymentHash: String
    let preimage: String
    let madeAt: Date

    init() throws {
        bolt11 = try LNbitsFixture.field("create-invoice", "bolt11")
        paymentHash = try LNbitsFixture.field("create-invoice", "payment_hash")
        preimage = try LNbitsFixture.field("pay", "preimage")
        let created = try LNbitsFixture.field("create-invoice", "time")
        madeAt = try #require(ISO8601DateFormatter.lnbits.date(from: created))
    }

    func backend(_ transport: CannedLNbits, admin: Bool = true, invoice: Bool = true, now: Date? = nil) throws -> LNbitsBackend {
        LNbitsBackend(
            baseURL: try #require(CannedKeys.base), adminKey: admin ? LNbitsAPIKey(CannedKeys.admin) : nil,
            invoiceKey: invoice ? LNbitsAPIKey(CannedKeys.invoice) : nil, transport: transport, requestTimeout: .seconds(7),
            clock: ManualClock(start: now ?? madeAt.addingTimeInterval(5))
        )
    }

    func json(_ bytes: [UInt8]) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
    }

    func expectRequest(_ request: BackendRequest?, _ method: String, _ pathAndQuery: String, key: String, body: [String: Any]?) throws {
        let request = try #require(request)
        #expect(request.method == method)
        let url = request.url.absoluteString
        #expect(url == "http://lnbits.test:5000" + pathAndQuery)
        #expect(request.header("X-Api-Key") == key)
        #expect(request.header("Accept") == "application/json")
        if let body {
            #expect(request.header("Content-Type") == "application/json")
            #expect(try json(request.body) == body as NSDictionary)
        } else {
            #expect(request.body.isEmpty)
            #expect(request.header("Content-Type") == nil)
        }
    }

    func expectError(_ code: RailError.Code, _ advice: RetryAdvice, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code), got success")
        } catch {
            guard let error = error as? RailError else {
                Issue.record("expected a RailError, got \(error)")
                return
            }
            #expect(error.code == code, "\(error)")
            #expect(error.retry == advice, "\(error)")
            #expect(error.rail == .lightning)
            #expect(!error.description.contains(CannedKeys.admin) && !error.description.contains(CannedKeys.invoice))
        }
    }

    // MARK: createInvoice

    @Test func createInvoicePostsWholeSatsWithTheInvoiceKey() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(201, "create-invoice")])
        let invoice = try await backend(transport).createInvoice(amountMsat: 21_000, memo: "coffee", descriptionHash: nil, expirySeconds: 600)
        try expectRequest(transport.requests.first, "POST", "/api/v1/payments", key: CannedKeys.invoice,
                          body: ["out": false, "amount": 21, "memo": "coffee", "expiry": 600])
        #expect(transport.requests.count == 1)
        #expect(String(decoding: transport.requests.first?.body ?? [], as: UTF8.self) == #"{"amount":21,"expiry":600,"memo":"coffee","out":false}"#)
        #expect(invoice == CreatedInvoice(bolt11: bolt11, paymentHash: paymentHash))
    }

    @Test func createInvoiceFallsBackToTheAdminKey() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(201, "create-invoice")])
        _ = try await backend(transport, invoice: false).createInvoice(amountMsat: 21_000, memo: "coffee", descriptionHash: nil, expirySeconds: 600)
        #expect(transport.requests.first?.header("X-Api-Key") == CannedKeys.admin)
    }

    @Test func createInvoiceWithDescriptionHashSendsHexAndNoMemo() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(201, "create-invoice-description-hash")])
        let hash = [UInt8](repeating: 0xCD, count: 32)
        let invoice = try await backend(transport).createInvoice(amountMsat: 5_000, memo: "ignored", descriptionHash: hash, expirySeconds: 2)
        try expectRequest(transport.requests.first, "POST", "/api/v1/payments", key: CannedKeys.invoice,
                          body: ["out": false, "amount": 5, "description_hash": String(repeating: "cd", count: 32), "expiry": 2])
        #expect(invoice.paymentHash == (try LNbitsFixture.field("create-invoice-description-hash", "payment_hash")))
    }

    @Test func createInvoiceRefusesAnInvoiceCommittingToAnotherDescription() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(201, "create-invoice-description-hash")])
        let backend = try backend(transport)
        await expectError(.unavailable, .safe) {
            _ = try await backend.createInvoice(amountMsat: 5_000, memo: nil, descriptionHash: [UInt8](repeating: 0xEE, count: 32), expirySeconds: 2)
        }
    }

    @Test func createInvoiceRefusesAnAnswerForAnotherAmount() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(201, "create-invoice")])
        let backend = try backend(transport)
        await expectError(.unavailable, .safe) {
            _ = try await backend.createInvoice(amountMsat: 22_000, memo: "coffee", descriptionHash: nil, expirySeconds: 600)
        }
    }

    @Test(arguments: [21_500, 999, 0, -1_000] as [Int64])
    func createInvoiceRefusesAmountsThatAreNotWholePositiveSats(amountMsat: Int64) async throws {
        let transport = CannedLNbits([])
        let backend = try backend(transport)
        await expectError(.unsupported, .unsafe) {
            _ = try await backend.createInvoice(amountMsat: amountMsat, memo: nil, descriptionHash: nil, expirySeconds: 600)
        }
        #expect(transport.requests.isEmpty)
    }

    @Test func createInvoiceRefusesAShortDescriptionHashAndAZeroExpiry() async throws {
        let transport = CannedLNbits([])
        let backend = try backend(transport)
        await expectError(.malformed, .unsafe) {
            _ = try await backend.createInvoice(amountMsat: 1_000, memo: nil, descriptionHash: [1, 2, 3], expirySeconds: 600)
        }
        await expectError(.malformed, .unsafe) {
            _ = try await backend.createInvoice(amountMsat: 1_000, memo: nil, descriptionHash: nil, expirySeconds: 0)
        }
        #expect(transport.requests.isEmpty)
    }

    @Test func createInvoiceValidationErrorIsMalformedWithLNbitsDetail() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(400, "error-400-validation")])
        let backend = try backend(transport)
        do {
            _ = try await backend.createInvoice(amountMsat: 1_000, memo: nil, descriptionHash: nil, expirySeconds: 600)
            Issue.record("expected malformed")
        } catch {
            #expect(error.code == .malformed)
            #expect(error.reason.contains("amount: ensure this value is greater than or equal to 0"))
        }
    }

    // MARK: incomingStatus

    @Test func incomingStatusReadsPendingPaidAndExpired() async throws {
        let transport = CannedLNbits([
            try LNbitsFixture.answer(200, "status-incoming-pending"), try LNbitsFixture.answer(200, "status-incoming-paid"),
            try LNbitsFixture.answer(200, "status-incoming-expired"),
        ])
        let backend = try backend(transport)
        #expect(try await backend.incomingStatus(paymentHash: paymentHash) == .open)
        guard case .paid(let amount, let paidPreimage, let settledAt) = try await backend.incomingStatus(paymentHash: paymentHash.uppercased()) else {
            Issue.record("expected paid")
            return
        }
        #expect(amount == 21_000)
        #expect(paidPreimage == preimage)
        #expect(LNbitsTestHex.encode(SHA256.hash(try #require(LNbitsTestHex.decode(preimage)))) == paymentHash)
        #expect(settledAt != nil)
        #expect(try await backend.incomingStatus(paymentHash: paymentHash) == .closed)
        try expectRequest(transport.requests.first, "GET", "/api/v1/payments/\(paymentHash)", key: CannedKeys.invoice, body: nil)
        #expect(transport.requests.map(\.url.path) == Array(repeating: "/api/v1/payments/\(paymentHash)", count: 3))
    }

    @Test func incomingStatusOfAPendingInvoicePastItsExpiryIsClosed() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(200, "status-incoming-pending")])
        let backend = try backend(transport, now: madeAt.addingTimeInterval(601))
        #expect(try await backend.incomingStatus(paymentHash: paymentHash) == .closed)
    }

    @Test func incomingStatusRefusesUnknownHashesOutgoingRowsAndThePublicView() async throws {
        let transport = CannedLNbits([
            try LNbitsFixture.answer(404, "error-404-payment"), try LNbitsFixture.answer(200, "status-outgoing-paid"),
            try LNbitsFixture.answer(200, "status-public-view"),
        ])
        let backend = try backend(transport)
        await expectError(.mismatch, .unsafe) { _ = try await backend.incomingStatus(paymentHash: paymentHash) }
        await expectError(.mismatch, .unsafe) { _ = try await backend.incomingStatus(paymentHash: paymentHash) }
        await expectError(.declined, .unsafe) { _ = try await backend.incomingStatus(paymentHash: paymentHash) }
    }

    @Test func lookupsRefuseAHashThatIsNotHexWithoutSending() async throws {
        let transport = CannedLNbits([])
        let backend = try backend(transport)
        await expectError(.malformed, .unsafe) { _ = try await backend.incomingStatus(paymentHash: "../wallet") }
        await expectError(.malformed, .unsafe) { _ = try await backend.outgoingStatus(paymentHash: String(repeating: "g", count: 64)) }
        #expect(transport.requests.isEmpty)
    }

    // MARK: pay

    @Test func payAsksTheFeeReserveThenPostsTheInvoiceWithTheAdminKey() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(200, "fee-reserve"), try LNbitsFixture.answer(201, "pay")])
        let outcome = try await backend(transport).pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(12))
        #expect(outcome == .succeeded(preimage: preimage, feeMsat: 0))
        #expect(transport.requests.count == 2)
        try expectRequest(transport.requests.first, "GET", "/api/v1/payments/fee-reserve?invoice=\(bolt11)", key: CannedKeys.admin, body: nil)
        try expectRequest(transport.requests.last, "POST", "/api/v1/payments", key: CannedKeys.admin, body: ["out": true, "bolt11": bolt11])
        #expect(String(decoding: transport.requests.last?.body ?? [], as: UTF8.self) == #"{"bolt11":"\#(bolt11)","out":true}"#)
        #expect(transport.requests.first?.timeout == .seconds(7))
        #expect(transport.requests.last?.timeout == .seconds(12))
    }

    @Test func payRefusesWhenLNbitsMaySpendMoreFeeThanTheLimit() async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(200, "fee-reserve")])
        let backend = try backend(transport)
        await expectError(.unsupported, .unsafe) { _ = try await backend.pay(bolt11: bolt11, maxFeeMsat: 1_999, timeout: .seconds(5)) }
        #expect(transport.requests.count == 1)
    }

    @Test func payRefusesAnExpiredInvoiceWithoutAsking() async throws {
        let transport = CannedLNbits([])
        let backend = try backend(transport, now: madeAt.addingTimeInterval(600))
        await expectError(.expired, .unsafe) { _ = try await backend.pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(5)) }
        #expect(transport.requests.isEmpty)
    }

    @Test func payRefusesWithoutAnAdminKeyOrAnInvoiceAndSendsNothing() async throws {
        let transport = CannedLNbits([])
        await expectError(.declined, .unsafe) {
            _ = try await backend(transport, admin: false).pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(5))
        }
        await expectError(.malformed, .unsafe) {
            _ = try await backend(transport).pay(bolt11: "lnbc1garbage", maxFeeMsat: 2_000, timeout: .seconds(5))
        }
        var tampered = Array(bolt11)
        tampered[40] = tampered[40] == "q" ? "p" : "q"
        await expectError(.malformed, .unsafe) {
            _ = try await backend(transport).pay(bolt11: String(tampered), maxFeeMsat: 2_000, timeout: .seconds(5))
        }
        #expect(transport.requests.isEmpty)
    }

    @Test func payRefusesASuccessWhosePreimageDoesNotHashToThePaymentHash() async throws {
        var body = try #require(String(bytes: try LNbitsFixture.body("pay"), encoding: .utf8))
        body = body.replacingOccurrences(of: preimage, with: String(repeating: "00", count: 32))
        let transport = CannedLNbits([try LNbitsFixture.answer(200, "fee-reserve"), .success(BackendResponse(status: 201, body: Array(body.utf8)))])
        let backend = try backend(transport)
        // Reported paid: money moved, so the answer is "look it up", never a refusal that reads as "not paid".
        await expectError(.timedOut, .afterLookup) { _ = try await backend.pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(5)) }
    }

    @Test func payReportsAPendingPaymentAsInFlight() async throws {
        var body = try #require(String(bytes: try LNbitsFixture.body("pay"), encoding: .utf8))
        body = body.replacingOccurrences(of: "\"status\":\"success\"", with: "\"status\":\"pending\"")
        let transport = CannedLNbits([try LNbitsFixture.answer(200, "fee-reserve"), .success(BackendResponse(status: 201, body: Array(body.utf8)))])
        #expect(try await backend(transport).pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(5)) == .inFlight)
    }

    /// Every error LNbits gives to the payment POST, and both transport failures, with the advice.
    @Test(arguments: [
        (520, "error-520-insufficient", RailError.Code.insufficientFunds, RetryAdvice.unsafe),
        (520, "error-520-already-paid", .alreadySettled, .unsafe),
        (520, "error-520-bolt11", .malformed, .unsafe),
        (403, "error-403-invoice-key", .declined, .unsafe),
        (404, "error-404-wallet-not-found", .declined, .unsafe),
        (401, "error-401-no-key", .declined, .unsafe),
        (400, "error-400-validation", .malformed, .unsafe),
        (429, "error-429", .unavailable, .safe),
        (500, "error-500", .unavailable, .afterLookup),
        (502, "error-500", .unavailable, .afterLookup),
    ])
    func payErrorsAreTyped(status: Int, fixture: String, code: RailError.Code, advice: RetryAdvice) async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(200, "fee-reserve"), try LNbitsFixture.answer(status, fixture)])
        let backend = try backend(transport)
        await expectError(code, advice) { _ = try await backend.pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(5)) }
        #expect(transport.requests.count == 2)
    }

    @Test func payWithoutAnAnswerTimesOutAndAsksForALookup() async throws {
        let lost = CannedLNbits([try LNbitsFixture.answer(200, "fee-reserve"), .failure(.noAnswer("URLError -1001"))])
        await expectError(.timedOut, .afterLookup) { _ = try await backend(lost).pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(5)) }
        let refused = CannedLNbits([.failure(.notSent("URLError -1004"))])
        await expectError(.unavailable, .safe) { _ = try await backend(refused).pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(5)) }
        #expect(refused.requests.count == 1)
        let unreadable = CannedLNbits([try LNbitsFixture.answer(200, "fee-reserve"), .success(BackendResponse(status: 201, body: Array("<html>".utf8)))])
        await expectError(.unavailable, .afterLookup) {
            _ = try await backend(unreadable).pay(bolt11: bolt11, maxFeeMsat: 2_000, timeout: .seconds(5))
        }
    }

    // MARK: outgoingStatus

    @Test func outgoingStatusReadsTheOutgoingRow() async throws {
        let transport = CannedLNbits([
            try LNbitsFixture.answer(200, "status-outgoing-paid"), try LNbitsFixture.answer(404, "error-404-payment"),
            try LNbitsFixture.answer(200, "status-incoming-paid"),
        ])
        let backend = try backend(transport, invoice: false)
        #expect(try await backend.outgoingStatus(paymentHash: paymentHash) == .succeeded(preimage: preimage, feeMsat: 0))
        #expect(try await backend.outgoingStatus(paymentHash: paymentHash) == nil)
        // The wallet's own invoice is not a payment it made.
        #expect(try await backend.outgoingStatus(paymentHash: paymentHash) == nil)
        try expectRequest(transport.requests.first, "GET", "/api/v1/payments/\(paymentHash)", key: CannedKeys.admin, body: nil)
    }

    @Test func outgoingStatusReportsFailedPayments() async throws {
        var body = try #require(String(bytes: try LNbitsFixture.body("status-outgoing-paid"), encoding: .utf8))
        body = body.replacingOccurrences(of: "\"status\":\"success\"", with: "\"status\":\"failed\"")
        let transport = CannedLNbits([.success(BackendResponse(status: 200, body: Array(body.utf8)))])
        guard case .failed = try await backend(transport).outgoingStatus(paymentHash: paymentHash) else {
            Issue.record("expected failed")
            return
        }
    }

    // MARK: balance

    @Test func balanceReadsMillisatoshis() async throws {
        // The recorded wallet had received 21 + 5 + 21 sat.
        let transport = CannedLNbits([try LNbitsFixture.answer(200, "wallet")])
        #expect(try await backend(transport).balanceMsat() == 47_000)
        try expectRequest(transport.requests.first, "GET", "/api/v1/wallet", key: CannedKeys.invoice, body: nil)
    }

    @Test(arguments: [
        (404, "error-404-wallet-not-found", RailError.Code.declined, RetryAdvice.unsafe),
        (401, "error-401-no-key", .declined, .unsafe),
        (429, "error-429", .unavailable, .safe),
        (500, "error-500", .unavailable, .safe),
        (307, "error-401-no-key", .unavailable, .safe),
    ])
    func readErrorsAreTyped(status: Int, fixture: String, code: RailError.Code, advice: RetryAdvice) async throws {
        let transport = CannedLNbits([try LNbitsFixture.answer(status, fixture)])
        let backend = try backend(transport)
        await expectError(code, advice) { _ = try await backend.balanceMsat() }
    }

    @Test func readsWithoutAnAnswerAreUnavailableAndSafe() async throws {
        let transport = CannedLNbits([.failure(.noAnswer("reset")), .failure(.noAnswer("reset"))])
        let backend = try backend(transport)
        await expectError(.unavailable, .safe) { _ = try await backend.balanceMsat() }
        await expectError(.unavailable, .safe) {
            _ = try await backend.createInvoice(amountMsat: 1_000, memo: nil, descriptionHash: nil, expirySeconds: 60)
        }
    }

    // MARK: secrets

    @Test func keysNeverAppearInDescriptionsOrEchoedErrors() async throws {
        let echo = "{\"detail\":\"Wallet not found for key \(CannedKeys.admin) / \(CannedKeys.invoice).\"}"
        let transport = CannedLNbits([.success(BackendResponse(status: 404, body: Array(echo.utf8)))])
        let backend = try backend(transport)
        await expectError(.declined, .unsafe) { _ = try await backend.balanceMsat() }
        var dumped = ""
        dump(backend, to: &dumped)
        for text in [backend.description, String(describing: backend), String(reflecting: backend), dumped, "\(LNbitsAPIKey(CannedKeys.admin))"] {
            #expect(!text.contains(CannedKeys.admin) && !text.contains(CannedKeys.invoice), "\(text)")
        }
        #expect(backend.description.contains("admin key set"))
    }
}

enum LNbitsTestHex {
    static func encode(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text)
        guard chars.count % 2 == 0 else { return nil }
        return try? stride(from: 0, to: chars.count, by: 2).map { index throws -> UInt8 in
            guard let byte = UInt8(String(chars[index...index + 1]), radix: 16) else { throw CocoaError(.formatting) }
            return byte
        }
    }
}

extension ISO8601DateFormatter {
    /// LNbits' timestamps: "2026-11-25T03:14:33.644130+00:00".
    static var lnbits: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
