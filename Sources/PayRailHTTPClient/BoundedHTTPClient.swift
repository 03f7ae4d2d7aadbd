import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// The rails' backends (LNbits, LND REST, Stripe, the hosted fake processor) answer with small JSON
// objects, but the answer is read from a server the gate does not control, through whatever sits in
// between. `URLSession.data(for:)` would buffer any size and let a drip hold the call for ever (its
// timeout is an idle timeout); this client keeps one answer under a limit and the whole call under
// its timeout, and tells a request that never left from one whose effect is unknown.

/// Why a bounded call got no usable answer, and so whether the request may have acted.
public enum BoundedCallFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request never left (connection refused, unknown host, TLS handshake refused): nothing
    /// happened at the server; a retry is safe.
    case notSent(String)
    /// The request may have reached the server but no complete answer came back (reset, idle timeout).
    case noAnswer(String)
    /// The whole call's timeout passed before the answer was complete.
    case deadline(seconds: Double)
    /// The answer's body is larger than the limit (declared or while it arrived); it was not read on.
    /// The server answered, so the request may have acted.
    case tooLarge(status: Int, limit: Int)

    /// Whether sending the same request again cannot act twice: only a request that never left.
    /// Every other case is "outcome unknown": look the effect up (or retry idempotently) first.
    public var isRetrySafe: Bool {
        if case .notSent = self { return true }
        return false
    }

    /// Why, in a few words without secrets (a URLSession error code, the limit, the timeout): what a
    /// transport's own `notSent` / `noAnswer` carries.
    public var reason: String {
        switch self {
        case .notSent(let why), .noAnswer(let why): return why
        case .deadline(let seconds): return "no complete answer within the \(Self.format(seconds)) s timeout"
        case .tooLarge(let status, let limit): return "the HTTP \(status) answer is larger than \(limit) bytes"
        }
    }

    /// One line without secrets: codes, limits and statuses only, never a URL or a header.
    public var description: String {
        switch self {
        case .notSent(let why): return "not sent (\(why))"
        case .noAnswer(let why): return "no complete answer (\(why))"
        case .deadline(let seconds): return "no complete answer within the \(Self.format(seconds)) s timeout"
        case .tooLarge(let status, let limit): return "the HTTP \(status) answer is larger than \(limit) bytes"
        }
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}

/// A client for a backend's small answers: each body kept up to `maxBodyBytes`, each call bounded as
/// a whole by its timeout (a server dripping bytes cannot keep it alive), redirects never followed
/// (the API key or macaroon in a header must reach no other URL).
public struct BoundedHTTPClient: Sendable {
    /// The default body limit: 1 MiB, far above any single backend object or page PayRail reads.
    public static let defaultMaxBodyBytes = 1 << 20

    /// The largest answer body kept; a larger one fails the call with `.tooLarge`.
    public let maxBodyBytes: Int
    private let session: URLSession

    /// One session for every client made without one: its delegate serves any number of exchanges.
    private static let sharedSession = HTTPExchange.makeSession()

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - session: its configuration (proxies, protocol classes) and delegate (authentication
    ///     challenges) are used by a session of the client's own, which refuses redirects, bounds
    ///     bodies and keeps neither cookies nor a cache; `nil` shares one ephemeral session.
    ///   - maxBodyBytes: the largest answer body kept (at least 1).
    public init(session: URLSession? = nil, maxBodyBytes: Int = BoundedHTTPClient.defaultMaxBodyBytes) {
        self.session = session.map { HTTPExchange.refusingRedirects(like: $0, keepingCookies: false) } ?? Self.sharedSession
        self.maxBodyBytes = max(1, maxBodyBytes)
    }

    /// Creates a client on a session of its own made from `configuration` (a connection pool size,
    /// an idle timeout): redirects refused, bodies bounded, cookies and the cache off.
    ///
    /// - Parameter maxBodyBytes: the largest answer body kept (at least 1).
    public init(configuration: URLSessionConfiguration, maxBodyBytes: Int) {
        self.session = HTTPExchange.makeSession(configuration: configuration)
        self.maxBodyBytes = max(1, maxBodyBytes)
    }

    /// Sends one request and returns its whole answer, read within `timeout`.
    ///
    /// - Throws: `.notSent` (retry-safe) or, once the request may have left, `.noAnswer`,
    ///   `.deadline` or `.tooLarge` (outcome unknown).
    public func send(
        method: String, url: URL, headers: [HTTPExchange.Field], body: [UInt8], timeout: Duration
    ) async throws(BoundedCallFailure) -> HTTPExchange.Response {
        let parts = timeout.components
        let seconds = max(0.001, Double(parts.seconds) + Double(parts.attoseconds) / 1e18)
        let exchange = HTTPExchange(session: session, timeout: seconds)
        let limit = maxBodyBytes
        let response: HTTPExchange.Response
        do {
            response = try await exchange.send(
                method: method, url: url, headers: headers, body: body.isEmpty ? nil : body,
                deadline: .now + timeout, handling: { _, _ in .buffer(limit: limit) })
        } catch {
            switch error {
            case .notSent(let why): throw .notSent(why)
            case .transport(let why): throw .noAnswer(why)
            case .deadline: throw .deadline(seconds: seconds)
            }
        }
        guard !response.truncated else { throw .tooLarge(status: response.status, limit: limit) }
        return response
    }
}
