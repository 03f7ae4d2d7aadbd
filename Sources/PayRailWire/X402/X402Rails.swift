// How PayRail's rails appear in x402, both ways.
//
//   rail       scheme        network                 asset        amount   payTo            extra
//   lightning  exact         lnbtc:<genesis ref>     BTC          msat     node key (hex)   assetTransferMethod, paymentFlow
//                                                                                           "upfront", invoice, requestHash,
//                                                                                           requestBindingProfile/Params
//   stripe     auth-capture  card:visa|mastercard..  ISO 4217 UC  minor    PSP account      psp "stripe", paymentFlow "escrow",
//                                                                                           payrailOfferId (PayRail's card form)
//   fake       exact         payrail:fake            unit code    minor    processor acct   requestID, processorKey,
//                                                                                           paymentFlow "upfront"
//
// Payloads: lightning {preimage}, stripe {token, paymentId}, fake {voucher}.
//
// `extra.paymentFlow` (specs/schemes/exact/scheme_exact.md, x402-foundation/x402): `authorize` (the
// default when absent: verify, do the work, settle), `escrow` (settle, work, settle) or `upfront`
// (settle, then work). Every offer PayRail writes declares its flow: the gate settles (Lightning: the
// preimage is the settlement; fake: the voucher is redeemed) before it serves, so `upfront`; cards
// authorize and capture, so `escrow`. Every offer read is honoured: an unknown flow, or one the rail
// cannot follow (a paid invoice cannot be held for later settlement), refuses the offer.

import Bolt11
import Foundation
import PayRail
import PayRailCrypto

/// Server-side settings for turning an `Offer` into x402 requirements.
public struct X402OfferContext: Sendable {
    /// The server's validation time (invoice freshness, timeouts).
    public var now: Date
    /// The request being sold; REQUIRED for Lightning, whose invoice must commit to it.
    public var requestBinding: X402RequestBinding?
    /// The card networks to offer a card payment on, one `accepts` entry each.
    public var cardNetworks: [String]
    /// Allowed clock difference with the invoice's creation time (the lnbtc default is 60 s).
    public var clockSkewSeconds: Int64

    /// Makes a context.
    public init(
        now: Date, requestBinding: X402RequestBinding? = nil, cardNetworks: [String] = ["visa"], clockSkewSeconds: Int64 = 60
    ) {
        self.now = now
        self.requestBinding = requestBinding
        self.cardNetworks = cardNetworks
        self.clockSkewSeconds = clockSkewSeconds
    }
}

extension X402PaymentRequirements {
    /// The x402 requirements for one offer (for cards, on the first of `context.cardNetworks`).
    ///
    /// - Throws: `unsupported` when the rail or network has no x402 form (e.g. Lightning regtest or
    ///   signet, an unknown rail), `missingField` when the offer lacks what the scheme needs,
    ///   `bindingMismatch` when a Lightning invoice does not match the offer or the request.
    public init(offer: Offer, context: X402OfferContext) throws(WireError) {
        let all = try Self.requirements(for: offer, context: context)
        guard let first = all.first else { throw WireError(.unsupported, "no x402 form for this offer") }
        self = first
    }

    /// The Stripe offer `form` detail of an offer settled with x402's `{token, paymentId}` (auth-capture).
    /// A Stripe offer with another `form` has no x402 entry; one without `form` (another payee rail's)
    /// is taken to settle that payload.
    public static let cardSettleableForm = "auth-capture"

    /// Every `accepts` entry for one offer: one for Lightning and the fake rail, one per card network
    /// (Stripe offers whose `form` is absent or ``cardSettleableForm`` only).
    public static func requirements(for offer: Offer, context: X402OfferContext) throws(WireError) -> [X402PaymentRequirements] {
        switch offer.rail {
        case .lightning: return [try lightning(offer, context)]
        case .stripe:
            // Only an offer that can be settled with the payload `{token, paymentId}` is advertised as
            // auth-capture. PayRail's own Stripe forms name another proof: `intent` (the payer confirms
            // the offered PaymentIntent and presents `pi_…`) and `spt` (a Shared Payment Token); a card
            // entry for them would take a payment the gate cannot settle.
            if let form = offer.details["form"], form != cardSettleableForm {
                throw WireError(.unsupported, "this Stripe offer (form \(form.prefix(20))) cannot be settled with an x402 card token")
            }
            guard !context.cardNetworks.isEmpty else { throw WireError(.missingField, "no card network to offer a card payment on") }
            var result: [X402PaymentRequirements] = []
            for cardNetwork in context.cardNetworks { result.append(try card(offer, cardNetwork: cardNetwork, context)) }
            return result
        case .fake: return [try fake(offer, context)]
        default: throw WireError(.unsupported, "the \(offer.rail) rail has no x402 form")
        }
    }

    private static func lightning(_ offer: Offer, _ context: X402OfferContext) throws(WireError) -> X402PaymentRequirements {
        guard let invoiceText = offer.details["invoice"], !invoiceText.isEmpty else {
            throw WireError(.missingField, "a Lightning offer needs details[invoice]")
        }
        // The network decides first: regtest and signet are refused without touching the invoice.
        var network: String?
        if let name = offer.details["network"] { network = try X402Network.lightning(name) }
        guard let binding = context.requestBinding else {
            throw WireError(.missingField, "an lnbtc offer needs the request binding its invoice commits to")
        }
        let invoice = try WireBolt11.read(invoiceText)
        let invoiceNetwork = try lightningNetwork(currency: invoice.currency)
        if let network, network != invoiceNetwork {
            throw WireError(.bindingMismatch, "the invoice's currency \(invoice.currency) does not match the offer's network")
        }
        network = invoiceNetwork
        let msat: Money
        do { msat = try offer.amount.converted(to: .msat) } catch {
            throw WireError(.unsupported, "a Lightning offer must be priced in sat or msat, not \(offer.amount.unit)")
        }
        let requestHash = try binding.requestHashBytes()
        try checkInvoice(invoice, amountMsat: msat.amount, payTo: offer.payee, requestHash: requestHash,
                         now: context.now, skew: context.clockSkewSeconds)
        if let hash = offer.details["paymentHash"], hash.lowercased() != X402Syntax.hex(invoice.paymentHash) {
            throw WireError(.bindingMismatch, "details[paymentHash] is not the invoice's payment hash")
        }
        guard invoice.expirySeconds <= Int64(maximumTimeoutSeconds), invoice.expirySeconds >= 1 else {
            throw WireError(.unsupported, "the invoice expiry does not fit maxTimeoutSeconds")
        }
        return try X402PaymentRequirements(
            scheme: "exact", network: network ?? X402Network.lightningMainnet, amount: String(msat.amount), asset: "BTC",
            payTo: offer.payee, maxTimeoutSeconds: Int(invoice.expirySeconds),
            extra: [
                "assetTransferMethod": .string("bolt11"), "paymentFlow": .string("upfront"), "invoice": .string(invoiceText),
                "requestHash": .string(X402Syntax.hex(requestHash)), "requestBindingProfile": .string(binding.profile),
                "requestBindingParams": binding.parameters,
            ])
    }

    /// The `extra` member naming PayRail's offer in a card entry written for a ``cardSettleableForm``
    /// offer. The card binding's `extra` (scheme_auth_capture_card.md section 4.3, Table 2) has `psp`,
    /// `paymentFlow` and `captureDeadline`; nothing in it tells two challenges for the same price
    /// apart, and the gate must find the challenge a `{token, paymentId}` payload answers. Clients echo
    /// `accepted` whole (x402-specification-v2 section 5.2), so this member comes back with the payment.
    public static let cardOfferIDKey = "payrailOfferId"

    /// The longest offer id a card entry carries: room for a bound offer id (a stateless 402's, which
    /// carries its challenge; the gate stores a challenge whose id would be longer, see
    /// `Gate.boundOfferIDMaximum`).
    public static let cardOfferIDMaximum = 1024

    private static func card(_ offer: Offer, cardNetwork: String, _ context: X402OfferContext) throws(WireError) -> X402PaymentRequirements {
        guard offer.amount.unit.kind == .iso4217 else {
            throw WireError(.unsupported, "a card offer must be priced in an ISO 4217 currency, not \(offer.amount.unit)")
        }
        guard !cardNetwork.isEmpty, cardNetwork.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }),
              X402Network.isCAIP2(X402Network.card(cardNetwork))
        else { throw WireError(.malformed, "card network \"\(cardNetwork)\" must be a lowercase name such as visa") }
        var extra: [String: JSONValue] = ["psp": .string("stripe"), "paymentFlow": .string("escrow")]
        if offer.details["form"] == cardSettleableForm {
            guard X402Syntax.isPlainText(offer.id, maximum: X402PaymentRequirements.cardOfferIDMaximum) else {
                throw WireError(.malformed, "a card offer's id must be printable text of at most \(X402PaymentRequirements.cardOfferIDMaximum) bytes")
            }
            extra[cardOfferIDKey] = .string(offer.id)
        }
        return try X402PaymentRequirements(
            scheme: "auth-capture", network: X402Network.card(cardNetwork), amount: try positiveAmount(offer),
            asset: offer.amount.unit.code.uppercased(), payTo: offer.payee,
            maxTimeoutSeconds: try timeout(until: offer.expiresAt, now: context.now), extra: extra)
    }

    private static func fake(_ offer: Offer, _ context: X402OfferContext) throws(WireError) -> X402PaymentRequirements {
        guard offer.amount.unit.isBuiltIn else {
            throw WireError(.unsupported, "a fake offer in x402 must use a built-in unit, not \(offer.amount.unit)")
        }
        guard let processorKey = offer.details["processorKey"], !processorKey.isEmpty else {
            throw WireError(.missingField, "a fake offer needs details[processorKey]")
        }
        let requestID = offer.details["requestID"] ?? offer.id
        guard !requestID.isEmpty else { throw WireError(.missingField, "a fake offer needs a request id") }
        return try X402PaymentRequirements(
            scheme: "exact", network: X402Network.fake, amount: try positiveAmount(offer), asset: offer.amount.unit.code,
            payTo: offer.payee, maxTimeoutSeconds: try timeout(until: offer.expiresAt, now: context.now),
            extra: ["requestID": .string(requestID), "processorKey": .string(processorKey), "paymentFlow": .string(PaymentFlow.upfront)])
    }

    private static func positiveAmount(_ offer: Offer) throws(WireError) -> String {
        guard offer.amount.amount > 0 else { throw WireError(.malformed, "x402 cannot carry a zero amount") }
        return String(offer.amount.amount)
    }

    /// The whole seconds an offer expiring at `expiresAt` leaves at `now` (at most a year); an offer
    /// that leaves less than one cannot be paid in x402.
    static func timeout(until expiresAt: Date, now: Date) throws(WireError) -> Int {
        let seconds = (expiresAt.timeIntervalSince(now)).rounded(.down)
        guard seconds >= 1 else { throw WireError(.expired, "the offer expires before it could be paid") }
        return Int(min(seconds, Double(maximumTimeoutSeconds)))
    }

    static func lightningNetwork(currency: String) throws(WireError) -> String {
        switch currency {
        case "bc": return X402Network.lightningMainnet
        case "tb": return X402Network.lightningTestnet
        case "tbs": return try X402Network.lightning("signet")
        case "bcrt": return try X402Network.lightning("regtest")
        default: throw WireError(.unsupported, "BOLT11 currency \(currency) has no lnbtc network")
        }
    }

    /// The invoice checks both sides of scheme_exact_lnbtc.md must make, minus the network.
    static func checkInvoice(
        _ invoice: Bolt11SignedInvoice, amountMsat: Int64, payTo: String, requestHash: [UInt8], now: Date, skew: Int64
    ) throws(WireError) {
        guard X402Syntax.isLowercaseHex(payTo, length: 66), payTo.hasPrefix("02") || payTo.hasPrefix("03") else {
            throw WireError(.malformed, "lnbtc payTo must be a compressed node key in 66 lowercase hex characters")
        }
        guard invoice.amountMsat == amountMsat else {
            throw WireError(.bindingMismatch, "the invoice amount is not the offered amount")
        }
        guard invoice.descriptionHashes.count == 1, !invoice.hasDescription else {
            throw WireError(.bindingMismatch, "an lnbtc invoice needs exactly one description hash and no inline description")
        }
        guard invoice.descriptionHashes.first == requestHash else {
            throw WireError(.bindingMismatch, "the invoice's description hash does not commit to this request")
        }
        guard X402Syntax.hex(invoice.payeeKey) == payTo else {
            throw WireError(.bindingMismatch, "the invoice is not signed by payTo")
        }
        let seconds = now.timeIntervalSince1970.rounded(.down)
        guard seconds.isFinite, abs(seconds) < 1e15 else { throw WireError(.malformed, "the validation time is not a usable date") }
        let nowUnix = Int64(seconds)
        // The skew is configuration, but clamp it (to a day) so no setting can overflow the sum.
        guard invoice.timestamp <= nowUnix + min(max(0, skew), 86_400) else {
            throw WireError(.bindingMismatch, "the invoice was created in the future")
        }
        guard nowUnix < invoice.expiresAtUnix else { throw WireError(.expired, "the invoice has expired") }
    }
}

/// An offer read from x402, with the requirements to echo when paying it.
public struct X402AgentOffer: Hashable, Sendable {
    /// The dialect it came from (`.x402` or `.x402v1`).
    public var dialect: PaymentDialect
    /// The offer, in PayRail's terms, for the agent's rail.
    public var offer: Offer
    /// The requirements as received (version 1 entries converted to version 2's shape).
    public var requirements: X402PaymentRequirements
}

/// The agent side: reading requirements into offers, and answering one with a `PAYMENT-SIGNATURE`.
public enum X402Agent {
    /// The offer one set of requirements makes.
    ///
    /// Lightning requirements are checked as scheme_exact_lnbtc.md asks a client to before paying:
    /// the invoice is decoded and its signature, amount, currency, expiry, creation time and request
    /// binding verified; pass `expectedRequest` to also require that it binds the request you intend.
    ///
    /// - Throws: `unsupported` for schemes, networks, PSPs or assets PayRail does not pay; `malformed`,
    ///   `bindingMismatch` or `expired` for requirements that must not be paid.
    public static func offer(
        from requirements: X402PaymentRequirements, receivedAt: Date, expectedRequest: X402RequestBinding? = nil,
        clockSkewSeconds: Int64 = 60
    ) throws(WireError) -> Offer {
        let network = requirements.network
        if network.hasPrefix("lnbtc:") {
            return try lightningOffer(requirements, receivedAt: receivedAt, expectedRequest: expectedRequest, skew: clockSkewSeconds)
        }
        if network.hasPrefix("card:") { return try cardOffer(requirements, receivedAt: receivedAt) }
        if network == X402Network.fake { return try fakeOffer(requirements, receivedAt: receivedAt) }
        throw WireError(.unsupported, "x402 network \(network) is not one PayRail pays on")
    }

    /// Every payable offer of a challenge, in the server's order; entries PayRail cannot pay are skipped.
    public static func offers(
        from challenge: X402Challenge, receivedAt: Date, expectedRequest: X402RequestBinding? = nil
    ) -> [X402AgentOffer] {
        var result: [X402AgentOffer] = []
        switch challenge {
        case .version2(let message):
            for requirements in message.accepts {
                if let offer = try? offer(from: requirements, receivedAt: receivedAt, expectedRequest: expectedRequest) {
                    result.append(X402AgentOffer(dialect: .x402, offer: offer, requirements: requirements))
                }
            }
        case .version1(let message):
            for entry in message.accepts {
                if let requirements = try? entry.asVersion2(),
                   let offer = try? offer(from: requirements, receivedAt: receivedAt, expectedRequest: expectedRequest) {
                    result.append(X402AgentOffer(dialect: .x402v1, offer: offer, requirements: requirements))
                }
            }
        }
        return result
    }

    /// The payload answering `requirements` with a rail's credential, ready for `X402Codec.encodePaymentSignature`.
    ///
    /// - Parameters:
    ///   - paymentIdentifier: added to the echoed extensions when the server declared `payment-identifier`.
    /// - Throws: `missingField`/`malformed` when the credential lacks what the scheme's payload needs.
    public static func payload(
        answering requirements: X402PaymentRequirements, with credential: Credential, resource: X402ResourceInfo? = nil,
        serverExtensions: [String: JSONValue] = [:], paymentIdentifier: X402PaymentIdentifier? = nil
    ) throws(WireError) -> X402PaymentPayload {
        let fields = try X402Server.payloadFields(network: requirements.network)
        var payload: [String: JSONValue] = [:]
        for field in fields {
            guard let value = credential.payload[field], !value.isEmpty else {
                throw WireError(.missingField, "the credential has no \(field) for \(requirements.network)")
            }
            payload[field] = .string(value)
        }
        try X402Server.checkPayload(payload, network: requirements.network)
        var extensions = serverExtensions
        if let paymentIdentifier { extensions = paymentIdentifier.appended(to: serverExtensions) }
        return X402PaymentPayload(accepted: requirements, payload: payload, resource: resource, extensions: extensions)
    }

    private static func lightningOffer(
        _ requirements: X402PaymentRequirements, receivedAt: Date, expectedRequest: X402RequestBinding?, skew: Int64
    ) throws(WireError) -> Offer {
        guard let name = X402Network.lightningName(requirements.network) else {
            throw WireError(.unsupported, "lnbtc network \(requirements.network) is not mainnet or testnet")
        }
        guard requirements.scheme == "exact" else { throw WireError(.unsupported, "lnbtc is paid with the exact scheme only") }
        guard requirements.asset == "BTC" else { throw WireError(.malformed, "lnbtc asset must be BTC") }
        _ = try PaymentFlow.read(requirements, payable: [PaymentFlow.upfront], rail: "lnbtc")
        if requirements.extra["assetTransferMethod"] != nil, requirements.extraString("assetTransferMethod") != "bolt11" {
            throw WireError(.unsupported, "lnbtc extra.assetTransferMethod must be bolt11")
        }
        guard let invoiceText = requirements.extraString("invoice"), !invoiceText.isEmpty else {
            throw WireError(.missingField, "lnbtc extra.invoice is required")
        }
        guard let requestHashHex = requirements.extraString("requestHash"), X402Syntax.isLowercaseHex(requestHashHex, length: 64),
              let requestHash = X402Syntax.bytes(fromHex: requestHashHex)
        else { throw WireError(.malformed, "lnbtc extra.requestHash must be 64 lowercase hex characters") }
        try checkBindingParameters(requirements)
        if let expectedRequest {
            guard try expectedRequest.requestHash() == requestHashHex,
                  requirements.extraString("requestBindingProfile") == expectedRequest.profile,
                  requirements.extra["requestBindingParams"] == expectedRequest.parameters
            else { throw WireError(.bindingMismatch, "the requirements do not bind the request you intend to make") }
        }
        guard let amount = Money.parseMinorUnits(requirements.amount), amount > 0, let money = try? Money(amount: amount, unit: .msat) else {
            throw WireError(.unsupported, "the lnbtc amount does not fit 64 bits of msat")
        }
        let invoice = try WireBolt11.read(invoiceText)
        guard try X402PaymentRequirements.lightningNetwork(currency: invoice.currency) == requirements.network else {
            throw WireError(.bindingMismatch, "the invoice's currency does not match the network")
        }
        guard invoice.expirySeconds == Int64(requirements.maxTimeoutSeconds) else {
            throw WireError(.bindingMismatch, "the invoice expiry is not maxTimeoutSeconds")
        }
        try X402PaymentRequirements.checkInvoice(
            invoice, amountMsat: amount, payTo: requirements.payTo, requestHash: requestHash, now: receivedAt, skew: skew)
        let paymentHash = X402Syntax.hex(invoice.paymentHash)
        return Offer(
            rail: .lightning, amount: money, payee: requirements.payTo,
            expiresAt: Date(timeIntervalSince1970: TimeInterval(invoice.expiresAtUnix)), id: paymentHash,
            details: ["invoice": invoiceText, "paymentHash": paymentHash, "network": name])
    }

    private static func checkBindingParameters(_ requirements: X402PaymentRequirements) throws(WireError) {
        guard case .object(let parameters)? = requirements.extra["requestBindingParams"] else {
            throw WireError(.malformed, "lnbtc extra.requestBindingParams must be an object")
        }
        func stringArray(_ value: JSONValue?) -> Bool {
            guard case .array(let items)? = value else { return false }
            return items.allSatisfy { if case .string = $0 { return true } else { return false } }
        }
        switch requirements.extraString("requestBindingProfile") {
        case "http:1"?:
            guard parameters.count == 1, stringArray(parameters["headers"]) else {
                throw WireError(.malformed, "http:1 requestBindingParams must be exactly {headers: [names]}")
            }
        case "mcp:1"?:
            guard parameters.count == 2, stringArray(parameters["metadata"]), case .string? = parameters["server"] else {
                throw WireError(.malformed, "mcp:1 requestBindingParams must be exactly {server, metadata}")
            }
        default:
            throw WireError(.unsupported, "lnbtc extra.requestBindingProfile must be http:1 or mcp:1")
        }
    }

    private static func cardOffer(_ requirements: X402PaymentRequirements, receivedAt: Date) throws(WireError) -> Offer {
        guard requirements.scheme == "auth-capture" else { throw WireError(.unsupported, "card networks are paid with auth-capture only") }
        guard requirements.extraString("psp") == "stripe" else {
            throw WireError(.unsupported, "PayRail pays cards through Stripe only, not \(requirements.extraString("psp") ?? "no psp")")
        }
        _ = try PaymentFlow.read(requirements, payable: [PaymentFlow.escrow], rail: "auth-capture")
        let asset = requirements.asset
        guard asset.utf8.count == 3, asset.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }), let unit = try? MoneyUnit(code: asset) else {
            throw WireError(.unsupported, "card asset \(asset) is not an upper-case ISO 4217 code PayRail knows")
        }
        let money = try money(requirements.amount, unit)
        let cardNetwork = String(requirements.network.dropFirst("card:".count))
        return Offer(
            rail: .stripe, amount: money, payee: requirements.payTo, expiresAt: receivedAt.addingTimeInterval(TimeInterval(requirements.maxTimeoutSeconds)),
            id: try requirementsDigest(requirements), details: ["cardNetwork": cardNetwork, "psp": "stripe", "paymentFlow": "escrow"])
    }

    private static func fakeOffer(_ requirements: X402PaymentRequirements, receivedAt: Date) throws(WireError) -> Offer {
        guard requirements.scheme == "exact" else { throw WireError(.unsupported, "payrail:fake is paid with the exact scheme only") }
        _ = try PaymentFlow.read(requirements, payable: [PaymentFlow.authorize, PaymentFlow.upfront], rail: "payrail:fake")
        guard let unit = try? MoneyUnit(code: requirements.asset), unit.code == requirements.asset else {
            throw WireError(.unsupported, "fake asset \(requirements.asset) is not a PayRail unit code")
        }
        guard let requestID = requirements.extraString("requestID"), !requestID.isEmpty,
              let processorKey = requirements.extraString("processorKey"), !processorKey.isEmpty
        else { throw WireError(.missingField, "payrail:fake extra needs requestID and processorKey") }
        return Offer(
            rail: .fake, amount: try money(requirements.amount, unit), payee: requirements.payTo,
            expiresAt: receivedAt.addingTimeInterval(TimeInterval(requirements.maxTimeoutSeconds)), id: requestID,
            details: ["requestID": requestID, "processorKey": processorKey])
    }

    private static func money(_ text: String, _ unit: MoneyUnit) throws(WireError) -> Money {
        guard let amount = Money.parseMinorUnits(text), let money = try? Money(amount: amount, unit: unit) else {
            throw WireError(.unsupported, "amount \(text) does not fit 64 bits")
        }
        return money
    }

    /// A stable id for requirements that carry none of their own: the SHA-256 of their JCS form.
    static func requirementsDigest(_ requirements: X402PaymentRequirements) throws(WireError) -> String {
        do {
            return "x402-" + X402Syntax.hex(SHA256.hash(try CanonicalJSON.serialize(requirements.json)).prefix(16))
        } catch {
            throw WireError(.malformed, "the requirements cannot be canonicalized (\(error.code))")
        }
    }
}

/// The server side of the retry: reading a `PAYMENT-SIGNATURE` into a rail credential.
public enum X402Server {
    /// Decodes a `PAYMENT-SIGNATURE` value (16 KB bound first) into the payload and the rail credential.
    ///
    /// The caller must still check `X402Server.accepted(_:matches:)` against its own requirements
    /// before asking the rail to verify the credential.
    ///
    /// - Throws: `tooLarge`, `malformed`, `missingField`, `unsupported` (answer 400 for all of them).
    public static func readCredential(_ header: String) throws(WireError) -> (payload: X402PaymentPayload, credential: Credential) {
        let payload = try X402Codec.decodePaymentSignature(header)
        return (payload, try credential(from: payload))
    }

    /// The rail credential a decoded payload carries.
    public static func credential(from payload: X402PaymentPayload) throws(WireError) -> Credential {
        let accepted = payload.accepted
        try checkPayload(payload.payload, network: accepted.network)
        var fields: [String: String] = [:]
        for field in try payloadFields(network: accepted.network) {
            if case .string(let value)? = payload.payload[field] { fields[field] = value }
        }
        if accepted.network.hasPrefix("lnbtc:") {
            guard let invoiceText = accepted.extraString("invoice") else { throw WireError(.missingField, "accepted.extra.invoice is required") }
            let invoice = try WireBolt11.read(invoiceText)
            return Credential(rail: .lightning, offerID: X402Syntax.hex(invoice.paymentHash), payload: fields)
        }
        if accepted.network.hasPrefix("card:") {
            // PayRail's own card offers name themselves (``X402PaymentRequirements/cardOfferIDKey``), so
            // members a client adds to `extra` cannot move the payment to another key.
            if let offerID = accepted.extraString(X402PaymentRequirements.cardOfferIDKey) {
                guard X402Syntax.isPlainText(offerID, maximum: X402PaymentRequirements.cardOfferIDMaximum) else {
                    throw WireError(.malformed, "accepted.extra.\(X402PaymentRequirements.cardOfferIDKey) must be printable text")
                }
                return Credential(rail: .stripe, offerID: offerID, payload: fields)
            }
            return Credential(rail: .stripe, offerID: try X402Agent.requirementsDigest(accepted), payload: fields)
        }
        guard let requestID = accepted.extraString("requestID"), !requestID.isEmpty else {
            throw WireError(.missingField, "accepted.extra.requestID is required for payrail:fake")
        }
        return Credential(rail: .fake, offerID: requestID, payload: fields)
    }

    /// Whether the echoed `accepted` requirements are the ones the server offers now.
    ///
    /// Every core field and every server-declared `extra` member must be equal; additive client
    /// members are ignored. For lnbtc the invoice is dynamic (scheme_exact_lnbtc.md: a paid retry may
    /// present the original invoice), so it is exempt; the server recomputes the request binding
    /// from the actual request and passes those requirements here.
    public static func accepted(_ accepted: X402PaymentRequirements, matches offered: X402PaymentRequirements) -> Bool {
        guard accepted.scheme == offered.scheme, accepted.network == offered.network, accepted.amount == offered.amount,
              accepted.asset == offered.asset, accepted.payTo == offered.payTo,
              accepted.maxTimeoutSeconds == offered.maxTimeoutSeconds
        else { return false }
        let dynamic: Set<String> = offered.network.hasPrefix("lnbtc:") ? ["invoice"] : []
        return offered.extra.allSatisfy { key, value in dynamic.contains(key) || accepted.extra[key] == value }
    }

    static func payloadFields(network: String) throws(WireError) -> [String] {
        if network.hasPrefix("lnbtc:") { return ["preimage"] }
        if network.hasPrefix("card:") { return ["token", "paymentId"] }
        if network == X402Network.fake { return ["voucher"] }
        throw WireError(.unsupported, "x402 network \(network) is not one PayRail accepts")
    }

    static func checkPayload(_ payload: [String: JSONValue], network: String) throws(WireError) {
        func string(_ key: String) throws(WireError) -> String {
            guard let value = payload[key] else { throw WireError(.missingField, "x402 payload.\(key) is required") }
            guard case .string(let text) = value, !text.isEmpty else {
                throw WireError(.malformed, "x402 payload.\(key) must be a non-empty string")
            }
            return text
        }
        _ = try payloadFields(network: network)
        if network.hasPrefix("lnbtc:") {
            guard X402Syntax.isLowercaseHex(try string("preimage"), length: 64) else {
                throw WireError(.malformed, "payload.preimage must be 64 lowercase hex characters")
            }
        } else if network.hasPrefix("card:") {
            let token = try string("token")
            guard X402Syntax.isPlainText(token, maximum: 256), !looksLikeCardNumber(token) else {
                throw WireError(.malformed, "payload.token must be a PSP token, never a card number")
            }
            _ = try X402PaymentIdentifier(try string("paymentId"))
        } else {
            guard X402Syntax.isPlainText(try string("voucher"), maximum: 8192) else {
                throw WireError(.malformed, "payload.voucher must be printable text")
            }
        }
    }

    /// A 13-19 digit Luhn-valid string: a PAN, which must never travel as a token.
    static func looksLikeCardNumber(_ token: String) -> Bool {
        let digits = token.utf8.filter { $0 != 0x20 && $0 != 0x2D }
        guard (13...19).contains(digits.count), digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            var value = Int(digit - 0x30)
            if index % 2 == 1 {
                value *= 2
                if value > 9 { value -= 9 }
            }
            sum += value
        }
        return sum % 10 == 0
    }
}

/// `extra.paymentFlow` of x402 requirements (specs/schemes/exact/scheme_exact.md).
enum PaymentFlow {
    /// Verify, do the work, settle: the default when `paymentFlow` is absent.
    static let authorize = "authorize"
    /// Settle (hold), do the work, settle (capture or release).
    static let escrow = "escrow"
    /// Settle, then do the work.
    static let upfront = "upfront"
    /// The flows scheme_exact.md defines.
    static let known: Set<String> = [authorize, escrow, upfront]

    /// The declared flow (`authorize` when absent), refused when it is unknown or `payable` lacks it.
    ///
    /// - Throws: `.malformed` for a non-string value, `.unsupported` for an unknown flow or one the
    ///   rail cannot follow.
    static func read(_ requirements: X402PaymentRequirements, payable: Set<String>, rail: String) throws(WireError) -> String {
        let flow: String
        switch requirements.extra["paymentFlow"] {
        case nil: flow = authorize
        case .string(let text)?: flow = text
        default: throw WireError(.malformed, "extra.paymentFlow must be a string")
        }
        guard known.contains(flow) else {
            throw WireError(.unsupported, "extra.paymentFlow \"\(flow.prefix(20))\" is not authorize, escrow or upfront")
        }
        guard payable.contains(flow) else {
            throw WireError(.unsupported, "\(rail) cannot be paid with extra.paymentFlow \(flow)\(requirements.extra["paymentFlow"] == nil ? " (the default when absent)" : ""); it needs \(payable.sorted().joined(separator: " or "))")
        }
        return flow
    }
}
