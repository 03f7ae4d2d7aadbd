import Foundation
import PayRailHTTP
import PayRailServer
import PayRailWire

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why the upstream gave no usable answer (never includes a header value).
struct UpstreamFailure: Error {
    let reason: String
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

/// Forwards requests to the upstream with URLSession: no redirects, no cookies, no cache, and up to
/// `connections` connections at once (URLSession's own default, 6, queued every request behind six
/// slow ones).
final class UpstreamClient: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    /// `--upstream-connections` when not given: a server's worth of concurrent upstream requests.
    static let defaultConnections = 64

    private let base: UpstreamBase
    private let maxBody: Int
    private let connections: Int
    private var session: URLSession?
    private let lock = NSLock()

    init(base: UpstreamBase, maxBody: Int, connections: Int = UpstreamClient.defaultConnections) {
        self.base = base
        self.maxBody = maxBody
        self.connections = connections
        super.init()
    }

    private var urlSession: URLSession {
        lock.withLock {
            if let session { return session }
            let configuration = URLSessionConfiguration.ephemeral
            configuration.timeoutIntervalForRequest = 60
            configuration.httpMaximumConnectionsPerHost = connections
            configuration.httpShouldSetCookies = false
            configuration.httpCookieAcceptPolicy = .never
            configuration.urlCache = nil
            configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
            let made = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
            session = made
            return made
        }
    }

    /// A redirect goes back to the client as is: following it would fetch a resource nobody priced.
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
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
        var outgoing = URLRequest(url: url)
        outgoing.httpMethod = target.method
        var fields = HTTPFields()
        for field in request.headers { fields.append(field.name, field.value) }
        for name in RequestTarget.overrideFields { fields.remove(name) }
        let forwarded = ProxyHeaders.upstreamRequestFields(fields, clientAddress: request.clientAddress,
                                                           host: request.headers["Host"], scheme: "http")
        for field in forwarded where !field.name.lowercased().hasPrefix("x-request-id") {
            outgoing.addValue(field.value, forHTTPHeaderField: field.name)
        }
        if let id = request.headers[Middleware.requestIDHeader] { outgoing.setValue(id, forHTTPHeaderField: Middleware.requestIDHeader) }
        if !request.body.isEmpty { outgoing.httpBody = Data(request.body) }

        let answer: Result<(Int, [(String, String)], Data), UpstreamFailure> = await withCheckedContinuation { continuation in
            let task = urlSession.dataTask(with: outgoing) { data, response, error in
                guard error == nil, let http = response as? HTTPURLResponse else {
                    let reason = (error as? URLError).map { "URL error \($0.code.rawValue)" } ?? "no HTTP answer"
                    continuation.resume(returning: .failure(UpstreamFailure(reason: reason)))
                    return
                }
                var headers: [(String, String)] = []
                for (name, value) in http.allHeaderFields {
                    if let name = name as? String, let value = value as? String { headers.append((name, value)) }
                }
                continuation.resume(returning: .success((http.statusCode, headers, data ?? Data())))
            }
            task.resume()
        }
        switch answer {
        case .failure(let failure):
            return .failure(failure)
        case .success(let (status, pairs, body)):
            guard body.count <= maxBody else { return .failure(UpstreamFailure(reason: "the response is larger than --max-body")) }
            guard (100...599).contains(status) else { return .failure(UpstreamFailure(reason: "status \(status)")) }
            var headers = HTTPHeaders()
            for field in ProxyHeaders.clientResponseFields(HTTPFields(pairs)) { headers.add(field.name, field.value) }
            let response = HTTPResponse(status: HTTPStatus(code: status), headers: headers, body: Array(body))
            if response.validationFailure() != nil {
                return .failure(UpstreamFailure(reason: "the response has a header we cannot pass on"))
            }
            return .success(response)
        }
    }
}
