import Foundation
import PayRail
import Testing
@testable import LightningRail

// Canned exchanges with LND's REST gateway: each test asserts the request the backend sends and
// answers with a fixture shaped by LND's swagger (see Fixtures/lnd-README.md). None of this has
// run against a live lnd.

/// Answers requests from a queue and records them.
actor CannedLNDTransport: HTTPTransport {
    private var answers: [Result<BackendResponse, TransportFailure>]
    private(set) var requests: [BackendRequest] = []

    init(_ answers: [Result<BackendResponse, TransportFailure>]) { self.answers = answers }

    func send(_ request: BackendRequest) async throws(TransportFailure) -> BackendResponse {
        requests.append(request)
        guard !answers.isEmpty else { throw TransportFailure.notSent("no canned answer left") }
        return try answers.removeFirst().get()
    }
}

enum LNDFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let paymentHash = "496aa939b3d5bb2b9a63750e5bad8d878e04652852d761925ff0ccdfd0da4779"
    static let preimage = "5ef2bfd5e2c1d16e3c8b1a7f0d4e6a2b9c3f8e1d7a6b5c4d3e2f1a0b9c8d7e6f"
    static let bolt11 = "lnbcrt210n1p54twgqpp5f942jwdn6kajhxnrw589htvds78qgefg2ttkryjl7rxdl5x6gaussp5yqsjygeyy5nzw2pf9g4jctfw9ucrzv3nxs6nvdec8yark0pa8clsdql2pshj5npd9kzqnzwgssxv6tcw36hyegxqzjccqzzspmja08654zz0nfpas687q2fdffe9ehusgu8ydda4wwea0f5f366xc596yrn82rtman4r3rvaclzn970pzd9hgjc5cy7psa80qkflsjsprwcx5z"
    static let macaroonBytes: [UInt8] = [0x02, 0x01, 0x03, 0x6c, 0x6e, 0x64, 0xAB, 0xCD]
    static let macaroonHex = "0201036c6e64abcd"

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func answer(_ name: String, status: Int = 200) throws -> Result<BackendResponse, TransportFailure> {
        .success(BackendResponse(status: status, body: try bytes(name)))
    }

    static func backend(_ transport: CannedLNDTransport, clock: any PayRailClock = ManualClock()) throws -> LNDBackend {
        try LNDBackend(
            baseURL: URL(string: "https://lnd.test:8080")!, macaroon: LNDMacaroon(bytes: macaroonBytes),
            transport: transport, requestTimeout: .seconds(15), clock: clock
        )
    }

    static func json(_ body: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }

    /// Asserts what every call carries: the macaroon as hex, JSON accepted.
    static func expectAuthorised(_ request: BackendRequest, _ method: String, _ pathAndQuery: String) {
        #expect(request.method == method)
        #expect(request.url.absoluteString == "https://lnd.test:8080" + pathAndQuery)
        #expect(request.header("Grpc-Metadata-macaroon") == macaroonHex)
        #expect(request.header("Accept") == "application/json")
    }
}

@Suite("LND backend: canned exchanges") struct LNDBackendTests {
    // MARK: Invoices

    @Test func createInvoiceSendsAmountMemoAndExpiryAsLNDStrings() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-addinvoice.json")])
        let invoice = try await LNDFixture.backend(transport).createInvoice(amountMsat: 21_000, memo: "PayRail LND fixture", descriptionHash: nil, expirySeconds: 600)
        #expect(invoice == CreatedInvoice(bolt11: LNDFixture.bolt11, paymentHash: LNDFixture.paymentHash))
        let request = try #require(await transport.requests.first)
        LNDFixture.expectAuthorised(request, "POST", "/v1/invoices")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.timeout == .seconds(15))
        let body = try LNDFixture.json(request.body)
        #expect(body["value_msat"] as? String == "21000")
        #expect(body["expiry"] as? String == "600")
        #expect(body["memo"] as? String == "PayRail LND fixture")
        #expect(body["description_hash"] == nil)
        #expect(body.count == 3)
    }

    @Test func createInvoiceWithDescriptionHashSendsStandardBase64AndNoMemo() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-addinvoice.json")])
        // 0xFB 0xFF ... encodes with '+' and '/' in standard base64, which URL-safe would change.
        let hash: [UInt8] = [0xFB, 0xFF] + Array(repeating: 0xFE, count: 30)
        _ = try await LNDFixture.backend(transport).createInvoice(amountMsat: 1, memo: "ignored", descriptionHash: hash, expirySeconds: 60)
        let body = try LNDFixture.json(try #require(await transport.requests.first).body)
        #expect(body["description_hash"] as? String == Data(hash).base64EncodedString())
        #expect((body["description_hash"] as? String)?.contains("/") == true)
        #expect(body["memo"] == nil)
    }

    @Test func createInvoiceRefusesBadInputBeforeSending() async throws {
        let transport = CannedLNDTransport([])
        let backend = try LNDFixture.backend(transport)
        await #expect(throws: RailError.self) { try await backend.createInvoice(amountMsat: 0, memo: nil, descriptionHash: nil, expirySeconds: 60) }
        await #expect(throws: RailError.self) { try await backend.createInvoice(amountMsat: 5, memo: nil, descriptionHash: [1, 2], expirySeconds: 60) }
        #expect(await transport.requests.isEmpty)
    }

    @Test func settledInvoiceIsPaidWithPreimageAsHexAndSettleDate() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-invoice-settled.json")])
        let status = try await LNDFixture.backend(transport).incomingStatus(paymentHash: LNDFixture.paymentHash.uppercased())
        #expect(status == .paid(amountMsat: 21_000, preimage: LNDFixture.preimage, settledAt: Date(timeIntervalSince1970: 1_767_225_631)))
        LNDFixture.expectAuthorised(try #require(await transport.requests.first), "GET", "/v1/invoice/\(LNDFixture.paymentHash)")
        #expect(try #require(await transport.requests.first).body.isEmpty)
    }

    @Test func openInvoiceIsOpenUntilItsExpiryThenClosed() async throws {
        let clock = ManualClock(start: Date(timeIntervalSince1970: 1_767_225_600 + 599))
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-invoice-open.json"), try LNDFixture.answer("lnd-invoice-open.json")])
        let backend = try LNDFixture.backend(transport, clock: clock)
        #expect(try await backend.incomingStatus(paymentHash: LNDFixture.paymentHash) == .open)
        clock.advance(by: 1)
        #expect(try await backend.incomingStatus(paymentHash: LNDFixture.paymentHash) == .closed)
    }

    @Test func canceledInvoiceIsClosed() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-invoice-canceled.json")])
        #expect(try await LNDFixture.backend(transport).incomingStatus(paymentHash: LNDFixture.paymentHash) == .closed)
    }

    @Test func unknownInvoiceIsAMismatch() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-error-invoice-not-found.json", status: 404)])
        let error = await #expect(throws: RailError.self) { try await LNDFixture.backend(transport).incomingStatus(paymentHash: LNDFixture.paymentHash) }
        #expect(error?.code == .mismatch)
    }

    @Test func malformedPaymentHashIsRefusedBeforeSending() async throws {
        let transport = CannedLNDTransport([])
        let backend = try LNDFixture.backend(transport)
        for bad in ["", "00", String(repeating: "g", count: 64), LNDFixture.paymentHash + "00"] {
            let error = await #expect(throws: RailError.self) { try await backend.incomingStatus(paymentHash: bad) }
            #expect(error?.code == .malformed)
        }
        #expect(await transport.requests.isEmpty)
    }

    // MARK: Paying

    @Test func payStreamsInFlightThenSucceededWithExplicitFeeLimitAndTimeout() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-send-succeeded.jsonl")])
        let status = try await LNDFixture.backend(transport).pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 1_500, timeout: .seconds(60))
        #expect(status == .succeeded(preimage: LNDFixture.preimage, feeMsat: 1_005))
        let request = try #require(await transport.requests.first)
        LNDFixture.expectAuthorised(request, "POST", "/v2/router/send")
        #expect(request.timeout == .seconds(60))
        let body = try LNDFixture.json(request.body)
        #expect(body["payment_request"] as? String == LNDFixture.bolt11)
        #expect(body["fee_limit_msat"] as? String == "1500")
        #expect((body["timeout_seconds"] as? NSNumber)?.intValue == 48)
        #expect((body["no_inflight_updates"] as? NSNumber)?.boolValue == false)
        #expect(body["fee_limit_sat"] == nil)
        #expect(body.count == 4)
    }

    @Test func zeroFeeLimitIsStillSentExplicitly() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-send-succeeded.jsonl")])
        _ = try await LNDFixture.backend(transport).pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 0, timeout: .seconds(1))
        let body = try LNDFixture.json(try #require(await transport.requests.first).body)
        #expect(body["fee_limit_msat"] as? String == "0")
        #expect((body["timeout_seconds"] as? NSNumber)?.intValue == 1)
    }

    static let failureReasons: [(String, RailError.Code, RetryAdvice)] = [
        ("FAILURE_REASON_TIMEOUT", .unavailable, .safe),
        ("FAILURE_REASON_NO_ROUTE", .declined, .unsafe),
        ("FAILURE_REASON_ERROR", .declined, .unsafe),
        ("FAILURE_REASON_INCORRECT_PAYMENT_DETAILS", .declined, .unsafe),
        ("FAILURE_REASON_INSUFFICIENT_BALANCE", .insufficientFunds, .unsafe),
        ("FAILURE_REASON_CANCELED", .declined, .unsafe),
    ]

    @Test(arguments: failureReasons)
    func failedPaymentMapsEachFailureReason(reason: String, code: RailError.Code, advice: RetryAdvice) async throws {
        let stream = String(decoding: try LNDFixture.bytes("lnd-send-failed.jsonl"), as: UTF8.self)
            .replacingOccurrences(of: "FAILURE_REASON_NO_ROUTE", with: reason)
        #expect(stream.contains(reason))
        let transport = CannedLNDTransport([.success(BackendResponse(status: 200, body: Array(stream.utf8)))])
        let error = await #expect(throws: RailError.self) {
            try await LNDFixture.backend(transport).pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 100, timeout: .seconds(30))
        }
        #expect(error?.code == code)
        #expect(error?.retry == advice)
        #expect(error?.reason.contains(reason) == true)
        #expect(error?.reason.contains("nothing was paid") == true)
    }

    @Test func errorLineAfterThePaymentStartedLeavesTheOutcomeUnknown() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-send-error-line.jsonl")])
        let error = await #expect(throws: RailError.self) {
            try await LNDFixture.backend(transport).pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 100, timeout: .seconds(30))
        }
        #expect(error?.code == .timedOut)
        #expect(error?.retry == .afterLookup)
        #expect(error?.reason.contains("router shutting down") == true)
    }

    @Test func streamCutBeforeAFinalStatusIsTimedOutAfterLookup() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-send-cut.jsonl"), .success(BackendResponse(status: 200, body: []))])
        let backend = try LNDFixture.backend(transport)
        for _ in 0..<2 {
            let error = await #expect(throws: RailError.self) { try await backend.pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 100, timeout: .seconds(30)) }
            #expect(error?.code == .timedOut)
            #expect(error?.retry == .afterLookup)
        }
    }

    @Test func noAnswerWhilePayingIsTimedOutButNotSentIsSafe() async throws {
        let transport = CannedLNDTransport([.failure(.noAnswer("timed out")), .failure(.notSent("connection refused"))])
        let backend = try LNDFixture.backend(transport)
        let unknown = await #expect(throws: RailError.self) { try await backend.pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 1, timeout: .seconds(5)) }
        #expect(unknown?.code == .timedOut)
        #expect(unknown?.retry == .afterLookup)
        let refused = await #expect(throws: RailError.self) { try await backend.pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 1, timeout: .seconds(5)) }
        #expect(refused?.code == .unavailable)
        #expect(refused?.retry == .safe)
    }

    @Test func errorsBeforeTheFirstUpdateAreTyped() async throws {
        let transport = CannedLNDTransport([
            try LNDFixture.answer("lnd-send-already-paid.json", status: 409),
            try LNDFixture.answer("lnd-send-in-transition.json", status: 409),
            try LNDFixture.answer("lnd-send-expired.json", status: 500),
        ])
        let backend = try LNDFixture.backend(transport)
        let paid = await #expect(throws: RailError.self) { try await backend.pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 1, timeout: .seconds(5)) }
        #expect(paid?.code == .alreadySettled)
        #expect(try await backend.pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 1, timeout: .seconds(5)) == .inFlight)
        let expired = await #expect(throws: RailError.self) { try await backend.pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 1, timeout: .seconds(5)) }
        #expect(expired?.code == .expired)
        #expect(expired?.retry == .unsafe)
    }

    @Test func proxyErrorWithoutStatusWhilePayingNeedsALookup() async throws {
        let transport = CannedLNDTransport([.success(BackendResponse(status: 502, body: Array("Bad Gateway".utf8)))])
        let error = await #expect(throws: RailError.self) {
            try await LNDFixture.backend(transport).pay(bolt11: LNDFixture.bolt11, maxFeeMsat: 1, timeout: .seconds(5))
        }
        #expect(error?.code == .unavailable)
        #expect(error?.retry == .afterLookup)
    }

    // MARK: Lookup and balance

    @Test func outgoingLookupOfAFinishedPaymentReadsTheTrackStream() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-track-succeeded.jsonl")])
        let status = try await LNDFixture.backend(transport).outgoingStatus(paymentHash: LNDFixture.paymentHash)
        #expect(status == .succeeded(preimage: LNDFixture.preimage, feeMsat: 1_005))
        let requests = await transport.requests
        #expect(requests.count == 1)
        // The hash in the path is URL-safe base64 ('/' of the standard form becomes '_').
        LNDFixture.expectAuthorised(requests[0], "GET", "/v2/router/track/SWqpObPVuyuaY3UOW62Nh44EZShS12GSX_DM39DaR3k=?no_inflight_updates=false")
        #expect(requests[0].timeout == .seconds(5))
    }

    @Test func outgoingLookupOfANeverTriedPaymentIsNil() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-track-not-found.json", status: 404)])
        #expect(try await LNDFixture.backend(transport).outgoingStatus(paymentHash: LNDFixture.paymentHash) == nil)
        #expect(await transport.requests.count == 1)
    }

    @Test func openTrackStreamFallsBackToThePaymentListPagedBack() async throws {
        let transport = CannedLNDTransport([
            .failure(.noAnswer("timed out")), try LNDFixture.answer("lnd-payments-newest.json"), try LNDFixture.answer("lnd-payments-older.json"),
        ])
        let status = try await LNDFixture.backend(transport).outgoingStatus(paymentHash: LNDFixture.paymentHash)
        #expect(status == .succeeded(preimage: LNDFixture.preimage, feeMsat: 1_005))
        let requests = await transport.requests
        #expect(requests.count == 3)
        LNDFixture.expectAuthorised(requests[1], "GET", "/v1/payments?include_incomplete=true&reversed=true&max_payments=100")
        LNDFixture.expectAuthorised(requests[2], "GET", "/v1/payments?include_incomplete=true&reversed=true&max_payments=100&index_offset=41")
    }

    @Test func paymentListReportsInFlightAndFailedWithoutThrowing() async throws {
        let open = Result<BackendResponse, TransportFailure>.failure(.noAnswer("timed out"))
        let transport = CannedLNDTransport([open, try LNDFixture.answer("lnd-payments-newest.json"), open, try LNDFixture.answer("lnd-payments-newest.json"),
                                            open, try LNDFixture.answer("lnd-payments-newest.json"), try LNDFixture.answer("lnd-payments-older.json")])
        let backend = try LNDFixture.backend(transport)
        #expect(try await backend.outgoingStatus(paymentHash: String(repeating: "11", count: 32)) == .succeeded(preimage: String(repeating: "22", count: 32), feeMsat: 0))
        let failed = try await backend.outgoingStatus(paymentHash: String(repeating: "33", count: 32))
        guard case .failed(let reason) = failed else { Issue.record("expected failed, got \(String(describing: failed))"); return }
        #expect(reason.contains("FAILURE_REASON_INSUFFICIENT_BALANCE"))
        #expect(try await backend.outgoingStatus(paymentHash: String(repeating: "44", count: 32)) == .inFlight)
    }

    @Test func paymentListLookupIsNilOnlyAfterTheWholeHistory() async throws {
        let transport = CannedLNDTransport([.failure(.noAnswer("timed out")), try LNDFixture.answer("lnd-payments-newest.json"), try LNDFixture.answer("lnd-payments-empty.json")])
        #expect(try await LNDFixture.backend(transport).outgoingStatus(paymentHash: String(repeating: "55", count: 32)) == nil)
        #expect(await transport.requests.count == 3)
    }

    @Test func unreachableNodeDuringLookupIsUnavailable() async throws {
        let transport = CannedLNDTransport([.failure(.notSent("connection refused"))])
        let error = await #expect(throws: RailError.self) { try await LNDFixture.backend(transport).outgoingStatus(paymentHash: LNDFixture.paymentHash) }
        #expect(error?.code == .unavailable)
        #expect(error?.retry == .safe)
    }

    @Test func balanceIsLocalBalanceMsat() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-balance.json")])
        #expect(try await LNDFixture.backend(transport).balanceMsat() == 250_000_123)
        LNDFixture.expectAuthorised(try #require(await transport.requests.first), "GET", "/v1/balance/channels")
    }

    // MARK: Errors and secrets

    @Test func refusedMacaroonIsUnavailableAndNamesNoSecret() async throws {
        let transport = CannedLNDTransport([try LNDFixture.answer("lnd-error-macaroon.json", status: 500)])
        let error = await #expect(throws: RailError.self) { try await LNDFixture.backend(transport).balanceMsat() }
        #expect(error?.code == .unavailable)
        #expect(error?.reason.contains("macaroon") == true)
        #expect(error?.description.contains(LNDFixture.macaroonHex) == false)
    }

    @Test func gatewayErrorJSONCodesMapToTypedErrors() throws {
        let cases: [(Int, String, RailError.Code, RetryAdvice)] = [
            (3, "invalid argument", .malformed, .unsafe),
            (14, "connection error", .unavailable, .safe),
            (2, "wallet locked, unlock it to enable full RPC access", .unavailable, .safe),
            (16, "no credentials", .unavailable, .safe),
            (13, "internal", .unavailable, .safe),
        ]
        for (code, message, expected, advice) in cases {
            let body = Array(#"{"code":\#(code),"message":"\#(message)","details":[]}"#.utf8)
            let error = LNDBackend.error(from: BackendResponse(status: 500, body: body), context: .read)
            #expect(error.code == expected, "code \(code)")
            #expect(error.retry == advice, "code \(code)")
        }
        let payment = LNDBackend.error(from: BackendResponse(status: 500, body: Array(#"{"code":2,"message":"self-payments not allowed"}"#.utf8)), context: .payment)
        #expect(payment.code == .declined)
    }

    @Test func readFailuresAreSafeToRetry() async throws {
        let transport = CannedLNDTransport([.failure(.noAnswer("reset")), .failure(.notSent("refused"))])
        let backend = try LNDFixture.backend(transport)
        for _ in 0..<2 {
            let error = await #expect(throws: RailError.self) { try await backend.balanceMsat() }
            #expect(error?.code == .unavailable)
            #expect(error?.retry == .safe)
        }
    }

    @Test func macaroonIsNeverPrintedAndIsReadFromItsFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lnd-\(UUID().uuidString).macaroon")
        try Data(LNDFixture.macaroonBytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let macaroon = try LNDMacaroon(contentsOf: file)
        #expect(macaroon.headerValue == LNDFixture.macaroonHex)
        #expect(!String(describing: macaroon).contains(LNDFixture.macaroonHex))
        #expect(!String(reflecting: macaroon).contains("abcd"), "not in the debug form either")
        #expect(throws: RailError.self) { try LNDMacaroon(bytes: []) }
        #expect(throws: RailError.self) { try LNDMacaroon(contentsOf: file.appendingPathExtension("missing")) }
    }

    @Test func plainHTTPAddressIsRefused() throws {
        let error = #expect(throws: RailError.self) {
            try LNDBackend(baseURL: URL(string: "http://127.0.0.1:8080")!, macaroon: LNDMacaroon(bytes: [1]), transport: CannedLNDTransport([]))
        }
        #expect(error?.code == .malformed)
    }
}

@Suite("LND payment fees") struct LNDPaymentFeeTests {
    @Test("a SUCCEEDED payment without a readable fee_msat reports the fee as unknown, never as zero")
    func missingFeeIsUnknown() throws {
        let paid: [String: Any] = ["status": "SUCCEEDED", "payment_preimage": LNDFixture.preimage]
        #expect(try LNDBackend.status(of: paid, final: true) == .succeeded(preimage: LNDFixture.preimage, feeMsat: nil))
        var garbled = paid
        garbled["fee_msat"] = "a lot"
        #expect(try LNDBackend.status(of: garbled, final: true) == .succeeded(preimage: LNDFixture.preimage, feeMsat: nil))
        var stated = paid
        stated["fee_msat"] = "1005"
        #expect(try LNDBackend.status(of: stated, final: true) == .succeeded(preimage: LNDFixture.preimage, feeMsat: 1_005))
    }
}
