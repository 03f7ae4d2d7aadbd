import Bolt11
import Foundation
import LightningRail
import PayRail
import PayRailCrypto

// Test support shared by the Lightning rail's tests and the gate's Lightning tests.

/// A Lightning node in memory, holding several wallets, that issues real signed BOLT11 invoices and
/// settles payments between its wallets at once (as LNbits does between wallets of one instance).
/// It is a test double for the rail's logic; the real peer is LNbits (LightningRailLNbitsTests).
public actor InMemoryLightningNode {
    struct Invoice {
        let bolt11: String
        let preimage: [UInt8]
        let amountMsat: Int64
        let wallet: String
        let expiresAt: Date
        var paidAt: Date?
    }

    /// The network its invoices are for.
    public let network: Bolt11Network
    private let key: Secp256k1.PrivateKey
    private let clock: any PayRailClock
    private var balances: [String: Int64] = [:]
    private var invoices: [String: Invoice] = [:]
    private var outgoing: [String: (wallet: String, preimage: String, feeMsat: Int64)] = [:]
    /// The routing fee every payment pays on top of the invoice (a real node's route costs this).
    private var routingFeeMsat: Int64 = 0
    /// How many times a wallet asked to pay.
    public private(set) var payCalls = 0
    /// The next `pay` moves the money but answers as if the connection dropped.
    var dropNextPayAnswer = false
    /// The next invoice is made for this many msat more than asked (a lying backend).
    var inflateNextInvoiceMsat: Int64 = 0

    /// Creates a node with a fresh key.
    public init(network: Bolt11Network = .regtest, clock: any PayRailClock) throws {
        self.network = network
        self.key = try Secp256k1.PrivateKey()
        self.clock = clock
    }

    /// The node key, hex.
    public var nodeID: String { Self.hex(key.publicKey.compressedRepresentation) }

    /// Adds funds to a wallet.
    public func fund(_ wallet: String, msat: Int64) { balances[wallet, default: 0] += msat }
    /// A wallet's balance.
    public func balance(_ wallet: String) -> Int64 { balances[wallet, default: 0] }
    /// The next payment moves the money but its answer is lost.
    public func setDropNextPayAnswer() { dropNextPayAnswer = true }

    /// Makes every later payment pay `msat` of routing fee (taken from the payer, reported back).
    public func setRoutingFee(msat: Int64) { routingFeeMsat = msat }
    /// The next invoice asks more than requested.
    public func setInflateNextInvoice(_ msat: Int64) { inflateNextInvoiceMsat = msat }

    func createInvoice(wallet: String, amountMsat: Int64, memo: String?, descriptionHash: [UInt8]?, expirySeconds: Int) throws(RailError) -> CreatedInvoice {
        let preimage: [UInt8]
        let secret: [UInt8]
        do {
            preimage = try SecureRandom.bytes(count: 32)
            secret = try SecureRandom.bytes(count: 32)
        } catch {
            throw RailError(.unavailable, "no randomness", rail: .lightning)
        }
        let hash = SHA256.hash(preimage)
        let now = clock.now()
        let amount = amountMsat + inflateNextInvoiceMsat
        inflateNextInvoiceMsat = 0
        var fields: [Bolt11Field] = [.paymentHash(Array(hash)), .paymentSecret(secret), .expiry(Int64(expirySeconds))]
        fields.append(descriptionHash.map { .descriptionHash($0) } ?? .description(memo ?? ""))
        let draft = Bolt11InvoiceDraft(network: network, amountMsat: amount, timestamp: Int64(now.timeIntervalSince1970), fields: fields)
        let bolt11: String
        do { bolt11 = try draft.encode(signingWith: key) } catch { throw RailError(.unavailable, "encode: \(error)", rail: .lightning) }
        let hex = Self.hex(hash)
        invoices[hex] = Invoice(bolt11: bolt11, preimage: preimage, amountMsat: amount, wallet: wallet,
                                expiresAt: Date(timeIntervalSince1970: TimeInterval(Int64(now.timeIntervalSince1970) + Int64(expirySeconds))))
        return CreatedInvoice(bolt11: bolt11, paymentHash: hex)
    }

    func incomingStatus(wallet: String, hash: String) throws(RailError) -> IncomingInvoiceStatus {
        guard let invoice = invoices[hash], invoice.wallet == wallet else {
            throw RailError(.mismatch, "no such invoice in this wallet", rail: .lightning)
        }
        if let paidAt = invoice.paidAt { return .paid(amountMsat: invoice.amountMsat, preimage: Self.hex(invoice.preimage), settledAt: paidAt) }
        return clock.now() >= invoice.expiresAt ? .closed : .open
    }

    func pay(wallet: String, bolt11: String, maxFeeMsat: Int64 = .max) throws(RailError) -> OutgoingPaymentStatus {
        payCalls += 1
        let decoded: Bolt11Invoice
        do { decoded = try Bolt11Invoice.decode(bolt11) } catch { throw RailError(.malformed, "bad invoice", rail: .lightning) }
        let hash = Self.hex(decoded.paymentHash)
        guard var invoice = invoices[hash] else { return .failed(reason: "no route") }
        guard invoice.paidAt == nil else { return .failed(reason: "already paid") }
        guard clock.now() < invoice.expiresAt else { return .failed(reason: "invoice expired") }
        guard routingFeeMsat <= maxFeeMsat else { return .failed(reason: "no route within the fee limit") }
        guard balances[wallet, default: 0] >= invoice.amountMsat + routingFeeMsat else {
            throw RailError(.insufficientFunds, "insufficient balance", rail: .lightning)
        }
        balances[wallet, default: 0] -= invoice.amountMsat + routingFeeMsat
        balances[invoice.wallet, default: 0] += invoice.amountMsat
        invoice.paidAt = clock.now()
        invoices[hash] = invoice
        outgoing[hash] = (wallet, Self.hex(invoice.preimage), routingFeeMsat)
        if dropNextPayAnswer {
            dropNextPayAnswer = false
            throw RailError(.timedOut, "connection dropped", retry: .afterLookup, rail: .lightning)
        }
        return .succeeded(preimage: Self.hex(invoice.preimage), feeMsat: routingFeeMsat)
    }

    func outgoingStatus(wallet: String, hash: String) -> OutgoingPaymentStatus? {
        guard let payment = outgoing[hash], payment.wallet == wallet else { return nil }
        return .succeeded(preimage: payment.preimage, feeMsat: payment.feeMsat)
    }

    /// The preimage of an invoice, as someone with access to the node could read it.
    public func leakedPreimage(_ hash: String) -> String? { invoices[hash].map { Self.hex($0.preimage) } }

    /// Lower-case hex.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// One wallet of the in-memory node, as a `LightningBackend`.
public struct InMemoryWallet: LightningBackend {
    /// The node.
    public let node: InMemoryLightningNode
    /// The wallet's name on the node.
    public let name: String

    /// A wallet of `node`.
    public init(node: InMemoryLightningNode, name: String) {
        self.node = node
        self.name = name
    }

    /// See `LightningBackend`.
    public func createInvoice(amountMsat: Int64, memo: String?, descriptionHash: [UInt8]?, expirySeconds: Int) async throws(RailError) -> CreatedInvoice {
        try await node.createInvoice(wallet: name, amountMsat: amountMsat, memo: memo, descriptionHash: descriptionHash, expirySeconds: expirySeconds)
    }
    /// See `LightningBackend`.
    public func incomingStatus(paymentHash: String) async throws(RailError) -> IncomingInvoiceStatus {
        try await node.incomingStatus(wallet: name, hash: paymentHash)
    }
    /// See `LightningBackend`.
    public func pay(bolt11: String, maxFeeMsat: Int64, timeout: Duration) async throws(RailError) -> OutgoingPaymentStatus {
        try await node.pay(wallet: name, bolt11: bolt11, maxFeeMsat: maxFeeMsat)
    }
    /// See `LightningBackend`.
    public func outgoingStatus(paymentHash: String) async throws(RailError) -> OutgoingPaymentStatus? {
        await node.outgoingStatus(wallet: name, hash: paymentHash)
    }
    /// See `LightningBackend`.
    public func balanceMsat() async throws(RailError) -> Int64 { await node.balance(name) }
}

