import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailStore
import PayRailWire

// Why a final class with only constants and not an actor: every piece of state that must be shared
// between requests (challenges, consumptions, receipts, buckets) lives in the store, whose `consume`
// is the one atomic step. An actor would serialize every request, including slow rail calls, for no
// safety gain. The configuration is immutable; rotating a secret means building a new Gate on the
// same store, which keeps old challenges payable through the keyring's retired secrets.
//
// The pipeline is one explicit sequence, and its order is what makes it safe:
//
//   read      the credential, by the first dialect that finds one        (decide, Pipeline/GatePayment)
//   bind      its key to the stored challenge and exact offer; resource, body, expiry, price, dialect checks
//   rate-limit challenge issuance per client                               (Pipeline/GateIssuance)
//   settle    on the offer's rail, at most once                           (Pipeline/GatePayment)
//   consume   the challenge atomically with its signed receipt            (Pipeline/GateGranting)
//   grant     the pass, its receipt fields and the dialect's own           (Pipeline/GateGranting)
//
// then, after the response, `complete` (stores it for replay) or `abandon`, each ending the rail's
// flow (Pipeline/GateRailFlows). Replays by receipt and idempotency key are answered before any of
// it (Pipeline/GateReplay, Pipeline/GateIdempotency). Dialects (Dialects/) only answer questions
// the pipeline asks; every refusal is a `GateRefusal`, answered in one place (`answer(_:…)`).

/// The paywall: prices a request, issues 402 challenge sets, settles credentials, signs receipts and
/// replays paid responses. Framework-agnostic: see `handle(_:)` and `complete(_:response:)`.
public final class Gate: Sendable {
    /// The configuration this gate runs with.
    public let configuration: GateConfiguration
    let challengeSet: ChallengeSet
    /// The origin x402 `resource.url`s are written under (the path of the paid route is appended).
    let origin: String
    /// Verified receipt tokens, so a replay costs a look-up instead of a signature check.
    let receipts: CachingReceiptVerifier
    /// Stored responses of receipts replayed before, so a replay does not wait on the store.
    let replays = ReplayCache(capacity: 10_000)
    /// Challenges granted by this process whose response is not stored yet: a credential presented
    /// again meanwhile is asked to retry, not granted twice at once.
    let granting = GrantsInProgress(grace: 60)
    let firstPresentations = FirstPresentations()
    /// Whether the store answered its last call (see `isStoreHealthy`).
    let health = GateHealth()
    /// Challenge-issuance buckets counted in this process (`ChallengeRateScope.perProcess`).
    let challengeBuckets: MemoryGateStore
    /// Each configured rail with its stateless form, when it has one: cast once here instead of on
    /// every 402 (Pipeline/GateBoundOffers.swift).
    let railsForOffers: [(rail: any PayeeRail, stateless: (any StatelessOfferRail)?)]

    /// The reserved offer detail a key record names its challenge by.
    static let challengeDetail = "payrail.challenge"

    /// Creates a gate.
    public init(configuration: GateConfiguration) {
        self.configuration = configuration
        self.challengeBuckets = MemoryGateStore(clock: configuration.clock)
        self.railsForOffers = configuration.rails.map { ($0, $0 as? any StatelessOfferRail) }
        var extensions: [String: JSONValue] = [:]
        X402PaymentIdentifier.declare(in: &extensions, required: false)
        let origin = configuration.publicOrigin ?? "https://\(configuration.realm)"
        self.origin = origin
        self.receipts = CachingReceiptVerifier(verifier: configuration.verifier, capacity: 10_000)
        self.challengeSet = ChallengeSet(
            realm: configuration.realm, keyring: configuration.keyring, macaroonRootKey: configuration.macaroonRootKey,
            macaroonCaveats: [], x402Resource: X402ResourceInfo(url: origin), x402Extensions: extensions)
    }

    // MARK: - The decision

    /// Decides what to do with one request. Never throws: store and rail failures become problem
    /// responses (503 with `Retry-After` when trying again is safe).
    ///
    /// A `HEAD` request with no rule of its own is priced as the `GET` of the same path and pays for
    /// (or replays the receipt of) that `GET` resource: its headers describe the paid representation.
    public func handle(_ request: GateRequest) async -> GateDecision {
        var pricedMethod = request.method
        var found = configuration.pricing.price(method: request.method, path: request.path)
        if found == nil, request.method == "HEAD" {
            pricedMethod = "GET"
            found = configuration.pricing.price(method: "GET", path: request.path)
        }
        guard let price = found else {
            return .pass(GatePass(resource: try? Resource(method: request.method, path: request.path), grant: nil,
                                  responseHeaders: HTTPFields(), idempotency: []))
        }
        let resource: Resource
        do { resource = try Resource(method: pricedMethod, path: request.path) } catch {
            return .respond(GateRefusal.badRequest("the request target cannot be priced: \(error.reason)").response())
        }
        do {
            return try await decide(request, resource: resource, price: price)
        } catch {
            return await answer(error, request: request, resource: resource, price: price)
        }
    }

    /// The sequence: replays first (nothing to pay), then the credential of the first dialect that
    /// finds one, else a 402.
    private func decide(_ request: GateRequest, resource: Resource, price: Price) async throws(GateRefusal) -> GateDecision {
        let now = configuration.clock.now()
        let slots = try idempotencySlots(request, resource: resource)
        if slots.isEmpty, let cached = cachedReplay(request, resource: resource, now: now) { return cached }
        if let replay = try await idempotentReplay(slots, request: request, resource: resource) { return replay }
        for dialect in configuration.dialects where dialect.findsAnything(in: request) {
            if let decision = try await answer(request, with: dialect, resource: resource, price: price, slots: slots, now: now) {
                return decision
            }
        }
        return try await challenge(request, resource: resource, price: price, now: now)
    }

    /// Asks one dialect for its credential; `nil` when the request carries none of it. The dialect
    /// context is made only for a credential (it copies the configuration; a 402 never needs it).
    private func answer<Dialect: GateDialect>(
        _ request: GateRequest, with dialect: Dialect, resource: Resource, price: Price, slots: [IdempotencySlot], now: Date
    ) async throws(GateRefusal) -> GateDecision? {
        let reading: GateReading<Dialect.Presentation>?
        do { reading = try dialect.read(request) } catch {
            if error.code == .multipleCredentials { throw GateRefusal.badRequest("send exactly one payment credential") }
            throw GateRefusal(credential: .malformedCredential, detail: "the credential cannot be read: \(error.reason)",
                              logReason: "malformed-credential").told(in: dialect.wireDialect)
        }
        do {
            switch reading {
            case nil:
                return nil
            case .receiptToken(let token):
                return try await replay(token: token, dialect: dialect.wireDialect, resource: resource, bodyDigest: request.bodyDigest,
                                        now: now)
            case .credential(let presentation):
                return try await pay(presentation, with: dialect, request: request, resource: resource, price: price, slots: slots,
                                     context: dialectContext(request, resource: resource, now: now))
            }
        } catch { throw error.told(in: dialect.wireDialect) }
    }

    /// Answers a refusal: a refused credential with a fresh challenge set told in its dialect,
    /// anything else with its problem.
    private func answer(_ refusal: GateRefusal, request: GateRequest, resource: Resource, price: Price) async -> GateDecision {
        if case .freshChallenge = refusal.form {
            do { return try await refuse(request, resource: resource, price: price, refusal) } catch {
                return answer(problem: error, resource: resource)
            }
        }
        return answer(problem: refusal, resource: resource)
    }

    private func answer(problem refusal: GateRefusal, resource: Resource) -> GateDecision {
        log("\(resource) \(refusal.status >= 500 ? "error" : "refused") \(refusal.logReason)")
        return .respond(refusal.response())
    }

    /// What the dialects may consult for this request.
    private func dialectContext(_ request: GateRequest, resource: Resource, now: Date) -> GateDialectContext {
        GateDialectContext(configuration: configuration, now: now, requestBinding: requestBinding(request, resource: resource),
                           x402CardNetworks: challengeSet.x402CardNetworks, health: health)
    }

    /// The x402 `lnbtc` request binding (profile `http:1`: method, this route's public URL, body, no
    /// headers) when a Lightning rail is configured; the agent computes the same from its request.
    /// A transport that binds otherwise (MCP) passes its own in the request.
    func requestBinding(_ request: GateRequest, resource: Resource) -> X402RequestBinding? {
        guard configuration.rails.contains(where: { $0.id == .lightning }) else { return nil }
        if let binding = request.binding { return binding }
        return .http(method: resource.method, url: origin + resource.path, body: request.body ?? [], headers: [])
    }

    // MARK: - Helpers

    func rail(_ id: RailID) throws(GateRefusal) -> any PayeeRail {
        guard let rail = configuration.rails.first(where: { $0.id == id }) else {
            // Offers are prepared by configured rails only, so this is a gate bug, not a client's fault.
            throw GateRefusal.internalError("the gate failed unexpectedly", logReason: "unexpected rail \(id)")
        }
        return rail
    }

    /// Runs a store call; a failure becomes the store's refusal (503 when retrying is safe).
    func store<T>(_ body: () async throws(StoreError) -> T) async throws(GateRefusal) -> T {
        try await GateHealth.guarded(health, body)
    }

    /// The first 8 characters: enough to find a challenge in logs, useless to an attacker.
    static func short(_ id: String) -> String { String(id.prefix(8)) + "…" }

    static func response(_ stored: StoredResponse) -> GateResponse {
        let headers = HTTPFields(stored.headers.map { .init(name: $0.name, value: $0.value) })
        return GateResponse(status: stored.status, headers: ReceiptCaching.applied(to: headers, status: stored.status), body: Array(stored.body))
    }

    // An autoclosure: without a logger the line is never built (replays log one per request).
    func log(_ line: @autoclosure () -> String) {
        guard let sink = configuration.log else { return }
        sink("payrail-gate " + Self.loggable(line()))
    }

    /// At most `limit` characters of `text` with every control character (C0, DEL, C1), bidi
    /// override and backslash written as `\u{…}`: a path or method chosen by a client can neither
    /// move the operator's cursor (ANSI escapes, backspaces), forge a second log line (CR, LF),
    /// reorder what is shown, nor flood the log.
    static func loggable(_ text: String, limit: Int = 1024) -> String {
        // Nearly every line needs no escape (its one non-ASCII character is the `…` of `short`): it is
        // then its own escaped form, and a log line per 402 must not cost a rebuild.
        var count = 0
        var clean = true
        for scalar in text.unicodeScalars {
            count += 1
            if count > limit || isEscapedInLogs(scalar.value) { clean = false; break }
        }
        if clean { return text }
        var out = String.UnicodeScalarView()
        var written = 0
        for scalar in text.unicodeScalars {
            guard written < limit else { return String(out) + "...(cut)" }
            if isEscapedInLogs(scalar.value) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
            written += 1
        }
        return String(out)
    }

    /// Control characters (C0, DEL, C1), bidi marks and overrides, line separators and backslash.
    private static func isEscapedInLogs(_ value: UInt32) -> Bool {
        if value >= 0x20 && value < 0x7F { return value == 0x5C }
        return value < 0x20 || (0x7F...0x9F).contains(value)
            || value == 0x200E || value == 0x200F || value == 0x2028 || value == 0x2029 || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value)
    }
}

/// Whole milliseconds, as the stores keep them, so a record's `createdAt` equals the render time.
enum StoreTimeRounding {
    static func normalized(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}
