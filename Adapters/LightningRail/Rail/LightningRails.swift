import Bolt11
import Foundation
import PayRail
import PayRailCrypto

// The Lightning rail over any `LightningBackend`. The rail never trusts the backend's word for what an
// invoice says: it decodes every invoice itself (amount, payment hash, expiry, network, payee), and a
// preimage is accepted only when its SHA-256 is the payment hash.

/// How a payee decides that an invoice was paid.
public enum LightningSettlementMode: String, Hashable, Sendable {
    /// The preimage must hash to the payment hash AND the backend must report the invoice paid for the
    /// full amount (the default: a preimage alone can leak from a shared instance, see PEERS.md).
    case backendConfirmed
    /// The preimage alone proves payment (no backend call at settle time). Only sound when nobody but
    /// the payer can learn preimages of this node's invoices; the server's store still grants once.
    case preimageOnly
}

/// The server side of the Lightning rail: one invoice per charge, settled by its preimage.
public struct LightningPayeeRail: PayeeRail {
    /// Always `.lightning`.
    public let id: RailID = .lightning
    /// The node or wallet server that issues invoices.
    public let backend: any LightningBackend
    /// The network invoices must be on.
    public let network: Bolt11Network
    /// How payment is confirmed.
    public let mode: LightningSettlementMode
    /// The longest invoice expiry asked of the backend, in seconds.
    public let maximumInvoiceExpiry: Int
    private let clock: any PayRailClock
    private let settled = LightningSettlements()

    /// Creates a payee rail.
    public init(backend: any LightningBackend, network: Bolt11Network, mode: LightningSettlementMode = .backendConfirmed,
                maximumInvoiceExpiry: Int = 3600, clock: any PayRailClock = SystemClock()) {
        self.backend = backend
        self.network = network
        self.mode = mode
        self.maximumInvoiceExpiry = maximumInvoiceExpiry
        self.clock = clock
    }

    /// Satoshis and millisatoshis, up to 0.1 BTC per invoice; the payer pays routing fees.
    public var capabilities: RailCapabilities {
        let limits = [(1, 10_000_000, MoneyUnit.sat), (1_000, 10_000_000_000, MoneyUnit.msat)].compactMap { low, high, unit in
            try? AmountLimit(minimum: Money(amount: Int64(low), unit: unit), maximum: Money(amount: Int64(high), unit: unit))
        }
        return RailCapabilities(limits: limits, settlementTime: .seconds(5), refundable: false, feeModel: .payerPaysNetworkFee)
    }

    /// Creates one invoice for the charge; the offer never outlives the invoice.
    ///
    /// With `charge.commitment` (a 32-byte hash of the request, as x402 `lnbtc` binds it) the invoice's
    /// description hash is that commitment; otherwise the description is the charge's.
    public func prepare(_ charge: Charge) async throws(RailError) -> Offer {
        try capabilities.check(charge.amount, rail: id)
        let amountMsat = try LightningAmounts.msat(charge.amount, rail: id)
        let now = clock.now()
        let lifetime = Int(charge.expiresAt.timeIntervalSince(now).rounded(.down))
        guard lifetime >= 1 else { throw RailError(.expired, "the charge expires before an invoice could be paid", rail: id) }
        let expiry = min(lifetime, maximumInvoiceExpiry)
        let created = try await backend.createInvoice(
            amountMsat: amountMsat, memo: charge.description ?? charge.resource.description, descriptionHash: charge.commitment,
            expirySeconds: expiry)
        let invoice: Bolt11Invoice
        do { invoice = try Bolt11Invoice.decode(created.bolt11) } catch {
            throw RailError(.unavailable, "the backend's invoice does not decode: \(error.code)", rail: id)
        }
        let hash = LightningAmounts.hex(invoice.paymentHash)
        guard hash == created.paymentHash.lowercased(), invoice.amountMsat == amountMsat, invoice.network == network else {
            throw RailError(.unavailable, "the backend's invoice is not the one asked for (hash, amount or network)", rail: id)
        }
        if let commitment = charge.commitment, invoice.descriptionHash != commitment {
            throw RailError(.unavailable, "the backend's invoice does not commit to the request", rail: id)
        }
        var details = ["invoice": created.bolt11, "paymentHash": hash, "network": network.rawValue]
        if let chain = network.x402NetworkID { details["x402Network"] = chain }
        return Offer(rail: id, amount: charge.amount, payee: LightningAmounts.hex(invoice.payeeKey),
                     expiresAt: min(charge.expiresAt, invoice.expiresAt), id: hash, details: details)
    }

    /// Accepts a preimage whose SHA-256 is the offer's payment hash, once; in `.backendConfirmed` mode
    /// only when the backend reports the invoice paid in full.
    public func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        guard credential.rail == id, offer.rail == id else {
            throw RailError(.mismatch, "the credential or offer is for \(credential.rail)/\(offer.rail), not lightning", rail: id)
        }
        guard credential.offerID.lowercased() == offer.id.lowercased() else {
            throw RailError(.mismatch, "the credential pays another invoice", rail: id)
        }
        guard let preimageText = credential.payload["preimage"] else {
            throw RailError(.malformed, "the credential carries no preimage", rail: id)
        }
        guard let preimage = LightningAmounts.bytes(hex: preimageText), preimage.count == 32 else {
            throw RailError(.malformed, "a preimage is 64 hex characters", rail: id)
        }
        guard constantTimeEquals(SHA256.hash(preimage), LightningAmounts.bytes(hex: offer.id) ?? []) else {
            throw RailError(.invalidProof, "the preimage does not hash to the invoice's payment hash", rail: id)
        }
        // From here the proof is the payment's own: a second presentation is the same payment.
        if await settled.settlement(for: offer.id.lowercased()) != nil {
            throw RailError(.alreadySettled, "this invoice was already settled", rail: id)
        }
        // No expiry check on the presentation: a payment made in time may be presented late (the gate
        // decides how late, its presentation grace). Whether it was made in time is the backend's to
        // say: its payment time and the invoice's expiry come from the same node's clock. LNbits pays
        // an expired invoice between its own wallets, so a backend-confirmed payment made after the
        // expiry is refused; in preimage-only mode nothing can tell, and the node's HTLC rules decide.
        let settledAt: Date
        switch mode {
        case .preimageOnly:
            settledAt = clock.now()
        case .backendConfirmed:
            switch try await backend.incomingStatus(paymentHash: offer.id.lowercased()) {
            case .paid(let amountMsat, _, let at):
                guard amountMsat >= (try LightningAmounts.msat(offer.amount, rail: id)) else {
                    throw RailError(.mismatch, "the invoice was paid \(amountMsat) msat, less than \(offer.amount)", rail: id)
                }
                if let at, at > offer.expiresAt {
                    throw RailError(.expired, "the backend reports the invoice paid at \(at), after the offer expired", rail: id)
                }
                // Presented late, with no payment time to show it was made in time: fail closed.
                if at == nil, clock.now() > offer.expiresAt {
                    throw RailError(.expired, "the offer expired and the backend does not say when the invoice was paid", rail: id)
                }
                settledAt = at ?? clock.now()
            case .open:
                throw RailError(.mismatch, "the backend does not report this invoice paid", rail: id)
            case .closed:
                throw RailError(.expired, "the invoice expired or was canceled unpaid", rail: id)
            }
        }
        let settlement = Settlement(rail: id, offerID: offer.id, reference: offer.id.lowercased(), amount: offer.amount, settledAt: settledAt)
        guard await settled.claim(settlement) else {
            throw RailError(.alreadySettled, "this invoice was already settled", rail: id)
        }
        return settlement
    }

    /// The settlement `settle` returned in this process, or else the backend's word that the invoice
    /// was paid (after a restart). `.unsupported` in `.preimageOnly` mode when this process never settled it.
    public func settlement(of offer: Offer) async throws(RailError) -> Settlement? {
        if let known = await settled.settlement(for: offer.id.lowercased()) { return known }
        guard mode == .backendConfirmed else {
            throw RailError(.unsupported, "in preimage-only mode settlements are known only to the process that made them", rail: id)
        }
        switch try await backend.incomingStatus(paymentHash: offer.id.lowercased()) {
        case .paid(let amountMsat, _, let at):
            guard amountMsat >= (try LightningAmounts.msat(offer.amount, rail: id)) else { return nil }
            return Settlement(rail: id, offerID: offer.id, reference: offer.id.lowercased(), amount: offer.amount,
                              settledAt: at ?? clock.now())
        case .open, .closed:
            return nil
        }
    }

    /// A Lightning payment cannot be sent back without an invoice from the payer, which the gate does
    /// not have: refused, saying what to do instead.
    public func refund(_ settlement: Settlement, amount: Money?, reason: String?, idempotencyKey: String) async throws(RailError) -> Refund {
        throw RailError(.unsupported, "a Lightning refund needs an invoice from the payer; ask the payer for a BOLT11 invoice "
                        + "and pay it from the node (payment hash \(settlement.reference))", rail: id)
    }
}

/// The agent side of the Lightning rail: checks the invoice against the offer, then pays it.
public struct LightningPayerRail: FeeReportingPayerRail {
    /// Always `.lightning`.
    public let id: RailID = .lightning
    /// The wallet that pays.
    public let backend: any LightningBackend
    /// The network the wallet pays on; invoices for another network are refused.
    public let network: Bolt11Network
    /// The most routing fee paid per payment: a fixed floor and a share of the amount in parts per
    /// million, whichever is larger.
    public let maximumFeeFloorMsat: Int64
    /// See `maximumFeeFloorMsat`.
    public let maximumFeePPM: Int64
    /// How long one payment attempt may take.
    public let paymentTimeout: Duration
    private let clock: any PayRailClock

    /// Creates a payer rail (default fee limit: 10 sat or 1 %, whichever is more; 60 s per payment).
    public init(backend: any LightningBackend, network: Bolt11Network, maximumFeeFloorMsat: Int64 = 10_000, maximumFeePPM: Int64 = 10_000,
                paymentTimeout: Duration = .seconds(60), clock: any PayRailClock = SystemClock()) {
        self.backend = backend
        self.network = network
        self.maximumFeeFloorMsat = maximumFeeFloorMsat
        self.maximumFeePPM = maximumFeePPM
        self.paymentTimeout = paymentTimeout
        self.clock = clock
    }

    /// The amount plus the maximum routing fee, after checking the invoice says what the offer says.
    public func quote(_ offer: Offer) async -> QuoteDecision {
        do throws(RailError) {
            let checked = try check(offer)
            let fee = try LightningAmounts.money(msatRoundedUp: feeLimit(checked.amountMsat), like: offer.amount, rail: id)
            let balance = try await backend.balanceMsat()
            guard balance >= checked.amountMsat else {
                return .refused(RailError(.insufficientFunds, "the wallet holds \(balance) msat, the invoice asks \(checked.amountMsat)", rail: id))
            }
            do { return .payable(try Quote(amount: offer.amount, fee: fee, feeKind: .maximum)) } catch {
                return .refused(RailError(.unsupported, "the fee does not add up: \(error)", rail: id))
            }
        } catch {
            return .refused(error)
        }
    }

    /// Pays the offer's invoice and returns its preimage. Idempotent: a payment this wallet already made
    /// (or is making) is looked up, never sent again.
    public func pay(_ offer: Offer) async throws(RailError) -> Credential {
        try await payReportingFee(offer).credential
    }

    /// Pays like `pay` and reports the routing fee the node says it spent (in the offer's unit,
    /// rounded up to whole satoshis for a satoshi offer), so the agent's ledger commits the price
    /// plus that fee instead of the reserved maximum.
    public func payReportingFee(_ offer: Offer) async throws(RailError) -> PaidCredential {
        // Look up before the expiry check: an invoice paid just before it expired must give back its
        // preimage, not "expired" (which would tell the agent nothing was paid).
        let checked = try check(offer, checkingExpiry: false)
        let hash = LightningAmounts.hex(checked.invoice.paymentHash)
        if let earlier = try await backend.outgoingStatus(paymentHash: hash) {
            switch earlier {
            case .succeeded(let preimage, let feeMsat): return try paid(preimage, feeMsat: feeMsat, hash: hash, offer: offer)
            case .inFlight: throw RailError(.timedOut, "an earlier payment of this invoice is still in flight; look it up later", retry: .afterLookup, rail: id)
            case .failed: break  // a failed attempt moved no money: try again
            }
        }
        guard !checked.invoice.isExpired(at: clock.now()), clock.now() <= offer.expiresAt else {
            throw RailError(.expired, "the invoice or the offer has expired", rail: id)
        }
        let outcome: OutgoingPaymentStatus
        do {
            outcome = try await backend.pay(bolt11: checked.bolt11, maxFeeMsat: feeLimit(checked.amountMsat), timeout: paymentTimeout)
        } catch {
            guard error.retry == .afterLookup else { throw error }
            // The outcome is unknown: ask once, never pay again blindly.
            if case .succeeded(let preimage, let feeMsat)? = try? await backend.outgoingStatus(paymentHash: hash) {
                return try paid(preimage, feeMsat: feeMsat, hash: hash, offer: offer)
            }
            throw error
        }
        switch outcome {
        case .succeeded(let preimage, let feeMsat): return try paid(preimage, feeMsat: feeMsat, hash: hash, offer: offer)
        case .failed(let reason): throw RailError(.declined, "the payment failed: \(reason)", rail: id)
        case .inFlight: throw RailError(.timedOut, "the payment is still in flight; look it up later", retry: .afterLookup, rail: id)
        }
    }

    /// The proof, and the fee in the offer's unit (unknown when the node does not say, reports a negative fee
    /// or one that cannot be expressed: the reserved maximum then stays committed).
    private func paid(_ preimage: String, feeMsat: Int64?, hash: String, offer: Offer) throws(RailError) -> PaidCredential {
        let fee = feeMsat.flatMap { $0 >= 0 ? try? LightningAmounts.money(msatRoundedUp: $0, like: offer.amount, rail: id) : nil }
        return PaidCredential(credential: try credential(preimage, hash: hash, offer: offer), fee: fee)
    }

    private struct CheckedInvoice {
        let bolt11: String
        let invoice: Bolt11Invoice
        let amountMsat: Int64
    }

    /// Refuses an offer whose invoice disagrees with it: amount, payment hash, expiry, network, payee.
    private func check(_ offer: Offer, checkingExpiry: Bool = true) throws(RailError) -> CheckedInvoice {
        guard offer.rail == id else { throw RailError(.unsupported, "this wallet pays lightning offers, not \(offer.rail)", rail: id) }
        guard let bolt11 = offer.details["invoice"], !bolt11.isEmpty else {
            throw RailError(.malformed, "the offer carries no invoice", rail: id)
        }
        let invoice: Bolt11Invoice
        do { invoice = try Bolt11Invoice.decode(bolt11) } catch { throw RailError(.malformed, "the invoice does not decode: \(error.reason)", rail: id) }
        guard invoice.network == network else {
            throw RailError(.unsupported, "the invoice is for \(invoice.network.rawValue), this wallet pays on \(network.rawValue)", rail: id)
        }
        let amountMsat = try LightningAmounts.msat(offer.amount, rail: id)
        guard let invoiced = invoice.amountMsat else {
            throw RailError(.mismatch, "the invoice names no amount; the offer says \(offer.amount)", rail: id)
        }
        guard invoiced == amountMsat else {
            throw RailError(.mismatch, "the invoice asks \(invoiced) msat, the offer says \(offer.amount)", rail: id)
        }
        let hash = LightningAmounts.hex(invoice.paymentHash)
        guard offer.id.lowercased() == hash, offer.details["paymentHash"].map({ $0.lowercased() == hash }) ?? true else {
            throw RailError(.mismatch, "the offer's payment hash is not the invoice's", rail: id)
        }
        guard !offer.payee.isEmpty, offer.payee.lowercased() == LightningAmounts.hex(invoice.payeeKey) else {
            throw RailError(.mismatch, "the invoice is payable to another node than the offer names", rail: id)
        }
        guard !checkingExpiry || (!invoice.isExpired(at: clock.now()) && clock.now() <= offer.expiresAt) else {
            throw RailError(.expired, "the invoice or the offer has expired", rail: id)
        }
        return CheckedInvoice(bolt11: bolt11, invoice: invoice, amountMsat: amountMsat)
    }

    private func feeLimit(_ amountMsat: Int64) -> Int64 {
        let (product, overflow) = amountMsat.multipliedReportingOverflow(by: maximumFeePPM)
        let share = overflow ? Int64.max / 1_000_000 : (product + 999_999) / 1_000_000
        return max(maximumFeeFloorMsat, share)
    }

    private func credential(_ preimage: String, hash: String, offer: Offer) throws(RailError) -> Credential {
        guard let bytes = LightningAmounts.bytes(hex: preimage), bytes.count == 32,
              LightningAmounts.hex(SHA256.hash(bytes)) == hash
        else {
            // Money may have moved but the proof is wrong: say so, and let the caller look it up.
            throw RailError(.timedOut, "the wallet's preimage does not match the invoice; look the payment up", retry: .afterLookup, rail: id)
        }
        return Credential(rail: id, offerID: offer.id, payload: ["preimage": LightningAmounts.hex(bytes)])
    }
}

/// Settlements made by this process, each invoice at most once.
actor LightningSettlements {
    /// Bounded so a long-running server does not grow by one entry per paid invoice for ever. An
    /// entry forgotten is safe: in backend-confirmed mode the backend still knows the invoice was
    /// paid, and a gate records every consumption longer than it accepts a presentation, so the
    /// same payment is never granted twice even if this rail settles it again.
    static let capacity = 100_000
    private var byHash: [String: Settlement] = [:]
    private var order: [String] = []
    private var oldest = 0

    func claim(_ settlement: Settlement) -> Bool {
        guard byHash[settlement.reference] == nil else { return false }
        byHash[settlement.reference] = settlement
        order.append(settlement.reference)
        if order.count - oldest > Self.capacity {
            byHash[order[oldest]] = nil
            oldest += 1
            if oldest > Self.capacity {
                order.removeFirst(oldest)
                oldest = 0
            }
        }
        return true
    }

    func settlement(for hash: String) -> Settlement? { byHash[hash] }
}

/// Unit and hex conversions of the rail.
enum LightningAmounts {
    static func msat(_ money: Money, rail: RailID) throws(RailError) -> Int64 {
        switch money.unit {
        case .msat: return money.amount
        case .sat:
            let (msat, overflow) = money.amount.multipliedReportingOverflow(by: 1000)
            guard !overflow else { throw RailError(.unsupported, "\(money) does not fit in millisatoshis", rail: rail) }
            return msat
        default:
            throw RailError(.unsupported, "lightning takes sat or msat, not \(money.unit)", rail: rail)
        }
    }

    /// `msat` in the unit of `like`, rounded up for satoshis (a fee limit is never under-stated).
    static func money(msatRoundedUp msat: Int64, like: Money, rail: RailID) throws(RailError) -> Money {
        do {
            switch like.unit {
            case .msat: return try Money(amount: msat, unit: .msat)
            case .sat: return try Money(amount: msat / 1000 + (msat % 1000 == 0 ? 0 : 1), unit: .sat)
            default: throw RailError(.unsupported, "lightning takes sat or msat, not \(like.unit)", rail: rail)
            }
        } catch let error as RailError {
            throw error
        } catch {
            throw RailError(.unsupported, "\(msat) msat is not an amount: \(error)", rail: rail)
        }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes) }

    static func bytes(hex text: String) -> [UInt8]? { Hex.decode(text) }
}
