// The plain JSON dialect of the founding article (PROTOCOLS.md section 4). No external specification
// exists; the shape below is PayRail's, frozen here:
//
//   {"type":"x402","retry_after":"payment",
//    "payment":{...the server's preferred offer...},
//    "offers":[{...every offer, preferred first...}],
//    "status":402,"title":"Payment Required","detail":"..."}
//
// Every offer object has `network` (the RAIL name: "lightning" as in the article, "stripe", "fake"),
// `amount` (decimal string of minor units) and `unit` (PayRail unit code), `id`, `payee`, `expires_at`
// (RFC 3339), `expiry_seconds` (integer, from the moment of writing) and `details` (the offer's flat
// string details). A Lightning offer also carries the article's `invoice` and `amount_sats` (an integer,
// written only when the amount is whole satoshis and below 2^53), so the article's minimal clients work.
//
// The body collides with the Payment scheme's problem+json (both want `type`). The plain form keeps
// `type:"x402"` and is sent as `application/json`, never `application/problem+json`: `status`, `title`
// and `detail` use RFC 9457's member names so a human or a generic client still reads them, and a
// failed credential adds `problem` (the problem type URI) instead of overwriting `type`.

import Bolt11
import Foundation
import PayRail
import PayRailCrypto

/// The 402 body of the plain JSON dialect: the preferred offer as `payment`, all offers as `offers`.
public struct PlainChallenge: Hashable, Sendable {
    /// The `type` member the article's clients look for.
    public static let type = "x402"
    /// The `retry_after` member: retry once paid.
    public static let retryAfter = "payment"
    /// The member holding every offer (PayRail's addition; the article has only `payment`).
    public static let offersMember = "offers"
    /// The media type the body is sent with (not problem+json: `type` is not a problem URI).
    public static let mediaType = "application/json"
    /// Bodies larger than this are not read.
    public static let maximumBodyBytes = 64 * 1024
    /// The largest integer a JSON number carries exactly (2^53); `amount_sats` stays below it.
    static let maximumExactInteger: Int64 = 9_007_199_254_740_992

    /// The offers, the server's preferred first (it becomes `payment`).
    public var offers: [Offer]
    /// A short summary for humans (RFC 9457 `title`).
    public var title: String
    /// What happened, for humans (RFC 9457 `detail`); never a secret.
    public var detail: String
    /// The problem type URI after a refused credential (e.g. a Payment problem type), else `nil`.
    public var problem: String?
    /// The HTTP status the body is sent with (RFC 9457 `status`): 402, or the problem type's.
    public var status: Int

    /// Makes a body.
    public init(
        offers: [Offer], title: String = "Payment Required", detail: String = "Pay one of the offers and retry with X-Receipt.",
        problem: String? = nil, status: Int = 402
    ) {
        self.offers = offers
        self.status = status
        self.title = title
        self.detail = detail
        self.problem = problem
    }

    // MARK: Writing

    /// The JSON object; `now` sets each offer's `expiry_seconds`.
    ///
    /// - Throws: `.missingField` without offers or for a Lightning offer without an invoice.
    public func jsonObject(now: Date) throws(WireError) -> [String: JSONValue] {
        guard let first = offers.first else { throw WireError(.missingField, "a plain 402 body needs at least one offer") }
        var all: [JSONValue] = []
        for offer in offers { all.append(.object(try Self.offerObject(offer, now: now))) }
        var object: [String: JSONValue] = [
            "type": .string(Self.type), "retry_after": .string(Self.retryAfter),
            "payment": .object(try Self.offerObject(first, now: now)), Self.offersMember: .array(all),
            "status": .number(Double(status)), "title": .string(title), "detail": .string(detail),
        ]
        if let problem { object["problem"] = .string(problem) }
        return object
    }

    /// The body bytes (JCS JSON).
    public func body(now: Date) throws(WireError) -> [UInt8] {
        let object = try jsonObject(now: now)
        do { return try CanonicalJSON.serialize(.object(object)) } catch {
            throw WireError(.malformed, "the plain body cannot be serialized (\(error.code))")
        }
    }

    /// One offer in the plain shape (see the file header).
    public static func offerObject(_ offer: Offer, now: Date) throws(WireError) -> [String: JSONValue] {
        let remaining = offer.expiresAt.timeIntervalSince(now).rounded(.down)
        let seconds = remaining.isFinite ? Int64(min(max(remaining, 0), 31_536_000)) : 0
        var object: [String: JSONValue] = [
            "network": .string(offer.rail.rawValue), "amount": .string(String(offer.amount.amount)),
            "unit": .string(offer.amount.unit.code), "id": .string(offer.id), "payee": .string(offer.payee),
            "expires_at": .string(PaymentTimestamp.format(offer.expiresAt)), "expiry_seconds": .number(Double(seconds)),
            "details": .object(offer.details.mapValues { .string($0) }),
        ]
        if offer.rail == .lightning {
            guard let invoice = offer.details["invoice"], !invoice.isEmpty else {
                throw WireError(.missingField, "a Lightning offer needs the invoice detail")
            }
            object["invoice"] = .string(invoice)
            if let sats = try? offer.amount.converted(to: .sat), sats.amount < maximumExactInteger {
                object["amount_sats"] = .number(Double(sats.amount))
            }
        }
        return object
    }

    // MARK: Reading

    /// What a plain body yields: the offers that read, and why others did not.
    public struct Reading: Hashable, Sendable {
        /// The offers, `payment` first, then the other members of `offers` (a repeat of `payment` is dropped).
        public var offers: [Offer]
        /// One sentence per offer object that could not be read.
        public var skipped: [String]
        /// The `problem` member, when the body reports a refused credential.
        public var problem: String?
    }

    /// Whether a parsed body is of the plain dialect: an object with `type` `x402` and a `payment`
    /// object. (An x402 version 1 body has `x402Version` and no `payment`.)
    public static func isPlainBody(_ object: [String: JSONValue]) -> Bool {
        guard case .string(let type)? = object["type"], type == Self.type, case .object? = object["payment"] else { return false }
        return true
    }

    /// Reads a plain 402 body.
    ///
    /// - Parameter receivedAt: when the response arrived; offers without `expires_at` expire
    ///   `expiry_seconds` after it.
    /// - Throws: `.tooLarge` over 64 KB; `.malformed` for JSON that is not an object; `.unsupported` for an
    ///   object that is not of the plain dialect (no `type:"x402"` with a `payment` object). Offers that
    ///   cannot be read are listed in `skipped`, not thrown.
    public static func parse(body: [UInt8], receivedAt: Date) throws(WireError) -> Reading {
        // Bounded before it is parsed: an oversized body costs no parse.
        guard body.count <= maximumBodyBytes else { throw tooLarge }
        return try parse(body: body, parsed: PaymentJSON.parseObject(body, what: "plain body"), receivedAt: receivedAt)
    }

    private static var tooLarge: WireError { WireError(.tooLarge, "a plain 402 body over 64 KB is not read") }

    /// Reads a plain 402 body whose bytes `body` were already parsed, as one JSON object, into
    /// `object`: the response reader parses each body once, not once to look and again to read.
    static func parse(body: [UInt8], parsed object: [String: JSONValue], receivedAt: Date) throws(WireError) -> Reading {
        guard body.count <= maximumBodyBytes else { throw tooLarge }
        guard isPlainBody(object), case .object(let payment)? = object["payment"] else {
            throw WireError(.unsupported, "the body is not of the plain dialect (no type \"x402\" with a payment object)")
        }
        var offers: [Offer] = [], skipped: [String] = []
        do { offers.append(try offer(from: payment, receivedAt: receivedAt)) } catch { skipped.append("payment: \(error.reason)") }
        if case .array(let items)? = object[offersMember] {
            for (index, item) in items.enumerated() {
                guard case .object(let entry) = item else {
                    skipped.append("offers[\(index)]: not a JSON object")
                    continue
                }
                if entry == payment { continue }
                do { offers.append(try offer(from: entry, receivedAt: receivedAt)) } catch { skipped.append("offers[\(index)]: \(error.reason)") }
            }
        } else if object[offersMember] != nil {
            skipped.append("offers: not a JSON array")
        }
        let problem: String?
        if case .string(let text)? = object["problem"] { problem = text } else { problem = nil }
        return Reading(offers: offers, skipped: skipped, problem: problem)
    }

    /// Reads one offer object: PayRail's full shape, or the article's minimal Lightning shape
    /// (`network`, `invoice`, `amount_sats`, `expiry_seconds`), whose id, payee and expiry then come from
    /// the invoice (decoded and its signature checked).
    ///
    /// - Throws: `.missingField`, `.malformed` or `.unsupported` naming the member at fault.
    public static func offer(from object: [String: JSONValue], receivedAt: Date) throws(WireError) -> Offer {
        let what = "payment"
        let network = try PaymentJSON.requiredString(object, "network", in: what)
        let rail: RailID
        do { rail = try RailID(network) } catch { throw WireError(.unsupported, "network \"\(network.prefix(32))\" is not a rail name") }
        var details: [String: String] = [:]
        if let map = try PaymentJSON.optionalObject(object, "details", in: what) {
            details = try PaymentJSON.stringMap(map, in: "payment.details")
        }
        // A Shared Payment Token names no offer, so `X-Receipt: spt_…` cannot be matched, and sending it
        // would hand the seller a token it then refuses: PayRail's token form is answered in the Payment
        // scheme only (whose challenge the same 402 carries).
        if rail == .stripe, details["form"] == "spt" {
            throw WireError(.unsupported, "a Stripe Shared Payment Token offer is answered in the Payment scheme, not with X-Receipt")
        }
        var invoice: Bolt11SignedInvoice?
        if rail == .lightning {
            let text = try PaymentJSON.optionalString(object, "invoice", in: what) ?? details["invoice"]
            guard let text, !text.isEmpty else { throw WireError(.missingField, "a Lightning payment needs invoice") }
            details["invoice"] = text
            invoice = try WireBolt11.read(text)
        }
        let amount = try readAmount(object, rail: rail, invoice: invoice)
        guard let id = try PaymentJSON.optionalString(object, "id", in: what) ?? invoice?.paymentHashHex ?? details["requestID"],
              !id.isEmpty else { throw WireError(.missingField, "payment.id is missing") }
        guard let payee = try PaymentJSON.optionalString(object, "payee", in: what) ?? invoice?.payeeKeyHex, !payee.isEmpty else {
            throw WireError(.missingField, "payment.payee is missing")
        }
        if let invoice {
            // The invoice is what gets paid: an offer that says otherwise must not be believed.
            if let msat = invoice.amountMsat {
                guard let asked = try? amount.converted(to: .msat), asked.amount == msat else {
                    throw WireError(.bindingMismatch, "payment.amount is not the invoice's amount")
                }
            }
            if let hash = details["paymentHash"], hash.lowercased() != invoice.paymentHashHex {
                throw WireError(.bindingMismatch, "payment.details.paymentHash is not the invoice's payment hash")
            }
            if details["paymentHash"] == nil { details["paymentHash"] = invoice.paymentHashHex }
            if details["network"] == nil, let name = invoice.networkName { details["network"] = name }
        }
        return Offer(
            rail: rail, amount: amount, payee: payee, expiresAt: try readExpiry(object, receivedAt: receivedAt, invoice: invoice),
            id: id, details: details)
    }

    private static func readAmount(_ object: [String: JSONValue], rail: RailID, invoice: Bolt11SignedInvoice?) throws(WireError) -> Money {
        if let text = try PaymentJSON.optionalString(object, "amount", in: "payment") {
            let code = try PaymentJSON.requiredString(object, "unit", in: "payment")
            guard let minor = Money.parseMinorUnits(text) else {
                throw WireError(.malformed, "payment.amount must be a string of decimal digits that fits 64 bits")
            }
            let unit: MoneyUnit
            do { unit = try MoneyUnit(code: code) } catch { throw WireError(.unsupported, "unit \"\(code.prefix(20))\" is not one PayRail prices in") }
            do { return try Money(amount: minor, unit: unit) } catch { throw WireError(.malformed, "payment.amount is not a valid amount") }
        }
        guard rail == .lightning else { throw WireError(.missingField, "payment.amount and payment.unit are missing") }
        if let sats = object["amount_sats"] {
            guard case .number(let value) = sats, value >= 0, value < Double(maximumExactInteger), value == value.rounded(.down) else {
                throw WireError(.malformed, "payment.amount_sats must be a whole number of satoshis below 2^53")
            }
            do { return try Money(amount: Int64(value), unit: .sat) } catch { throw WireError(.malformed, "payment.amount_sats is not a valid amount") }
        }
        if let msat = invoice?.amountMsat {
            do { return try Money(amount: msat, unit: .msat) } catch { throw WireError(.malformed, "the invoice amount is not a valid amount") }
        }
        throw WireError(.missingField, "payment.amount_sats is missing and the invoice names no amount")
    }

    private static func readExpiry(_ object: [String: JSONValue], receivedAt: Date, invoice: Bolt11SignedInvoice?) throws(WireError) -> Date {
        if let text = try PaymentJSON.optionalString(object, "expires_at", in: "payment") { return try PaymentTimestamp.parse(text) }
        if let seconds = object["expiry_seconds"] {
            guard case .number(let value) = seconds, value >= 0, value <= 31_536_000, value == value.rounded(.down) else {
                throw WireError(.malformed, "payment.expiry_seconds must be a whole number of seconds up to one year")
            }
            return receivedAt.addingTimeInterval(value)
        }
        if let invoice { return Date(timeIntervalSince1970: TimeInterval(invoice.expiresAtUnix)) }
        throw WireError(.missingField, "payment.expires_at and payment.expiry_seconds are missing")
    }
}
