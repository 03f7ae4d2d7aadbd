import PayRailCrypto
import PayRailHTTP

/// JSON in and out of the hosted fake processor's endpoints and the demo resource, through
/// PayRailCrypto's parser and RFC 8785 writer: Foundation's `JSONSerialization` with sorted keys cost
/// more per paid call than the processor's own work (a profile of paid cycles put it at 7 % of the
/// server), and its parser accepts duplicate member names, which a payment endpoint should refuse.
enum EndpointJSON {
    /// The largest request body an endpoint reads.
    static let maximumBodyBytes = 16 * 1024

    /// The members of a JSON object body, or `nil` when the body is too large, not JSON, not an
    /// object, or names a member twice.
    static func object(_ body: [UInt8]) -> [String: JSONValue]? {
        guard body.count <= maximumBodyBytes else { return nil }
        return (try? CanonicalJSON.parse(body))?.objectValue
    }

    /// `members` as a JSON object, names sorted.
    ///
    /// - Throws: only for a number that is not finite, which no endpoint sends.
    static func bytes(_ members: [String: JSONValue]) throws(CanonicalJSONError) -> [UInt8] {
        try CanonicalJSON.serialize(.object(members))
    }

    /// A 200 carrying `members`, never stored by a cache (it answers for one account's secret).
    static func answer(_ members: [String: JSONValue]) throws(CanonicalJSONError) -> HTTPResponse {
        HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "no-store"], body: try bytes(members))
    }

    /// A millisecond Unix time as JSON.
    static func milliseconds(_ milliseconds: Int64) -> JSONValue { .number(Double(milliseconds)) }
}
