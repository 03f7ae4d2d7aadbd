// The fresh 402 of a stateless gate, from a template (issue 18). Two 402s for the same route, price
// and rail differ only in a few values: the offer id, the challenge id in the details, the expiry and
// the seconds left. Everything else (member names, amounts, payee, processor key, x402 extensions and
// resource, the plain body's prose) is the same bytes every time, yet the direct writer
// (ChallengeSetDirect.swift) re-derived it on every 402: sorting details, building x402 entries and
// their maps, copying strings.
//
// A template is made by running the direct writer ONCE on a copy of the offers whose varying values
// are placeholders (a noncharacter, U+FDD0, around the placeholder's number), then cutting its JSON
// texts at the placeholders. A 402 is then the literal runs with the real values written between them
// (escaped as the writer escapes them), then base64 and the Payment challenge's HMAC as before.
//
// Why it cannot write something else than the direct writer:
// - a template is used only for offers whose every fixed input equals the one it was made from
//   (`ChallengeShape.matches`): rail, amount, payee, detail names and fixed detail values, and the
//   set's realm, description, field choice, x402 resource and extensions;
// - each template is checked when made: filled with the real offers of the request that made it, it
//   must equal the direct writer's response byte for byte, or the shape is never templated;
// - the values checked per request by the writer (the x402 timeout of at least a second, a non-empty
//   request id, the header size limits, the challenge binding) are checked per request here too;
//   anything else falls back to the full writer.

import Foundation
import PayRail
import PayRailCrypto

/// A fresh 402's status, header fields and body, without the dialects' parsed values: all a gate
/// that keeps no record of its challenges sends.
package struct FreshPaymentRequired: Hashable, Sendable {
    /// The HTTP status (402).
    package var status: Int
    /// Every header field, in order.
    package var headers: HTTPFields
    /// The body bytes.
    package var body: [UInt8]
}

extension ChallengeSet {
    /// The fresh 402 for `offers`: the status, fields and body `paymentRequired(offers:acceptPayment:now:)`
    /// returns for the same arguments, byte for byte, written from a template when the offers have
    /// one (see the file header).
    package func freshPaymentRequired(offers unordered: [Offer], acceptPayment: [String] = [],
                                      now: Date) throws(WireError) -> FreshPaymentRequired {
        let offers = Self.order(unordered, acceptPayment: acceptPayment)
        if let template = templates.template(for: self, offers: offers, now: now), let fresh = template.fill(offers, now: now, set: self) {
            return fresh
        }
        // Already in the client's order: an empty Accept-Payment keeps it.
        let full = try paymentRequired(offers: offers, now: now)
        return FreshPaymentRequired(status: full.status, headers: full.headers, body: full.body)
    }
}

/// The templates of one challenge set and its copies, at most `capacity`; past the bound they are
/// made again. The x402 resource URL is a hole, so the paths a client picks under a priced pattern
/// share one template and cannot churn the cache.
final class ChallengeTemplates: @unchecked Sendable {
    private struct Entry {
        let shape: ChallengeShape
        /// `nil`: offers of this shape are written by the full writer.
        let template: ChallengeTemplate?
    }

    static let capacity = 64
    private let lock = NSLock()
    /// Guarded by `lock`.
    private var entries: [Entry] = []

    /// How many shapes are known (for tests).
    var count: Int { lock.withLock { entries.count } }

    /// The template for `offers` (already ordered), made on first use; `nil` when they have none.
    func template(for set: ChallengeSet, offers: [Offer], now: Date) -> ChallengeTemplate? {
        guard ChallengeShape.isTemplatable(offers) else { return nil }
        let known: Entry? = lock.withLock { entries.first { $0.shape.matches(set, offers) } }
        if let known { return known.template }
        let shape = ChallengeShape(set, offers)
        let template = ChallengeTemplate.make(shape, set: set, offers: offers, now: now)
        lock.withLock {
            if entries.count >= Self.capacity { entries.removeAll() }
            entries.append(Entry(shape: shape, template: template))
        }
        return template
    }
}

/// Every input of a 402 that a template holds as literal bytes.
struct ChallengeShape {
    struct OfferShape {
        let rail: RailID
        let amount: Money
        let payee: String
        /// Details written the same on every 402.
        let fixedDetails: [String: String]
        /// Details written per 402, sorted.
        let variableDetails: [String]
    }

    let realm: String
    let description: String?
    let usePaymentAuthorizationField: Bool
    /// The x402 resource without its URL when the URL is a hole (`resourceKey`).
    let x402Resource: X402ResourceInfo?
    let x402ExtensionsJSON: [UInt8]?
    let x402ExtensionsEmpty: Bool
    let offers: [OfferShape]

    /// Fake offers in built-in units: what the direct writer covers.
    static func isTemplatable(_ offers: [Offer]) -> Bool {
        !offers.isEmpty && offers.allSatisfy { $0.rail == .fake && $0.amount.unit.isBuiltIn }
    }

    /// The x402 resource as a template holds it: a bare `{"url":…}` (the gate's, one per route) has
    /// its URL written per 402, so it is kept without it; a resource with more is kept whole.
    static func resourceKey(_ resource: X402ResourceInfo?) -> X402ResourceInfo? {
        guard let resource, urlIsHole(resource) else { return resource }
        return X402ResourceInfo(url: "")
    }

    /// Whether `resource`'s URL is written per 402 (it is all the resource says).
    static func urlIsHole(_ resource: X402ResourceInfo) -> Bool {
        resource.description == nil && resource.mimeType == nil
    }

    /// A detail written per 402: the challenge id, and any detail that repeats the offer id (`requestID`).
    static func isVariable(_ key: String, _ value: String, of offer: Offer) -> Bool {
        key == "challengeID" || value == offer.id
    }

    init(_ set: ChallengeSet, _ offers: [Offer]) {
        realm = set.realm
        description = set.description
        usePaymentAuthorizationField = set.usePaymentAuthorizationField
        x402Resource = Self.resourceKey(set.x402Resource)
        x402ExtensionsJSON = set.x402ExtensionsJSON
        x402ExtensionsEmpty = set.x402Extensions.isEmpty
        self.offers = offers.map { offer in
            var fixed: [String: String] = [:]
            var variable: [String] = []
            for (key, value) in offer.details {
                if Self.isVariable(key, value, of: offer) { variable.append(key) } else { fixed[key] = value }
            }
            return OfferShape(rail: offer.rail, amount: offer.amount, payee: offer.payee, fixedDetails: fixed, variableDetails: variable.sorted())
        }
    }

    /// Whether `offers` written by `set` have this shape: every fixed input equal, every variable
    /// detail present (its value is written per 402, whatever it is).
    func matches(_ set: ChallengeSet, _ offers: [Offer]) -> Bool {
        guard offers.count == self.offers.count, set.realm == realm, set.description == description,
              set.usePaymentAuthorizationField == usePaymentAuthorizationField, Self.resourceKey(set.x402Resource) == x402Resource,
              set.x402Extensions.isEmpty == x402ExtensionsEmpty, set.x402ExtensionsJSON == x402ExtensionsJSON
        else { return false }
        for (shape, offer) in zip(self.offers, offers) {
            guard offer.rail == shape.rail, offer.amount == shape.amount, offer.payee == shape.payee,
                  offer.details.count == shape.fixedDetails.count + shape.variableDetails.count
            else { return false }
            for (key, value) in shape.fixedDetails where offer.details[key] != value { return false }
            for key in shape.variableDetails where offer.details[key] == nil { return false }
        }
        return true
    }
}

/// A 402's JSON texts cut at the values written per 402.
struct ChallengeTemplate: Sendable {
    /// A value written per 402, for the offer at `offer` (in the client's order).
    enum Hole: Hashable, Sendable {
        case offerID(offer: Int)
        case detail(offer: Int, key: String)
        case expires(offer: Int)
        case plainSeconds(offer: Int)
        case x402Timeout(offer: Int)
        /// The x402 resource's URL (this route's), when that is all the resource says.
        case resourceURL
    }

    /// Literal runs with a hole between each two; a hole is named by its slot in `holes`, so each
    /// value is escaped once per 402 however often it is written.
    struct Pieces: Sendable {
        var literals: [[UInt8]]
        var slots: [Int]
    }

    /// Every hole the pieces name, by slot.
    let holes: [Hole]

    /// Each offer's Payment `request` JSON.
    let paymentRequests: [Pieces]
    /// The x402 `PaymentRequired` JSON, when the set writes x402.
    let x402: Pieces?
    /// The plain body.
    let body: Pieces

    /// The template of `shape`, checked against the direct writer on `offers`; `nil` when the direct
    /// writer does not cover them or the template does not reproduce it.
    static func make(_ shape: ChallengeShape, set: ChallengeSet, offers: [Offer], now: Date) -> ChallengeTemplate? {
        guard let direct = set.directPaymentRequired(offers, now: now) else { return nil }
        var placeholders = Placeholders()
        var marked: [Offer] = []
        for (index, offer) in offers.enumerated() {
            var details = shape.offers[index].fixedDetails
            for key in shape.offers[index].variableDetails { details[key] = placeholders.mark(.detail(offer: index, key: key)) }
            // An hour left, so the x402 entry is written; its timeout is a placeholder anyway.
            marked.append(Offer(rail: offer.rail, amount: offer.amount, payee: offer.payee, expiresAt: now.addingTimeInterval(3600),
                                id: placeholders.mark(.offerID(offer: index)), details: details))
        }
        let sortedDetails = marked.map { DirectJSON.sorted($0.details) }
        var requests: [Pieces] = []
        for index in marked.indices {
            guard let pieces = placeholders.cut(ChallengeSet.directPaymentRequest(marked[index], details: sortedDetails[index])) else { return nil }
            requests.append(pieces)
        }
        var x402: Pieces?
        if var resource = set.x402Resource {
            if ChallengeShape.urlIsHole(resource) { resource.url = placeholders.mark(.resourceURL) }
            guard let accepts = set.directX402Accepts(marked, now: now), accepts.count == marked.count,
                  let json = set.directX402JSON(accepts, resource: resource,
                                                timeouts: marked.indices.map { placeholders.mark(.x402Timeout(offer: $0)) }),
                  let pieces = placeholders.cut(json)
            else { return nil }
            x402 = pieces
        }
        let objects = marked.indices.map { index in
            ChallengeSet.directPlainOffer(marked[index], details: sortedDetails[index], expires: placeholders.mark(.expires(offer: index)),
                                          seconds: placeholders.mark(.plainSeconds(offer: index)))
        }
        guard let body = placeholders.cut(ChallengeSet.directPlainBody(marked, objects: objects)) else { return nil }
        let template = ChallengeTemplate(holes: placeholders.holes, paymentRequests: requests, x402: x402, body: body)
        guard let filled = template.fill(offers, now: now, set: set), filled.status == direct.status,
              filled.headers == direct.headers, filled.body == direct.body
        else { return nil }
        return template
    }

    /// The 402 for `offers` (of this template's shape), or `nil` when a value checked per 402 is
    /// out of range (the full writer then decides what to write).
    func fill(_ offers: [Offer], now: Date, set: ChallengeSet) -> FreshPaymentRequired? {
        guard offers.count == paymentRequests.count else { return nil }
        var expiries: [String] = []
        expiries.reserveCapacity(offers.count)
        for offer in offers { expiries.append(PaymentTimestamp.format(offer.expiresAt)) }
        guard let values = values(offers, expiries: expiries, now: now, resource: set.x402Resource) else { return nil }
        var fields = HTTPFields()
        fields.append("Cache-Control", "no-store")
        for index in offers.indices {
            guard let value = set.validatedPaymentChallengeField(
                method: offers[index].rail.rawValue, requestJSON: Self.write(paymentRequests[index], values), expires: expiries[index])
            else { return nil }
            fields.append("WWW-Authenticate", value)
        }
        if let x402 {
            let value = Base64.encode(Self.write(x402, values))
            guard value.utf8.count < X402Codec.maximumWrittenHeaderBytes else { return nil }
            fields.append(X402HeaderName.paymentRequired, value)
        }
        fields.append("Content-Type", PlainChallenge.mediaType)
        return FreshPaymentRequired(status: 402, headers: fields, body: Self.write(body, values))
    }

    /// Each slot's value, escaped as a JSON string's content (the numbers need no escape), or `nil`
    /// when a value the writer checks per 402 is out of range.
    private func values(_ offers: [Offer], expiries: [String], now: Date, resource: X402ResourceInfo?) -> [[UInt8]]? {
        var values: [[UInt8]] = []
        values.reserveCapacity(holes.count)
        for hole in holes {
            let text: String
            switch hole {
            case .offerID(let offer): text = offers[offer].id
            case .detail(let offer, let key):
                guard let value = offers[offer].details[key] else { return nil }
                text = value
            case .expires(let offer): text = expiries[offer]
            case .plainSeconds(let offer): text = String(ChallengeSet.plainExpirySeconds(offers[offer], now: now))
            case .x402Timeout(let offer):
                // What `X402PaymentRequirements.requirements` checks of a fake offer's varying values.
                let offer = offers[offer]
                guard !(offer.details["requestID"] ?? offer.id).isEmpty,
                      let timeout = try? X402PaymentRequirements.timeout(until: offer.expiresAt, now: now)
                else { return nil }
                text = String(timeout)
            case .resourceURL:
                guard let resource else { return nil }
                text = resource.url
            }
            var escaped = DirectJSON(capacity: text.utf8.count + 8)
            escaped.stringContent(text)
            values.append(escaped.bytes)
        }
        return values
    }

    /// The pieces with every hole filled from `values` (by slot).
    private static func write(_ pieces: Pieces, _ values: [[UInt8]]) -> [UInt8] {
        var count = 0
        for literal in pieces.literals { count += literal.count }
        for slot in pieces.slots { count += values[slot].count }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        for (index, slot) in pieces.slots.enumerated() {
            bytes += pieces.literals[index]
            bytes += values[slot]
        }
        if let last = pieces.literals.last { bytes += last }
        return bytes
    }
}

extension ChallengeSet {
    /// The `WWW-Authenticate` value of a Payment challenge for `requestJSON`, written by a template
    /// whose realm, method, intent and field choice passed `bind` when it was made (the request is
    /// base64url by construction): only the id is computed.
    fileprivate func validatedPaymentChallengeField(method: String, requestJSON: [UInt8], expires: String) -> String? {
        var challenge = unboundPaymentChallenge(method: method, requestJSON: requestJSON, expires: expires)
        challenge.id = keyring.boundID(ofValidated: challenge)
        return Self.directHeaderValue(challenge, quotedRealm: quotedRealm)
    }
}

/// Placeholders written in place of a template's holes, and the cutting of a text at them.
private struct Placeholders {
    private(set) var holes: [ChallengeTemplate.Hole] = []
    /// U+FDD0 and U+FDD1 in UTF-8 (Swift accepts no noncharacter in a literal).
    private static let open: [UInt8] = [0xEF, 0xB7, 0x90]
    private static let close: [UInt8] = [0xEF, 0xB7, 0x91]
    private static let openText = String(decoding: open, as: UTF8.self)
    private static let closeText = String(decoding: close, as: UTF8.self)

    /// The placeholder of `hole`: U+FDD0, its slot, U+FDD1 (noncharacters, written raw in JSON).
    mutating func mark(_ hole: ChallengeTemplate.Hole) -> String {
        let slot = holes.firstIndex(of: hole) ?? holes.count
        if slot == holes.count { holes.append(hole) }
        return Self.openText + String(slot) + Self.closeText
    }

    /// `text` cut at its placeholders; `nil` when a placeholder is malformed (a fixed input held a
    /// noncharacter: such a shape is not templated).
    func cut(_ text: [UInt8]) -> ChallengeTemplate.Pieces? {
        var pieces = ChallengeTemplate.Pieces(literals: [], slots: [])
        var literal: [UInt8] = []
        var index = 0
        while index < text.count {
            guard Self.starts(text, at: index, with: Self.open) else {
                literal.append(text[index])
                index += 1
                continue
            }
            var cursor = index + Self.open.count
            var number = 0
            var digits = 0
            while cursor < text.count, text[cursor] >= 0x30, text[cursor] <= 0x39, digits < 6 {
                number = number * 10 + Int(text[cursor] - 0x30)
                cursor += 1
                digits += 1
            }
            guard digits > 0, number < holes.count, Self.starts(text, at: cursor, with: Self.close) else { return nil }
            pieces.literals.append(literal)
            pieces.slots.append(number)
            literal = []
            index = cursor + Self.close.count
        }
        pieces.literals.append(literal)
        return pieces
    }

    private static func starts(_ text: [UInt8], at index: Int, with prefix: [UInt8]) -> Bool {
        index + prefix.count <= text.count && text[index..<(index + prefix.count)].elementsEqual(prefix)
    }
}
