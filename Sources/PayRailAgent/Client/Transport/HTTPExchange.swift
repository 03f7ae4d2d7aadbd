import Foundation
import PayRailWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange over URLSession, with redirects never followed: a credential must not travel
/// to another URL than the one that asked for it.
struct HTTPExchange: Sendable {
    struct Response: Sendable {
        let status: Int
        let headers: HTTPFields
        let body: [UInt8]
    }

    let session: URLSession
    let timeout: TimeInterval

    static func makeSession() -> URLSession {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.urlCache = nil
        return URLSession(configuration: configuration, delegate: RedirectRefuser(forwardingTo: nil), delegateQueue: nil)
    }

    /// A session like `session` (same configuration: proxies, timeouts, protocol classes, headers) that
    /// never follows a redirect, with `session`'s delegate still answering authentication challenges
    /// (a pinning delegate keeps pinning).
    ///
    /// Only a session's own delegate can refuse a redirect here: swift-corelibs-foundation ignores the
    /// per-task delegate of `data(for:delegate:)` and follows redirects, so a caller's session is never
    /// used as it is.
    static func refusingRedirects(like session: URLSession) -> URLSession {
        URLSession(configuration: session.configuration, delegate: RedirectRefuser(forwardingTo: session.delegate), delegateQueue: nil)
    }

    func send(method: String, url: URL, headers: HTTPFields, body: [UInt8]?) async throws -> Response {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = timeout
        for field in headers { request.addValue(field.value, forHTTPHeaderField: field.name) }
        if let body { request.httpBody = Data(body) }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw URLError(.badServerResponse) }
        var fields = HTTPFields()
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields.append(key, value) }
        }
        return Response(status: http.statusCode, headers: fields, body: Array(data))
    }
}

/// Refuses every redirect (the 3xx answer comes back as the response), and passes authentication
/// challenges on to the delegate of the session it stands in for, if any.
private final class RedirectRefuser: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    // @unchecked: `forwardee` is set once in init and only read; URLSession calls delegates from its own queue.
    private let forwardee: (any URLSessionDelegate)?

    init(forwardingTo forwardee: (any URLSessionDelegate)?) {
        self.forwardee = forwardee
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    #if canImport(FoundationNetworking)
    func urlSession(_ session: URLSession, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard let forwardee else { return completionHandler(.performDefaultHandling, nil) }
        forwardee.urlSession(session, didReceive: challenge, completionHandler: completionHandler)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard let forwardee = forwardee as? any URLSessionTaskDelegate else {
            return urlSession(session, didReceive: challenge, completionHandler: completionHandler)
        }
        forwardee.urlSession(session, task: task, didReceive: challenge, completionHandler: completionHandler)
    }
    #else
    func urlSession(_ session: URLSession, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard let forward = forwardee?.urlSession(_:didReceive:completionHandler:) else {
            return completionHandler(.performDefaultHandling, nil)
        }
        forward(session, challenge, completionHandler)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard let forward = (forwardee as? any URLSessionTaskDelegate)?.urlSession(_:task:didReceive:completionHandler:) else {
            return urlSession(session, didReceive: challenge, completionHandler: completionHandler)
        }
        forward(session, task, challenge, completionHandler)
    }
    #endif
}
