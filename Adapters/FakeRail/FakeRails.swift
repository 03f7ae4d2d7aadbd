import Foundation
import PayRail
import PayRailCrypto

// The two sides of the fake rail. The payee trusts only the processor's public key (configured, never
// taken from an offer) and asks the processor to redeem; the payer pays through its own account.
// Both check everything they can locally first, so a forged or misdirected credential is refused
// without a round trip and without consuming anything.

/// The server side of the fake rail.
public struct FakePayeeRail: PayeeRail {
    /// This rail's name (`fake` unless several fake processors are configured).
    public let id: RailID
    /// Accepted units and amounts.
    public let capabilities: RailCapabilities
    private let processor: any FakeProcessorAPI
    let processorKey: Ed25519.PublicKey
    /// `processorKey` as every offer writes it (base64url), encoded once rather than per 402.
    let processorKeyText: String
    let account: FakeAccountCredentials
    private let clock: any PayRailClock
    private let maximumOfferLifetime: TimeInterval

    /// Creates the payee rail.
    ///
    /// - Parameters:
    ///   - processor: how to reach the processor.
    ///   - processorKey: the processor's voucher key, from configuration.
    ///   - account: the payee's account credentials at the processor.
    ///   - capabilities: accepted amounts (default: `FakePayeeRail.defaultCapabilities`).
    ///   - clock: decides expiry.
    ///   - maximumOfferLifetime: offers expire at the charge's expiry or this many seconds from now,
    ///     whichever is sooner (held funds should not wait long).
    ///   - id: the rail name.
    public init(
        processor: any FakeProcessorAPI, processorKey: Ed25519.PublicKey, account: FakeAccountCredentials,
        capabilities: RailCapabilities = FakePayeeRail.defaultCapabilities, clock: any PayRailClock = SystemClock(),
        maximumOfferLifetime: TimeInterval = 3600, id: RailID = .fake
    ) {
        self.processor = processor
        self.processorKey = processorKey
        self.processorKeyText = Base64URL.encode(processorKey.rawRepresentation)
        self.account = account
        self.capabilities = capabilities
        self.clock = clock
        self.maximumOfferLifetime = maximumOfferLifetime
        self.id = id
    }

    /// sat 1...100,000,000 (one bitcoin), usd and eur 0.01...10,000.00; instant, refundable (by the processor that holds the payment), free.
    public static let defaultCapabilities: RailCapabilities = {
        let bounds: [(Int64, Int64, MoneyUnit)] = [
            (1, 100_000_000, MoneyUnit.sat), (1_000, 100_000_000_000, MoneyUnit.msat), (1, 1_000_000, MoneyUnit.usd),
            (1, 1_000_000, MoneyUnit.eur),
        ]
        let limits: [AmountLimit] = bounds.compactMap { minimum, maximum, unit in
            guard let low = try? Money(amount: minimum, unit: unit), let high = try? Money(amount: maximum, unit: unit) else {
                return nil
            }
            return try? AmountLimit(minimum: low, maximum: high)
        }
        return RailCapabilities(limits: limits, settlementTime: .zero, refundable: true, feeModel: .free)
    }()

    /// Registers a request at the processor and offers it.
    public func prepare(_ charge: Charge) async throws(RailError) -> Offer {
        try capabilities.check(charge.amount, rail: id)
        let latest = clock.now().addingTimeInterval(maximumOfferLifetime)
        let request = try await processor.createRequest(
            amount: charge.amount, expiresAt: min(charge.expiresAt, latest), challengeID: charge.challengeID,
            payee: account)
        // The processor may sit behind HTTP: never offer terms other than the charge's, or money
        // would be collected for the wrong amount, to another account, or after the charge expired.
        guard request.amount == charge.amount, request.payee == account.accountID,
              request.expiresAt <= charge.expiresAt, !request.id.isEmpty
        else {
            throw RailError(
                .unavailable, "the processor answered with a request that does not match the charge; nothing was offered",
                rail: id)
        }
        return Offer(
            rail: id, amount: request.amount, payee: request.payee, expiresAt: request.expiresAt, id: request.id,
            details: [
                "requestID": request.id,
                "processorKey": Base64URL.encode(processorKey.rawRepresentation),
                "challengeID": charge.challengeID,
            ])
    }

    /// Verifies the voucher locally, then redeems it at the processor (at most once).
    public func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        guard credential.rail == id, offer.rail == id else {
            throw RailError(.mismatch, "the credential or offer is for rail \(credential.rail)/\(offer.rail), not \(id)", rail: id)
        }
        guard credential.offerID == offer.id else {
            throw RailError(.mismatch, "the credential pays another offer", rail: id)
        }
        guard offer.payee == account.accountID else {
            throw RailError(.mismatch, "the offer is for another payee account", rail: id)
        }
        guard let token = credential.payload["voucher"], !token.isEmpty else {
            throw RailError(.malformed, "the credential payload has no voucher", rail: id)
        }
        let voucher = try FakeVoucher.verify(token, publicKey: processorKey, rail: id)
        guard voucher.requestID == offer.id else {
            throw RailError(.mismatch, "the voucher pays request \(voucher.requestID), not \(offer.id)", rail: id)
        }
        guard voucher.payee == account.accountID else {
            throw RailError(.mismatch, "the voucher pays another payee", rail: id)
        }
        guard voucher.pays(offer.amount) else {
            throw RailError(.mismatch, "the voucher pays \(voucher.amount) \(voucher.unit), the offer asks \(offer.amount)", rail: id)
        }
        // The processor matches the voucher and checks for an earlier redemption: the same payment
        // presented again is `.alreadySettled` (the server then grants it again); one paid in time
        // and presented after the request expired is redeemed then (vouchers exist only for payments
        // made before the expiry).
        let redemption = try await processor.redeem(voucher: token, requestID: offer.id, payee: account)
        guard redemption.amount == offer.amount, redemption.requestID == offer.id else {
            // The processor credited something else than asked: refuse to grant, and say so loudly.
            throw RailError(.mismatch, "the processor redeemed \(redemption.amount) for \(redemption.requestID)", rail: id)
        }
        return Settlement(
            rail: id, offerID: offer.id, reference: redemption.paymentID, amount: redemption.amount,
            settledAt: redemption.redeemedAt)
    }

    /// Asks the processor whether `offer` was redeemed, and how: the same settlement `settle` returned.
    public func settlement(of offer: Offer) async throws(RailError) -> Settlement? {
        guard offer.rail == id, offer.payee == account.accountID else {
            throw RailError(.mismatch, "the offer is not one of this payee's \(id) offers", rail: id)
        }
        guard let redemption = try await processor.redemption(ofRequest: offer.id, payee: account) else { return nil }
        guard redemption.requestID == offer.id else {
            throw RailError(.mismatch, "the processor answered for request \(redemption.requestID), not \(offer.id)", rail: id)
        }
        return Settlement(
            rail: id, offerID: offer.id, reference: redemption.paymentID, amount: redemption.amount,
            settledAt: redemption.redeemedAt)
    }

    /// Moves `amount` (default: all that is left) of a redeemed payment back to its payer at the
    /// processor, at most once per key, never more than paid minus refunded (the processor checks).
    public func refund(_ settlement: Settlement, amount: Money?, reason: String?, idempotencyKey: String) async throws(RailError) -> Refund {
        guard settlement.rail == id else {
            throw RailError(.mismatch, "the settlement is on rail \(settlement.rail), not \(id)", rail: id)
        }
        let refund = try await processor.refund(requestID: settlement.offerID, amount: amount, key: idempotencyKey, payee: account)
        guard refund.requestID == settlement.offerID, refund.amount.unit == settlement.amount.unit,
              amount == nil || amount == refund.amount
        else {
            throw RailError(.mismatch, "the processor refunded \(refund.amount) for \(refund.requestID)", rail: id)
        }
        return Refund(rail: id, id: refund.id, settlementReference: settlement.reference, amount: refund.amount, status: .succeeded)
    }
}

/// The agent side of the fake rail: pays offers from one processor account.
public struct FakePayerRail: PayerRail {
    /// This rail's name.
    public let id: RailID
    private let processor: any FakeProcessorAPI
    private let processorKey: Ed25519.PublicKey
    private let account: FakeAccountCredentials
    private let clock: any PayRailClock

    /// Creates the payer rail.
    ///
    /// - Parameters:
    ///   - processor: how to reach the processor.
    ///   - processorKey: the processor's voucher key; offers naming another processor are refused.
    ///   - account: the payer's account credentials.
    ///   - clock: decides expiry.
    ///   - id: the rail name.
    public init(
        processor: any FakeProcessorAPI, processorKey: Ed25519.PublicKey, account: FakeAccountCredentials,
        clock: any PayRailClock = SystemClock(), id: RailID = .fake
    ) {
        self.processor = processor
        self.processorKey = processorKey
        self.account = account
        self.clock = clock
        self.id = id
    }

    /// Free of fees; refused when the offer is for another rail or processor, expired, or unaffordable.
    public func quote(_ offer: Offer) async -> QuoteDecision {
        do throws(RailError) {
            try check(offer)
            let balance = try await processor.balance(of: account, unit: offer.amount.unit)
            guard balance.amount >= offer.amount.amount else {
                return .refused(RailError(.insufficientFunds, "the balance \(balance) does not cover \(offer.amount)", rail: id))
            }
            return .payable(.free(offer.amount))
        } catch {
            return .refused(error)
        }
    }

    /// Pays through the processor and returns the voucher as the credential.
    ///
    /// Safe to call again after `.timedOut`: the processor returns the same voucher without a
    /// second debit.
    public func pay(_ offer: Offer) async throws(RailError) -> Credential {
        // No local expiry check: the processor returns the voucher of a request this payer already
        // paid even after it expired (the agent must get its proof back), and refuses new payments
        // of expired requests itself.
        try check(offer, checkingExpiry: false)
        let token = try await processor.pay(requestID: offer.id, amount: offer.amount, payee: offer.payee, payer: account)
        // Never hand over a proof we cannot vouch for: a wrong processor or a corrupted answer would
        // only surface later as a refused credential, after the money moved.
        let voucher: FakeVoucher
        do {
            voucher = try FakeVoucher.verify(token, publicKey: processorKey, rail: id)
        } catch {
            throw RailError(.timedOut, "the processor's voucher does not verify (\(error.code)); look the payment up", rail: id)
        }
        guard voucher.requestID == offer.id, voucher.pays(offer.amount), voucher.payer == account.accountID else {
            throw RailError(.timedOut, "the processor's voucher is for something else; look the payment up", rail: id)
        }
        return Credential(rail: id, offerID: offer.id, payload: ["voucher": token], payerID: account.accountID)
    }

    private func check(_ offer: Offer, checkingExpiry: Bool = true) throws(RailError) {
        guard offer.rail == id else {
            throw RailError(.unsupported, "this wallet pays \(id) offers, not \(offer.rail)", rail: id)
        }
        guard offer.details["processorKey"] == Base64URL.encode(processorKey.rawRepresentation) else {
            throw RailError(.unsupported, "the offer is for another fake processor", rail: id)
        }
        guard !checkingExpiry || clock.now() <= offer.expiresAt else {
            throw RailError(.expired, "the offer expired at \(offer.expiresAt)", rail: id)
        }
    }
}
