import Dispatch
import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailPaywall
import PayRailServer
import PayRailStore
import PayRailWire
import StripeRail

/// `payrail serve`: the Gate on libmicrohttpd, in front of a demo resource or any upstream.
enum ServeCommand {
    static let all: [CommandSpec] = [serve]

    static let serve = CommandSpec(
        path: ["serve"],
        summary: "Serve priced routes behind HTTP 402 (demo resource, or a paywalling reverse proxy with --upstream).",
        options: RailCommandRegistry.options(for: .payee, merging: [
            OptionSpec(name: "port", valueName: "PORT", help: "TCP port (default 8402; 0 lets the system choose)"),
            OptionSpec(name: "host", valueName: "ADDR", help: "numeric address to listen on (default 127.0.0.1)"),
            OptionSpec(name: "rail", valueName: "RAIL",
                       help: "payment rail: \(RailCommandRegistry.nameChoice); repeat it or write \(RailCommandRegistry.nameList) "
                           + "for several (default \(RailCommandRegistry.defaultRail.rawValue))",
                       isRepeatable: true),
            OptionSpec(name: "price", valueName: "\"METHOD /path=AMOUNT\"",
                       help: "a priced route, first match wins (default \"GET /premium=100sat\")", isRepeatable: true),
            OptionSpec(name: "upstream", valueName: "URL", help: "proxy paid and free requests to this http(s) origin"),
            OptionSpec(name: "upstream-connections", valueName: "N",
                       help: "concurrent connections to the upstream (default \(UpstreamClient.defaultConnections))"),
            OptionSpec(name: "upstream-timeout", valueName: "SECONDS",
                       help: "time the upstream has for a whole answer, body included (default \(UpstreamClient.defaultTimeout))"),
            OptionSpec(name: "data", valueName: "DIR", help: "data directory, created with mode 0700 (default ./.payrail)"),
            OptionSpec(name: "db", valueName: "FILE|URL",
                       help: "SQLite file or postgres:// URL shared by several gates (default $PAYRAIL_DB, else DIR/gate.sqlite)"),
        ] + StoreLocation.tuningOptions + [
            OptionSpec(name: "fake-processor", valueName: "URL",
                       help: "take fake payments through the fake processor of the payrail serve at URL (its data directory's "
                           + "fake-processor.pem and fake-accounts.json copied into DIR) instead of hosting one"),
            OptionSpec(name: "keys", valueName: "DIR", help: "receipt keys folder as 'payrail keys generate' writes it (default DIR/keys)"),
            OptionSpec(name: "realm", valueName: "NAME", help: "realm and receipt issuer (default localhost)"),
            OptionSpec(name: "max-body", valueName: "BYTES", help: "largest request or upstream response body (default 1048576)"),
            OptionSpec(name: "rate-limit", valueName: "N",
                       help: "402 challenges per client per minute, burst N (default 120; 0 turns the limit off)"),
            OptionSpec(name: "rate-limit-scope", valueName: "process|shared",
                       help: "count --rate-limit in this process (default; no store write per 402) or in the shared store"),
            OptionSpec(name: "stateless-offers", valueName: "on|off",
                       help: "fake offers carry their challenge, so a 402 writes nothing (default on; off stores every challenge)"),
            OptionSpec(name: "gates", valueName: "N",
                       help: "gates sharing the traffic (default 1): with process scope each allows 1/N of --rate-limit"),
            OptionSpec(name: "challenge-lifetime", valueName: "SECONDS",
                       help: "how long a 402 challenge (and its Lightning invoice) can be paid (default 300)"),
            OptionSpec(name: "presentation-grace", valueName: "SECONDS",
                       help: "how long after its challenge expired a payment made in time is still granted (default 86400)"),
            OptionSpec(name: "purge-interval", valueName: "SECONDS",
                       help: "how often the store is probed and expired records are purged (default 300)"),
            OptionSpec(name: "header-timeout", valueName: "SECONDS", help: "time a client has to send a request head (default 20)"),
            OptionSpec(name: "body-timeout", valueName: "SECONDS", help: "time a client has to send a request body (default 60)"),
            OptionSpec(name: "max-connections", valueName: "N", help: "open connections in all (default 1024)"),
            OptionSpec(name: "max-connections-per-client", valueName: "N",
                       help: "open connections from one client address (default 256)"),
        ] + StripeWebhookSettings.options),
        details: RailCommandRegistry.details(for: .payee, after: """
        Started with no option at all it serves GET /premium for 100 sat on the fake rail at
        http://127.0.0.1:8402, with a built-in JSON demo resource. The first line on stdout names the
        address; after that, one line per request (method, path without query, status, size, time,
        request id; never a header value or token).

        Reserved routes (never priced): /healthz, /metrics (Prometheus text), /.well-known/payrail/jwks.json
        (public receipt keys), and POST /.well-known/payrail/fake/pay, the in-process fake processor's
        pay endpoint: body {"accountID","secret","requestID","amount":"100sat","payee"}, answer {"voucher"},
        and POST /.well-known/payrail/fake/refund, its refund endpoint for payrail refund (the payee's
        credentials, "requestID", "key", optional "amount"), and the payee's /request, /redeem and
        /redemption for gates started with --fake-processor (each authenticated by the merchant's secret).
        The demo payer's credentials for it are written only to DIR/fake-payer.json (mode 0600).

        The data directory keeps the receipt signing key (Ed25519, made on first start), the
        challenge-id secret and the database, so receipts and challenges survive a restart.
        --db postgres://USER@HOST/DB (or $PAYRAIL_DB) puts the store in PostgreSQL, shared by several
        gates: give them copies of the directory's challenge-secret and keys/, and for the fake rail
        point all but one at the one hosting the processor with --fake-processor URL (copies of its
        fake-processor.pem and fake-accounts.json in their directories). The URL's password is never
        printed. While the database is down, paid requests get 503 with Retry-After (see docs/deploy.md).

        With --upstream, requests that pass the gate are forwarded: hop-by-hop headers and payment
        credentials are removed, X-Forwarded-For/-Proto/-Host and Forwarded are set, redirects are not
        followed, bodies are limited by --max-body. An upstream answer is counted as it arrives: one
        larger than --max-body is cut there (502 upstream-too-large), and one not complete within
        --upstream-timeout seconds (default 60, for the whole answer) is cut then (504 upstream-timeout).
        Payment is settled BEFORE forwarding: if the
        upstream fails, the client gets a 502 or 504 problem carrying its X-Receipt (no Payment-Receipt: the
        Payment scheme forbids one on an error) and can retry with X-Receipt at no further charge
        until the grant expires (1 hour). Upstream
        answers below 500 are stored and replayed for that receipt; 5xx answers are not stored.
        The request target is put in canonical form (dot segments, merged slashes, unreserved escapes)
        before pricing and exactly that form is forwarded; encoded /, \\, control bytes, fragments,
        non-path targets, lowercase methods and paths above the root are refused with 400, and a
        spelling that matches a priced rule only ignoring case, escapes, ;params or a trailing slash
        pays that rule's price. --upstream-connections limits concurrent upstream connections.
        The store is written to at start (the server refuses to start on one it cannot write) and
        every --purge-interval seconds, when expired challenges, buckets, idempotency keys and fake
        processor requests are also purged; /healthz answers 503 while a store call fails.
        SIGTERM or SIGINT stops gracefully (in-flight requests get up to 10 s).
        """),
        run: { arguments in try await run(arguments) }
    )

    static let defaultPort: UInt16 = 8402
    static let defaultPrice = "GET /premium=100sat"

    /// Each step's side effects happen in this order, which is part of the contract: every setting is
    /// refused before the data directory is written, and signals are caught before the port is bound.
    private static func run(_ arguments: ParsedArguments) async throws -> ExitCode {
        let settings = try ServeSettings(arguments)
        let log: @Sendable (String) -> Void = { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        let running = try await start(settings, arguments, host: ServeHost(name: "payrail serve", log: log))
        await running.waitForSignal()
        await running.stop()
        return .success
    }

    /// Opens the store, starts the fake processor (or connects to one), binds the port and builds the
    /// gate: everything `payrail serve` and `payrail mcp proxy` share. The server answers the reserved
    /// routes, `host.extraRoute`, and, when `host.servesResource`, the paywalled resource.
    static func start(_ settings: ServeSettings, _ arguments: ParsedArguments, host: ServeHost) async throws -> ServeRunning {
        let log = host.log
        let storage = try await ServeStorage.open(arguments, location: settings.database,
                                                  macaroonRootKey: settings.rails.contains { $0.needsMacaroonRootKey })
        let services: ServeRailServices
        if let remote = settings.fakeProcessor {
            services = try await connectFakeProcessor(remote, data: storage.data)
        } else {
            services = try await startFakeProcessor(pricing: settings.pricing, data: storage.data)
        }
        let payees = settings.rails.map { $0.payeeRail(services) }

        let gates = GateBox()
        let webhook = settings.stripeWebhook.flatMap { hook in
            payees.compactMap { $0 as? StripePayeeRail }.first.map {
                StripeWebhookEndpoint(path: hook.path, secrets: hook.secrets, client: $0.client, store: storage.store, log: log)
            }
        }
        let server = try makeServer(settings, storage: storage, processor: services.local, gates: gates, webhook: webhook, host: host)
        // Signals first, so a SIGTERM that arrives while starting is not lost.
        let (signals, sources) = catchSignals()

        do { try await Gate.probe(storage.store) } catch {
            throw CommandFailure.refused("the store \(storage.databasePath) cannot be written (\(storage.location.redact("\(error)"))); "
                + "free the disk, fix its permissions, or start the database")
        }
        let origin = try listen(server, settings)
        var configuration = GateConfiguration(
            realm: settings.realm, rails: payees, pricing: settings.pricing, store: storage.store, keyring: storage.keyring,
            signer: storage.keys.signer, verifier: storage.verifier, macaroonRootKey: storage.macaroonRootKey,
            rateLimit: settings.rateLimit, challengeLifetime: settings.challengeLifetime, publicOrigin: origin)
        configuration.presentationGrace = settings.presentationGrace
        configuration.challengeRateScope = settings.challengeRateScope
        configuration.statelessOffers = settings.statelessOffers
        let gate = Gate(configuration: configuration)
        gates.set(gate)
        for rail in settings.rails { try rail.payeeDidStart(origin: origin, services: services) }
        logStart(settings, origin: origin, data: storage.data, database: storage.location, host: host)
        if let webhook { log("\(host.name): stripe webhook POST \(webhook.path) (\(webhook.secrets.count) signing secret(s))") }
        let maintenance = Task { await maintain(gate, processor: services.local, every: settings.purgeInterval, host: host) }
        return ServeRunning(gate: gate, origin: origin, server: server, store: storage.store, maintenance: maintenance,
                            signals: signals, signalSources: sources, host: host)
    }

    /// Every `interval`: a write probe of the store (it heals `/healthz` after a failure), then the
    /// gate's purge (rails discard expired offers first; challenges are kept for the presentation
    /// grace; payments the gate could not serve are refunded first, see `AutomaticRefunds`) and the
    /// fake processor's (paid requests kept at least the grace plus a grant). One log
    /// line when something was purged or failed; never a secret.
    private static func maintain(_ gate: Gate, processor: FakeProcessor?, every interval: TimeInterval, host: ServeHost) async {
        let log = host.log
        let name = host.name
        let retention = max(FakeProcessor.defaultPaidRetention,
                            gate.configuration.presentationGrace + TimeInterval(gate.configuration.grantSeconds))
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(interval))
            guard !Task.isCancelled else { return }
            do { try await gate.probeStore() } catch { log("\(name): store probe failed: \(error)") }
            do {
                let round = try await gate.maintain()
                let (purged, refunds) = (round.purged, round.refunds)
                if !refunds.isEmpty {
                    log("\(name): automatic refunds of unserved payments: \(refunds.refunded) refunded, \(refunds.pending) pending "
                        + "(asked again next round), \(refunds.kept) kept (the rail cannot refund), \(refunds.refused) refused"
                        + (refunds.forTheOperator.isEmpty ? "" : "; refund by hand: " + refunds.forTheOperator.joined(separator: " ")))
                }
                let fake = try await processor?.purgeExpired(paidRetention: retention) ?? FakePurgeReport()
                if purged != PurgeReport() || fake.total > 0 {
                    log("\(name): purged \(purged.challenges) challenges, \(purged.consumedChallenges) consumptions, "
                        + "\(purged.idempotencyKeys) idempotency keys, \(purged.rateLimitBuckets) buckets, \(fake.total) fake requests")
                }
            } catch {
                log("\(name): purge failed: \(error)")
            }
        }
    }

    /// The fake processor lives in this process and keeps its voucher key, its accounts' secrets and
    /// its state (balances, requests, redemptions) in the data directory, so a voucher paid before a
    /// restart is still recognised after it. It runs whatever `--rail` says, since its pay and balance
    /// routes are always served; the demo payer gets a thousand times each fake price, once per unit.
    private static func startFakeProcessor(pricing: PricingTable, data: ServeDataDirectory) async throws -> ServeRailServices {
        let processorKey = try data.fakeProcessorKey()
        let secrets = try data.fakeAccountSecrets(for: ["merchant", "demo-payer"])
        let merchant = FakeAccountCredentials(accountID: "merchant", secret: secrets["merchant"] ?? "")
        let payer = FakeAccountCredentials(accountID: "demo-payer", secret: secrets["demo-payer"] ?? "")
        var funding: [MoneyUnit: Money] = [:]
        for rule in pricing.rules {
            guard let amount = rule.price.amount(on: .fake) else { continue }
            let thousand = try amount.multiplied(by: 1000)
            funding[amount.unit] = try funding[amount.unit].map { try $0.adding(thousand) } ?? thousand
        }
        let processor: FakeProcessor
        do {
            processor = try FakeProcessor(signingKey: processorKey, databaseURL: data.fakeProcessorDatabaseURL)
            try await processor.provisionAccount(merchant)
            try await processor.provisionAccount(payer, funding: Array(funding.values))
        } catch {
            throw CommandFailure.refused("the fake processor in \(data.url.path) cannot start: \(error.reason)"
                + (error.code == .declined ? " (\(data.fakeAccountsURL.lastPathComponent) does not match "
                    + "\(data.fakeProcessorDatabaseURL.lastPathComponent): restore it, or move both away)" : ""))
        }
        return ServeRailServices(processor: processor, local: processor, processorKey: processorKey.publicKey, merchant: merchant,
                                 demoPayer: payer, data: data)
    }

    /// A gate on another server's fake processor (`--fake-processor`): the processor's voucher key and
    /// the accounts' secrets are copies, in this data directory, of the files in the processor's; both
    /// are checked against the processor before the gate starts, so a wrong copy is refused here
    /// rather than showing up as refused payments. Nothing of the processor is kept in this process.
    private static func connectFakeProcessor(_ base: URL, data: ServeDataDirectory) async throws -> ServeRailServices {
        let files = FileManager.default
        guard files.fileExists(atPath: data.fakeProcessorKeyURL.path), files.fileExists(atPath: data.fakeAccountsURL.path),
              !files.fileExists(atPath: data.fakeProcessorDatabaseURL.path)
        else {
            throw CommandFailure.refused("--fake-processor needs \(data.url.path) to hold copies of fake-processor.pem and "
                + "fake-accounts.json from the processor's data directory, and no fake-processor.sqlite of its own")
        }
        let processorKey = try data.fakeProcessorKey()
        let secrets = try data.fakeAccountSecrets(for: ["merchant", "demo-payer"])
        let merchant = FakeAccountCredentials(accountID: "merchant", secret: secrets["merchant"] ?? "")
        let payer = FakeAccountCredentials(accountID: "demo-payer", secret: secrets["demo-payer"] ?? "")
        let remote = HostedFakeProcessor(baseURL: base)
        do {
            try await remote.checkPayee(merchant, processorKey: processorKey.publicKey)
        } catch {
            throw CommandFailure.refused("the fake processor at \(base.absoluteString) refused this gate (\(error.reason)): "
                + (error.code == .unavailable || error.code == .timedOut
                    ? "start it first" : "copy fake-processor.pem and fake-accounts.json from its data directory again"))
        }
        var services = ServeRailServices(processor: remote, local: nil, processorKey: processorKey.publicKey, merchant: merchant,
                                         demoPayer: payer, data: data)
        services.remotePayURL = base.appendingPathComponent("pay")
        return services
    }

    /// The HTTP server: request ids and one log line per request around the reserved routes and the
    /// paywall, timed for the metrics. It resolves the gate from `gates` on each request.
    private static func makeServer(_ settings: ServeSettings, storage: ServeStorage, processor: FakeProcessor?, gates: GateBox,
                                   webhook: StripeWebhookEndpoint?, host: ServeHost) throws -> HTTPServer {
        let metrics = GateMetrics()
        let jwksBody = try jwksJSON(storage.keys.publicKeySet)
        var context = ServeContext(gates: gates, metrics: metrics, processor: processor,
                                   proxy: settings.upstream.map {
                                       UpstreamClient(base: $0, maxBody: settings.maxBody, connections: settings.upstreamConnections,
                                                      timeout: settings.upstreamTimeout)
                                   }, jwks: jwksBody,
                                   paywall: Paywall.middleware(resolving: { gates.current }, onDecision: { metrics.record(GateOutcome($0)) }))
        context.stripeWebhook = webhook
        context.extraRoute = host.extraRoute
        context.servesResource = host.servesResource
        let measured: HTTPHandler = { [context] request in
            let clock = ContinuousClock()
            let start = clock.now
            let response = await context.route(request)
            let elapsed = clock.now - start
            metrics.recordRequest(status: response.status.code,
                                  seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            return response
        }
        return HTTPServer(
            configuration: HTTPServerConfiguration(
                host: settings.host, port: settings.port, maxBodyBytes: settings.maxBody,
                headerTimeout: .seconds(settings.connectionLimits.headerTimeout), bodyTimeout: .seconds(settings.connectionLimits.bodyTimeout),
                // Above --upstream-timeout: the upstream's 504 must reach the paywall, which abandons the
                // grant, before the server gives up on the handler and answers for it.
                handlerTimeout: .seconds(max(90, settings.upstreamTimeout + 30)), maxConnections: settings.connectionLimits.maxConnections,
                maxConnectionsPerClient: settings.connectionLimits.maxConnectionsPerClient),
            handler: chain([Middleware.requestID(), Middleware.logging(host.log)], handler: measured))
    }

    /// SIGTERM and SIGINT as a stream: the default handlers are turned off so that a signal ends the
    /// wait below instead of the process. Keep the sources alive for as long as the stream is read.
    private static func catchSignals() -> (AsyncStream<Int32>, [any DispatchSourceSignal]) {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let (signals, signalContinuation) = AsyncStream<Int32>.makeStream()
        let sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { signalContinuation.yield(number) }
            source.resume()
            return source
        }
        return (signals, sources)
    }

    /// Binds the port and returns the public origin (with the port the system chose for `--port 0`).
    private static func listen(_ server: HTTPServer, _ settings: ServeSettings) throws(CommandFailure) -> String {
        let bound: UInt16
        do { bound = try server.start() } catch {
            throw CommandFailure.refused("cannot listen on \(settings.host):\(settings.port): \(error.message)")
        }
        let hostInURL = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        return "http://\(hostInURL):\(bound)"
    }

    /// The startup lines: the first one names the address (tests and scripts wait for it).
    private static func logStart(_ settings: ServeSettings, origin: String, data: ServeDataDirectory, database: StoreLocation,
                                 host: ServeHost) {
        let (log, name) = (host.log, host.name)
        let railNames = settings.railIDs.map(\.rawValue).joined(separator: ",")
        log("\(name): listening on \(origin) rail=\(railNames) data=\(data.url.path)"
            + (host.servesResource ? (settings.upstream.map { " upstream=\($0)" } ?? " (demo resource)") : ""))
        // The URL's password is never printed: `display` shows *** in its place.
        log("\(name): store \(database.display)")
        if let remote = settings.fakeProcessor { log("\(name): fake processor \(remote.absoluteString)") }
        for rail in settings.rails {
            if let summary = rail.startupSummary { log("\(name): \(summary)") }
        }
        for rule in settings.pricing.rules { log("\(name): price \(host.describePrice(rule))") }
    }

    private static func jwksJSON(_ keySet: JSONWebKeySet) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(keySet))
    }
}
