// The 402 written straight to bytes (issue 18): the same response `render` makes through JSON value
// trees, for the common case of offers that carry only flat string details (the fake rail, whose
// bound offers make stateless 402s). Every JSON text is RFC 8785 canonical as before: the members of
// each fixed shape are written in the order JCS sorts their names (checked by the tests, which
// compare this writer with the tree writer byte for byte), and the variable maps (offer details,
// x402 `extra`) are sorted with JCS's rule. Anything the direct writer does not cover (a refused
// credential's 402, Lightning and card offers, a dialect that would skip an offer, an oversized
// header) returns `nil`, and the tree writer renders the response instead. A stateless gate's 402 is
// written from a template this writer makes once per offer shape (ChallengeSetTemplate.swift).

import Foundation
import PayRail
import PayRailCrypto

extension ChallengeSet {
    /// The fresh 402 for `offers` (already in the client's order), or `nil` when the direct writer
    /// does not cover it. Equal to what the tree writer returns for the same arguments.
    func directPaymentRequired(_ offers: [Offer], now: Date) -> PaymentRequiredResponse? {
        guard !offers.isEmpty, offers.allSatisfy({ $0.rail == .fake && $0.amount.unit.isBuiltIn }) else { return nil }
        var fields = HTTPFields()
        fields.append("Cache-Control", "no-store")
        var skipped: [SkippedOffer] = []
        if macaroonRootKey != nil {
            let reason = WireError(.unsupported, "L402 carries Lightning offers only").reason
            for offer in offers { skipped.append(SkippedOffer(dialect: .l402, rail: offer.rail, offerID: offer.id, reason: reason)) }
        }
        // Each offer's expiry as RFC 3339 and its details in JCS order, made once for the Payment
        // challenge and the plain body.
        let expiries = offers.map { PaymentTimestamp.format($0.expiresAt) }
        let details = offers.map { DirectJSON.sorted($0.details) }
        var challenges: [PaymentChallenge] = []
        for index in offers.indices {
            guard let (challenge, value) = directPaymentChallenge(offers[index], details: details[index], expires: expiries[index]) else {
                return nil
            }
            fields.append("WWW-Authenticate", value)
            challenges.append(challenge)
        }
        var x402: X402PaymentRequired?
        if let resource = x402Resource {
            guard let (message, value) = directX402(offers, resource: resource, now: now) else { return nil }
            fields.append(X402HeaderName.paymentRequired, value)
            x402 = message
        }
        fields.append("Content-Type", PlainChallenge.mediaType)
        return PaymentRequiredResponse(
            status: 402, headers: fields, body: Self.directPlainBody(offers, details: details, expiries: expiries, now: now), offers: offers,
            paymentChallenges: challenges, x402: x402, l402: [], skipped: skipped)
    }

    /// The Payment challenge of a fake offer and its `WWW-Authenticate` value
    /// (`PaymentCharge.challenge(for:…)` and `PaymentChallenge.headerValue()`, without the trees).
    /// `details` are the offer's details in JCS order (`DirectJSON.sorted`).
    private func directPaymentChallenge(_ offer: Offer, details: [DirectJSON.Member], expires: String) -> (PaymentChallenge, String)? {
        boundPaymentChallenge(method: offer.rail.rawValue, requestJSON: Self.directPaymentRequest(offer, details: details), expires: expires)
    }

    /// The Payment challenge of a request JSON text, bound under the keyring, and its `WWW-Authenticate` value.
    func boundPaymentChallenge(method: String, requestJSON: [UInt8], expires: String) -> (PaymentChallenge, String)? {
        let unbound = unboundPaymentChallenge(method: method, requestJSON: requestJSON, expires: expires)
        guard let challenge = try? keyring.bind(unbound), let value = Self.directHeaderValue(challenge, quotedRealm: quotedRealm) else {
            return nil
        }
        return (challenge, value)
    }

    /// The Payment challenge of a request JSON text under this set's realm, description and field
    /// choice, before its id is set (the direct writer binds it, a template computes only its id).
    func unboundPaymentChallenge(method: String, requestJSON: [UInt8], expires: String) -> PaymentChallenge {
        PaymentChallenge(
            realm: realm, method: method, intent: PaymentCharge.intent, request: Base64URL.encode(requestJSON),
            expires: expires, description: description,
            header: usePaymentAuthorizationField ? PaymentChallenge.paymentAuthorizationField : nil)
    }

    /// The JSON text of a fake offer's Payment `request` (`PaymentCharge.request(for:)`, default branch).
    static func directPaymentRequest(_ offer: Offer, details: [DirectJSON.Member]) -> [UInt8] {
        var json = DirectJSON(capacity: 512)
        json.raw("{\"amount\":")
        json.string(String(offer.amount.amount))
        json.raw(",\"currency\":")
        json.string(offer.amount.unit.code)
        if let description = offer.details["description"] { json.raw(",\"description\":"); json.string(description) }
        if let externalId = offer.details["externalId"] { json.raw(",\"externalId\":"); json.string(externalId) }
        json.raw(",\"methodDetails\":")
        // Every detail as a string, plus `requestID`.
        if offer.details["requestID"] != nil {
            json.members(details)
        } else {
            var methodDetails = offer.details
            methodDetails["requestID"] = offer.id
            json.members(DirectJSON.sorted(methodDetails))
        }
        json.raw(",\"recipient\":")
        json.string(offer.payee)
        json.raw("}")
        return json.bytes
    }

    /// `challenge.headerValue()` written into one buffer: the value is about a kilobyte, and building
    /// it from a parameter list copied it once per piece. `bind` validated id, method, intent and
    /// request (token68, letters), which need no quoting; `expires` is RFC 3339 digits and
    /// punctuation; realm and description are quoted as RFC 9110 says.
    static func directHeaderValue(_ challenge: PaymentChallenge, quotedRealm: String?) -> String? {
        guard let realmText = quotedRealm ?? (try? AuthParameters.quote(challenge.realm)) else { return nil }
        var value: [UInt8] = []
        value.reserveCapacity(160 + challenge.request.utf8.count + realmText.utf8.count)
        value.append(contentsOf: "Payment id=\"".utf8)
        value.append(contentsOf: challenge.id.utf8)
        value.append(contentsOf: "\", realm=".utf8)
        value.append(contentsOf: realmText.utf8)
        value.append(contentsOf: ", method=\"".utf8)
        value.append(contentsOf: challenge.method.utf8)
        value.append(contentsOf: "\", intent=\"".utf8)
        value.append(contentsOf: challenge.intent.utf8)
        value.append(contentsOf: "\", request=\"".utf8)
        value.append(contentsOf: challenge.request.utf8)
        value.append(0x22)
        if let expires = challenge.expires {
            value.append(contentsOf: ", expires=\"".utf8)
            value.append(contentsOf: expires.utf8)
            value.append(0x22)
        }
        if let description = challenge.description {
            guard let quoted = try? AuthParameters.quote(description) else { return nil }
            value.append(contentsOf: ", description=".utf8)
            value.append(contentsOf: quoted.utf8)
        }
        if let header = challenge.header {
            value.append(contentsOf: ", header=\"".utf8)
            value.append(contentsOf: header.utf8)
            value.append(0x22)
        }
        guard value.count < PaymentChallenge.maximumHeaderLength else { return nil }
        return String(decoding: value, as: UTF8.self)
    }

    /// The x402 message and its `PAYMENT-REQUIRED` value (`X402Codec.encodePaymentRequired`, without the tree).
    private func directX402(_ offers: [Offer], resource: X402ResourceInfo, now: Date) -> (X402PaymentRequired, String)? {
        guard let accepts = directX402Accepts(offers, now: now),
              let json = directX402JSON(accepts, resource: resource, timeouts: accepts.map { String($0.maxTimeoutSeconds) })
        else { return nil }
        let value = Base64.encode(json)
        guard value.utf8.count < X402Codec.maximumWrittenHeaderBytes else { return nil }
        return (X402PaymentRequired(resource: resource, accepts: accepts, extensions: x402Extensions), value)
    }

    /// Every offer's x402 entries, or `nil` when one has none (the tree writer then skips it).
    func directX402Accepts(_ offers: [Offer], now: Date) -> [X402PaymentRequirements]? {
        let context = X402OfferContext(now: now, requestBinding: x402RequestBinding, cardNetworks: x402CardNetworks)
        var accepts: [X402PaymentRequirements] = []
        for offer in offers {
            guard let entries = try? X402PaymentRequirements.requirements(for: offer, context: context) else { return nil }
            accepts += entries
        }
        guard !accepts.isEmpty, accepts.allSatisfy({ X402Network.isCAIP2($0.network) }) else { return nil }
        return accepts
    }

    /// The JSON text of the x402 `PaymentRequired`; `timeouts` are the entries' `maxTimeoutSeconds` as
    /// written (their own values, or a template's placeholders).
    func directX402JSON(_ accepts: [X402PaymentRequirements], resource: X402ResourceInfo, timeouts: [String]) -> [UInt8]? {
        guard timeouts.count == accepts.count else { return nil }
        var json = DirectJSON(capacity: 1024)
        json.raw("{\"accepts\":[")
        for (index, entry) in accepts.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("{\"amount\":"); json.string(entry.amount)
            json.raw(",\"asset\":"); json.string(entry.asset)
            if !entry.extra.isEmpty {
                json.raw(",\"extra\":")
                if !json.flatObject(entry.extra), !json.value(.object(entry.extra)) { return nil }
            }
            json.raw(",\"maxTimeoutSeconds\":"); json.raw(timeouts[index])
            json.raw(",\"network\":"); json.string(entry.network)
            json.raw(",\"payTo\":"); json.string(entry.payTo)
            json.raw(",\"scheme\":"); json.string(entry.scheme)
            json.raw("}")
        }
        json.raw("]")
        if !x402Extensions.isEmpty {
            json.raw(",\"extensions\":")
            // Serialized once when the extensions are set (they are the same on every 402).
            guard let extensions = x402ExtensionsJSON else { return nil }
            json.bytes += extensions
        }
        json.raw(",\"resource\":")
        if resource.description == nil, resource.mimeType == nil {
            // The usual resource, `{"url":…}`, written directly (the same bytes `CanonicalJSON` writes).
            json.raw("{\"url\":"); json.string(resource.url); json.raw("}")
        } else if !json.value(resource.json) {
            return nil
        }
        json.raw(",\"x402Version\":")
        json.raw(String(X402PaymentRequired.version))
        json.raw("}")
        return json.bytes
    }

    /// The plain body (`PlainChallenge.body(now:)` with the default title and detail): the first
    /// offer's object is written once and used for `payment` and as the first of `offers`.
    private static func directPlainBody(_ offers: [Offer], details: [[DirectJSON.Member]], expiries: [String], now: Date) -> [UInt8] {
        let objects = offers.indices.map {
            directPlainOffer(offers[$0], details: details[$0], expires: expiries[$0], seconds: String(plainExpirySeconds(offers[$0], now: now)))
        }
        return directPlainBody(offers, objects: objects)
    }

    /// The plain body around the offers' objects (already written).
    static func directPlainBody(_ offers: [Offer], objects: [[UInt8]]) -> [UInt8] {
        let plain = PlainChallenge(offers: offers)
        var json = DirectJSON(capacity: 2048)
        json.raw("{\"detail\":"); json.string(plain.detail)
        json.raw(",\"offers\":[")
        for (index, object) in objects.enumerated() {
            if index > 0 { json.raw(",") }
            json.bytes += object
        }
        json.raw("],\"payment\":")
        json.bytes += objects[0]
        json.raw(",\"retry_after\":"); json.string(PlainChallenge.retryAfter)
        json.raw(",\"status\":"); json.raw(String(plain.status))
        json.raw(",\"title\":"); json.string(plain.title)
        json.raw(",\"type\":"); json.string(PlainChallenge.type)
        json.raw("}")
        return json.bytes
    }

    /// The plain `expiry_seconds` of an offer written at `now`: whole seconds left, within a year.
    static func plainExpirySeconds(_ offer: Offer, now: Date) -> Int64 {
        let remaining = offer.expiresAt.timeIntervalSince(now).rounded(.down)
        return remaining.isFinite ? Int64(min(max(remaining, 0), 31_536_000)) : 0
    }

    /// One non-Lightning offer in the plain shape (`PlainChallenge.offerObject`); `seconds` is its
    /// `expiry_seconds` as written (`plainExpirySeconds`, or a template's placeholder).
    static func directPlainOffer(_ offer: Offer, details: [DirectJSON.Member], expires: String, seconds: String) -> [UInt8] {
        var json = DirectJSON(capacity: 768)
        json.raw("{\"amount\":"); json.string(String(offer.amount.amount))
        json.raw(",\"details\":"); json.members(details)
        json.raw(",\"expires_at\":"); json.string(expires)
        json.raw(",\"expiry_seconds\":"); json.raw(seconds)
        json.raw(",\"id\":"); json.string(offer.id)
        json.raw(",\"network\":"); json.string(offer.rail.rawValue)
        json.raw(",\"payee\":"); json.string(offer.payee)
        json.raw(",\"unit\":"); json.string(offer.amount.unit.code)
        json.raw("}")
        return json.bytes
    }
}

/// RFC 8785 JSON written piece by piece: the caller writes fixed member names in JCS order; strings
/// and flat string maps are escaped and sorted here exactly as `CanonicalJSON.serialize` does.
struct DirectJSON {
    var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// Literal JSON text (member names, punctuation, integers).
    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// A JSON string, escaped as RFC 8785 section 3.2.2.2 says (the two-character escapes where JSON
    /// has them, `\u00xx` for other controls, every other character as raw UTF-8).
    mutating func string(_ text: String) {
        bytes.append(0x22)
        stringContent(text)
        bytes.append(0x22)
    }

    /// The inside of a JSON string (`string(_:)` without its quotes).
    mutating func stringContent(_ text: String) {
        // Runs that need no escape (nearly every string: ids, base64url, names) are copied at once.
        let copied: Bool? = text.utf8.withContiguousStorageIfAvailable { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if copied != true { escaped(text) }
    }

    private mutating func escaped(_ text: String) {
        for byte in text.utf8 {
            switch byte {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x08: bytes.append(0x5C); bytes.append(0x62)
            case 0x09: bytes.append(0x5C); bytes.append(0x74)
            case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
            case 0x0C: bytes.append(0x5C); bytes.append(0x66)
            case 0x0D: bytes.append(0x5C); bytes.append(0x72)
            case 0..<0x20:
                bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30])
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
    }

    /// One string member of a flat object.
    typealias Member = (key: String, value: String)

    /// The members of a flat string object in JCS order (UTF-16 code units; for names below U+E000
    /// that is UTF-8 byte order, which is what a native string holds).
    static func sorted(_ members: [String: String]) -> [Member] {
        var flat: [Member] = []
        flat.reserveCapacity(members.count)
        for (key, value) in members { flat.append((key, value)) }
        sort(&flat)
        return flat
    }

    private static func sort(_ members: inout [Member]) {
        guard members.count > 1 else { return }
        let plain = members.allSatisfy { $0.key.utf8.allSatisfy { $0 < 0xEE } }
        if plain {
            members.sort { precedesInUTF8($0.key, $1.key) }
        } else {
            members.sort { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
        }
    }

    /// Whether `a` sorts before `b` by their UTF-8 bytes: one `memcmp` on native strings (the generic
    /// byte-by-byte comparison showed in the 402's profile), the byte sequences otherwise.
    private static func precedesInUTF8(_ a: String, _ b: String) -> Bool {
        let fast: Bool?? = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in
                let common = min(left.count, right.count)
                var order: Int32 = 0
                if common > 0, let leftBytes = left.baseAddress, let rightBytes = right.baseAddress {
                    order = memcmp(leftBytes, rightBytes, common)
                }
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
        if let known = fast ?? nil { return known }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// An object of members already in JCS order (`sorted(_:)`).
    mutating func members(_ sorted: [Member]) {
        bytes.append(0x7B)
        for index in sorted.indices {
            if index > 0 { bytes.append(0x2C) }
            string(sorted[index].key)
            bytes.append(0x3A)
            string(sorted[index].value)
        }
        bytes.append(0x7D)
    }

    /// An object of string members given as JSON values; writes nothing and returns `false` when a
    /// value is not a string (the caller then writes it through the serializer).
    mutating func flatObject(_ members: [String: JSONValue]) -> Bool {
        var flat: [Member] = []
        flat.reserveCapacity(members.count)
        for (key, value) in members {
            guard case .string(let text) = value else { return false }
            flat.append((key, text))
        }
        Self.sort(&flat)
        self.members(flat)
        return true
    }

    /// Any JSON value, through the canonical serializer; `false` when it has no JSON form.
    mutating func value(_ value: JSONValue) -> Bool {
        guard let text = try? CanonicalJSON.serialize(value) else { return false }
        bytes += text
        return true
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}
