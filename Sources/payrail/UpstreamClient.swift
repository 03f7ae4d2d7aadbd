import Foundation
import PayRailHTTP
import PayRailHTTPClient
import PayRailServer
import PayRailWire

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why the upstream gave no usable answer (never includes a header value), and so which problem
/// the client gets. Each is a 5xx: the paywall stores none of them and abandons the grant, so a
/// payer's receipt fetches the resource again at no further charge (and an authorization is voided,
/// never captured for an answer that was not served).
struct UpstreamFailure: Error, Equatable {
    enum Kind: Equatable {
        /// No usable answer: refused, reset, an idle timeout, a header that cannot be passed on (502).
        case unavailable
        /// The answer's body is larger than `--max-body` (declared, or counted while it arrived) (502).
        case tooLarge(limit: Int)
        /// No complete answer within `--upstream-timeout` (504).
        case deadline(seconds: Int)
    }

    let kind: Kind
    let reason: String

    init(reason: String) {
        self.kind = .unavailable
        self.reason = reason
    }

    init(_ kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }

    /// The problem the client gets; `payment` says what became of the request's payment.
    func refusal(payment: UpstreamPayment) -> GateRefusal {
        switch kind {
        case .unavailable:
            GateRefusal(status: 502, slug: "upstream-unavailable", title: "Bad Gateway",
                        detail: "the upstream did not answer (\(reason))" + payment.nextStep, retryAfter: 5)
        case .tooLarge(let limit): .upstreamTooLarge(limit: limit, payment: payment)
        case .deadline(let seconds): .upstreamTimeout(seconds: seconds, payment: payment)
        }
    }
}

/// What became of the payment of a request whose upstream failed: the words of its problem must say
/// what the payer can do next, and must not say "settled" of a card hold that was released.
enum UpstreamPayment: Sendable {
    /// A free request: nothing to say.
    case none
    /// A final charge: the grant was not used up (a 5xx is not stored), so the receipt gets the
    /// resource once the upstream answers.
    case charged
    /// A card authorization: an answer that was not served is not captured (the paywall voids the
    /// hold), so nothing was charged and the payer pays again.
    case authorizationReleased

    /// The payment a pass carries, as the paywall will finish it.
    init(_ pass: GatePass?) {
        guard let grant = pass?.grant else { self = .none; return }
        self = grant.settlement.kind.isFinal ? .charged : .authorizationReleased
    }

    /// The end of the problem's detail.
    var nextStep: String {
        switch self {
        case .none: ""
        case .charged: "; the payment was settled: retry with the X-Receipt header at no further charge"
        case .authorizationReleased: "; the card authorization was released and nothing was charged: pay again once the upstream answers"
        }
    }
}

extension GateRefusal {

    /// The upstream's answer is larger than `--max-body` (502, no `Retry-After`: the same answer
    /// would be refused again until the upstream or the limit changes). Reading stopped at the limit.
    static func upstreamTooLarge(limit: Int, payment: UpstreamPayment) -> GateRefusal {
        GateRefusal(status: 502, slug: "upstream-too-large", title: "Bad Gateway",
                    detail: "the upstream's answer is larger than the proxy's limit of \(limit) bytes (--max-body), so none of it is served"
                        + payment.nextStep + (payment == .charged ? " once the upstream answers within the limit" : ""),
                    logReason: "upstream-too-large")
    }

    /// The upstream gave no complete answer within `--upstream-timeout` (504, retry in 5 s). The
    /// call was cut at the deadline, however the upstream kept the connection alive.
    static func upstreamTimeout(seconds: Int, payment: UpstreamPayment) -> GateRefusal {
        GateRefusal(status: 504, slug: "upstream-timeout", title: "Gateway Timeout",
                    detail: "the upstream gave no complete answer within \(seconds) s (--upstream-timeout)"
                        + payment.nextStep,
                    retryAfter: 5, logReason: "upstream-timeout")
    }
}

/// `--upstream` as values: its scheme, host and port, and a canonical base path.
///
/// A request's URL is built from these values and the request's canonical target
/// (`RequestTarget`), never by pasting strings: a target such as `@other-host:port/x` would
/// otherwise name another host, and `/../admin` climb out of the base path. The canonical target
/// starts with `/` and has no dot segments, so the base path prefixes it and nothing escapes it.
struct UpstreamBase: CustomStringConvertible, Sendable {
    let scheme: String
    /// As URLComponents spells it in a URL (an IPv6 address in brackets).
    let percentEncodedHost: String
    let port: Int?
    /// Empty, or a canonical path without a trailing slash (`/api`).
    let basePath: String

    /// Reads `http(s)://host[:port][/base]`.
    ///
    /// - Throws: a usage error for another scheme, no host, a user, query or fragment, or a base
    ///   path with no canonical form (dot segments above the root, encoded `/`, control bytes).
    init(parsing text: String) throws(CommandFailure) {
        let usage = CommandFailure.usage(
            "--upstream must be an http(s) URL such as http://127.0.0.1:8080 (no query, fragment or user)")
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.percentEncodedHost, !host.isEmpty,
              components.query == nil, components.fragment == nil, components.user == nil, components.password == nil
        else { throw usage }
        var base = ""
        if !components.percentEncodedPath.isEmpty {
            do throws(GateRefusal) { base = try RequestTarget.canonicalPath(components.percentEncodedPath) } catch {
                throw .usage("--upstream has a base path PayRail cannot forward under: \(error.detail)")
            }
        }
        while base.hasSuffix("/") { base.removeLast() }
        self.scheme = scheme
        self.percentEncodedHost = host
        self.port = components.port
        self.basePath = base
    }

    /// `scheme://host[:port][/base]`, as the start-up line names it.
    var description: String {
        "\(scheme)://\(percentEncodedHost)" + (port.map { ":\($0)" } ?? "") + basePath
    }

    /// The upstream URL of a canonical target: the configured scheme, host and port, the base path
    /// followed by the target's path, and its query; `nil` if Foundation would not build exactly that.
    func url(for target: RequestTarget) -> URL? {
        var components = URLComponents()
        components.scheme = scheme
        components.percentEncodedHost = percentEncodedHost
        components.port = port
        components.percentEncodedPath = basePath + target.path
        components.percentEncodedQuery = target.query.isEmpty ? nil : target.query
        guard let url = components.url, url.absoluteString == description + target.target else { return nil }
        return url
    }
}

/// Forwards requests to the upstream over a bounded exchange (`BoundedHTTPClient`): no redirects, no
/// cookies, no cache, up to `connections` connections at once (URLSession's own default, 6, queued
/// every request behind six slow ones), each answer body counted as it arrives and the call
/// cancelled the moment it passes `maxBody`, and the whole call, dripped bytes included, cut at
/// `timeout` seconds.
final class UpstreamClient: Sendable {
    /// `--upstream-connections` when not given: a server's worth of concurrent upstream requests.
    static let defaultConnections = 64
    /// `--upstream-timeout` when not given, in seconds: the idle timeout the proxy always had, now
    /// for the whole call (below the server's own handler timeout, so the paywall sees the failure).
    static let defaultTimeout = 60

    private let base: UpstreamBase
    private let client: BoundedHTTPClient
    private let timeout: Int

    /// - Parameters:
    ///   - maxBody: the largest answer body passed on, in bytes (`--max-body`).
    ///   - connections: concurrent connections to the upstream (`--upstream-connections`).
    ///   - timeout: seconds for the whole call, from sending to the last body byte (`--upstream-timeout`).
    init(base: UpstreamBase, maxBody: Int, connections: Int = UpstreamClient.defaultConnections,
         timeout: Int = UpstreamClient.defaultTimeout) {
        self.base = base
        self.timeout = max(1, timeout)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = TimeInterval(self.timeout)
        configuration.httpMaximumConnectionsPerHost = connections
        self.client = BoundedHTTPClient(configuration: configuration, maxBodyBytes: maxBody)
    }

    /// Sends `request` (already canonical: the paywall put it so) to the upstream. The target is
    /// parsed again, so a request that did not come through the paywall is held to the same form.
    func forward(_ request: HTTPRequest) async -> Result<HTTPResponse, UpstreamFailure> {
        let target: RequestTarget
        do throws(GateRefusal) { target = try RequestTarget(method: request.method, path: request.path, query: request.query) } catch {
            return .failure(UpstreamFailure(reason: "the request target has no canonical form"))
        }
        guard target.path == request.path, let url = base.url(for: target) else {
            return .failure(UpstreamFailure(reason: "the request target is not a URL under the upstream"))
        }
        let answer: HTTPExchange.Response
        do {
            answer = try await client.send(method: target.method, url: url, headers: Self.upstreamFields(of: request),
                                           body: request.body, timeout: .seconds(timeout))
        } catch {
            return .failure(upstreamFailure(error))
        }
        guard (100...599).contains(answer.status) else { return .failure(UpstreamFailure(reason: "status \(answer.status)")) }
        var headers = HTTPHeaders()
        let received = HTTPFields(answer.headers.map { ($0.name, $0.value) })
        for field in ProxyHeaders.clientResponseFields(received) { headers.add(field.name, field.value) }
        let response = HTTPResponse(status: HTTPStatus(code: answer.status), headers: headers, body: answer.body)
        if response.validationFailure() != nil {
            return .failure(UpstreamFailure(reason: "the response has a header we cannot pass on"))
        }
        return .success(response)
    }

    /// The fields sent upstream: the client's without hop-by-hop fields, payment credentials or
    /// method overrides, with the forwarding fields set, and the gate's own request id (a client's
    /// `X-Request-Id` never travels under it).
    private static func upstreamFields(of request: HTTPRequest) -> [HTTPExchange.Field] {
        var fields = HTTPFields()
        for field in request.headers { fields.append(field.name, field.value) }
        for name in RequestTarget.overrideFields { fields.remove(name) }
        let forwarded = ProxyHeaders.upstreamRequestFields(fields, clientAddress: request.clientAddress,
                                                           host: request.headers["Host"], scheme: "http")
        var outgoing: [HTTPExchange.Field] = []
        for field in forwarded where !field.name.lowercased().hasPrefix("x-request-id") {
            outgoing.append(HTTPExchange.Field(field.name, field.value))
        }
        if let id = request.headers[Middleware.requestIDHeader] { outgoing.append(HTTPExchange.Field(Middleware.requestIDHeader, id)) }
        return outgoing
    }

    /// The bounded call's failure as the proxy reports it: too large and too slow get their own
    /// problems; a request that never left and one whose answer broke off are both "unavailable".
    private func upstreamFailure(_ error: BoundedCallFailure) -> UpstreamFailure {
        switch error {
        case .notSent, .noAnswer: return UpstreamFailure(reason: error.reason)
        case .tooLarge(let status, let limit):
            return UpstreamFailure(.tooLarge(limit: limit), reason: "the HTTP \(status) answer is larger than --max-body")
        case .deadline: return UpstreamFailure(.deadline(seconds: timeout), reason: "no complete answer within --upstream-timeout")
        }
    }
}
