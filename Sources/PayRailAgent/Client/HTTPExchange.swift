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
        return URLSession(configuration: configuration, delegate: RedirectRefuser(), delegateQueue: nil)
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

private final class RedirectRefuser: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}
