import Dispatch
import Bolt11
import FakeRail
import Foundation
import LightningRail
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailPaywall
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `payrail serve`: the Gate on libmicrohttpd, in front of a demo resource or any upstream.
enum ServeCommand {
    static let all: [CommandSpec] = [serve]

    static let serve = CommandSpec(
        path: ["serve"],
        summary: "Serve priced routes behind HTTP 402 (demo resource, or a paywalling reverse proxy with --upstream).",
        options: [
            OptionSpec(name: "port", valueName: "PORT", help: "TCP port (default 8402; 0 lets the system choose)"),
            OptionSpec(name: "host", valueName: "ADDR", help: "numeric address to listen on (default 127.0.0.1)"),
            OptionSpec(name: "rail", valueName: "RAIL",
                       help: "payment rail: fake or lightning; repeat it or write fake,lightning for several (default fake)",
                       isRepeatable: true),
            OptionSpec(name: "price", valueName: "\"METHOD /path=AMOUNT\"",
                       help: "a priced route, first match wins (default \"GET /premium=100sat\")", isRepeatable: true),
            OptionSpec(name: "upstream", valueName: "URL", help: "proxy paid and free requests to this http(s) origin"),
            OptionSpec(name: "data", valueName: "DIR", help: "data directory, created with mode 0700 (default ./.payrail)"),
            OptionSpec(name: "db", valueName: "FILE", help: "SQLite database (default DIR/gate.sqlite)"),
            OptionSpec(name: "keys", valueName: "DIR", help: "receipt keys folder as 'payrail keys generate' writes it (default DIR/keys)"),
            OptionSpec(name: "realm", valueName: "NAME", help: "realm and receipt issuer (default localhost)"),
            OptionSpec(name: "max-body", valueName: "BYTES", help: "largest request or upstream response body (default 1048576)"),
            OptionSpec(name: "rate-limit", valueName: "N",
                       help: "402 challenges per client per minute, burst N (default 120; 0 turns the limit off)"),
            OptionSpec(name: "challenge-lifetime", valueName: "SECONDS",
                       help: "how long a 402 challenge (and its Lightning invoice) can be paid (default 300)"),
        ] + LightningCommandSettings.options(for: .payee),
        details: """
        Started with no option at all it serves GET /premium for 100 sat on the fake rail at
        http://127.0.0.1:8402, with a built-in JSON demo resource. The first line on stdout names the
        address; after that, one line per request (method, path without query, status, size, time,
        request id; never a header value or token).

        Reserved routes (never priced): /healthz, /metrics (Prometheus text), /.well-known/payrail/jwks.json
        (public receipt keys), and POST /.well-known/payrail/fake/pay, the in-process fake processor's
        pay endpoint: body {"accountID","secret","requestID","amount":"100sat","payee"}, answer {"voucher"}.
        The demo payer's credentials for it are written only to DIR/fake-payer.json (mode 0600).

        The data directory keeps the receipt signing key (Ed25519, made on first start), the
        challenge-id secret and the database, so receipts and challenges survive a restart.

        With --upstream, requests that pass the gate are forwarded: hop-by-hop headers and payment
        credentials are removed, X-Forwarded-For/-Proto/-Host and Forwarded are set, redirects are not
        followed, bodies are limited by --max-body. Payment is settled BEFORE forwarding: if the
        upstream fails, the client gets a 502 problem carrying its receipt (Payment-Receipt, X-Receipt)
        and can retry with X-Receipt at no further charge until the grant expires (1 hour). Upstream
        answers below 500 are stored and replayed for that receipt; 5xx answers are not stored.
        SIGTERM or SIGINT stops gracefully (in-flight requests get up to 10 s).

        \(LightningCommandSettings.details(for: .payee))
        """,
        run: { arguments in try await run(arguments) }
    )

    static let defaultPort: UInt16 = 8402
    static let defaultPrice = "GET /premium=100sat"

    private static func run(_ arguments: ParsedArguments) async throws -> ExitCode {
        let port: UInt16
        if let text = arguments.value("port") {
            guard let value = UInt16(text) else { throw CommandFailure.usage("--port must be a number from 0 to 65535") }
            port = value
        } else {
            port = defaultPort
        }
        let host = arguments.value("host") ?? "127.0.0.1"
        let realm = arguments.value("realm") ?? "localhost"
        var maxBody = 1024 * 1024
        if let text = arguments.value("max-body") {
            guard let value = Int(text), value > 0 else { throw CommandFailure.usage("--max-body must be a positive number of bytes") }
            maxBody = value
        }
        let upstream = try arguments.value("upstream").map(upstreamBase)
        // Issuing a challenge costs a rail call and a database write, so unpaid traffic is limited per client.
        var rateLimit: TokenBucketPolicy?
        let perMinute = Int(arguments.value("rate-limit") ?? "120") ?? -1
        guard (0...1_000_000).contains(perMinute) else { throw CommandFailure.usage("--rate-limit must be a number from 0 to 1000000") }
        if perMinute > 0 { rateLimit = try TokenBucketPolicy(capacity: perMinute, refillTokens: perMinute, per: .seconds(60)) }
        let railIDs = try LightningCommandSettings.rails(arguments.values("rail"))
        var challengeLifetime: TimeInterval = 300
        if let text = arguments.value("challenge-lifetime") {
            guard let value = Int(text), (2...86_400).contains(value) else {
                throw CommandFailure.usage("--challenge-lifetime must be a number of seconds from 2 to 86400")
            }
            challengeLifetime = TimeInterval(value)
        }
        let pricing: PricingTable
        do {
            let lines = arguments.values("price").isEmpty ? [defaultPrice] : arguments.values("price")
            pricing = try PricingTable(parsing: lines, rails: railIDs)
        } catch {
            throw CommandFailure.usage(error.description)
        }
        // Settings are read (and refused) before anything is written to the data directory.
        let lightning = railIDs.contains(.lightning) ? try LightningCommandSettings(arguments, role: .payee) : nil

        let data = try ServeDataDirectory(path: arguments.value("data") ?? ".payrail")
        let keys = try data.receiptKeys(folder: arguments.value("keys").map { URL(fileURLWithPath: $0, isDirectory: true) })
        let keyring = try ChallengeIDKeyring(currentSecret: try data.challengeSecret())
        let store = try SQLiteGateStore(path: arguments.value("db") ?? data.databaseURL.path)
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: keys.publicKeySet))
        // L402 needs a root key that survives restarts, or tokens already sold would stop working.
        let macaroonRootKey = lightning == nil ? nil : try data.macaroonRootKey()

        // The fake processor lives in this process; its state (accounts, balances) does not survive a restart.
        let processorKey = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: processorKey)
        let merchant = try await processor.openAccount("merchant")
        let payer = try await processor.openAccount("demo-payer")
        for rule in pricing.rules {
            if let amount = rule.price.amount(on: .fake) { try await processor.deposit(try amount.multiplied(by: 1000), into: "demo-payer") }
        }
        var payees: [any PayeeRail] = []
        for rail in railIDs {
            if rail == .fake {
                payees.append(FakePayeeRail(processor: processor, processorKey: processorKey.publicKey, account: merchant))
            } else if let lightning {
                payees.append(lightning.payeeRail())
            }
        }

        let metrics = GateMetrics()
        let gateBox = GateBox()
        let jwksBody = try jwksJSON(keys.publicKeySet)
        let log: @Sendable (String) -> Void = { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        let context = ServeContext(gates: gateBox, metrics: metrics, processor: processor, upstream: upstream,
                                   proxy: upstream.map { _ in UpstreamClient(maxBody: maxBody) }, jwks: jwksBody,
                                   paywall: Paywall.middleware(resolving: { gateBox.current }, onDecision: { metrics.record(GateOutcome($0)) }))
        let measured: HTTPHandler = { request in
            let clock = ContinuousClock()
            let start = clock.now
            let response = await context.route(request)
            let elapsed = clock.now - start
            metrics.recordRequest(status: response.status.code,
                                  seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            return response
        }
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: host, port: port, maxBodyBytes: maxBody, handlerTimeout: .seconds(90)),
            handler: chain([Middleware.requestID(), Middleware.logging(log)], handler: measured))

        // Signals first, so a SIGTERM that arrives while starting is not lost.
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let (signals, signalContinuation) = AsyncStream<Int32>.makeStream()
        let sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { signalContinuation.yield(number) }
            source.resume()
            return source
        }

        let bound: UInt16
        do { bound = try server.start() } catch {
            throw CommandFailure.refused("cannot listen on \(host):\(port): \(error.message)")
        }
        let hostInURL = host.contains(":") ? "[\(host)]" : host
        let origin = "http://\(hostInURL):\(bound)"
        gateBox.set(Gate(configuration: GateConfiguration(
            realm: realm, rails: payees, pricing: pricing, store: store, keyring: keyring, signer: keys.signer,
            verifier: verifier, macaroonRootKey: macaroonRootKey, rateLimit: rateLimit, challengeLifetime: challengeLifetime,
            publicOrigin: origin)))
        if railIDs.contains(.fake) { try writePayerFile(data: data, payer: payer, processorKey: processorKey.publicKey, origin: origin) }

        let railNames = railIDs.map(\.rawValue).joined(separator: ",")
        log("payrail serve: listening on \(origin) rail=\(railNames) data=\(data.url.path)\(upstream.map { " upstream=\($0)" } ?? " (demo resource)")")
        if let lightning { log("payrail serve: lightning \(lightning.summary)") }
        for rule in pricing.rules { log("payrail serve: price \(rule)") }

        var received: Int32 = SIGTERM
        for await number in signals {
            received = number
            break
        }
        log("payrail serve: signal \(received == SIGINT ? "SIGINT" : "SIGTERM"), shutting down")
        await server.shutdown(grace: .seconds(10))
        await store.close()
        withExtendedLifetime(sources) {}
        log("payrail serve: stopped")
        return .success
    }

    /// `http(s)://host[:port][/base]` without a trailing slash, query or fragment.
    private static func upstreamBase(_ text: String) throws(CommandFailure) -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
              components.query == nil, components.fragment == nil, components.user == nil
        else {
            throw .usage("--upstream must be an http(s) URL such as http://127.0.0.1:8080 (no query, fragment or user)")
        }
        var base = text
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    private static func jwksJSON(_ keySet: JSONWebKeySet) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(keySet))
    }

    private static func writePayerFile(data: ServeDataDirectory, payer: FakeAccountCredentials,
                                       processorKey: Ed25519.PublicKey, origin: String) throws {
        let object: [String: String] = [
            "accountID": payer.accountID, "secret": payer.secret,
            "processorKey": Base64URL.encode(processorKey.rawRepresentation),
            "payURL": origin + ServeContext.fakePayPath,
        ]
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        try data.writePrivateFile("fake-payer.json", json + Data("\n".utf8))
    }
}

/// The gate, set once the bound port (and so the public origin) is known.
final class GateBox: @unchecked Sendable {
    private let lock = NSLock()
    private var gate: Gate?

    func set(_ gate: Gate) { lock.withLock { self.gate = gate } }
    var current: Gate? { lock.withLock { gate } }
}

/// Everything a request needs; immutable, shared by all handler tasks.
struct ServeContext: Sendable {
    static let fakePayPath = "/.well-known/payrail/fake/pay"
    static let fakeBalancePath = "/.well-known/payrail/fake/balance"
    static let jwksPath = "/.well-known/payrail/jwks.json"

    let gates: GateBox
    let metrics: GateMetrics
    let processor: FakeProcessor
    let upstream: String?
    let proxy: UpstreamClient?
    let jwks: [UInt8]
    /// The gate as middleware in front of `resource(_:)`, counting every decision.
    let paywall: HTTPMiddleware

    func route(_ request: HTTPRequest) async -> HTTPResponse {
        let isRead = request.method == "GET" || request.method == "HEAD"
        switch request.path {
        case "/healthz" where isRead:
            return HTTPResponse(headers: ["Cache-Control": "no-store"], text: "ok\n")
        case "/metrics" where isRead:
            return HTTPResponse(headers: ["Content-Type": GateMetrics.contentType, "Cache-Control": "no-store"],
                                text: metrics.prometheusText())
        case Self.jwksPath where isRead:
            return HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "max-age=300"], body: jwks)
        case Self.fakePayPath where request.method == "POST":
            return await fakePay(request)
        case Self.fakeBalancePath where request.method == "POST":
            return await fakeBalance(request)
        case "/healthz", "/metrics", Self.jwksPath, Self.fakePayPath, Self.fakeBalancePath:
            return problem(405, "method-not-allowed", "Method Not Allowed", "this route does not take \(request.method)")
        default:
            return await gated(request)
        }
    }

    private func gated(_ request: HTTPRequest) async -> HTTPResponse {
        await paywall(request) { request in await self.resource(request) }
    }

    /// What the paywall lets through: the upstream's answer, or the demo resource without one.
    private func resource(_ request: HTTPRequest) async -> HTTPResponse {
        let pass = Paywall.pass
        let paid = pass.map { !$0.isFree } ?? false
        if let upstream, let proxy {
            switch await proxy.forward(request, base: upstream) {
            case .success(let answer):
                return answer
            case .failure(let failure):
                metrics.recordUpstreamFailure()
                return problem(502, "upstream-unavailable", "Bad Gateway",
                               "the upstream did not answer (\(failure.reason))"
                                   + (paid ? "; the payment was settled: retry with the X-Receipt header at no further charge" : ""),
                               retryAfter: 5)
            }
        }
        guard let pass, paid else {
            return problem(404, "not-found", "Not Found", "no such resource; priced routes answer 402")
        }
        return demoResource(pass)
    }

    private func demoResource(_ pass: GatePass) -> HTTPResponse {
        var object: [String: String] = [
            "resource": pass.resource?.description ?? "",
            "message": "You paid for this with HTTP 402. This is payrail serve's demo resource; use --upstream to sell your own API.",
        ]
        if let grant = pass.grant {
            object["paidWith"] = grant.settlement.rail.rawValue
            object["amount"] = grant.settlement.amount.description
        }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return HTTPResponse(headers: ["Content-Type": "application/json"], body: Array(body))
    }

    /// The fake processor's pay call over HTTP, so an agent in another process can pay the fake rail.
    private func fakePay(_ request: HTTPRequest) async -> HTTPResponse {
        guard request.body.count <= 16 * 1024,
              let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
              let accountID = object["accountID"] as? String, let secret = object["secret"] as? String,
              let requestID = object["requestID"] as? String, let amountText = object["amount"] as? String,
              let payee = object["payee"] as? String
        else {
            return problem(400, "bad-request", "Bad Request",
                           "send JSON {\"accountID\",\"secret\",\"requestID\",\"amount\":\"100sat\",\"payee\"}")
        }
        do {
            let amount = try Money(parsing: amountText)
            let voucher = try await processor.pay(requestID: requestID, amount: amount, payee: payee,
                                                  payer: FakeAccountCredentials(accountID: accountID, secret: secret))
            let body = try JSONSerialization.data(withJSONObject: ["voucher": voucher], options: [.withoutEscapingSlashes])
            return HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "no-store"], body: Array(body))
        } catch let error as RailError {
            return railProblem(error)
        } catch {
            return problem(400, "bad-request", "Bad Request", "\(error)")
        }
    }

    /// The fake processor's balance call over HTTP, for an agent's quotes.
    private func fakeBalance(_ request: HTTPRequest) async -> HTTPResponse {
        guard request.body.count <= 16 * 1024,
              let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
              let accountID = object["accountID"] as? String, let secret = object["secret"] as? String,
              let unitCode = object["unit"] as? String, let unit = try? MoneyUnit(code: unitCode)
        else {
            return problem(400, "bad-request", "Bad Request", "send JSON {\"accountID\",\"secret\",\"unit\":\"sat\"}")
        }
        do {
            let balance = try await processor.balance(of: FakeAccountCredentials(accountID: accountID, secret: secret), unit: unit)
            let body = try JSONSerialization.data(withJSONObject: ["balance": balance.description], options: [.withoutEscapingSlashes])
            return HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "no-store"], body: Array(body))
        } catch let error as RailError {
            return railProblem(error)
        } catch {
            return problem(400, "bad-request", "Bad Request", "\(error)")
        }
    }

    /// A processor refusal with its code in `railError`, so a remote wallet keeps the same typed error.
    private func railProblem(_ error: RailError) -> HTTPResponse {
        let retry = error.code == .unavailable || error.code == .timedOut
        var response = problem(retry ? 503 : 400, "fake-pay-refused", "Payment Refused", "the fake processor refused: \(error.reason)",
                               retryAfter: retry ? 1 : nil,
                               extensions: ["railError": .string(error.code.rawValue)])
        response.headers.set("Cache-Control", "no-store")
        return response
    }

    private func problem(_ status: Int, _ slug: String, _ title: String, _ detail: String, retryAfter: Int? = nil,
                         extensions: [String: JSONValue] = [:]) -> HTTPResponse {
        let details = ProblemDetails(type: "https://payrail.dev/problems/\(slug)", title: title, status: status, detail: detail,
                                     extensions: extensions)
        var headers: HTTPHeaders = ["Content-Type": ProblemDetails.mediaType, "Cache-Control": "no-store"]
        if let retryAfter { headers.add("Retry-After", String(retryAfter)) }
        return HTTPResponse(status: HTTPStatus(code: status), headers: headers, body: (try? details.encoded()) ?? Array(detail.utf8))
    }
}

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

/// The Lightning backend settings `payrail serve` and `payrail fetch` share: a flag wins over its
/// environment variable. Keys are read, handed to the backend and never printed: not in the startup
/// line, not in an error, not in `summary` (flags with secrets show in `ps`, so the help prefers the
/// environment for them).
struct LightningCommandSettings: Sendable {
    /// Which side of a payment the command is on: it decides which LNbits key is needed.
    enum Role: Sendable {
        /// `payrail serve`: issues invoices (the LNbits invoice key is enough).
        case payee
        /// `payrail fetch`: pays invoices (needs the LNbits admin key).
        case payer
    }

    /// The environment variable behind each flag.
    static let environmentNames: [String: String] = [
        "lnbits-url": "PAYRAIL_LNBITS_URL", "lnbits-invoice-key": "PAYRAIL_LNBITS_INVOICE_KEY",
        "lnbits-admin-key": "PAYRAIL_LNBITS_ADMIN_KEY", "lnd-url": "PAYRAIL_LND_URL", "lnd-macaroon": "PAYRAIL_LND_MACAROON",
        "lnd-cert": "PAYRAIL_LND_CERT", "lightning-network": "PAYRAIL_LIGHTNING_NETWORK", "lightning-mode": "PAYRAIL_LIGHTNING_MODE",
    ]

    let backend: any LightningBackend
    let network: Bolt11Network
    let mode: LightningSettlementMode
    /// What the startup line may say: the backend kind and its address without user information.
    let summary: String

    static func options(for role: Role) -> [OptionSpec] {
        var options = [
            OptionSpec(name: "lnbits-url", valueName: "URL", help: "LNbits address, e.g. http://127.0.0.1:5000 (or $PAYRAIL_LNBITS_URL)"),
        ]
        switch role {
        case .payee:
            options.append(OptionSpec(name: "lnbits-invoice-key", valueName: "KEY",
                                      help: "LNbits invoice key of the receiving wallet; prefer $PAYRAIL_LNBITS_INVOICE_KEY (flags show in ps)"))
        case .payer:
            options.append(OptionSpec(name: "lnbits-admin-key", valueName: "KEY",
                                      help: "LNbits admin key of the paying wallet; prefer $PAYRAIL_LNBITS_ADMIN_KEY (flags show in ps)"))
        }
        options += [
            OptionSpec(name: "lnd-url", valueName: "URL", help: "LND REST address, https only (or $PAYRAIL_LND_URL); instead of LNbits"),
            OptionSpec(name: "lnd-macaroon", valueName: "FILE",
                       help: "LND macaroon file, \(role == .payee ? "invoice" : "admin") rights (or $PAYRAIL_LND_MACAROON)"),
            OptionSpec(name: "lnd-cert", valueName: "FILE", help: "LND tls.cert the node must present (or $PAYRAIL_LND_CERT)"),
            OptionSpec(name: "lightning-network", valueName: "NET",
                       help: "network invoices must be on (default mainnet; or $PAYRAIL_LIGHTNING_NETWORK)",
                       allowedValues: Bolt11Network.allCases.map(\.rawValue)),
        ]
        if role == .payee {
            options.append(OptionSpec(name: "lightning-mode", valueName: "MODE",
                                      help: "backend: preimage and the backend says paid (default); preimage: the preimage alone",
                                      allowedValues: ["backend", "preimage"]))
        }
        return options
    }

    static func details(for role: Role) -> String {
        let key = role == .payee ? "$PAYRAIL_LNBITS_INVOICE_KEY, the invoice key of the wallet paid"
            : "$PAYRAIL_LNBITS_ADMIN_KEY, the admin key of the wallet that pays"
        let common = """
        Lightning (--rail lightning): an LNbits wallet (--lnbits-url, and
        \(key)) or an LND node (--lnd-url,
        --lnd-macaroon, --lnd-cert; TLS pinned to that certificate; not yet run against a live lnd).
        Each flag has the environment variable named in its help; the flag wins. Keys are never
        printed: give them in the environment, since command lines are visible to every user in ps.
        The network is not guessed: invoices on another network than --lightning-network (default
        mainnet, which is also what LNbits' FakeWallet issues) are refused.
        """
        switch role {
        case .payee:
            return common + "\n\n" + """
            The L402 macaroon root key is made on first start and kept in DIR/macaroon-root.key (mode
            0600); each invoice expires with its challenge (--challenge-lifetime).
            """
        case .payer:
            return common + "\n\n" + """
            Budgets given in sat also hold msat offers (x402 prices Lightning in msat): an msat
            total counts against the sat budget, rounded up.
            """
        }
    }

    /// The rails named by `--rail` (repeated or comma-separated), in order, without duplicates.
    static func rails(_ values: [String]) throws(CommandFailure) -> [RailID] {
        var rails: [RailID] = []
        for name in (values.isEmpty ? ["fake"] : values).flatMap({ $0.split(separator: ",") }) {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            let rail: RailID
            switch trimmed {
            case "fake": rail = .fake
            case "lightning": rail = .lightning
            default: throw .usage("--rail must be fake or lightning (or both: fake,lightning), not '\(trimmed)'")
            }
            if !rails.contains(rail) { rails.append(rail) }
        }
        return rails
    }

    private static func setting(_ name: String, _ arguments: ParsedArguments, _ environment: [String: String]) -> String? {
        if let value = arguments.value(name) { return value }
        guard let variable = environmentNames[name], let value = environment[variable], !value.isEmpty else { return nil }
        return value
    }

    /// Reads the settings for `role`; a missing or malformed setting is a usage error naming the flag
    /// and its variable, never the value given.
    init(_ arguments: ParsedArguments, role: Role, requestTimeout: Duration = .seconds(30),
         environment: [String: String] = ProcessInfo.processInfo.environment) throws(CommandFailure) {
        func value(_ name: String) -> String? { Self.setting(name, arguments, environment) }
        let networkName = value("lightning-network") ?? Bolt11Network.mainnet.rawValue
        guard let network = Bolt11Network(rawValue: networkName) else {
            throw .usage("--lightning-network ($PAYRAIL_LIGHTNING_NETWORK) must be one of "
                + Bolt11Network.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self.network = network
        switch value("lightning-mode") ?? "backend" {
        case "backend": mode = .backendConfirmed
        case "preimage": mode = .preimageOnly
        default: throw .usage("--lightning-mode ($PAYRAIL_LIGHTNING_MODE) must be backend or preimage")
        }
        let lnbitsURL = value("lnbits-url"), lndURL = value("lnd-url")
        switch (lnbitsURL, lndURL) {
        case (nil, nil):
            throw .usage("--rail lightning needs a backend: --lnbits-url ($PAYRAIL_LNBITS_URL) or --lnd-url ($PAYRAIL_LND_URL)")
        case (.some, .some):
            throw .usage("give either an LNbits backend (--lnbits-url) or an LND one (--lnd-url), not both")
        case (let text?, nil):
            let url = try Self.serviceURL(text, flag: "--lnbits-url ($PAYRAIL_LNBITS_URL)", schemes: ["http", "https"])
            let invoiceKey = role == .payee ? value("lnbits-invoice-key") : nil
            let adminKey = value("lnbits-admin-key")
            switch role {
            case .payee:
                guard invoiceKey != nil || adminKey != nil else {
                    throw .usage("payrail serve --rail lightning needs the wallet's invoice key in $PAYRAIL_LNBITS_INVOICE_KEY (or --lnbits-invoice-key)")
                }
            case .payer:
                guard adminKey != nil else {
                    throw .usage("paying on Lightning needs the wallet's admin key in $PAYRAIL_LNBITS_ADMIN_KEY (or --lnbits-admin-key)")
                }
            }
            backend = LNbitsBackend(baseURL: url, adminKey: adminKey.map(LNbitsAPIKey.init), invoiceKey: invoiceKey.map(LNbitsAPIKey.init),
                                    requestTimeout: requestTimeout)
            summary = "backend=lnbits \(Self.redacted(url)) network=\(network.rawValue)" + (role == .payee ? " mode=\(mode == .backendConfirmed ? "backend" : "preimage")" : "")
        case (nil, let text?):
            let url = try Self.serviceURL(text, flag: "--lnd-url ($PAYRAIL_LND_URL)", schemes: ["https"])
            guard let macaroon = value("lnd-macaroon"), let certificate = value("lnd-cert") else {
                throw .usage("an LND backend needs --lnd-macaroon FILE ($PAYRAIL_LND_MACAROON) and --lnd-cert FILE ($PAYRAIL_LND_CERT)")
            }
            do {
                backend = try LNDBackend.pinned(baseURL: url, macaroonFile: URL(fileURLWithPath: macaroon),
                                                tlsCertificateFile: URL(fileURLWithPath: certificate))
            } catch {
                throw .usage("the LND settings cannot be used: \(error.reason)")
            }
            summary = "backend=lnd \(Self.redacted(url)) network=\(network.rawValue)" + (role == .payee ? " mode=\(mode == .backendConfirmed ? "backend" : "preimage")" : "")
        }
    }

    /// The payee rail over this backend.
    func payeeRail() -> LightningPayeeRail {
        LightningPayeeRail(backend: backend, network: network, mode: mode)
    }

    /// An http(s) URL with a host; the value is not repeated in the error (it may hold credentials).
    private static func serviceURL(_ text: String, flag: String, schemes: Set<String>) throws(CommandFailure) -> URL {
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text), let scheme = url.scheme?.lowercased(),
              schemes.contains(scheme), let host = url.host, !host.isEmpty
        else {
            throw .usage("\(flag) must be an \(schemes.sorted().joined(separator: " or ")) URL with a host")
        }
        return url
    }

    /// Scheme, host and port only: user information or a path could carry a secret.
    private static func redacted(_ url: URL) -> String {
        var components = URLComponents()
        components.scheme = url.scheme
        components.host = url.host
        components.port = url.port
        return components.string ?? "(address)"
    }
}
