import Foundation
import PayRailWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `payrail discover URL`: reads a service's discovery document (draft-payment-discovery-01) and
/// prints its priced operations and their offers. Nothing is paid; the 402 challenge stays authoritative.
enum DiscoverCommand {
    static let all: [CommandSpec] = [discover]
    /// `--max-time`, seconds, when not given.
    static let defaultMaxTime = 30

    static let discover = CommandSpec(
        path: ["discover"],
        summary: "List what a server sells: its priced operations and offers, from GET /openapi.json.",
        options: [
            OptionSpec(name: "json", help: "print one JSON object on stdout instead of text"),
            OptionSpec(name: "max-time", valueName: "SECONDS", help: "most the request may take (default \(defaultMaxTime))"),
        ],
        positionals: [PositionalSpec(name: "URL", help: "the server's origin (/openapi.json is added) or the document's http(s) URL")],
        details: """
        Reads at most \(PaymentDiscovery.maximumDocumentBytes) bytes of the document (a larger one is
        refused without being read further), follows no redirect, and refuses a document whose
        payment information breaks the draft (amounts must be digit strings or null) or whose strings
        hold control characters. Discovery is advisory: the 402 challenge of each request decides
        what is paid, and payrail fetch pays by that, never by this list.

        --json prints {"url","openapi","title","version","serviceInfo":{"categories","docs"},
        "operations":[{"method","path","summary","declares402","offers":[{"intent","method","amount",
        "currency","description"}]}]}; amount is a string of the currency's smallest unit, or null.

        Exit codes: 0 listed; 1 the document was refused (not 200, too large, invalid); 2 usage
        error; 5 the request failed.
        """,
        run: { arguments in try await run(arguments) }
    )

    private static func run(_ arguments: ParsedArguments) async throws -> ExitCode {
        let url = try documentURL(arguments.positionals.first ?? "")
        var maxTime = defaultMaxTime
        if let text = arguments.value("max-time") {
            guard let seconds = Int(text), seconds > 0, seconds <= 3600 else { throw CommandFailure.usage("--max-time must be 1 to 3600 seconds") }
            maxTime = seconds
        }
        let body = try await BoundedGet.fetch(url, limit: PaymentDiscovery.maximumDocumentBytes, seconds: maxTime)
        let document: DiscoveryDocument
        do { document = try PaymentDiscovery.read(body) } catch {
            throw CommandFailure.refused("\(url.absoluteString) is not a usable discovery document: \(error)")
        }
        if arguments.flag("json") {
            try AgentCommands.printJSON(json(document, url: url))
        } else {
            print(text(document, url: url), terminator: "")
        }
        return .success
    }

    /// The URL as given when it has a path, else the origin's `/openapi.json`.
    static func documentURL(_ text: String) throws(CommandFailure) -> URL {
        guard var components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", components.host?.isEmpty == false else {
            throw .usage("URL must be an absolute http(s) URL, not '\(text.prefix(200))'")
        }
        if components.path.isEmpty || components.path == "/" { components.path = PaymentDiscovery.path }
        guard let url = components.url else { throw .usage("URL '\(text.prefix(200))' cannot be used") }
        return url
    }

    /// One block per operation: the method and path, then one line per offer.
    static func text(_ document: DiscoveryDocument, url: URL) -> String {
        var lines = ["\(document.title) \(document.version) (OpenAPI \(document.openAPIVersion)) at \(url.absoluteString)"]
        if let info = document.serviceInfo, !info.categories.isEmpty {
            lines.append("categories: \(info.categories.joined(separator: ", "))")
        }
        let count = document.operations.count
        lines.append("\(count) priced operation\(count == 1 ? "" : "s")")
        for operation in document.operations {
            var head = "\(operation.method) \(operation.path)"
            if let summary = operation.summary { head += "  \(summary)" }
            if !operation.declares402 { head += "  (declares no 402 response)" }
            lines.append(head)
            for offer in operation.offers {
                var line = "  \(offer.intent) \(offer.method) \(offer.amount ?? "dynamic")"
                if let currency = offer.currency { line += " \(currency)" }
                if let note = offer.description { line += "  \(note)" }
                lines.append(line)
            }
        }
        lines.append("Amounts are in the currency's smallest unit; each request's 402 challenge is authoritative.")
        return lines.joined(separator: "\n") + "\n"
    }

    static func json(_ document: DiscoveryDocument, url: URL) -> [String: Any] {
        var info: [String: Any] = [:]
        if let serviceInfo = document.serviceInfo { info = ["categories": serviceInfo.categories, "docs": serviceInfo.docs] }
        return [
            "url": url.absoluteString, "openapi": document.openAPIVersion, "title": document.title,
            "version": document.version, "serviceInfo": document.serviceInfo == nil ? NSNull() : info,
            "operations": document.operations.map { operation in
                [
                    "method": operation.method, "path": operation.path, "summary": operation.summary ?? NSNull(),
                    "declares402": operation.declares402,
                    "offers": operation.offers.map { offer in
                        [
                            "intent": offer.intent, "method": offer.method, "amount": offer.amount ?? NSNull(),
                            "currency": offer.currency ?? NSNull(), "description": offer.description ?? NSNull(),
                        ] as [String: Any]
                    },
                ] as [String: Any]
            },
        ]
    }
}

/// One GET whose body is read against a limit while it arrives: past the limit (or a larger
/// `Content-Length`) the transfer is cancelled, so a hostile server cannot make the agent hold more.
/// Redirects are not followed (a discovery document names its own origin's operations).
final class BoundedGet: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: the mutable state is guarded by `lock`; URLSession calls the delegate on its queue.
    private let limit: Int
    private let lock = NSLock()
    private var body: [UInt8] = []
    private var status = 0
    private var tooLarge = false
    private var continuation: CheckedContinuation<Result<[UInt8], CommandFailure>, Never>?

    private init(limit: Int) { self.limit = limit }

    /// The body of a 200 answer to `GET url`, at most `limit` bytes.
    static func fetch(_ url: URL, limit: Int, seconds: Int) async throws(CommandFailure) -> [UInt8] {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = TimeInterval(seconds)
        configuration.timeoutIntervalForResource = TimeInterval(seconds)
        configuration.urlCache = nil
        configuration.httpShouldSetCookies = false
        let getter = BoundedGet(limit: limit)
        let session = URLSession(configuration: configuration, delegate: getter, delegateQueue: nil)
        defer { session.invalidateAndCancel() }
        var request = URLRequest(url: url)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        let result = await withCheckedContinuation { continuation in
            getter.lock.withLock { getter.continuation = continuation }
            session.dataTask(with: request).resume()
        }
        return try result.get()
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        let declared = response.expectedContentLength
        let proceed = lock.withLock {
            status = http?.statusCode ?? 0
            if declared > Int64(limit) { tooLarge = true }
            return !tooLarge
        }
        completionHandler(proceed ? .allow : .cancel)
        if !proceed { Self.cancel(dataTask) }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let over = lock.withLock {
            if body.count + data.count > limit { tooLarge = true } else { body.append(contentsOf: data) }
            return tooLarge
        }
        if over { Self.cancel(dataTask) }
    }

    /// Cancels off the delegate queue, as the agent's transport does: swift-corelibs-foundation's
    /// `cancel()` waits for the session's work queue, which a fast server keeps busy; called here it
    /// would stall this queue while chunks already read pile up. Chunks arriving meanwhile are dropped.
    private static func cancel(_ task: URLSessionTask) {
        DispatchQueue.global().async { task.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (continuation, result) = lock.withLock { () -> (CheckedContinuation<Result<[UInt8], CommandFailure>, Never>?, Result<[UInt8], CommandFailure>) in
            defer { self.continuation = nil }
            let url = task.originalRequest?.url?.absoluteString ?? "the URL"
            if tooLarge {
                return (self.continuation, .failure(.refused("\(url): the discovery document is larger than \(limit) bytes; refused")))
            }
            if let error { return (self.continuation, .failure(CommandFailure(exitCode: .network, message: "\(url): \(error.localizedDescription)"))) }
            guard status == 200 else { return (self.continuation, .failure(.refused("\(url) answered HTTP \(status), not 200"))) }
            return (self.continuation, .success(body))
        }
        continuation?.resume(returning: result)
    }
}
