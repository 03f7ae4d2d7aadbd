import Foundation
import PayRailHTTPClient
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// The Stripe client's only door to the network. Its own protocol (not LightningRail's) because the
// answer's headers matter here: `Idempotent-Replayed` and `Request-Id` come back as headers.

/// One HTTP request to Stripe, exactly as sent: what a canned-exchange test asserts.
public struct StripeHTTPRequest: Sendable, Hashable {
    /// `GET` or `POST`.
    public var method: String
    /// The absolute URL, query included.
    public var url: URL
    /// Header fields in the order sent. Contains the Authorization header: never log a request whole.
    public var headers: [StripeHeader]
    /// The form-encoded body, empty for a GET.
    public var body: [UInt8]
    /// How long to wait for the whole answer.
    public var timeout: Duration

    /// The first value of a header, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// One header field.
public struct StripeHeader: Sendable, Hashable {
    /// The field name as sent.
    public var name: String
    /// The value.
    public var value: String

    /// Creates a header field.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Stripe's answer: status, headers (names lowercased) and body.
public struct StripeHTTPResponse: Sendable, Hashable {
    /// The HTTP status.
    public var status: Int
    /// Header fields, names lowercased.
    public var headers: [String: String]
    /// The JSON body.
    public var body: [UInt8]

    /// Creates a response; header names are lowercased.
    public init(status: Int, headers: [String: String] = [:], body: [UInt8]) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.body = body
    }
}

/// Why an exchange produced no answer, which decides whether the request may have had an effect.
public enum StripeTransportFailure: Error, Hashable, Sendable {
    /// The request never reached Stripe (refused connection, unknown host): nothing happened there.
    case notSent(String)
    /// The request may have reached Stripe but no answer came back (timeout, reset): its effect is
    /// unknown, and only a retry with the same `Idempotency-Key` or a lookup can tell.
    case noAnswer(String)
}

/// Sends Stripe requests. Production uses `StripeURLSessionTransport`; tests use canned exchanges.
public protocol StripeTransport: Sendable {
    /// Sends `request` and returns the whole answer.
    func send(_ request: StripeHTTPRequest) async throws(StripeTransportFailure) -> StripeHTTPResponse
}

/// `StripeTransport` over URLSession, bounded: the answer body is kept up to `maxBodyBytes`, the
/// request's `timeout` bounds the whole exchange (a server dripping bytes cannot hold it), and
/// redirects are not followed (the secret key in `Authorization` must reach no other URL).
///
/// An answer that cannot be read whole (larger than the limit, cut short, past the timeout) is
/// `.noAnswer`: a confirm or capture may have happened, so it is retried with the same
/// `Idempotency-Key` or looked up, never assumed failed.
public struct StripeURLSessionTransport: StripeTransport {
    /// The default body limit: 1 MiB. Stripe's largest answers PayRail reads (a refund list of 100,
    /// a PaymentIntent search page) are some tens of KB.
    public static let defaultMaxBodyBytes = 1 << 20

    private let client: BoundedHTTPClient

    /// The largest answer body kept.
    public var maxBodyBytes: Int { client.maxBodyBytes }

    /// Creates a transport.
    ///
    /// - Parameters:
    ///   - session: its configuration and delegate are kept, but requests go through a session of the
    ///     transport's own that refuses redirects and bounds bodies; `nil` shares an ephemeral one.
    ///   - maxBodyBytes: the largest answer body read; a larger one is `.noAnswer`.
    public init(session: URLSession? = nil, maxBodyBytes: Int = StripeURLSessionTransport.defaultMaxBodyBytes) {
        self.client = BoundedHTTPClient(session: session, maxBodyBytes: maxBodyBytes)
    }

    /// Sends the request and reads its answer within `request.timeout`.
    public func send(_ request: StripeHTTPRequest) async throws(StripeTransportFailure) -> StripeHTTPResponse {
        // `setValue` semantics: a later field of the same name replaces an earlier one.
        var headers: [HTTPExchange.Field] = []
        for header in request.headers {
            headers.removeAll { $0.name.caseInsensitiveCompare(header.name) == .orderedSame }
            headers.append(HTTPExchange.Field(header.name, header.value))
        }
        do {
            let response = try await client.send(method: request.method, url: request.url, headers: headers, body: request.body,
                                                 timeout: request.timeout)
            var fields: [String: String] = [:]
            for field in response.headers { fields[field.name.lowercased()] = field.value }
            return StripeHTTPResponse(status: response.status, headers: fields, body: response.body)
        } catch {
            // The reason names codes and limits only, never the secret key.
            if error.isRetrySafe { throw .notSent(error.reason) }
            throw .noAnswer(error.reason)
        }
    }
}
