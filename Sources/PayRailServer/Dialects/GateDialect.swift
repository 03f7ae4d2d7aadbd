import Foundation
import PayRail
import PayRailStore
import PayRailWire

// How a 402 dialect plugs into the gate. The codecs (reading and writing each dialect's fields) live
// in PayRailWire; a `GateDialect` is the gate's side of one dialect: where its credential is, which
// keys its credentials come back under, what it checks against the exact offer it answers, and what
// it adds to a granted response. The gate's pipeline (read, bind, rate-limit, settle, consume, grant)
// stays one explicit sequence in the gate; a dialect only answers the questions above, so a new
// dialect adds a file and never reorders the steps that make the gate safe.
//
// Keys: when a 402 is issued, every dialect names the keys under which a credential answering it
// will be presented (the Payment scheme's HMAC challenge id, a Lightning payment hash, a fake
// request id), each with the exact offer behind it. The gate saves the challenge and all the keys in
// one commit, and a presented credential is resolved through its key to that offer: the pay path
// never guesses an offer from a rail name, and one challenge may hold several offers on one rail.

/// The gate's side of one 402 dialect.
public protocol GateDialect: Sendable {
    /// What this dialect keeps of a credential between reading it and granting it.
    associatedtype Presentation: Sendable

    /// The wire dialect refusals are told in and grants are tagged with.
    var wireDialect: PaymentDialect { get }

    /// This dialect's credential in `request`, `nil` when the request carries none of it.
    ///
    /// - Throws: `WireError` when this dialect's field is present but unreadable (the gate answers
    ///   with a fresh challenge told in this dialect; `.multipleCredentials` gets a 400).
    func read(_ request: GateRequest) throws(WireError) -> GateReading<Presentation>?

    /// Whether `read` finds anything in `request`: a credential, a receipt token, or a field it
    /// cannot read. The default asks `read`; the gate asks this first, in each conforming type's own
    /// specialized code, so a request without any credential (every 402) does not instantiate the
    /// generic reading type once per dialect.
    func findsAnything(in request: GateRequest) -> Bool

    /// The keys under which credentials answering `issued` will come back, each with its offer.
    /// Offers this dialect cannot carry have no key.
    func keys(for issued: IssuedChallenge, context: GateDialectContext) -> [ChallengeKey]

    /// The checks that need no stored challenge (a signature, a realm, a macaroon), then the key the
    /// credential's challenge is stored under.
    func lookup(_ presentation: Presentation, context: GateDialectContext) async throws(GateRefusal) -> CredentialLookup

    /// Checks the credential against the exact offer its key names and returns what the rail settles.
    /// The gate has already checked resource, body, expiry and price.
    func credential(_ presentation: Presentation, lookup: CredentialLookup, answering offer: Offer, of record: ChallengeRecord,
                    context: GateDialectContext) throws(GateRefusal) -> Credential

    /// Header fields this dialect adds to a granted response (besides `Payment-Receipt` and
    /// `X-Receipt`, which every grant carries).
    func grantFields(_ presentation: Presentation, settlement: Settlement, context: GateDialectContext) -> HTTPFields

    /// Idempotency slots this dialect's credential names (x402's `payment-identifier`): the same
    /// payment sent again replays its response, another payment under the same name is refused.
    func idempotencySlots(_ request: GateRequest) -> [IdempotencySlot]

    /// Whether a proof presented in this dialect is single use (draft-httpauth-payment-02, "Replay
    /// Protection"): once it won a grant, the same credential bytes for the same request replay that
    /// grant's stored response and any other presentation of the proof is refused. A dialect whose
    /// tokens are reusable by design (L402, bLIP-26) answers `false`: its proof, verified again by the
    /// rail, replays or re-serves the same grant within it (see `Pipeline/GateSingleUse.swift`).
    var proofIsSingleUse: Bool { get }

    /// Whether every credential this dialect reads is looked up under its offer's rail key
    /// (`ChallengeKey.railOfferKey`, first or as a fallback), so that a bound offer is found without a
    /// stored record (`Pipeline/GateBoundOffers.swift`). The default, `false`, makes the gate store
    /// every challenge this dialect names a key for, as before stateless 402s.
    var findsBoundOffers: Bool { get }
}

extension GateDialect {
    /// Asks `read`; a field it cannot read counts (the gate then reports it).
    public func findsAnything(in request: GateRequest) -> Bool {
        do { return try read(request) != nil } catch { return true }
    }

    /// Most dialects add nothing to a grant.
    public func grantFields(_ presentation: Presentation, settlement: Settlement, context: GateDialectContext) -> HTTPFields {
        HTTPFields()
    }

    /// Most dialects name no idempotency slot of their own.
    public func idempotencySlots(_ request: GateRequest) -> [IdempotencySlot] { [] }

    /// Proofs are single use unless a dialect says its tokens are reusable by design.
    public var proofIsSingleUse: Bool { true }

    /// A dialect written elsewhere keeps its challenges stored unless it says otherwise.
    public var findsBoundOffers: Bool { false }
}

/// What a dialect found in a request.
public enum GateReading<Presentation: Sendable>: Sendable {
    /// A PayRail receipt token presented to replay an earlier grant.
    case receiptToken(String)
    /// A payment credential to settle.
    case credential(Presentation)
}

/// An issued 402, for the dialects to name their keys: the record and what was rendered.
public struct IssuedChallenge: Sendable {
    /// The challenge as stored.
    public let record: ChallengeRecord
    /// The 402 as written in every dialect.
    public let rendered: PaymentRequiredResponse
}

/// A key a credential answering an issued 402 will be looked up by, with the exact offer it answers.
public struct ChallengeKey: Hashable, Sendable {
    /// The key (namespaced by the dialect family: `offer:<rail>:<id>`, `payment:<challenge id>`).
    public let key: String
    /// The offer a credential under this key pays.
    public let offer: Offer

    /// Creates a key.
    public init(key: String, offer: Offer) {
        self.key = key
        self.offer = offer
    }

    /// The key of credentials that name the rail's own offer id (a payment hash, a fake request id):
    /// the same invoice maps to one key whichever dialect pays it.
    public static func offer(_ offer: Offer) -> ChallengeKey {
        ChallengeKey(key: railOfferKey(offer.rail, offer.id), offer: offer)
    }

    /// `offer:<rail>:<offer id>`.
    public static func railOfferKey(_ rail: RailID, _ offerID: String) -> String { "offer:\(rail.rawValue):\(offerID)" }
}

/// Where a presented credential's challenge is stored, and what the payer knows it by.
public struct CredentialLookup: Hashable, Sendable {
    /// The key (see `ChallengeKey`).
    public var key: String
    /// Keys tried in turn when `key` names nothing: challenges issued before a dialect named its
    /// own key (a gate upgraded while its 402s were out) are found by their older key.
    public var fallbackKeys: [String] = []
    /// The rail the credential says it pays (picks the problem type of an unknown challenge).
    public var rail: RailID
    /// The rail credential when the dialect already has it whole (Payment, x402, L402).
    public var credential: Credential?
    /// The challenge id the payer holds (the Payment scheme's), named back in refusals and receipts.
    public var echoedChallengeID: String?

    /// Creates a lookup.
    public init(key: String, fallbackKeys: [String] = [], rail: RailID, credential: Credential? = nil, echoedChallengeID: String? = nil) {
        self.key = key
        self.fallbackKeys = fallbackKeys
        self.rail = rail
        self.credential = credential
        self.echoedChallengeID = echoedChallengeID
    }
}

/// What a dialect may consult while it reads, checks and grants: the gate's configuration, the
/// request's time, and the binding an x402 `lnbtc` invoice commits to.
public struct GateDialectContext: Sendable {
    /// The gate's configuration (realm, keyring, rails, store, L402 key).
    public let configuration: GateConfiguration
    /// The time the request is decided at.
    public let now: Date
    /// The request binding x402 `lnbtc` invoices commit to, when a Lightning rail is configured.
    public let requestBinding: X402RequestBinding?
    /// The card networks x402 writes card offers on.
    public let x402CardNetworks: [String]

    /// Where store failures are reported (the gate's health), when a gate made this context.
    let health: GateHealth?

    /// Creates a context.
    public init(configuration: GateConfiguration, now: Date, requestBinding: X402RequestBinding?, x402CardNetworks: [String]) {
        self.init(configuration: configuration, now: now, requestBinding: requestBinding, x402CardNetworks: x402CardNetworks, health: nil)
    }

    init(configuration: GateConfiguration, now: Date, requestBinding: X402RequestBinding?, x402CardNetworks: [String], health: GateHealth?) {
        self.configuration = configuration
        self.now = now
        self.requestBinding = requestBinding
        self.x402CardNetworks = x402CardNetworks
        self.health = health
    }

    /// The record of the first of `keys` that names a challenge: a bound offer key (checked by its MAC,
    /// never read from the store: it carries its challenge) or a stored one; `nil` when none does.
    public func keyRecord(_ keys: [String]) async throws(GateRefusal) -> ChallengeRecord? {
        let store = configuration.store
        for key in keys {
            if let bound = boundChallenge(forKey: key) { return bound.keyRecord }
            let stored = try await self.store { () async throws(StoreError) in try await store.challenge(id: key) }
            if let stored { return stored }
        }
        return nil
    }

    /// The consumption of the challenge the first known of `keys` was issued for, or `nil` when no
    /// key is known or its challenge was never paid.
    public func consumption(underKeys keys: [String]) async throws(GateRefusal) -> ConsumedChallenge? {
        guard let keyed = try await keyRecord(keys), let challengeID = keyed.offers.first?.details[Gate.challengeDetail] else { return nil }
        let store = configuration.store
        return try await self.store { () async throws(StoreError) in try await store.consumedChallenge(id: challengeID) }
    }

    /// Runs a store call; a store failure becomes the store's refusal (503 when retrying is safe).
    public func store<T>(_ body: () async throws(StoreError) -> T) async throws(GateRefusal) -> T {
        try await GateHealth.guarded(health, body)
    }
}

/// An idempotency key as the gate scoped it, with the hash of the payload it was first used with
/// and the refusal a different payload under the same key gets.
public struct IdempotencySlot: Hashable, Sendable {
    /// The scoped key.
    public let key: String
    /// A hash of what the key was used for.
    public let payloadHash: Data
    /// The answer to the same key with another payload.
    public let conflict: GateRefusal

    /// Creates a slot.
    public init(key: String, payloadHash: Data, conflict: GateRefusal) {
        self.key = key
        self.payloadHash = payloadHash
        self.conflict = conflict
    }
}

/// The dialects a gate speaks unless told otherwise, in the order credentials are looked for:
/// `X-Receipt` first (receipt replays are most of a busy gate's traffic), then x402 v2 and v1, the
/// Payment scheme, and L402 last.
public enum GateDialects {
    /// Plain, x402, x402 v1, Payment, L402.
    public static let standard: [any GateDialect] = [
        PlainGateDialect(), X402GateDialect(version: .v2), X402GateDialect(version: .v1), PaymentGateDialect(), L402GateDialect(),
    ]
}
