import Foundation
import PayRail
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

/// `HTTPTransport` over a URLSession.
public struct URLSessionTransport: HTTPTransport {
    private let session: URLSession

    /// Creates a transport; the default session is ephemeral (no cookies, no cache).
    public init(session: URLSession = URLSession(configuration: .ephemeral)) {
        self.session = session
    }

    /// Sends the request through the session.
    public func send(_ request: BackendRequest) async throws(TransportFailure) -> BackendResponse {
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        let components = request.timeout.components
        urlRequest.timeoutInterval = Double(components.seconds) + Double(components.attoseconds) / 1e18
        for header in request.headers { urlRequest.addValue(header.value, forHTTPHeaderField: header.name) }
        if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }
        do {
            let (data, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else { throw TransportFailure.noAnswer("not an HTTP answer") }
            return BackendResponse(status: http.statusCode, body: Array(data))
        } catch let failure as TransportFailure {
            throw failure
        } catch let error as URLError {
            switch error.code {
            case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .badURL, .unsupportedURL,
                 .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
                 .serverCertificateHasUnknownRoot, .clientCertificateRejected:
                throw TransportFailure.notSent("URLError \(error.code.rawValue)")
            default:
                throw TransportFailure.noAnswer("URLError \(error.code.rawValue)")
            }
        } catch {
            throw TransportFailure.noAnswer(String(describing: type(of: error)))
        }
    }
}
