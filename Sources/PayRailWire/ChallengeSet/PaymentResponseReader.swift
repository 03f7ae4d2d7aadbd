// The agent side of ChallengeSet: any 402 response (status, fields, body) into offers, each tagged with
// the dialect it came from and carrying what answering it needs. Total by construction: every field
// and every offer is read on its own, so a broken one is listed in `skipped` and hides nothing else.

import Bolt11
import Foundation
import PayRail
import PayRailCrypto

/// What answering one offer needs, per dialect.
public enum DialectOffer: Hashable, Sendable {
    /// A Payment scheme challenge (echoed in the credential).
    case payment(PaymentChallenge)
    /// An x402 version 2 entry, with the message's resource and extensions (echoed in the payload).
    case x402(X402PaymentRequirements, resource: X402ResourceInfo, extensions: [String: JSONValue])
    /// An x402 version 1 entry, converted to version 2's shape.
    case x402v1(X402PaymentRequirements)
    /// An L402 challenge (its macaroon goes into the credential).
    case l402(L402Challenge)
    /// An L402 challenge whose token is no macaroon PayRail reads: presented as is (bLIP-26: the token
    /// is the server's business), bound by the invoice's payment hash.
    case l402Token(L402TokenChallenge)
    /// A plain-dialect offer (answered with `X-Receipt`).
    case plain

    /// The dialect.
    public var dialect: PaymentDialect {
        switch self {
        case .payment: return .payment
        case .x402: return .x402
        case .x402v1: return .x402v1
        case .l402, .l402Token: return .l402
        case .plain: return .plain
        }
    }
}

/// One payable offer read from a 402 response.
public struct ReadOffer: Hashable, Sendable {
    /// The offer in PayRail's terms (what the agent's rail pays).
    public var offer: Offer
    /// The dialect's own form, needed to answer it.
    public var answer: DialectOffer
    /// The dialect it came from.
    public var dialect: PaymentDialect { answer.dialect }

    /// The request header fields that answer this offer once `credential` (the rail's proof) is in hand.
    ///
    /// - Payment: `Authorization` (or `Payment-Authorization`) `Payment <base64url JSON>`.
    /// - x402: `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1), standard base64 JSON.
    /// - L402: `Authorization: L402 <macaroon>:<preimage>`.
    /// - plain: `X-Receipt: <preimage | rail proof>`.
    ///
    /// - Parameter paymentIdentifier: added to the x402 v2 payload when the server declared the extension.
    /// - Throws: `.missingField`/`.malformed` when the credential lacks what the dialect carries,
    ///   `.bindingMismatch` for a credential of another rail or a preimage that does not pay the offer.
    public func credentialFields(for credential: Credential, paymentIdentifier: X402PaymentIdentifier? = nil) throws(WireError) -> HTTPFields {
        guard credential.rail == offer.rail else {
            throw WireError(.bindingMismatch, "the credential is for \(credential.rail), the offer for \(offer.rail)")
        }
        var fields = HTTPFields()
        switch answer {
        case .payment(let challenge):
            let paymentCredential = PaymentCharge.credential(answering: challenge, with: credential)
            fields.append(paymentCredential.fieldName, try paymentCredential.headerValue())
        case .x402(let requirements, let resource, let extensions):
            let payload = try X402Agent.payload(
                answering: requirements, with: credential, resource: resource, serverExtensions: extensions,
                paymentIdentifier: extensions[X402PaymentIdentifier.extensionKey] == nil ? nil : paymentIdentifier)
            fields.append(X402HeaderName.paymentSignature, try X402Codec.encodePaymentSignature(payload))
        case .x402v1(let requirements):
            let payload = try X402Agent.payload(answering: requirements, with: credential)
            let json: JSONValue = .object([
                "x402Version": .number(1), "scheme": .string(requirements.scheme), "network": .string(requirements.network),
                "payload": .object(payload.payload),
            ])
            let bytes: [UInt8]
            do { bytes = try CanonicalJSON.serialize(json) } catch {
                throw WireError(.malformed, "the X-PAYMENT JSON cannot be serialized (\(error.code))")
            }
            let value = Base64.encode(bytes)
            guard value.utf8.count < X402Codec.maximumWrittenHeaderBytes else {
                throw WireError(.tooLarge, "the X-PAYMENT header would be \(value.utf8.count) bytes")
            }
            fields.append(X402HeaderName.xPayment, value)
        case .l402:
            guard let preimageText = credential.payload["preimage"] else {
                throw WireError(.missingField, "the credential has no preimage for the L402 offer")
            }
            guard preimageText.utf8.count == 64, let preimage = L402Hex.decode(preimageText) else {
                throw WireError(.malformed, "the preimage is not 64 hex digits")
            }
            fields.append("Authorization", try L402Credential(answering: offer, preimage: preimage).authorizationValue)
        case .l402Token:
            guard let preimageText = credential.payload["preimage"] else {
                throw WireError(.missingField, "the credential has no preimage for the L402 offer")
            }
            guard preimageText.utf8.count == 64, let preimage = L402Hex.decode(preimageText) else {
                throw WireError(.malformed, "the preimage is not 64 hex digits")
            }
            fields.append("Authorization", try L402TokenChallenge.authorizationValue(answering: offer, preimage: preimage))
        case .plain:
            fields.append(PlainReceipt.fieldName, try PlainReceipt.answering(offer, with: credential).headerValue())
        }
        return fields
    }
}

/// Something in a 402 response that yielded no offer, and why.
public struct SkippedChallenge: Hashable, Sendable, CustomStringConvertible {
    /// The dialect it looked like, or `nil` when it could not be told.
    public var dialect: PaymentDialect?
    /// Why it was skipped.
    public var reason: String
    /// The Payment challenge's `method`, when it named one (an agent can then say "no wallet for
    /// method X" instead of the reader's complaint about a currency of a method it cannot pay anyway).
    public var method: String?
    /// The Payment challenge's `intent`, when it named one.
    public var intent: String?

    /// Makes an entry.
    public init(dialect: PaymentDialect?, reason: String, method: String? = nil, intent: String? = nil) {
        self.dialect = dialect
        self.reason = reason
        self.method = method
        self.intent = intent
    }

    /// One line: the dialect, the Payment challenge's method/intent when known, the reason.
    public var description: String {
        let named = [method, intent].compactMap { $0 }.joined(separator: "/")
        return "\(dialect?.rawValue ?? "response")\(named.isEmpty ? "" : " " + named): \(reason)"
    }
}

/// Everything read from one 402 response.
public struct PaymentResponseReading: Hashable, Sendable {
    /// The payable offers, grouped by dialect (Payment, x402, L402, plain), each in the server's order.
    public var offers: [ReadOffer]
    /// What was present but could not be used.
    public var skipped: [SkippedChallenge]
}

/// Reads any 402 response into offers of every dialect.
public enum PaymentResponseReader {
    /// Bodies larger than this are not read for offers (the x402 v1 and plain bounds).
    public static let maximumBodyBytes = 64 * 1024

    /// Reads a response.
    ///
    /// - Parameters:
    ///   - status: the HTTP status; anything but 402 yields no offers.
    ///   - receivedAt: when it arrived (expiries given in seconds count from it; invoices are checked at it).
    ///   - expectedRequest: the request the agent intends to pay for; x402 lnbtc offers must bind it.
    /// - Returns: never throws: hostile or broken parts end up in `skipped`.
    public static func read(
        status: Int, headers: HTTPFields, body: [UInt8], receivedAt: Date, expectedRequest: X402RequestBinding? = nil
    ) -> PaymentResponseReading {
        var offers: [ReadOffer] = []
        var skipped: [SkippedChallenge] = []
        guard status == 402 else {
            return PaymentResponseReading(offers: [], skipped: [SkippedChallenge(dialect: nil, reason: "status \(status) is not 402")])
        }
        let authenticate = headers.values("WWW-Authenticate")

        // Payment: each field on its own, so one broken field does not hide the others.
        for value in authenticate {
            let challenges: [AuthChallenge]
            do { challenges = try AuthParameters.parseChallenges(value) } catch {
                skipped.append(SkippedChallenge(dialect: nil, reason: "a WWW-Authenticate field is unreadable: \(error.reason)"))
                continue
            }
            for challenge in challenges where challenge.hasScheme(PaymentChallenge.scheme) {
                do {
                    let payment = try PaymentChallenge(challenge)
                    let offer = try PaymentCharge.offer(from: payment, defaultExpiry: receivedAt.addingTimeInterval(300))
                    offers.append(ReadOffer(offer: offer, answer: .payment(payment)))
                } catch {
                    skipped.append(SkippedChallenge(
                        dialect: .payment, reason: error.reason, method: challenge["method"].map { String($0.prefix(32)) },
                        intent: challenge["intent"].map { String($0.prefix(32)) }))
                }
            }
        }

        // x402: the v2 header wins over a v1 body, as the SDK decides.
        do {
            switch try X402Codec.readChallenge(headers: headers, body: body.count <= maximumBodyBytes ? body : []) {
            case .version2(let message)?:
                for (index, requirements) in message.accepts.enumerated() {
                    do {
                        let offer = try X402Agent.offer(from: requirements, receivedAt: receivedAt, expectedRequest: expectedRequest)
                        offers.append(ReadOffer(offer: offer, answer: .x402(requirements, resource: message.resource, extensions: message.extensions)))
                    } catch { skipped.append(SkippedChallenge(dialect: .x402, reason: "accepts[\(index)]: \(error.reason)")) }
                }
            case .version1(let message)?:
                for (index, entry) in message.accepts.enumerated() {
                    do {
                        let requirements = try entry.asVersion2()
                        let offer = try X402Agent.offer(from: requirements, receivedAt: receivedAt, expectedRequest: expectedRequest)
                        offers.append(ReadOffer(offer: offer, answer: .x402v1(requirements)))
                    } catch { skipped.append(SkippedChallenge(dialect: .x402v1, reason: "accepts[\(index)]: \(error.reason)")) }
                }
            case nil:
                break
            }
        } catch {
            skipped.append(SkippedChallenge(dialect: .x402, reason: error.reason))
        }

        // L402: each field on its own; the LSAT + L402 pair of one token is one offer.
        let (l402Offers, l402Skipped) = l402Reading(authenticate)
        offers += l402Offers
        skipped += l402Skipped

        // Plain: a JSON body of the plain shape (application/json, or problem+json after a refusal).
        if !body.isEmpty, body.count <= maximumBodyBytes, let json = try? CanonicalJSON.parse(body), case .object(let object) = json,
           object["payment"] != nil || object[PlainChallenge.offersMember] != nil {
            do {
                let reading = try plainReading(object, body: body, receivedAt: receivedAt)
                offers += reading.offers.map { ReadOffer(offer: $0, answer: .plain) }
                skipped += reading.skipped.map { SkippedChallenge(dialect: .plain, reason: $0) }
            } catch { skipped.append(SkippedChallenge(dialect: .plain, reason: error.reason)) }
        }
        return PaymentResponseReading(offers: offers, skipped: skipped)
    }

    /// Reads a raw HTTP/1.x response: status line, header lines, an empty line, the body (CRLF or LF).
    ///
    /// - Throws: `.malformed` for a missing or bad status line or a header line without a colon;
    ///   `.tooLarge` for a head over 64 KB.
    public static func parseHTTPResponse(_ bytes: [UInt8]) throws(WireError) -> (status: Int, headers: HTTPFields, body: [UInt8]) {
        var lines: [[UInt8]] = []
        var index = 0, lineStart = 0
        var bodyStart: Int?
        while index < bytes.count {
            if bytes[index] == 0x0A {
                var line = Array(bytes[lineStart..<index])
                if line.last == 0x0D { line.removeLast() }
                lineStart = index + 1
                if line.isEmpty {
                    bodyStart = lineStart
                    break
                }
                lines.append(line)
            }
            index += 1
            guard index <= 64 * 1024 else { throw WireError(.tooLarge, "the response head is over 64 KB") }
        }
        if bodyStart == nil, lineStart < bytes.count {
            var line = Array(bytes[lineStart...])
            if line.last == 0x0D { line.removeLast() }
            if !line.isEmpty { lines.append(line) }
        }
        guard let statusLine = lines.first else { throw WireError(.malformed, "there is no status line") }
        let parts = String(decoding: statusLine, as: UTF8.self).split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].utf8.count == 3,
              let status = Int(parts[1]), (100...599).contains(status)
        else { throw WireError(.malformed, "the first line is not an HTTP status line (HTTP/1.1 402 ...)") }
        var pairs: [(String, String)] = []
        for line in lines.dropFirst() {
            if let first = line.first, first == 0x20 || first == 0x09, let last = pairs.last {
                // An obsolete folded continuation line joins the previous field's value.
                pairs[pairs.count - 1].1 = last.1 + " " + String(decoding: line, as: UTF8.self).trimmingWireWhitespace()
                continue
            }
            guard let colon = line.firstIndex(of: 0x3A), colon > 0 else {
                throw WireError(.malformed, "a header line has no field name and colon")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            guard AuthParameters.isToken(name) else { throw WireError(.malformed, "a header field name is not a token") }
            pairs.append((name, String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingWireWhitespace()))
        }
        let headers = HTTPFields(pairs)
        return (status, headers, bodyStart.map { Array(bytes[$0...]) } ?? [])
    }

    private static func plainReading(_ object: [String: JSONValue], body: [UInt8], receivedAt: Date) throws(WireError) -> PlainChallenge.Reading {
        // `object` is `body` parsed (by the same parser `parse(body:)` uses): not parsed a second time.
        if PlainChallenge.isPlainBody(object) { return try PlainChallenge.parse(body: body, parsed: object, receivedAt: receivedAt) }
        // A Payment problem body carries the plain members as extensions: read them the same way.
        var plain = object
        plain["type"] = .string(PlainChallenge.type)
        guard PlainChallenge.isPlainBody(plain) else {
            throw WireError(.malformed, "the body's payment member is not an object")
        }
        let bytes: [UInt8]
        do { bytes = try CanonicalJSON.serialize(.object(plain)) } catch {
            throw WireError(.malformed, "the body cannot be re-serialized (\(error.code))")
        }
        return try PlainChallenge.parse(body: bytes, receivedAt: receivedAt)
    }

    /// Every L402/LSAT challenge of the `WWW-Authenticate` values: macaroon ones as before, others with
    /// an opaque token (bLIP-26: the client checks and pays the invoice, the token is the server's),
    /// and each unusable one skipped with what is wrong with it (no invoice, no token, an unknown
    /// version, an invoice that does not decode or does not pay the macaroon's hash).
    private static func l402Reading(_ values: [String]) -> (offers: [ReadOffer], skipped: [SkippedChallenge]) {
        var macaroons: [L402Challenge] = []
        var tokens: [L402TokenChallenge] = []
        var skipped: [SkippedChallenge] = []
        for value in values {
            guard let challenges = try? AuthParameters.parseChallenges(value) else { continue }  // grammar already reported
            for challenge in challenges {
                do {
                    switch try L402TokenChallenge.classify(challenge) {
                    case .macaroon(let found)?: macaroons.append(found)
                    case .opaque(let found)?: if !tokens.contains(where: { $0.token == found.token && $0.invoice == found.invoice }) { tokens.append(found) }
                    case nil: continue
                    }
                } catch { skipped.append(SkippedChallenge(dialect: .l402, reason: error.reason)) }
            }
        }
        var offers: [ReadOffer] = []
        for challenge in L402Challenge.distinct(macaroons) {
            do { offers.append(ReadOffer(offer: try l402Offer(challenge), answer: .l402(challenge))) } catch {
                skipped.append(SkippedChallenge(dialect: .l402, reason: error.reason))
            }
        }
        for challenge in tokens {
            do { offers.append(ReadOffer(offer: try challenge.offer(), answer: .l402Token(challenge))) } catch {
                skipped.append(SkippedChallenge(dialect: .l402, reason: error.reason))
            }
        }
        return (offers, skipped)
    }

    /// The Lightning offer an L402 challenge makes: amount and network from the invoice, payee and expiry
    /// from its signed part (checked), and the invoice must pay the macaroon's payment hash.
    private static func l402Offer(_ challenge: L402Challenge) throws(WireError) -> Offer {
        let invoice: Bolt11SignedInvoice
        do { invoice = try WireBolt11.read(challenge.invoice) } catch {
            throw WireError(error.code, "the \(challenge.scheme.rawValue) invoice cannot be read: \(error.reason)")
        }
        guard let bound = challenge.paymentHash else {
            throw WireError(.malformed, "the L402 macaroon identifier is not of aperture's layout")
        }
        guard bound == invoice.paymentHash else {
            throw WireError(.bindingMismatch, "the L402 invoice does not pay the macaroon's payment hash")
        }
        return try challenge.offer(payee: invoice.payeeKeyHex, expiresAt: Date(timeIntervalSince1970: TimeInterval(invoice.expiresAtUnix)))
    }
}
