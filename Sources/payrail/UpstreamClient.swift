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

/// Forwards requests to the upstream with URLSession: no redirects, no cookies, no cache.
final class UpstreamClient: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    private let maxBody: Int
    private var session: URLSession?
    private let lock = NSLock()

    init(maxBody: Int) {
        self.maxBody = maxBody
        super.init()
    }

    private var urlSession: URLSession {
        lock.withLock {
            if let session { return session }
            let configuration = URLSessionConfiguration.ephemeral
            configuration.timeoutIntervalForRequest = 60
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

    func forward(_ request: HTTPRequest, base: String) async -> Result<HTTPResponse, UpstreamFailure> {
        let target = base + request.path + (request.query.isEmpty ? "" : "?" + request.query)
        guard let url = URL(string: target) else { return .failure(UpstreamFailure(reason: "the request target is not a URL")) }
        var outgoing = URLRequest(url: url)
        outgoing.httpMethod = request.method
        var fields = HTTPFields()
        for field in request.headers { fields.append(field.name, field.value) }
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
