import Foundation
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

/// `StripeTransport` over an ephemeral URLSession (no cookies, no cache, no credential storage).
public struct StripeURLSessionTransport: StripeTransport {
    private let session: URLSession

    /// Creates a transport.
    public init(session: URLSession = URLSession(configuration: .ephemeral)) {
        self.session = session
    }

    /// Sends the request through the session.
    public func send(_ request: StripeHTTPRequest) async throws(StripeTransportFailure) -> StripeHTTPResponse {
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        let parts = request.timeout.components
        urlRequest.timeoutInterval = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        for header in request.headers { urlRequest.setValue(header.value, forHTTPHeaderField: header.name) }
        if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }
        do {
            let (data, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else { throw StripeTransportFailure.noAnswer("not an HTTP answer") }
            var headers: [String: String] = [:]
            for (name, value) in http.allHeaderFields {
                if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
            }
            return StripeHTTPResponse(status: http.statusCode, headers: headers, body: Array(data))
        } catch let failure as StripeTransportFailure {
            throw failure
        } catch let error as URLError {
            switch error.code {
            case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .badURL, .unsupportedURL,
                 .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
                 .serverCertificateHasUnknownRoot, .clientCertificateRejected, .secureConnectionFailed:
                throw StripeTransportFailure.notSent("URLError \(error.code.rawValue)")
            default:
                throw StripeTransportFailure.noAnswer("URLError \(error.code.rawValue)")
            }
        } catch {
            throw StripeTransportFailure.noAnswer(String(describing: type(of: error)))
        }
    }
}
