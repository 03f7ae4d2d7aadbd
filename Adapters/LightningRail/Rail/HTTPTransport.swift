import Foundation
import PayRail
import PayRailHTTPClient
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP request a Lightning backend sends: everything a canned-exchange test asserts.
public struct BackendRequest: Hashable, Sendable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The absolute URL.
    public var url: URL
    /// Header fields, in order (names as sent).
    public var headers: [(name: String, value: String)]
    /// The body, empty for none.
    public var body: [UInt8]
    /// How long to wait for the whole answer.
    public var timeout: Duration

    /// Creates a request.
    public init(method: String, url: URL, headers: [(name: String, value: String)] = [], body: [UInt8] = [], timeout: Duration = .seconds(30)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// The first value of a header, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Equal when method, URL, headers (in order), body and timeout are equal.
    public static func == (lhs: BackendRequest, rhs: BackendRequest) -> Bool {
        lhs.method == rhs.method && lhs.url == rhs.url && lhs.body == rhs.body && lhs.timeout == rhs.timeout
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    /// Hashes method, URL and body (equal requests hash equally).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(method)
        hasher.combine(url)
        hasher.combine(body)
    }
}

/// The answer to a `BackendRequest`.
public struct BackendResponse: Hashable, Sendable {
    /// The HTTP status.
    public var status: Int
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// Why an exchange produced no answer, which decides whether the request may have had an effect.
public enum TransportFailure: Error, Hashable, Sendable {
    /// The request never reached the server (refused connection, unknown host, TLS failure before
    /// sending): nothing happened there.
    case notSent(String)
    /// The request may have reached the server but no complete answer came back (timeout, reset):
    /// its effect is unknown.
    case noAnswer(String)
}

/// Sends backend requests. Production uses `URLSessionTransport`; tests use canned exchanges.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the whole answer.
    func send(_ request: BackendRequest) async throws(TransportFailure) -> BackendResponse
}

/// `HTTPTransport` over a URLSession, bounded: the answer body is kept up to `maxBodyBytes`, the
/// request's `timeout` bounds the whole exchange (not only the gaps between bytes), and redirects are
/// not followed (the API key or macaroon must reach no other URL).
///
/// An answer that cannot be read whole (larger than the limit, cut short, past the timeout) is
/// `.noAnswer`: the request may have reached the backend, so a `pay` is looked up, never assumed failed.
public struct URLSessionTransport: HTTPTransport {
    /// The default body limit: 4 MiB. An LNbits answer is a few KB; an LND payment page
    /// (`/v1/payments`, 100 payments with their HTLC routes) can reach hundreds of KB.
    public static let defaultMaxBodyBytes = 4 << 20

    private let client: BoundedHTTPClient

    /// The largest answer body kept.
    public var maxBodyBytes: Int { client.maxBodyBytes }

    /// Creates a transport.
    ///
    /// - Parameters:
    ///   - session: its configuration and delegate are kept, but requests go through a session of the
    ///     transport's own that refuses redirects and bounds bodies; `nil` shares an ephemeral one.
    ///   - maxBodyBytes: the largest answer body read; a larger one is `.noAnswer`.
    public init(session: URLSession? = nil, maxBodyBytes: Int = URLSessionTransport.defaultMaxBodyBytes) {
        self.client = BoundedHTTPClient(session: session, maxBodyBytes: maxBodyBytes)
    }

    /// Sends the request and reads its answer within `request.timeout`.
    public func send(_ request: BackendRequest) async throws(TransportFailure) -> BackendResponse {
        let headers = request.headers.map { HTTPExchange.Field($0.name, $0.value) }
        do {
            let response = try await client.send(method: request.method, url: request.url, headers: headers, body: request.body,
                                                 timeout: request.timeout)
            return BackendResponse(status: response.status, body: response.body)
        } catch {
            // The description names codes and limits only, never the key or macaroon sent.
            if error.isRetrySafe { throw .notSent(error.reason) }
            throw .noAnswer(error.reason)
        }
    }
}
