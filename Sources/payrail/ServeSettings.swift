import Foundation
import PayRail
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire
import PayRailPostgres

/// Everything `payrail serve` reads from its command line and environment, checked before anything
/// is written. Options are checked in the order they are here, which decides which error a command
/// line with several mistakes gets.
struct ServeSettings {
    let port: UInt16
    let host: String
    let realm: String
    /// The largest request or upstream response body, in bytes.
    let maxBody: Int
    /// `--upstream` as scheme, host, port and base path; `nil` serves the demo resource.
    let upstream: UpstreamBase?
    /// `--upstream-connections`: concurrent connections to the upstream.
    let upstreamConnections: Int
    /// `--upstream-timeout`: seconds for a whole upstream call, from sending to the last body byte.
    let upstreamTimeout: Int
    /// `nil` when `--rate-limit 0` turns the limit off.
    let rateLimit: TokenBucketPolicy?
    /// The rails in `--rail` order, which is also the order of the offers in a 402.
    let railIDs: [RailID]
    /// `--rate-limit-scope` and `--gates`: where challenge issuance is counted.
    let challengeRateScope: ChallengeRateScope
    /// `--stateless-offers`: whether fake offers are bound (a 402 then writes nothing).
    let statelessOffers: Bool
    let challengeLifetime: TimeInterval
    /// `--presentation-grace`: how long after a challenge expired a payment made in time is accepted.
    let presentationGrace: TimeInterval
    /// `--purge-interval`: how often the store's health is probed and expired records are purged.
    let purgeInterval: TimeInterval
    /// `--header-timeout`, `--body-timeout`, `--max-connections`, `--max-connections-per-client`.
    let connectionLimits: ServeConnectionLimits
    let pricing: PricingTable
    /// Each rail's settings, in `railIDs` order.
    let rails: [any RailCommandSettings]
    /// `--stripe-webhook-path` and its secrets, or `nil`.
    let stripeWebhook: StripeWebhookSettings?
    /// `--db`, `$PAYRAIL_DB` or the data directory's SQLite file (an empty path until the directory is known).
    let database: StoreLocation
    /// `--fake-processor`: another process's fake processor to take fake payments through, or `nil`
    /// to host one in this process.
    let fakeProcessor: URL?

    /// Where `payrail mcp proxy` gets what `payrail serve` reads from `--port`, `--host` and `--price`.
    struct Overrides {
        var host: String
        var port: UInt16
        /// Builds the pricing from the rails (tool prices instead of route prices).
        var pricing: ([RailID]) throws -> PricingTable
    }

    init(_ arguments: ParsedArguments, overrides: Overrides? = nil) throws {
        port = try overrides.map(\.port) ?? Self.port(arguments.value("port"))
        host = overrides?.host ?? arguments.value("host") ?? "127.0.0.1"
        realm = arguments.value("realm") ?? "localhost"
        maxBody = try Self.maxBody(arguments.value("max-body"))
        upstream = try arguments.value("upstream").map(Self.upstreamBase)
        upstreamConnections = try Self.upstreamConnections(arguments.value("upstream-connections"))
        upstreamTimeout = try Self.number(arguments.value("upstream-timeout"), flag: "upstream-timeout",
                                          default: UpstreamClient.defaultTimeout, range: 1...3_600)
        rateLimit = try Self.rateLimit(arguments.value("rate-limit"))
        railIDs = try RailCommandRegistry.rails(arguments.values("rail"))
        challengeRateScope = try Self.rateScope(arguments.value("rate-limit-scope"), gates: arguments.value("gates"))
        switch arguments.value("stateless-offers") ?? "on" {
        case "on": statelessOffers = true
        case "off": statelessOffers = false
        default: throw CommandFailure.usage("--stateless-offers must be on or off")
        }
        challengeLifetime = try Self.challengeLifetime(arguments.value("challenge-lifetime"))
        presentationGrace = TimeInterval(try Self.number(arguments.value("presentation-grace"), flag: "presentation-grace",
                                                         default: 86_400, range: 0...2_592_000))
        purgeInterval = TimeInterval(try Self.number(arguments.value("purge-interval"), flag: "purge-interval", default: 300,
                                                     range: 1...86_400))
        connectionLimits = ServeConnectionLimits(
            headerTimeout: try Self.number(arguments.value("header-timeout"), flag: "header-timeout", default: 20, range: 1...3_600),
            bodyTimeout: try Self.number(arguments.value("body-timeout"), flag: "body-timeout", default: 60, range: 1...3_600),
            maxConnections: try Self.number(arguments.value("max-connections"), flag: "max-connections", default: 1024,
                                            range: 16...65_536),
            maxConnectionsPerClient: try Self.number(arguments.value("max-connections-per-client"), flag: "max-connections-per-client",
                                                     default: 256, range: 1...65_536))
        if let overrides {
            pricing = try overrides.pricing(railIDs)
        } else {
            do {
                let lines = arguments.values("price").isEmpty ? [ServeCommand.defaultPrice] : arguments.values("price")
                pricing = try PricingTable(parsing: lines, rails: railIDs)
            } catch {
                throw CommandFailure.usage(error.description)
            }
        }
        rails = try RailCommandRegistry.settings(for: railIDs, arguments, role: .payee)
        stripeWebhook = try StripeWebhookSettings(arguments, rails: railIDs)
        database = try StoreLocation.gate(arguments, fallback: "")
        fakeProcessor = try arguments.value("fake-processor").map(Self.fakeProcessorBase)
    }

    /// The processor's origin (`http://host:port`, as `payrail serve` prints it) or its fake folder.
    private static func fakeProcessorBase(_ text: String) throws(CommandFailure) -> URL {
        var trimmed = text.trimmingCharacters(in: .whitespaces)
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let url = URL(string: trimmed), let scheme = url.scheme, scheme == "http" || scheme == "https", url.host != nil,
              url.query == nil, url.fragment == nil, url.user == nil
        else {
            throw .usage("--fake-processor must be the http(s) origin of a payrail serve hosting the fake processor")
        }
        let folder = ServeContext.fakeFolderPath
        return trimmed.hasSuffix(folder) ? url : URL(string: trimmed + folder) ?? url
    }

    private static func port(_ text: String?) throws(CommandFailure) -> UInt16 {
        guard let text else { return ServeCommand.defaultPort }
        guard let value = UInt16(text) else { throw .usage("--port must be a number from 0 to 65535") }
        return value
    }

    private static func maxBody(_ text: String?) throws(CommandFailure) -> Int {
        guard let text else { return 1024 * 1024 }
        guard let value = Int(text), value > 0 else { throw .usage("--max-body must be a positive number of bytes") }
        return value
    }

    /// Issuing a challenge costs a rail call and a database write, so unpaid traffic is limited per client.
    private static func rateLimit(_ text: String?) throws -> TokenBucketPolicy? {
        let perMinute = Int(text ?? "120") ?? -1
        guard (0...1_000_000).contains(perMinute) else { throw CommandFailure.usage("--rate-limit must be a number from 0 to 1000000") }
        guard perMinute > 0 else { return nil }
        return try TokenBucketPolicy(capacity: perMinute, refillTokens: perMinute, per: .seconds(60))
    }

    /// Per process unless told otherwise: a shared bucket is a store write on every 402.
    private static func rateScope(_ text: String?, gates: String?) throws -> ChallengeRateScope {
        let count = try number(gates, flag: "gates", default: 1, range: 1...1_000)
        switch text ?? "process" {
        case "process": return .perProcess(gates: count)
        case "shared": return .shared
        default: throw CommandFailure.usage("--rate-limit-scope must be process or shared")
        }
    }

    private static func challengeLifetime(_ text: String?) throws(CommandFailure) -> TimeInterval {
        guard let text else { return 300 }
        guard let value = Int(text), (2...86_400).contains(value) else {
            throw .usage("--challenge-lifetime must be a number of seconds from 2 to 86400")
        }
        return TimeInterval(value)
    }

    /// `http(s)://host[:port][/base]` without a trailing slash, query or fragment.
    private static func upstreamBase(_ text: String) throws(CommandFailure) -> UpstreamBase {
        try UpstreamBase(parsing: text)
    }

    /// A slow upstream route must not queue every other request behind it, so the default is a server's.
    /// A whole number flag within `range`, or `fallback` when absent.
    private static func number(_ text: String?, flag: String, default fallback: Int, range: ClosedRange<Int>) throws(CommandFailure) -> Int {
        guard let text else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw .usage("--\(flag) must be a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    private static func upstreamConnections(_ text: String?) throws(CommandFailure) -> Int {
        guard let text else { return UpstreamClient.defaultConnections }
        guard let value = Int(text), (1...4096).contains(value) else {
            throw .usage("--upstream-connections must be a number from 1 to 4096")
        }
        return value
    }
}

/// The HTTP server's limits against slow and greedy clients (see docs/security.md).
struct ServeConnectionLimits {
    /// Seconds for a complete request head.
    let headerTimeout: Int
    /// Seconds for a complete body after its head.
    let bodyTimeout: Int
    /// Open connections in all.
    let maxConnections: Int
    /// Open connections from one client address.
    let maxConnectionsPerClient: Int
}

/// What `payrail serve` keeps in its data directory, opened (and created on first start) in this
/// order: so receipts, challenges and sold L402 tokens survive a restart. The gate store is the
/// SQLite file in the directory unless `--db` or `$PAYRAIL_DB` names a PostgreSQL database; the keys
/// stay in the directory either way (gates sharing a database share copies of them).
struct ServeStorage {
    let data: ServeDataDirectory
    let keys: ServeReceiptKeys
    let keyring: ChallengeIDKeyring
    let store: any GateStore & PaymentEventStore & ClosableStore
    /// Where `store` lives, for messages (a PostgreSQL URL without its password).
    let databasePath: String
    let location: StoreLocation
    let verifier: ReceiptVerifier
    /// Only made when a rail needs it (L402), so a fake-only data directory gets no key it never uses.
    let macaroonRootKey: [UInt8]?

    /// The directory and keys; the store is opened by `open`, which may wait for a database.
    private init(data: ServeDataDirectory, keys: ServeReceiptKeys, keyring: ChallengeIDKeyring, location: StoreLocation,
                 store: any GateStore & PaymentEventStore & ClosableStore, macaroonRootKey: [UInt8]?) throws {
        self.data = data
        self.keys = keys
        self.keyring = keyring
        self.location = location
        self.store = store
        self.databasePath = location.display
        self.verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: keys.publicKeySet))
        self.macaroonRootKey = macaroonRootKey
    }

    /// Opens the data directory, its keys and the gate store at `location`.
    static func open(_ arguments: ParsedArguments, location: StoreLocation, macaroonRootKey needsMacaroonRootKey: Bool) async throws -> ServeStorage {
        let data = try ServeDataDirectory(path: arguments.value("data") ?? ".payrail")
        let keys = try data.receiptKeys(folder: arguments.value("keys").map { URL(fileURLWithPath: $0, isDirectory: true) })
        let secrets = try data.challengeKeySet()
        let keyring = try ChallengeIDKeyring(currentSecret: secrets.current,
                                             retiredSecrets: secrets.accepted.map { ($0.secret, $0.acceptUntil) })
        let rootKey = needsMacaroonRootKey ? try data.macaroonRootKey() : nil
        let resolved: StoreLocation
        if case .sqlite(let path, let busy) = location, arguments.value("db") == nil {
            // The default file lives in the data directory, wherever --data put it.
            resolved = path.isEmpty ? .sqlite(path: data.databaseURL.path, busyTimeout: busy) : location
        } else {
            resolved = location
        }
        let store = try await resolved.openGateStore()
        return try ServeStorage(data: data, keys: keys, keyring: keyring, location: resolved, store: store, macaroonRootKey: rootKey)
    }
}
