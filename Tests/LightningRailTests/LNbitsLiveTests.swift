import Foundation
import LightningRail
import PayRail
import PayRailCrypto
import PayRailTestPeers
import Testing

/// The LNbits backend against a real LNbits 1.6.2 (FakeWallet): payments between two wallets of one
/// instance settle internally, so they are real LNbits payments with real preimages.
@Suite("LNbits backend against a real LNbits server", .serialized)
struct LNbitsLiveTests {
    /// LNbits' default fee reserve for a small invoice (max(2000 msat, 1 %)): the least fee limit it accepts.
    static let feeLimit: Int64 = 2_000

    func backend(_ peer: LNbitsPeer, _ wallet: LNbitsPeer.Wallet, payer: Bool, requestTimeout: Duration = .seconds(30), transport: any HTTPTransport = URLSessionTransport()) -> LNbitsBackend {
        LNbitsBackend(
            baseURL: peer.baseURL, adminKey: payer ? LNbitsAPIKey(wallet.adminKey) : nil, invoiceKey: LNbitsAPIKey(wallet.invoiceKey),
            transport: transport, requestTimeout: requestTimeout
        )
    }

    func sha256Hex(_ hex: String) throws -> String {
        LNbitsTestHex.encode(SHA256.hash(try #require(LNbitsTestHex.decode(hex))))
    }

    @Test func payAnInvoiceFromAnotherWalletAndLookBothSidesUp() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let payeeWallet = try await lnbits.createWallet(name: "payee")
        let payerWallet = try await lnbits.createWallet(name: "payer")
        try await lnbits.fund(payerWallet, sats: 1_000)
        let payee = backend(lnbits, payeeWallet, payer: false), payer = backend(lnbits, payerWallet, payer: true)
        #expect(try await payer.balanceMsat() == 1_000_000)
        #expect(try await payee.balanceMsat() == 0)

        let invoice = try await payee.createInvoice(amountMsat: 21_000, memo: "coffee", descriptionHash: nil, expirySeconds: 600)
        #expect(invoice.bolt11.hasPrefix("lnbc210n1"))
        #expect(try await payee.incomingStatus(paymentHash: invoice.paymentHash) == .open)
        #expect(try await payer.outgoingStatus(paymentHash: invoice.paymentHash) == nil)

        let outcome = try await payer.pay(bolt11: invoice.bolt11, maxFeeMsat: Self.feeLimit, timeout: .seconds(30))
        guard case .succeeded(let preimage, let fee) = outcome else {
            Issue.record("expected a settled payment, got \(outcome)")
            return
        }
        #expect(try sha256Hex(preimage) == invoice.paymentHash)
        #expect(fee == 0)

        guard case .paid(let amount, let payeePreimage, let settledAt) = try await payee.incomingStatus(paymentHash: invoice.paymentHash) else {
            Issue.record("the payee's invoice is not paid")
            return
        }
        #expect(amount == 21_000)
        #expect(payeePreimage == preimage)
        #expect(settledAt.map { abs($0.timeIntervalSinceNow) < 300 } == true)
        #expect(try await payer.outgoingStatus(paymentHash: invoice.paymentHash) == .succeeded(preimage: preimage, feeMsat: 0))
        #expect(try await payee.balanceMsat() == 21_000)
        #expect(try await payer.balanceMsat() == 1_000_000 - 21_000)

        // Paying the same invoice again is refused by LNbits and moves nothing.
        do {
            _ = try await payer.pay(bolt11: invoice.bolt11, maxFeeMsat: Self.feeLimit, timeout: .seconds(30))
            Issue.record("a second payment of one invoice succeeded")
        } catch {
            #expect(error.code == .alreadySettled)
        }
        #expect(try await payer.balanceMsat() == 1_000_000 - 21_000)
    }

    @Test func invoiceWithDescriptionHashCommitsToIt() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let wallet = try await lnbits.createWallet(name: "hash")
        let hash = SHA256.hash(Array("GET /report 402 binding".utf8))
        let invoice = try await backend(lnbits, wallet, payer: false)
            .createInvoice(amountMsat: 5_000, memo: nil, descriptionHash: hash, expirySeconds: 300)
        #expect(invoice.bolt11.hasPrefix("lnbc50n1"))
        // The backend itself checked the `h` field; LNbits' own decoder agrees.
        let body = try JSONSerialization.data(withJSONObject: ["data": invoice.bolt11])
        let decoded = try await lnbits.raw("POST", "/api/v1/payments/decode", body: body)
        let object = try #require(try JSONSerialization.jsonObject(with: decoded.body) as? [String: Any])
        #expect(object["description_hash"] as? String == LNbitsTestHex.encode(hash))
        #expect(object["payment_hash"] as? String == invoice.paymentHash)
    }

    @Test func anUnfundedWalletCannotPayAndNothingMoves() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let payeeWallet = try await lnbits.createWallet(name: "payee")
        let brokeWallet = try await lnbits.createWallet(name: "broke")
        let payee = backend(lnbits, payeeWallet, payer: false), broke = backend(lnbits, brokeWallet, payer: true)
        let invoice = try await payee.createInvoice(amountMsat: 50_000, memo: "too dear", descriptionHash: nil, expirySeconds: 600)
        do {
            _ = try await broke.pay(bolt11: invoice.bolt11, maxFeeMsat: Self.feeLimit, timeout: .seconds(30))
            Issue.record("an unfunded wallet paid")
        } catch {
            #expect(error.code == .insufficientFunds, "\(error)")
            #expect(error.retry == .unsafe)
        }
        #expect(try await broke.balanceMsat() == 0)
        #expect(try await payee.balanceMsat() == 0)
        #expect(try await payee.incomingStatus(paymentHash: invoice.paymentHash) == .open)
        #expect(try await broke.outgoingStatus(paymentHash: invoice.paymentHash) == nil)
    }

    @Test func anExpiredInvoiceIsRefusedAndNothingMoves() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let payeeWallet = try await lnbits.createWallet(name: "payee")
        let payerWallet = try await lnbits.createWallet(name: "payer")
        try await lnbits.fund(payerWallet, sats: 1_000)
        let payee = backend(lnbits, payeeWallet, payer: false), payer = backend(lnbits, payerWallet, payer: true)
        let invoice = try await payee.createInvoice(amountMsat: 1_000, memo: "short-lived", descriptionHash: nil, expirySeconds: 1)
        // The invoice's timestamp is whole seconds: 2.2 s later it has expired whatever the rounding.
        try await Task.sleep(for: .milliseconds(2_200))
        do {
            _ = try await payer.pay(bolt11: invoice.bolt11, maxFeeMsat: Self.feeLimit, timeout: .seconds(30))
            Issue.record("an expired invoice was paid")
        } catch {
            #expect(error.code == .expired, "\(error)")
        }
        #expect(try await payee.incomingStatus(paymentHash: invoice.paymentHash) == .closed)
        #expect(try await payer.balanceMsat() == 1_000_000)
        #expect(try await payee.balanceMsat() == 0)
    }

    @Test func aWrongKeyIsDeclined() async throws {
        let lnbits = try await LNbitsPeer.shared()
        let stranger = LNbitsBackend(baseURL: lnbits.baseURL, adminKey: LNbitsAPIKey(String(repeating: "0", count: 32)), invoiceKey: nil)
        do {
            _ = try await stranger.balanceMsat()
            Issue.record("a wrong key read a balance")
        } catch {
            #expect(error.code == .declined)
            #expect(!error.description.contains(String(repeating: "0", count: 32)))
        }
    }

    /// LNbits frozen (SIGSTOP) after the fee check while the payment request is in flight: the outcome
    /// is unknown, so `.timedOut` with `.afterLookup`; once it runs again the lookup tells the truth and
    /// agrees with the balances. Then LNbits stopped before a payment: `.unavailable`, safe to retry.
    @Test func lnbitsStoppedMidPayment() async throws {
        let lnbits = try await LNbitsPeer.start()
        defer { lnbits.stop() }
        let payeeWallet = try await lnbits.createWallet(name: "payee")
        let payerWallet = try await lnbits.createWallet(name: "payer")
        try await lnbits.fund(payerWallet, sats: 1_000)
        let payee = backend(lnbits, payeeWallet, payer: false)
        let freezing = FreezeBeforePayment(peer: lnbits)
        let payer = backend(lnbits, payerWallet, payer: true, requestTimeout: .seconds(10), transport: freezing)
        let invoice = try await payee.createInvoice(amountMsat: 21_000, memo: "frozen", descriptionHash: nil, expirySeconds: 600)

        let started = ContinuousClock.now
        do {
            _ = try await payer.pay(bolt11: invoice.bolt11, maxFeeMsat: Self.feeLimit, timeout: .seconds(2))
            Issue.record("a frozen LNbits answered")
        } catch {
            #expect(error.code == .timedOut, "\(error)")
            #expect(error.retry == .afterLookup)
        }
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(freezing.froze)
        lnbits.resume()

        let lookup = backend(lnbits, payerWallet, payer: false)
        let afterwards = try await lookup.outgoingStatus(paymentHash: invoice.paymentHash)
        let balance = try await lookup.balanceMsat()
        switch afterwards {
        case .succeeded(let preimage, _)?:
            #expect(try sha256Hex(preimage) == invoice.paymentHash)
            #expect(balance == 1_000_000 - 21_000)
        case nil, .failed?:
            #expect(balance == 1_000_000)
        case .inFlight?:
            Issue.record("an internal LNbits payment stayed in flight")
        }

        lnbits.stop()
        #expect(!lnbits.isRunning)
        do {
            _ = try await payer.pay(bolt11: invoice.bolt11, maxFeeMsat: Self.feeLimit, timeout: .seconds(2))
            Issue.record("a stopped LNbits answered")
        } catch {
            #expect(error.code == .unavailable, "\(error)")
            #expect(error.retry == .safe)
        }
    }
}

/// Passes requests to LNbits, freezing the server just before the payment POST goes out.
final class FreezeBeforePayment: HTTPTransport, @unchecked Sendable {
    // @unchecked: `didFreeze` is only touched under `lock`.
    private let peer: LNbitsPeer
    private let inner = URLSessionTransport()
    private let lock = NSLock()
    private var didFreeze = false

    init(peer: LNbitsPeer) { self.peer = peer }

    var froze: Bool { lock.withLock { didFreeze } }

    func send(_ request: BackendRequest) async throws(TransportFailure) -> BackendResponse {
        if request.method == "POST", request.url.path == "/api/v1/payments" {
            lock.withLock { didFreeze = true }
            peer.suspend()
        }
        return try await inner.send(request)
    }
}
