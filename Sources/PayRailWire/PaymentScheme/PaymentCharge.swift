import Bolt11
import Foundation
import PayRail
import PayRailCrypto

/// The `request` of the charge intent (draft-payment-intent-charge-00 and the method documents).
///
/// `amount` is a decimal string of minor units on the wire and an exact integer here; it is never a
/// JSON number (JCS would turn large numbers into doubles).
public struct ChargeRequest: Hashable, Sendable {
    /// Minor units of `currency` (satoshis for `sat`, cents for `usd`).
    public var amount: Int64
    /// `sat` for Lightning, lowercase ISO 4217 for cards, or a method-defined code.
    public var currency: String
    /// For humans (Lightning: the invoice description).
    public var description: String?
    /// The merchant's own reference.
    public var externalId: String?
    /// Who is paid, in the method's terms.
    public var recipient: String?
    /// The method's own fields (Lightning `invoice`, Stripe `networkId`, ...).
    public var methodDetails: [String: JSONValue]?

    /// Makes a request.
    public init(
        amount: Int64, currency: String, description: String? = nil, externalId: String? = nil,
        recipient: String? = nil, methodDetails: [String: JSONValue]? = nil
    ) {
        self.amount = amount
        self.currency = currency
        self.description = description
        self.externalId = externalId
        self.recipient = recipient
        self.methodDetails = methodDetails
    }

    /// The JSON object.
    public var jsonObject: [String: JSONValue] {
        var object: [String: JSONValue] = ["amount": .string(String(amount)), "currency": .string(currency)]
        if let description { object["description"] = .string(description) }
        if let externalId { object["externalId"] = .string(externalId) }
        if let recipient { object["recipient"] = .string(recipient) }
        if let methodDetails { object["methodDetails"] = .object(methodDetails) }
        return object
    }

    /// The `request` parameter: base64url of the JCS serialization.
    public func encoded() throws(WireError) -> String {
        try PaymentJSON.encode(jsonObject, what: "request")
    }

    /// Reads a `request` parameter.
    ///
    /// - Throws: `.malformed` for bad base64url/JSON or an amount that is not a string of digits
    ///   fitting 64 bits; `.missingField` without amount or currency.
    public static func decode(_ request: String) throws(WireError) -> ChargeRequest {
        try ChargeRequest(jsonObject: PaymentJSON.decodeObject(request, what: "request"))
    }

    /// Reads the decoded JSON object.
    public init(jsonObject object: [String: JSONValue]) throws(WireError) {
        let what = "request"
        let amountText = try PaymentJSON.requiredString(object, "amount", in: what)
        guard let amount = Money.parseMinorUnits(amountText) else {
            throw WireError(.malformed, "request.amount must be a string of decimal digits that fits 64 bits")
        }
        let currency = try PaymentJSON.requiredString(object, "currency", in: what)
        guard !currency.isEmpty else { throw WireError(.missingField, "request.currency is empty") }
        self.init(
            amount: amount, currency: currency,
            description: try PaymentJSON.optionalString(object, "description", in: what),
            externalId: try PaymentJSON.optionalString(object, "externalId", in: what),
            recipient: try PaymentJSON.optionalString(object, "recipient", in: what),
            methodDetails: try PaymentJSON.optionalObject(object, "methodDetails", in: what))
    }
}

/// The charge intent mapped to and from the domain `Offer` and `Credential`, on both sides.
///
/// Offer details per rail: lightning `invoice` (required), `paymentHash`, `network`; stripe `networkId`
/// (required), `paymentMethodTypes` (comma-separated), `metadata.<key>` for each metadata entry; every
/// other rail (the fake one: `requestID`, `processorKey`, `challengeID`) sends its details as flat strings.
///
/// Offer ids: lightning's is the payment hash, other rails' the `requestID` detail; when the request
/// carries neither (a Stripe request never does), the agent uses the challenge id.
/// Payee: Lightning's is the invoice's signing node (draft-lightning-charge-00 makes `recipient` and
/// `paymentHash` OPTIONAL and the invoice authoritative; named ones must agree with it); other rails'
/// is `recipient`, or the realm when a server omits it.
public enum PaymentCharge {
    /// The intent name.
    public static let intent = "charge"
    /// Lightning networks the method document names, plus `testnet`, which it lacks (such offers are
    /// written without `network`; the invoice prefix tells the network).
    public static let lightningNetworks: Set<String> = ["mainnet", "regtest", "signet"]

    // MARK: Server side

    /// The charge request for an offer.
    ///
    /// - Throws: `.missingField` for a Lightning offer without `invoice` or a Stripe offer without
    ///   `networkId`/`paymentMethodTypes`; `.unsupported` for a Lightning amount that is not whole
    ///   satoshis (the method prices in sat).
    public static func request(for offer: Offer) throws(WireError) -> ChargeRequest {
        var amount = offer.amount
        var details: [String: JSONValue] = [:]
        switch offer.rail {
        case .lightning:
            do { amount = try offer.amount.converted(to: .sat) } catch {
                throw WireError(.unsupported, "a Lightning Payment offer must be whole satoshis, not \(offer.amount)")
            }
            guard let invoice = offer.details["invoice"], !invoice.isEmpty else {
                throw WireError(.missingField, "a Lightning offer needs the invoice detail")
            }
            details["invoice"] = .string(invoice)
            details["paymentHash"] = .string(offer.details["paymentHash"] ?? offer.id)
            if let network = offer.details["network"], lightningNetworks.contains(network) {
                details["network"] = .string(network)
            }
        case .stripe:
            guard let networkId = offer.details["networkId"], !networkId.isEmpty else {
                throw WireError(.missingField, "a Stripe offer needs the networkId detail")
            }
            guard let types = offer.details["paymentMethodTypes"], !types.isEmpty else {
                throw WireError(.missingField, "a Stripe offer needs the paymentMethodTypes detail")
            }
            details["networkId"] = .string(networkId)
            details["paymentMethodTypes"] = .array(types.split(separator: ",").map {
                .string($0.trimmingWireWhitespace())
            })
            var metadata: [String: JSONValue] = [:]
            for (key, value) in offer.details where key.hasPrefix("metadata.") {
                metadata[String(key.dropFirst("metadata.".count))] = .string(value)
            }
            if !metadata.isEmpty { details["metadata"] = .object(metadata) }
        default:
            for (key, value) in offer.details { details[key] = .string(value) }
            details["requestID"] = .string(offer.details["requestID"] ?? offer.id)
        }
        return ChargeRequest(
            amount: amount.amount, currency: amount.unit.code,
            description: offer.details["description"], externalId: offer.details["externalId"],
            recipient: offer.payee, methodDetails: details)
    }

    /// A bound challenge for an offer: `expires` is the offer's expiry, the id comes from `keyring`.
    ///
    /// - Parameters:
    ///   - usePaymentAuthorizationField: ask for the credential in `Payment-Authorization`, for
    ///     resources that already need `Authorization` for something else.
    public static func challenge(
        for offer: Offer, realm: String, keyring: ChallengeIDKeyring, description: String? = nil,
        digest: String? = nil, opaque: [String: String]? = nil, usePaymentAuthorizationField: Bool = false
    ) throws(WireError) -> PaymentChallenge {
        var opaqueText: String?
        if let opaque {
            opaqueText = try PaymentJSON.encode(opaque.mapValues { .string($0) }, what: "opaque")
        }
        let challenge = PaymentChallenge(
            realm: realm, method: offer.rail.rawValue, intent: intent, request: try request(for: offer).encoded(),
            expires: PaymentTimestamp.format(offer.expiresAt), digest: digest, description: description,
            opaque: opaqueText, header: usePaymentAuthorizationField ? PaymentChallenge.paymentAuthorizationField : nil)
        return try keyring.bind(challenge)
    }

    // MARK: Agent side

    /// The offer a charge challenge makes.
    ///
    /// - Parameter defaultExpiry: used when the challenge has no `expires` (the invoice's own expiry
    ///   still applies on Lightning).
    /// - Throws: `.unsupported` for another intent, a method that is not a valid rail name, a currency
    ///   we cannot price exactly, or a Lightning request not in `sat`; `.missingField`/`.malformed` for
    ///   a request that breaks the method's rules.
    public static func offer(from challenge: PaymentChallenge, defaultExpiry: Date) throws(WireError) -> Offer {
        // draft-httpauth-payment, "Intent Negotiation": "Clients that do not recognize an intent SHOULD
        // treat the challenge as unsupported". `subscription` and `session` are real intents PayRail
        // does not pay yet: the challenge is skipped, and the reason names the intent.
        guard challenge.intent == intent else {
            throw WireError(.unsupported, "intent \"\(challenge.intent.prefix(32))\" is not one PayRail pays (it pays charge only)")
        }
        let rail: RailID
        do { rail = try RailID(challenge.method) } catch {
            throw WireError(.unsupported, "method \"\(challenge.method)\" is not a rail name")
        }
        let request = try ChargeRequest.decode(challenge.request)
        let unit: MoneyUnit
        do { unit = try MoneyUnit(code: request.currency) } catch {
            throw WireError(.unsupported, "currency \"\(request.currency.prefix(20))\" is not one PayRail can price exactly")
        }
        guard request.currency == unit.code else {
            throw WireError(.malformed, "currency \"\(request.currency.prefix(20))\" must be lowercase")
        }
        let amount: Money
        do { amount = try Money(amount: request.amount, unit: unit) } catch {
            throw WireError(.malformed, "request.amount is negative")
        }
        let methodDetails = request.methodDetails ?? [:]
        var details: [String: String] = [:]
        var id: String?
        var payee = request.recipient.flatMap { $0.isEmpty ? nil : $0 } ?? challenge.realm
        var expiresAt = try challenge.expiryDate() ?? defaultExpiry
        switch rail {
        case .lightning:
            guard unit == .sat else { throw WireError(.unsupported, "a Lightning charge must be priced in sat, not \(unit)") }
            let terms = try lightningTerms(methodDetails, amount: amount, recipient: request.recipient)
            details = terms.details
            id = terms.paymentHash
            if let invoicePayee = terms.payee { payee = invoicePayee }
            if let invoiceExpiry = terms.expiresAt { expiresAt = min(expiresAt, invoiceExpiry) }
        case .stripe:
            details = try stripeDetails(methodDetails)
        default:
            details = try PaymentJSON.stringMap(methodDetails, in: "request.methodDetails")
            id = details["requestID"]
        }
        if let description = request.description { details["description"] = description }
        if let externalId = request.externalId { details["externalId"] = externalId }
        return Offer(rail: rail, amount: amount, payee: payee, expiresAt: expiresAt, id: id ?? challenge.id, details: details)
    }

    /// What a Lightning charge's `methodDetails` make of an offer, the invoice being authoritative
    /// (draft-lightning-charge-00, "Method Details": "all other payment parameters are derived from
    /// it"; `paymentHash` and `network` are OPTIONAL convenience fields that "MUST exactly match the
    /// values encoded in the invoice", and clients "MUST reject challenges where the convenience fields
    /// do not match"; "Shared Fields": `recipient` is OPTIONAL and "Lightning implementations typically
    /// do not use this field; the invoice payee is implied by the BOLT11 invoice").
    ///
    /// So payee, payment hash (the offer id) and expiry come from the signed invoice, and every optional
    /// field the challenge does carry (`recipient`, `paymentHash`, `network`, and `amount` against the
    /// invoice's own amount) must agree with it. An invoice this reader cannot decode keeps the
    /// challenge's own fields (`payee`, `expiresAt` nil): the Lightning rail decodes every invoice and
    /// refuses it before paying, and without a payment hash such a challenge is refused here.
    static func lightningTerms(
        _ methodDetails: [String: JSONValue], amount: Money, recipient: String?
    ) throws(WireError) -> (details: [String: String], paymentHash: String, payee: String?, expiresAt: Date?) {
        let what = "request.methodDetails"
        let text = try PaymentJSON.requiredString(methodDetails, "invoice", in: what)
        guard !text.isEmpty else { throw WireError(.missingField, "request.methodDetails.invoice is empty") }
        var details = ["invoice": text]
        var named: String?
        if let hash = try PaymentJSON.optionalString(methodDetails, "paymentHash", in: what) {
            guard hash.utf8.count == 64, hash.utf8.allSatisfy(isLowerHex) else {
                throw WireError(.malformed, "request.methodDetails.paymentHash is not 64 lowercase hex digits")
            }
            named = hash
        }
        var network: String?
        if let name = try PaymentJSON.optionalString(methodDetails, "network", in: what) {
            guard lightningNetworks.contains(name) || name == "testnet" else {
                throw WireError(.unsupported, "Lightning network \"\(name.prefix(20))\" is unknown")
            }
            network = name
            details["network"] = name
        }
        let invoice: Bolt11SignedInvoice
        do { invoice = try WireBolt11.read(text) } catch {
            guard let named else {
                throw WireError(error.code, "request.methodDetails.invoice cannot be read (\(error.reason)), and the request names no paymentHash")
            }
            details["paymentHash"] = named
            return (details, named, nil, nil)
        }
        let hash = invoice.paymentHashHex
        if let named, named != hash {
            throw WireError(.bindingMismatch, "request.methodDetails.paymentHash is not the invoice's payment hash")
        }
        if let network, invoice.networkName != network {
            throw WireError(.bindingMismatch, "request.methodDetails.network is \(network), the invoice is for \(invoice.networkName ?? invoice.currency)")
        }
        if let recipient, !recipient.isEmpty, recipient.lowercased() != invoice.payeeKeyHex {
            throw WireError(.bindingMismatch, "request.recipient names another node than the invoice's payee")
        }
        if let invoiced = invoice.amountMsat, (try? amount.converted(to: .msat).amount) != invoiced {
            throw WireError(.bindingMismatch, "the invoice asks \(invoiced) msat, request.amount says \(amount)")
        }
        details["paymentHash"] = hash
        return (details, hash, invoice.payeeKeyHex, Date(timeIntervalSince1970: TimeInterval(invoice.expiresAtUnix)))
    }

    /// A Stripe charge's `methodDetails` as flat offer details.
    static func stripeDetails(_ methodDetails: [String: JSONValue]) throws(WireError) -> [String: String] {
        let what = "request.methodDetails"
        var details = ["networkId": try PaymentJSON.requiredString(methodDetails, "networkId", in: what)]
        guard case .array(let types)? = methodDetails["paymentMethodTypes"], !types.isEmpty else {
            throw WireError(.missingField, "request.methodDetails.paymentMethodTypes must be a non-empty array")
        }
        var names: [String] = []
        for type in types {
            guard case .string(let name) = type, !name.isEmpty, !name.contains(",") else {
                throw WireError(.malformed, "request.methodDetails.paymentMethodTypes must hold non-empty names")
            }
            names.append(name)
        }
        details["paymentMethodTypes"] = names.joined(separator: ",")
        if let metadata = try PaymentJSON.optionalObject(methodDetails, "metadata", in: what) {
            for (key, value) in try PaymentJSON.stringMap(metadata, in: "request.methodDetails.metadata") {
                details["metadata." + key] = value
            }
        }
        return details
    }

    /// The credential answering `challenge` with the rail's proof (`credential.payload` becomes the
    /// Payment payload, `payerID` the `source`).
    public static func credential(answering challenge: PaymentChallenge, with credential: Credential) -> PaymentCredential {
        PaymentCredential(
            challenge: challenge, source: credential.payerID, payload: credential.payload.mapValues { .string($0) })
    }

    /// The domain credential a Payment credential carries, checked against the method's payload rules:
    /// lightning `{preimage: 64 lowercase hex}`, stripe `{spt: "spt_...", externalId?}`, fake `{voucher}`,
    /// other rails flat strings. The offer id is derived from the echoed (HMAC-bound) request exactly as
    /// ``offer(from:defaultExpiry:)`` derives it.
    ///
    /// - Throws: `.missingField` or `.malformed` for a payload breaking those rules (answer with the
    ///   `invalid-payload` or lightning `malformed-credential` problem and a fresh challenge).
    public static func domainCredential(from paymentCredential: PaymentCredential) throws(WireError) -> Credential {
        let offer = try offer(from: paymentCredential.challenge, defaultExpiry: Date(timeIntervalSince1970: 0))
        let payload = try PaymentJSON.stringMap(paymentCredential.payload, in: "payload")
        switch offer.rail {
        case .lightning:
            guard let preimage = payload["preimage"] else { throw WireError(.missingField, "payload.preimage is missing") }
            guard preimage.utf8.count == 64, preimage.utf8.allSatisfy(isLowerHex) else {
                throw WireError(.malformed, "payload.preimage is not 64 lowercase hex digits")
            }
        case .stripe:
            guard let spt = payload["spt"] else { throw WireError(.missingField, "payload.spt is missing") }
            guard spt.hasPrefix("spt_"), spt.count > 4 else { throw WireError(.malformed, "payload.spt is not a shared payment token (spt_...)") }
        case .fake:
            guard let voucher = payload["voucher"], !voucher.isEmpty else { throw WireError(.missingField, "payload.voucher is missing") }
        default:
            break
        }
        return Credential(rail: offer.rail, offerID: offer.id, payload: payload, payerID: paymentCredential.source)
    }

    static func isLowerHex(_ byte: UInt8) -> Bool { (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) }
}
