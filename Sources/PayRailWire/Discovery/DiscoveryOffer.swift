import PayRailCrypto

// draft-payment-discovery-01: a service publishes `GET /openapi.json`, an OpenAPI 3.x document whose
// priced operations carry `x-payment-info` (one or more payment offers) and declare a `402` response,
// and whose top level may carry `x-service-info` (categories, documentation links). Discovery is
// advisory: the runtime 402 challenge is authoritative for every payment parameter, so nothing here
// is ever paid from; an agent uses it to find and compare services before it asks.

/// One payment offer of a priced operation (`x-payment-info.offers[]`).
public struct DiscoveryOffer: Hashable, Sendable {
    /// `charge` (per request) or `session` (pay as you go); other values are kept, not interpreted.
    public var intent: String
    /// The payment method (a PayRail rail name for PayRail servers: `lightning`, `stripe`, `fake`).
    public var method: String
    /// The amount in the currency's smallest unit as ASCII digits (`"100"`), or `nil` for a price
    /// that depends on the request. A string, never a number: amounts must stay exact.
    public var amount: String?
    /// The currency (`sat`, lowercase ISO 4217 such as `usd`, or a token address).
    public var currency: String?
    /// A human note on the price.
    public var description: String?

    /// Creates an offer.
    public init(intent: String = "charge", method: String, amount: String?, currency: String?, description: String? = nil) {
        self.intent = intent
        self.method = method
        self.amount = amount
        self.currency = currency
        self.description = description
    }

    /// The offer as the JSON object the draft defines (`amount` is written even when `null`).
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "intent": .string(intent), "method": .string(method), "amount": amount.map(JSONValue.string) ?? .null,
        ]
        if let currency { object["currency"] = .string(currency) }
        if let description { object["description"] = .string(description) }
        return .object(object)
    }

    /// Whether `text` is an amount the draft allows: ASCII digits, no leading zero except `"0"`.
    public static func isValidAmount(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= PaymentDiscovery.maximumAmountDigits,
              bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        return bytes.count == 1 || bytes[0] != 0x30
    }
}

/// One priced operation of a discovery document.
public struct DiscoveredOperation: Hashable, Sendable {
    /// The HTTP method, uppercase (`GET`).
    public var method: String
    /// The OpenAPI path template (`/api/{path}`).
    public var path: String
    /// The operation's `summary`, if any.
    public var summary: String?
    /// Its offers, in document order (the single-offer shorthand reads as one offer).
    public var offers: [DiscoveryOffer]
    /// Whether the operation declares the `402` response the draft requires of priced operations.
    public var declares402: Bool

    /// Creates an operation.
    public init(method: String, path: String, summary: String? = nil, offers: [DiscoveryOffer], declares402: Bool = true) {
        self.method = method
        self.path = path
        self.summary = summary
        self.offers = offers
        self.declares402 = declares402
    }
}

/// The top-level `x-service-info` extension.
public struct DiscoveryServiceInfo: Hashable, Sendable {
    /// Free-form categories (`compute`, `data`, ...).
    public var categories: [String]
    /// Documentation links by name (`apiReference`, `homepage`, `llms`), absolute URIs.
    public var docs: [String: String]

    /// Creates service information.
    public init(categories: [String] = [], docs: [String: String] = [:]) {
        self.categories = categories
        self.docs = docs
    }

    /// The extension's JSON object; empty members are left out.
    public var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if !categories.isEmpty { object["categories"] = .array(categories.map(JSONValue.string)) }
        if !docs.isEmpty { object["docs"] = .object(docs.mapValues(JSONValue.string)) }
        return .object(object)
    }
}

/// What an agent learns from a discovery document.
public struct DiscoveryDocument: Hashable, Sendable {
    /// The `openapi` version string (`3.1.0`).
    public var openAPIVersion: String
    /// `info.title`.
    public var title: String
    /// `info.version`.
    public var version: String
    /// `x-service-info`, when present.
    public var serviceInfo: DiscoveryServiceInfo?
    /// Every operation carrying `x-payment-info`, by path, then in OpenAPI's method order (get, put, post, ...).
    public var operations: [DiscoveredOperation]

    /// Creates a document.
    public init(openAPIVersion: String, title: String, version: String, serviceInfo: DiscoveryServiceInfo?, operations: [DiscoveredOperation]) {
        self.openAPIVersion = openAPIVersion
        self.title = title
        self.version = version
        self.serviceInfo = serviceInfo
        self.operations = operations
    }
}
