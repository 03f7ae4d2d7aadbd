// One 402 response that carries every dialect at once (they use different fields, so they do not
// collide):
//
//   HTTP/1.1 402 Payment Required
//   Cache-Control: no-store
//   Content-Type: application/json
//   WWW-Authenticate: LSAT macaroon="…", invoice="…"                       (L402, Lightning offers only)
//   WWW-Authenticate: L402 macaroon="…", invoice="…", version="0", token="…"
//   WWW-Authenticate: Payment id="…", realm="…", method="lightning", …     (one field per offer)
//   WWW-Authenticate: Payment id="…", realm="…", method="fake", …
//   PAYMENT-REQUIRED: <base64 of the x402 v2 PaymentRequired>             (accepts in the same order)
//
//   {"type":"x402","payment":{…first offer…},"offers":[…],"retry_after":"payment",…}
//
// Order: the offers are sorted once by the client's `Accept-Payment` (the server's order among equals)
// and every dialect lists them in that order. The L402 pair comes first among the WWW-Authenticate
// fields because deployed LSAT clients read only the first one; Payment clients read all of them.
// Each challenge is its own field, so each stays under 8 KB on its own.

import Foundation
import PayRail
import PayRailCrypto

/// One offer a dialect could not carry, and why (e.g. a regtest invoice in x402, a card in L402).
public struct SkippedOffer: Hashable, Sendable, CustomStringConvertible {
    /// The dialect that left it out.
    public var dialect: PaymentDialect
    /// The offer's rail.
    public var rail: RailID
    /// The offer's id.
    public var offerID: String
    /// Why.
    public var reason: String

    /// One line.
    public var description: String { "\(dialect.rawValue): \(rail) offer \(offerID): \(reason)" }
}

/// A complete 402 response: status, header fields and body, plus what each dialect carries.
public struct PaymentRequiredResponse: Hashable, Sendable {
    /// The HTTP status (402; 400 or 500 for the few problem types that say so).
    public var status: Int
    /// Every header field, in order.
    public var headers: HTTPFields
    /// The body bytes.
    public var body: [UInt8]
    /// The offers in the order every dialect lists them.
    public var offers: [Offer]
    /// The bound Payment challenges, one per offer the Payment dialect carries.
    public var paymentChallenges: [PaymentChallenge]
    /// The x402 message in `PAYMENT-REQUIRED`, when any offer has an x402 form.
    public var x402: X402PaymentRequired?
    /// The L402 challenges (one per Lightning offer).
    public var l402: [L402Challenge]
    /// Offers a dialect left out, and why.
    public var skipped: [SkippedOffer]

    /// The response as HTTP/1.1 text (CRLF line ends), for logs, fixtures and `payrail wire decode`.
    public var http1Text: String {
        var text = "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n"
        for field in headers { text += "\(field.name): \(field.value)\r\n" }
        return text + "\r\n" + String(decoding: body, as: UTF8.self)
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 400: return "Bad Request"
        case 402: return "Payment Required"
        case 500: return "Internal Server Error"
        default: return "Status"
        }
    }
}

/// Renders the gate's offers (one per rail) into ONE 402 response in every dialect PayRail speaks.
///
/// A dialect is written only when its parameters are given (`x402Resource` for x402, `macaroonRootKey`
/// for L402); the Payment and plain dialects are always written. A rail with no form in a dialect is
/// simply absent from it and listed in ``PaymentRequiredResponse/skipped``.
public struct ChallengeSet: Sendable {
    /// The Payment scheme's `realm` (the server's name).
    public var realm: String {
        didSet { quotedRealm = try? AuthParameters.quote(realm) }
    }
    /// `realm` as an RFC 9110 quoted string, kept with it: every Payment challenge writes it.
    private(set) var quotedRealm: String?
    /// The challenge-id secrets.
    public var keyring: ChallengeIDKeyring
    /// The L402 macaroon root key; `nil` writes no L402 challenge.
    public var macaroonRootKey: [UInt8]?
    /// First-party caveats every L402 macaroon gets (services, validity).
    public var macaroonCaveats: [L402Caveat]
    /// The x402 resource; `nil` writes no `PAYMENT-REQUIRED`.
    public var x402Resource: X402ResourceInfo?
    /// The request binding lnbtc invoices commit to (required for Lightning in x402).
    public var x402RequestBinding: X402RequestBinding?
    /// The card networks a Stripe offer is written on in x402.
    public var x402CardNetworks: [String]
    /// x402 extensions declared to the client (e.g. `payment-identifier`).
    public var x402Extensions: [String: JSONValue] {
        didSet { x402ExtensionsJSON = Self.canonical(x402Extensions) }
    }
    /// The JCS text of `x402Extensions`, kept with them: every 402 carries the same (ChallengeSetDirect.swift).
    private(set) var x402ExtensionsJSON: [UInt8]?
    /// A description for humans in each Payment challenge.
    public var description: String?
    /// Ask for the Payment credential in `Payment-Authorization` (the resource already uses `Authorization`).
    public var usePaymentAuthorizationField: Bool
    /// The fresh 402 templates (ChallengeSetTemplate.swift), shared by copies of this set: each is
    /// used only for the inputs it was made from, so a copy with other settings makes its own.
    let templates = ChallengeTemplates()

    /// Makes a challenge set.
    public init(
        realm: String, keyring: ChallengeIDKeyring, macaroonRootKey: [UInt8]? = nil, macaroonCaveats: [L402Caveat] = [],
        x402Resource: X402ResourceInfo? = nil, x402RequestBinding: X402RequestBinding? = nil, x402CardNetworks: [String] = ["visa"],
        x402Extensions: [String: JSONValue] = [:], description: String? = nil, usePaymentAuthorizationField: Bool = false
    ) {
        self.realm = realm
        self.quotedRealm = try? AuthParameters.quote(realm)
        self.keyring = keyring
        self.macaroonRootKey = macaroonRootKey
        self.macaroonCaveats = macaroonCaveats
        self.x402Resource = x402Resource
        self.x402RequestBinding = x402RequestBinding
        self.x402CardNetworks = x402CardNetworks
        self.x402Extensions = x402Extensions
        self.x402ExtensionsJSON = Self.canonical(x402Extensions)
        self.description = description
        self.usePaymentAuthorizationField = usePaymentAuthorizationField
    }

    private static func canonical(_ members: [String: JSONValue]) -> [UInt8]? {
        try? CanonicalJSON.serialize(.object(members))
    }

    /// The offers in the client's order: by `Accept-Payment` weight (rail = method, intent `charge`),
    /// the server's order among equals; rails the client refuses (`q=0`) or does not list are dropped.
    /// A missing or malformed header, or one that would leave nothing, keeps the server's order (the
    /// draft lets a server ignore such a header, and a 402 without offers cannot be paid).
    public static func order(_ offers: [Offer], acceptPayment values: [String]) -> [Offer] {
        guard !values.isEmpty, let accept = try? AcceptPayment.parse(values) else { return offers }
        let ordered = accept.order(offers) { ($0.rail.rawValue, PaymentCharge.intent) }
        return ordered.isEmpty ? offers : ordered
    }

    /// The 402 asking for payment.
    ///
    /// - Parameters:
    ///   - offers: one per rail, the server's preferred first.
    ///   - acceptPayment: the request's `Accept-Payment` values (see ``order(_:acceptPayment:)``).
    ///   - now: the time of writing (x402 timeouts, plain `expiry_seconds`, invoice freshness).
    /// - Throws: `.missingField` when no dialect can carry any offer.
    public func paymentRequired(offers: [Offer], acceptPayment: [String] = [], now: Date) throws(WireError) -> PaymentRequiredResponse {
        try render(offers: offers, acceptPayment: acceptPayment, now: now, failure: nil)
    }

    /// The 402 after a refused credential: a FRESH challenge set plus the problem, told in the dialect
    /// the refused credential came in.
    ///
    /// - `.payment`: the body is `application/problem+json` with `type` = the problem URI (and the plain
    ///   members `payment`, `offers`, `retry_after` as extension members); `challengeId` names the
    ///   refused challenge.
    /// - `.x402`, `.x402v1`: `PAYMENT-REQUIRED` carries `error` = `detail`; the body is the plain one.
    /// - `.l402`, `.plain`: the plain body with `problem` = the problem URI and `detail`.
    ///
    /// The status is the problem type's (402 for all but `bad-request`, `method-unsupported`, `internal-payment-error`).
    public func failure(
        offers: [Offer], acceptPayment: [String] = [], now: Date, dialect: PaymentDialect, problem: PaymentProblemType,
        detail: String, challengeID: String? = nil
    ) throws(WireError) -> PaymentRequiredResponse {
        try render(offers: offers, acceptPayment: acceptPayment, now: now,
                   failure: Failure(dialect: dialect, problem: problem, detail: detail, challengeID: challengeID))
    }

    private struct Failure {
        var dialect: PaymentDialect
        var problem: PaymentProblemType
        var detail: String
        var challengeID: String?
    }

    /// What the dialect writers share while one response is written: its header fields, in the order
    /// the file header documents, and the offers each dialect left out. Threading one value through the
    /// writers, in that order, is what keeps the field order stable.
    private struct Draft {
        var fields = HTTPFields()
        var skipped: [SkippedOffer] = []

        mutating func skip(_ dialect: PaymentDialect, _ offer: Offer, _ error: WireError) {
            skipped.append(SkippedOffer(dialect: dialect, rail: offer.rail, offerID: offer.id, reason: error.reason))
        }
    }

    /// The fresh 402 through the JSON value trees only, never the direct writer: the reference the
    /// tests compare the direct writer with (ChallengeSetDirect.swift).
    func paymentRequiredThroughTrees(offers: [Offer], acceptPayment: [String] = [], now: Date) throws(WireError) -> PaymentRequiredResponse {
        try render(offers: offers, acceptPayment: acceptPayment, now: now, failure: nil, direct: false)
    }

    private func render(
        offers unordered: [Offer], acceptPayment: [String], now: Date, failure: Failure?, direct: Bool = true
    ) throws(WireError) -> PaymentRequiredResponse {
        let offers = Self.order(unordered, acceptPayment: acceptPayment)
        // Issue 18: a fresh 402 of flat offers is written straight to bytes (the same bytes).
        if direct, failure == nil, let response = directPaymentRequired(offers, now: now) { return response }
        var draft = Draft()
        draft.fields.append("Cache-Control", "no-store")
        let l402 = writeL402(offers, into: &draft)
        let paymentChallenges = writePayment(offers, into: &draft)
        let x402 = writeX402(offers, now: now, failure: failure, into: &draft)
        let plainOffers = plainOffers(offers, now: now, into: &draft)
        guard !paymentChallenges.isEmpty || x402 != nil || !l402.isEmpty || !plainOffers.isEmpty else {
            throw WireError(.missingField, "no dialect can carry any of the offers (\(draft.skipped.map(\.description).joined(separator: "; ")))")
        }
        let body = try writeBody(plainOffers, now: now, failure: failure, into: &draft)
        return PaymentRequiredResponse(
            status: failure?.problem.status ?? 402, headers: draft.fields, body: body, offers: offers,
            paymentChallenges: paymentChallenges, x402: x402, l402: l402, skipped: draft.skipped)
    }

    /// L402: Lightning offers only, first among the WWW-Authenticate fields (see the file header).
    /// Nothing without a macaroon root key: a macaroon nobody can verify later would sell nothing.
    private func writeL402(_ offers: [Offer], into draft: inout Draft) -> [L402Challenge] {
        guard let rootKey = macaroonRootKey else { return [] }
        var l402: [L402Challenge] = []
        for offer in offers {
            guard offer.rail == .lightning else {
                draft.skip(.l402, offer, WireError(.unsupported, "L402 carries Lightning offers only"))
                continue
            }
            do {
                let (macaroon, values) = try L402Challenge.serverChallenge(for: offer, rootKey: rootKey, caveats: macaroonCaveats)
                for value in values { draft.fields.append("WWW-Authenticate", value) }
                l402.append(L402Challenge(scheme: .l402, macaroon: macaroon, invoice: offer.details["invoice"] ?? ""))
            } catch { draft.skip(.l402, offer, error) }
        }
        return l402
    }

    /// Payment: one bound challenge per offer, one field each (so each stays under 8 KB on its own).
    private func writePayment(_ offers: [Offer], into draft: inout Draft) -> [PaymentChallenge] {
        var paymentChallenges: [PaymentChallenge] = []
        for offer in offers {
            do {
                let challenge = try PaymentCharge.challenge(
                    for: offer, realm: realm, keyring: keyring, description: description,
                    usePaymentAuthorizationField: usePaymentAuthorizationField)
                draft.fields.append("WWW-Authenticate", try challenge.headerValue())
                paymentChallenges.append(challenge)
            } catch { draft.skip(.payment, offer, error) }
        }
        return paymentChallenges
    }

    /// x402 version 2: every offer's entries, in the same order, in one `PAYMENT-REQUIRED` field. A
    /// refused x402 credential is told in that message's `error`, where x402 clients look for it.
    private func writeX402(_ offers: [Offer], now: Date, failure: Failure?, into draft: inout Draft) -> X402PaymentRequired? {
        guard let resource = x402Resource else { return nil }
        let context = X402OfferContext(now: now, requestBinding: x402RequestBinding, cardNetworks: x402CardNetworks)
        var accepts: [X402PaymentRequirements] = []
        for offer in offers {
            do { accepts += try X402PaymentRequirements.requirements(for: offer, context: context) } catch { draft.skip(.x402, offer, error) }
        }
        guard !accepts.isEmpty else { return nil }
        let isX402Failure = failure.map { $0.dialect == .x402 || $0.dialect == .x402v1 } ?? false
        let message = X402PaymentRequired(
            resource: resource, accepts: accepts, error: isX402Failure ? failure?.detail : nil, extensions: x402Extensions)
        do {
            draft.fields.append(X402HeaderName.paymentRequired, try X402Codec.encodePaymentRequired(message))
            return message
        } catch {
            for offer in offers { draft.skip(.x402, offer, error) }
            return nil
        }
    }

    /// The offers the plain body can carry; the others are left out of it (and listed as skipped).
    private func plainOffers(_ offers: [Offer], now: Date, into draft: inout Draft) -> [Offer] {
        var plainOffers: [Offer] = []
        for offer in offers {
            do {
                _ = try PlainChallenge.offerObject(offer, now: now)
                plainOffers.append(offer)
            } catch { draft.skip(.plain, offer, error) }
        }
        return plainOffers
    }

    /// The body and its `Content-Type`: a problem document when a Payment credential was refused (the
    /// plain members ride along as extensions), else the plain body, or none when it has no offer.
    private func writeBody(_ plainOffers: [Offer], now: Date, failure: Failure?, into draft: inout Draft) throws(WireError) -> [UInt8] {
        var plain = PlainChallenge(offers: plainOffers)
        if let failure {
            plain.status = failure.problem.status
            plain.title = failure.problem.title
            plain.detail = failure.detail
        }
        if let failure, failure.dialect == .payment {
            var problem = ProblemDetails(failure.problem, detail: failure.detail, challengeID: failure.challengeID)
            if !plainOffers.isEmpty {
                let object = try plain.jsonObject(now: now)
                for key in ["payment", PlainChallenge.offersMember, "retry_after"] { problem.extensions[key] = object[key] }
            }
            draft.fields.append("Content-Type", ProblemDetails.mediaType)
            return try problem.encoded()
        }
        guard !plainOffers.isEmpty else { return [] }
        plain.problem = failure?.problem.uri
        draft.fields.append("Content-Type", PlainChallenge.mediaType)
        return try plain.body(now: now)
    }
}
