import Foundation
import PayRail

// The rails reach the processor only through this protocol, so the processor can move behind HTTP
// (served by `payrail serve`, reached by `payrail fetch` in another process) without touching the
// rails. Every method throws `RailError` so transport failures and processor refusals look the same
// to a rail and carry the same retry advice.

/// An account's API credentials at the fake processor. The secret never appears in descriptions,
/// string interpolation or `dump`.
public struct FakeAccountCredentials: Hashable, Sendable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The account's public id (appears as the payee of offers and the payer of vouchers).
    public let accountID: String
    /// The account's API secret.
    public let secret: String

    /// Creates credentials.
    public init(accountID: String, secret: String) {
        self.accountID = accountID
        self.secret = secret
    }

    /// The account id only.
    public var description: String { "FakeAccountCredentials(\(accountID))" }

    /// The account id only.
    public var debugDescription: String { description }

    /// Hides the secret from `dump` and debuggers, which otherwise print every stored property.
    public var customMirror: Mirror {
        Mirror(self, children: ["accountID": accountID], displayStyle: .struct)
    }
}

/// A payable request registered at the processor for one offer.
public struct FakePaymentRequest: Hashable, Sendable, Codable {
    /// The processor's request id (also the offer id).
    public let id: String
    /// The account that will be credited.
    public let payee: String
    /// The exact amount to pay.
    public let amount: Money
    /// After this moment the request can be neither paid nor redeemed (whole seconds).
    public let expiresAt: Date
    /// The challenge the payee bound this request to (for the processor's records).
    public let challengeID: String

    /// Creates a request record.
    public init(id: String, payee: String, amount: Money, expiresAt: Date, challengeID: String) {
        self.id = id
        self.payee = payee
        self.amount = amount
        self.expiresAt = expiresAt
        self.challengeID = challengeID
    }
}

/// The processor's confirmation that a voucher was redeemed and the payee credited.
public struct FakeRedemption: Hashable, Sendable, Codable {
    /// The processor's payment id: the public reference of the settlement.
    public let paymentID: String
    /// The request that was paid.
    public let requestID: String
    /// The amount credited to the payee.
    public let amount: Money
    /// When the processor recorded the redemption.
    public let redeemedAt: Date

    /// Creates a redemption record.
    public init(paymentID: String, requestID: String, amount: Money, redeemedAt: Date) {
        self.paymentID = paymentID
        self.requestID = requestID
        self.amount = amount
        self.redeemedAt = redeemedAt
    }
}

/// What the fake rails need from a fake processor.
public protocol FakeProcessorAPI: Sendable {
    /// Registers a payable request for `payee` (the authenticated account).
    ///
    /// - Throws: `.unavailable`, `.declined` (bad credentials), `.unsupported` (unit or amount).
    func createRequest(
        amount: Money, expiresAt: Date, challengeID: String, payee: FakeAccountCredentials
    ) async throws(RailError) -> FakePaymentRequest

    /// Pays a request from the payer's balance and returns the signed voucher.
    ///
    /// Idempotent per request: paying a request this payer already paid returns the same voucher
    /// without a second debit, which is how a payer recovers from `.timedOut` (`.afterLookup`).
    /// `amount` and `payee` are what the payer agreed to in the offer; the processor refuses with
    /// `.mismatch` if the request says otherwise.
    func pay(
        requestID: String, amount: Money, payee: String, payer: FakeAccountCredentials
    ) async throws(RailError) -> String

    /// Redeems a voucher for the authenticated payee, at most once per request.
    ///
    /// - Throws: `.alreadySettled` on every redemption after the first; `.invalidProof` when the
    ///   voucher is not the one the processor issued; `.expired`; `.mismatch`; `.unavailable`.
    func redeem(voucher: String, requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption

    /// The redemption of one of the payee's requests, or `nil` while it is not redeemed: lets a payee
    /// that lost track of a redemption (a crash, a failed write) recover it without redeeming again.
    ///
    /// - Throws: `.mismatch` for a request of another payee or one the processor never issued.
    func redemption(ofRequest requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption?

    /// The authenticated account's balance in one unit.
    func balance(of account: FakeAccountCredentials, unit: MoneyUnit) async throws(RailError) -> Money

    /// Moves part or all of one of the payee's redeemed payments back to its payer, at most once per
    /// `key`, never more than paid minus refunded. The default (a hosted processor) throws `.unsupported`.
    func refund(requestID: String, amount: Money?, key: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRefund
}
