import Foundation
import PayRailAgent
import PayRailWire

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
        let body = try await fetchDocument(url, seconds: maxTime)
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

    /// The body of a 200 answer to `GET url`, at most `PaymentDiscovery.maximumDocumentBytes`: a larger
    /// document is refused (a declared one before any byte is read).
    static func fetchDocument(_ url: URL, seconds: Int) async throws(CommandFailure) -> [UInt8] {
        let limit = PaymentDiscovery.maximumDocumentBytes
        let answer: BoundedGet.Answer
        do {
            answer = try await BoundedGet.get(url, headers: HTTPFields([("Accept", "application/json")]), limit: limit, timeout: .seconds(seconds))
        } catch {
            throw CommandFailure(exitCode: .network, message: "\(url.absoluteString): \(error)")
        }
        guard !answer.truncated else {
            throw .refused("\(url.absoluteString): the discovery document is larger than \(limit) bytes; refused")
        }
        guard answer.status == 200 else { throw .refused("\(url.absoluteString) answered HTTP \(answer.status), not 200") }
        return answer.body
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
