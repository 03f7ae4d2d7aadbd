import Foundation
import PayRail
import PayRailCrypto
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The fake processor that `payrail serve` hosts, reached over HTTP by an agent in another process.
///
/// It serves payers (`pay`, `balance`) and the payee's refunds (`refund`, for `payrail refund` while
/// the server holds the processor); the other payee-side calls throw `.unsupported`: a payee runs
/// its processor in process. Errors keep the processor's codes (sent as the problem's
/// `railError` member), and a transport failure after the request left is `.timedOut`, because the
/// payment may have happened: paying the same request again is idempotent and finds out.
public struct HostedFakeProcessor: FakeProcessorAPI {
    /// Where the processor's endpoints live (`…/.well-known/payrail/fake`).
    public let baseURL: URL
    private let session: URLSession

    /// Creates a client of the processor at `baseURL` (the folder holding `pay` and `balance`).
    public init(baseURL: URL, session: URLSession = URLSession(configuration: .ephemeral)) {
        self.baseURL = baseURL
        self.session = session
    }

    /// Not available remotely: the payee runs the processor in process.
    public func createRequest(
        amount: Money, expiresAt: Date, challengeID: String, payee: FakeAccountCredentials
    ) async throws(RailError) -> FakePaymentRequest {
        throw Self.payerOnly
    }

    /// Pays through `POST …/pay`; idempotent per request and payer like the in-process processor.
    public func pay(requestID: String, amount: Money, payee: String, payer: FakeAccountCredentials) async throws(RailError) -> String {
        let object = try await post("pay", afterSendingMayHaveActed: true, [
            "accountID": payer.accountID, "secret": payer.secret, "requestID": requestID,
            "amount": amount.description, "payee": payee,
        ])
        guard let voucher = object["voucher"] as? String, !voucher.isEmpty else {
            throw RailError(.timedOut, "the processor's answer has no voucher; pay again to look it up", rail: .fake)
        }
        return voucher
    }

    /// Not available remotely: the payee runs the processor in process.
    public func redeem(voucher: String, requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption {
        throw Self.payerOnly
    }

    /// Not available remotely: the payee runs the processor in process.
    public func redemption(ofRequest requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption? {
        throw Self.payerOnly
    }

    /// The payer's balance through `POST …/balance`.
    public func balance(of account: FakeAccountCredentials, unit: MoneyUnit) async throws(RailError) -> Money {
        let object = try await post("balance", ["accountID": account.accountID, "secret": account.secret, "unit": unit.code])
        guard let text = object["balance"] as? String, let money = try? Money(parsing: text), money.unit == unit else {
            throw RailError(.unavailable, "the processor's balance answer is unreadable", rail: .fake)
        }
        return money
    }

    /// Refunds through `POST …/refund` with the payee's credentials (what `payrail refund` uses while
    /// `payrail serve` holds the processor's file); idempotent per key like the in-process processor.
    public func refund(requestID: String, amount: Money?, key: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRefund {
        var body = ["accountID": payee.accountID, "secret": payee.secret, "requestID": requestID, "key": key]
        body["amount"] = amount?.description
        let object = try await post("refund", afterSendingMayHaveActed: true, body)
        guard let id = object["id"] as? String, object["requestID"] as? String == requestID, object["key"] as? String == key,
              let amountText = object["amount"] as? String, let money = try? Money(parsing: amountText),
              let milliseconds = object["refundedAt"] as? Int64 ?? (object["refundedAt"] as? Int).map(Int64.init)
        else {
            throw RailError(.timedOut, "the processor's refund answer is unreadable; refund again with the same key to find out", rail: .fake)
        }
        return FakeRefund(id: id, requestID: requestID, amount: money, key: key,
                          refundedAt: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    private static let payerOnly = RailError(.unsupported, "a hosted fake processor serves payers only; run the payee's processor in process", rail: .fake)

    /// - Parameter afterSendingMayHaveActed: for `pay`: an answer without the processor's own error
    ///   code (a 5xx from a proxy, a crash mid-request) may follow a debit, so it is `.timedOut`.
    private func post(_ endpoint: String, afterSendingMayHaveActed: Bool = false, _ body: [String: String]) async throws(RailError) -> [String: Any] {
        var request = URLRequest(url: baseURL.appendingPathComponent(endpoint))
        request.httpMethod = "POST"
        request.timeoutInterval = 15
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch let error as URLError where error.code == .cannotConnectToHost || error.code == .cannotFindHost {
            throw RailError(.unavailable, "the fake processor at \(baseURL.host ?? "?") cannot be reached", rail: .fake)
        } catch {
            throw RailError(.timedOut, "the fake processor did not answer; ask again to find out whether it paid", rail: .fake)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        guard status == 200 else {
            let detail = object["detail"] as? String ?? "status \(status)"
            if let code = (object["railError"] as? String).map(RailError.Code.init(rawValue:)) {
                throw RailError(code, detail, rail: .fake)
            }
            if status >= 500 && afterSendingMayHaveActed {
                throw RailError(.timedOut, "the processor failed mid-request (\(detail)); pay again to look it up", rail: .fake)
            }
            throw RailError(status >= 500 ? .unavailable : .declined, detail, rail: .fake)
        }
        return object
    }
}

/// The demo payer that `payrail serve` writes to its data directory (`fake-payer.json`, mode 0600).
public struct FakePayerFile: Sendable {
    /// The payer's account.
    public let account: FakeAccountCredentials
    /// The key that verifies the processor's vouchers.
    public let processorKey: Ed25519.PublicKey
    /// The processor's pay endpoint.
    public let payURL: URL

    /// Reads the file.
    ///
    /// - Throws: `RailError.malformed` naming what is missing or unreadable.
    public init(contentsOf url: URL) throws(RailError) {
        guard let data = try? Data(contentsOf: url) else {
            throw RailError(.malformed, "cannot read \(url.path): start 'payrail serve' first, or pass the file it wrote", rail: .fake)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let accountID = object["accountID"] as? String, let secret = object["secret"] as? String,
              let keyText = object["processorKey"] as? String, let keyBytes = try? Base64URL.decode(keyText),
              let key = try? Ed25519.PublicKey(rawRepresentation: keyBytes),
              let payText = object["payURL"] as? String, let payURL = URL(string: payText)
        else {
            throw RailError(.malformed, "\(url.path) is not a fake payer file (accountID, secret, processorKey, payURL)", rail: .fake)
        }
        self.account = FakeAccountCredentials(accountID: accountID, secret: secret)
        self.processorKey = key
        self.payURL = payURL
    }

    /// A wallet paying through the hosted processor.
    public func wallet(session: URLSession = URLSession(configuration: .ephemeral)) -> FakePayerRail {
        FakePayerRail(processor: HostedFakeProcessor(baseURL: payURL.deletingLastPathComponent(), session: session),
                      processorKey: processorKey, account: account)
    }
}
