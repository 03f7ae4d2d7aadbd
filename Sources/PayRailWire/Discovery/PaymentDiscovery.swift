import PayRailCrypto

/// Reads a draft-payment-discovery-01 OpenAPI document (`GET /openapi.json`) into what it sells.
///
/// The document comes from a server the agent has not paid yet, so it is hostile until read: every
/// size is bounded (document, operations, offers, strings), the JSON parser is the strict one (depth
/// limit, duplicate names refused), and strings that would be printed refuse control characters, so
/// a document cannot rewrite an operator's terminal. Parts of OpenAPI that say nothing about payment
/// are not read at all.
public enum PaymentDiscovery {
    /// Where the draft puts the document.
    public static let path = "/openapi.json"
    /// The most bytes of a document read (1 MiB); a larger one is refused before parsing.
    public static let maximumDocumentBytes = 1 << 20
    /// The most path items a document may list.
    public static let maximumPaths = 4096
    /// The most priced operations read.
    public static let maximumOperations = 1024
    /// The most offers one operation may carry.
    public static let maximumOffers = 32
    /// The most bytes of a name (method, intent, currency, category, path, title).
    public static let maximumNameBytes = 2048
    /// The most bytes of a human note (summary, description).
    public static let maximumNoteBytes = 4096
    /// The most digits of an amount (78 holds any unsigned 256-bit integer).
    public static let maximumAmountDigits = 78

    /// The HTTP methods an OpenAPI path item can hold, as its lowercase member names.
    public static let operationMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// Reads a discovery document.
    ///
    /// - Throws: `.tooLarge` past `maximumDocumentBytes` or a count bound; `.malformed` for JSON that
    ///   does not parse, a document without `openapi`/`info`/`paths`, or an `x-payment-info` that
    ///   breaks the draft (no offers, an amount that is not digits or `null`, a missing `intent` or
    ///   `method`, control characters in a printed string); `.unsupported` for an `openapi` that is not 3.x.
    public static func read(_ bytes: [UInt8]) throws(WireError) -> DiscoveryDocument {
        guard bytes.count <= maximumDocumentBytes else {
            throw WireError(.tooLarge, "the discovery document is \(bytes.count) bytes, over the \(maximumDocumentBytes)-byte limit")
        }
        let root = try PaymentJSON.parseObject(bytes, what: "the discovery document")
        let version = try name(root["openapi"], "openapi")
        guard version.hasPrefix("3.") else { throw WireError(.unsupported, "openapi \"\(version)\" is not OpenAPI 3.x") }
        guard case .object(let info)? = root["info"] else { throw WireError(.malformed, "the document has no info object") }
        guard case .object(let paths)? = root["paths"] else { throw WireError(.malformed, "the document has no paths object") }
        guard paths.count <= maximumPaths else {
            throw WireError(.tooLarge, "the document lists \(paths.count) paths, over the limit of \(maximumPaths)")
        }
        var operations: [DiscoveredOperation] = []
        for (path, item) in paths.sorted(by: { $0.key < $1.key }) {
            guard case .object(let pathItem) = item else { throw WireError(.malformed, "path \(quoted(path)) is not an object") }
            for method in operationMethods {
                guard case .object(let operation)? = pathItem[method], let payment = operation["x-payment-info"] else { continue }
                guard operations.count < maximumOperations else {
                    throw WireError(.tooLarge, "the document prices more than \(maximumOperations) operations")
                }
                let place = "\(method.uppercased()) \(quoted(path))"
                _ = try name(.string(path), "the path of \(place)")
                guard path.utf8.first == 0x2F else { throw WireError(.malformed, "path \(quoted(path)) does not start with /") }
                var declares402 = false
                if case .object(let responses)? = operation["responses"] { declares402 = responses["402"] != nil }
                operations.append(DiscoveredOperation(
                    method: method.uppercased(), path: path, summary: try note(operation["summary"], "the summary of \(place)"),
                    offers: try offers(payment, where: place), declares402: declares402))
            }
        }
        return DiscoveryDocument(
            openAPIVersion: version, title: try name(info["title"], "info.title"), version: try name(info["version"], "info.version"),
            serviceInfo: try serviceInfo(root["x-service-info"]), operations: operations)
    }

    /// The offers of one `x-payment-info`: the `offers` form, or the single-offer shorthand.
    static func offers(_ value: JSONValue, where place: String) throws(WireError) -> [DiscoveryOffer] {
        guard case .object(let info) = value else { throw WireError(.malformed, "x-payment-info of \(place) is not an object") }
        guard let list = info["offers"] else { return [try offer(info, where: place)] }
        guard case .array(let items) = list, !items.isEmpty else {
            throw WireError(.malformed, "x-payment-info.offers of \(place) must be a non-empty array")
        }
        guard items.count <= maximumOffers else {
            throw WireError(.tooLarge, "\(place) lists \(items.count) offers, over the limit of \(maximumOffers)")
        }
        var result: [DiscoveryOffer] = []
        for item in items {
            guard case .object(let object) = item else { throw WireError(.malformed, "an offer of \(place) is not an object") }
            result.append(try offer(object, where: place))
        }
        return result
    }

    private static func offer(_ object: [String: JSONValue], where place: String) throws(WireError) -> DiscoveryOffer {
        let amount: String?
        switch object["amount"] {
        case .null?: amount = nil
        case .string(let text)? where DiscoveryOffer.isValidAmount(text): amount = text
        case nil: throw WireError(.missingField, "an offer of \(place) has no amount (write null for a dynamic price)")
        default: throw WireError(.malformed, "an offer of \(place) has an amount that is not a string of digits or null")
        }
        return DiscoveryOffer(
            intent: try name(object["intent"], "the intent of an offer of \(place)"),
            method: try name(object["method"], "the method of an offer of \(place)"), amount: amount,
            currency: try object["currency"].map { (value) throws(WireError) in try name(value, "the currency of an offer of \(place)") },
            description: try note(object["description"], "the description of an offer of \(place)"))
    }

    private static func serviceInfo(_ value: JSONValue?) throws(WireError) -> DiscoveryServiceInfo? {
        guard let value else { return nil }
        guard case .object(let object) = value else { throw WireError(.malformed, "x-service-info is not an object") }
        var info = DiscoveryServiceInfo()
        if let categories = object["categories"] {
            guard case .array(let items) = categories, items.count <= maximumOffers else {
                throw WireError(.malformed, "x-service-info.categories must be an array of at most \(maximumOffers) strings")
            }
            for item in items { info.categories.append(try name(item, "a category")) }
        }
        if let docs = object["docs"] {
            guard case .object(let links) = docs, links.count <= maximumOffers else {
                throw WireError(.malformed, "x-service-info.docs must be an object of at most \(maximumOffers) links")
            }
            for (key, link) in links { info.docs[try name(.string(key), "a docs name")] = try name(link, "docs.\(quoted(key))") }
        }
        return info
    }

    /// A required short string with no control characters.
    private static func name(_ value: JSONValue?, _ what: String) throws(WireError) -> String {
        guard case .string(let text)? = value, !text.isEmpty else { throw WireError(.missingField, "\(what) is missing or not a string") }
        return try printable(text, what, limit: maximumNameBytes)
    }

    /// An optional longer string with no control characters.
    private static func note(_ value: JSONValue?, _ what: String) throws(WireError) -> String? {
        guard let value else { return nil }
        guard case .string(let text) = value else { throw WireError(.malformed, "\(what) is not a string") }
        return try printable(text, what, limit: maximumNoteBytes)
    }

    private static func printable(_ text: String, _ what: String, limit: Int) throws(WireError) -> String {
        guard text.utf8.count <= limit else { throw WireError(.tooLarge, "\(what) is over \(limit) bytes") }
        guard !text.unicodeScalars.contains(where: isUnprintable) else {
            throw WireError(.malformed, "\(what) contains control characters")
        }
        return text
    }

    /// C0 controls, DEL and C1 controls (ESC and CSI start terminal escape sequences), and the
    /// bidirectional overrides and isolates, which make printed text read differently from what it is.
    static func isUnprintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// A path for an error message: bounded, control characters replaced.
    private static func quoted(_ text: String) -> String {
        let cut = String(text.unicodeScalars.prefix(80).map { isUnprintable($0) ? "?" : Character($0) })
        return "\"\(cut)\(text.unicodeScalars.count > 80 ? "..." : "")\""
    }
}
