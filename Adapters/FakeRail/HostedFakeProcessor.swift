import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTPClient
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The fake processor that `payrail serve` hosts, reached over HTTP by an agent in another process.
///
/// It serves payers (`pay`, `balance`) and payees (`request`, `redeem`, `redemption`, `refund`), so
/// several gates (`payrail serve --fake-processor URL`) take fake payments through one processor and
/// `payrail refund` reaches it while a server holds its file. Payee calls carry the payee's secret,
/// which the processor authenticates. Errors keep the processor's codes (sent as the problem's
/// `railError` member), and a transport failure after the request left is `.timedOut`, because the
/// payment may have happened: paying the same request again is idempotent and finds out.
///
/// Answers are read bounded: at most `maxBodyBytes` of a body, the whole call within `timeout`, no redirect
/// followed (the account's secret travels in the body). An answer that cannot be read whole counts
/// as lost after sending (`.timedOut`), never as a refusal.
public struct HostedFakeProcessor: FakeProcessorAPI {
    /// The default body limit: 1 MiB (the processor's answers are objects of a few hundred bytes).
    public static let defaultMaxBodyBytes = BoundedHTTPClient.defaultMaxBodyBytes
    /// Where the processor's endpoints live (`…/.well-known/payrail/fake`).
    public let baseURL: URL
    /// How long one call may take, from sending to the answer's last byte.
    public let timeout: Duration
    private let client: BoundedHTTPClient

    /// Creates a client of the processor at `baseURL` (the folder holding `pay` and `balance`).
    ///
    /// - Parameters:
    ///   - session: its configuration and delegate are kept, but requests go through a session of the
    ///     client's own that refuses redirects and bounds bodies; `nil` shares an ephemeral one.
    ///   - maxBodyBytes: the largest answer body read; a larger one is `.timedOut`.
    ///   - timeout: how long one call may take in all (a dripping answer is cut there, `.timedOut`).
    public init(baseURL: URL, session: URLSession? = nil, maxBodyBytes: Int = HostedFakeProcessor.defaultMaxBodyBytes,
                timeout: Duration = .seconds(15)) {
        self.baseURL = baseURL
        self.timeout = timeout
        self.client = BoundedHTTPClient(session: session, maxBodyBytes: maxBodyBytes)
    }

    /// Registers a request through `POST …/request`. Not idempotent, but harmless to repeat: an
    /// unpaid request is only a record, and the rail offers only the one it got back.
    public func createRequest(
        amount: Money, expiresAt: Date, challengeID: String, payee: FakeAccountCredentials
    ) async throws(RailError) -> FakePaymentRequest {
        var body = Self.strings([
            "accountID": payee.accountID, "secret": payee.secret, "amount": amount.description, "challengeID": challengeID,
        ])
        body["expiresAt"] = .number(Double(Self.milliseconds(expiresAt)))
        let object = try await post("request", body)
        guard let id = object["id"]?.stringValue, let payeeID = object["payee"]?.stringValue,
              let amountText = object["amount"]?.stringValue, let money = try? Money(parsing: amountText),
              let expiry = object["expiresAt"]?.exactInt64Value, object["challengeID"]?.stringValue == challengeID
        else {
            throw RailError(.unavailable, "the processor's request answer is unreadable; nothing was offered", rail: .fake)
        }
        return FakePaymentRequest(id: id, payee: payeeID, amount: money, expiresAt: Date(timeIntervalSince1970: Double(expiry) / 1000),
                                  challengeID: challengeID)
    }

    /// Pays through `POST …/pay`; idempotent per request and payer like the in-process processor.
    public func pay(requestID: String, amount: Money, payee: String, payer: FakeAccountCredentials) async throws(RailError) -> String {
        let object = try await post("pay", afterSendingMayHaveActed: true, Self.strings([
            "accountID": payer.accountID, "secret": payer.secret, "requestID": requestID,
            "amount": amount.description, "payee": payee,
        ]))
        guard let voucher = object["voucher"]?.stringValue, !voucher.isEmpty else {
            throw RailError(.timedOut, "the processor's answer has no voucher; pay again to look it up", rail: .fake)
        }
        return voucher
    }

    /// Redeems through `POST …/redeem`. An answer lost after sending is `.timedOut`: the credit may
    /// have happened, and `redemption(ofRequest:payee:)` (or redeeming again: `.alreadySettled`) finds out.
    public func redeem(voucher: String, requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption {
        let object = try await post("redeem", afterSendingMayHaveActed: true, Self.strings([
            "accountID": payee.accountID, "secret": payee.secret, "requestID": requestID, "voucher": voucher,
        ]))
        guard let redemption = Self.redemption(object), redemption.requestID == requestID else {
            throw RailError(.timedOut, "the processor's redeem answer is unreadable; look the redemption up", rail: .fake)
        }
        return redemption
    }

    /// Looks a redemption up through `POST …/redemption`; `nil` when the request is not redeemed.
    public func redemption(ofRequest requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption? {
        let object = try await post("redemption", Self.strings(["accountID": payee.accountID, "secret": payee.secret, "requestID": requestID]))
        if object["redemption"] == .null { return nil }
        guard let found = object["redemption"]?.objectValue.flatMap(Self.redemption), found.requestID == requestID else {
            throw RailError(.unavailable, "the processor's redemption answer is unreadable; ask again", rail: .fake)
        }
        return found
    }

    /// Checks, before a gate takes payments through this processor, that `payee`'s secret opens its
    /// account there and that `processorKey` is the processor's voucher key: a copy of another
    /// processor's files would otherwise show up only as refused payments.
    ///
    /// - Throws: `.declined` (the secret is not the processor's), `.mismatch` (another key), `.unavailable`.
    public func checkPayee(_ payee: FakeAccountCredentials, processorKey: Ed25519.PublicKey) async throws(RailError) {
        let object = try await post("balance", Self.strings(["accountID": payee.accountID, "secret": payee.secret, "unit": MoneyUnit.sat.code]))
        guard object["processorKey"]?.stringValue == Base64URL.encode(processorKey.rawRepresentation) else {
            throw RailError(.mismatch, "the processor signs vouchers with another key than fake-processor.pem", rail: .fake)
        }
    }

    private static func redemption(_ object: [String: JSONValue]) -> FakeRedemption? {
        guard let paymentID = object["paymentID"]?.stringValue, let requestID = object["requestID"]?.stringValue,
              let amountText = object["amount"]?.stringValue, let money = try? Money(parsing: amountText),
              let redeemed = object["redeemedAt"]?.exactInt64Value
        else { return nil }
        return FakeRedemption(paymentID: paymentID, requestID: requestID, amount: money,
                              redeemedAt: Date(timeIntervalSince1970: Double(redeemed) / 1000))
    }

    private static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    private static func strings(_ members: [String: String]) -> [String: JSONValue] { members.mapValues(JSONValue.string) }

    /// The payer's balance through `POST …/balance`.
    public func balance(of account: FakeAccountCredentials, unit: MoneyUnit) async throws(RailError) -> Money {
        let object = try await post("balance", Self.strings(["accountID": account.accountID, "secret": account.secret, "unit": unit.code]))
        guard let text = object["balance"]?.stringValue, let money = try? Money(parsing: text), money.unit == unit else {
            throw RailError(.unavailable, "the processor's balance answer is unreadable", rail: .fake)
        }
        return money
    }

    /// Refunds through `POST …/refund` with the payee's credentials (what `payrail refund` uses while
    /// `payrail serve` holds the processor's file); idempotent per key like the in-process processor.
    public func refund(requestID: String, amount: Money?, key: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRefund {
        var body = ["accountID": payee.accountID, "secret": payee.secret, "requestID": requestID, "key": key]
        body["amount"] = amount?.description
        let object = try await post("refund", afterSendingMayHaveActed: true, Self.strings(body))
        guard let id = object["id"]?.stringValue, object["requestID"]?.stringValue == requestID, object["key"]?.stringValue == key,
              let amountText = object["amount"]?.stringValue, let money = try? Money(parsing: amountText),
              let milliseconds = object["refundedAt"]?.exactInt64Value
        else {
            throw RailError(.timedOut, "the processor's refund answer is unreadable; refund again with the same key to find out", rail: .fake)
        }
        return FakeRefund(id: id, requestID: requestID, amount: money, key: key,
                          refundedAt: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// - Parameter afterSendingMayHaveActed: for `pay`: an answer without the processor's own error
    ///   code (a 5xx from a proxy, a crash mid-request) may follow a debit, so it is `.timedOut`.
    private func post(
        _ endpoint: String, afterSendingMayHaveActed: Bool = false, _ body: [String: JSONValue]
    ) async throws(RailError) -> [String: JSONValue] {
        // PayRailCrypto's writer and parser, not JSONSerialization: on a paid call through this
        // processor that cost more CPU than everything else the wallet does (profiled, 3.6 %).
        let encoded: [UInt8]
        do { encoded = try CanonicalJSON.serialize(.object(body)) } catch {
            throw RailError(.malformed, "the request to the processor cannot be written as JSON (\(error)); nothing was sent", rail: .fake)
        }
        let response: HTTPExchange.Response
        do {
            response = try await client.send(
                method: "POST", url: baseURL.appendingPathComponent(endpoint), headers: [HTTPExchange.Field("Content-Type", "application/json")],
                body: encoded, timeout: timeout)
        } catch {
            if error.isRetrySafe {
                throw RailError(.unavailable, "the fake processor at \(baseURL.host ?? "?") cannot be reached", rail: .fake)
            }
            // Too large, cut short or too slow: the request may have been acted on.
            throw RailError(.timedOut, "the fake processor did not answer (\(error.reason)); ask again to find out whether it paid", rail: .fake)
        }
        let status = response.status
        let object = (try? CanonicalJSON.parse(response.body))?.objectValue ?? [:]
        guard status == 200 else {
            let detail = object["detail"]?.stringValue ?? "status \(status)"
            if let code = object["railError"]?.stringValue.map(RailError.Code.init(rawValue:)) {
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
    public func wallet(session: URLSession? = nil) -> FakePayerRail {
        FakePayerRail(processor: HostedFakeProcessor(baseURL: payURL.deletingLastPathComponent(), session: session),
                      processorKey: processorKey, account: account)
    }
}
