import Foundation
import PayRail

// The records a gate writes. They are plain values so the memory and SQLite stores can return
// exactly what was written; dates are rounded to whole milliseconds (what SQLite keeps) when a
// record is created, so equality survives a round trip through either store.

/// A 402 challenge the gate issued: which resource it prices and the offer prepared on each rail.
///
/// The gate saves one before answering 402 and reads it back when a credential names the challenge,
/// to settle against the exact offer (amount, payee, rail details) it sent.
public struct ChallengeRecord: Hashable, Sendable {
    /// The challenge id (the HMAC-bound id the wire dialects carry).
    public let id: String
    /// The resource the payment unlocks.
    public let resource: Resource
    /// The offers prepared for this challenge, one per rail, in the order they were offered.
    public let offers: [Offer]
    /// RFC 9530 digest of the request body the price covers, when it covers one.
    public let bodyDigest: String?
    /// When the challenge was issued.
    public let createdAt: Date
    /// After this moment no credential for this challenge is accepted; the record may be purged.
    public let expiresAt: Date

    /// Creates a record; dates are rounded to whole milliseconds.
    public init(id: String, resource: Resource, offers: [Offer], bodyDigest: String? = nil, createdAt: Date, expiresAt: Date) {
        self.id = id
        self.resource = resource
        self.offers = offers.map {
            Offer(rail: $0.rail, amount: $0.amount, payee: $0.payee, expiresAt: StoreTime.normalized($0.expiresAt),
                  id: $0.id, details: $0.details)
        }
        self.bodyDigest = bodyDigest
        self.createdAt = StoreTime.normalized(createdAt)
        self.expiresAt = StoreTime.normalized(expiresAt)
    }

    /// The offer prepared on `rail`, if the challenge offered that rail.
    public func offer(on rail: RailID) -> Offer? { offers.first { $0.rail == rail } }
}

/// One response header, kept in order (a response may repeat a header name).
public struct StoredHeader: Hashable, Sendable, Codable {
    /// The header name as sent.
    public let name: String
    /// The header value.
    public let value: String

    /// Creates a header.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A response kept so it can be replayed byte for byte without doing (or paying for) the work again.
public struct StoredResponse: Hashable, Sendable {
    /// The HTTP status code.
    public let status: Int
    /// The headers, in order.
    public let headers: [StoredHeader]
    /// The body bytes.
    public let body: Data

    /// Creates a stored response.
    public init(status: Int, headers: [StoredHeader], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A receipt the gate issued for a paid challenge, looked up again when the token is presented.
///
/// The token itself is a bearer credential and is never stored: only its hash (the gate chooses the
/// hash, e.g. SHA-256 of the token text), so a stolen database cannot be replayed as receipts.
public struct ReceiptRecord: Hashable, Sendable {
    /// The receipt's id (its `jti` claim).
    public let receiptID: String
    /// A hash of the receipt token, the key a presented token is looked up by.
    public let tokenHash: Data
    /// The resource the receipt grants.
    public let resource: Resource
    /// When the receipt was signed.
    public let issuedAt: Date
    /// Until this moment the token replays the stored response instead of paying again.
    public let grantExpiresAt: Date
    /// The response to replay; `nil` until the gate has one (settlement happens before forwarding,
    /// so an upstream failure leaves a paid receipt without a response, still valid for a retry).
    public let response: StoredResponse?
    /// A hash of the exact credential (its bytes and the request it came with) that won this grant,
    /// so the same bytes presented again replay the grant and any other reuse of the proof is
    /// refused (draft-httpauth-payment-02, "Replay Protection"); `nil` for grants recorded before
    /// stores kept it (SQLite schema 2 and older).
    public let credentialHash: Data?

    /// Creates a record; dates are rounded to whole milliseconds.
    ///
    /// `credentialHash` has no default on purpose: a store that rebuilds records must carry it
    /// through, or single use silently falls back to the rail's word for every grant it returns.
    public init(receiptID: String, tokenHash: Data, resource: Resource, issuedAt: Date, grantExpiresAt: Date,
                response: StoredResponse? = nil, credentialHash: Data?) {
        self.receiptID = receiptID
        self.tokenHash = tokenHash
        self.resource = resource
        self.issuedAt = StoreTime.normalized(issuedAt)
        self.grantExpiresAt = StoreTime.normalized(grantExpiresAt)
        self.response = response
        self.credentialHash = credentialHash
    }

    /// The same receipt with a response to replay.
    public func with(response: StoredResponse?) -> ReceiptRecord {
        ReceiptRecord(receiptID: receiptID, tokenHash: tokenHash, resource: resource, issuedAt: issuedAt,
                      grantExpiresAt: grantExpiresAt, response: response, credentialHash: credentialHash)
    }
}

/// A challenge that was paid: its settlement and the receipt issued for it, written together once.
public struct ConsumedChallenge: Hashable, Sendable {
    /// The challenge that can never be paid again.
    public let challengeID: String
    /// What the rail confirmed.
    public let settlement: Settlement
    /// The receipt issued for it (with the response to replay once known).
    public let receipt: ReceiptRecord
    /// When the store recorded the consumption (from the store's clock).
    public let consumedAt: Date

    /// Creates a record; dates are rounded to whole milliseconds.
    public init(challengeID: String, settlement: Settlement, receipt: ReceiptRecord, consumedAt: Date) {
        self.challengeID = challengeID
        self.settlement = Settlement(
            rail: settlement.rail, offerID: settlement.offerID, reference: settlement.reference,
            amount: settlement.amount, settledAt: StoreTime.normalized(settlement.settledAt), kind: settlement.kind)
        self.receipt = receipt
        self.consumedAt = StoreTime.normalized(consumedAt)
    }
}

/// The outcome of `consume`: exactly one caller per challenge id gets `.consumed`.
///
/// Losing the race is not a storage failure but the normal "pay twice" case, so it is a result the
/// gate must `switch` over rather than an error a generic `catch` could turn into a 500.
public enum ConsumeResult: Hashable, Sendable {
    /// This call consumed the challenge; its settlement and receipt are durable.
    case consumed(ConsumedChallenge)
    /// Another request consumed it first; replay (or refuse) using the winner's record. Never settle again.
    case alreadyConsumed(ConsumedChallenge)
}

/// A response remembered under an `Idempotency-Key` (or x402 `payment-identifier`).
public struct IdempotencyRecord: Hashable, Sendable {
    /// The key as the gate scoped it (e.g. prefixed by client and resource so two clients never collide).
    public let key: String
    /// A hash of the request payload; the same key with a different hash is a conflict (HTTP 409).
    public let payloadHash: Data
    /// The response to replay.
    public let response: StoredResponse
    /// When the response was stored.
    public let createdAt: Date
    /// After this moment the key is forgotten and may be reused.
    public let expiresAt: Date

    /// Creates a record; dates are rounded to whole milliseconds.
    public init(key: String, payloadHash: Data, response: StoredResponse, createdAt: Date, expiresAt: Date) {
        self.key = key
        self.payloadHash = payloadHash
        self.response = response
        self.createdAt = StoreTime.normalized(createdAt)
        self.expiresAt = StoreTime.normalized(expiresAt)
    }
}

/// What the store knows about an idempotency key for a given payload.
public enum IdempotencyLookup: Hashable, Sendable {
    /// Never seen (or expired): process the request.
    case notFound
    /// Seen with the same payload: replay this record's response.
    case replay(IdempotencyRecord)
    /// Seen with a different payload: answer 409; the stored response is not disclosed.
    case payloadMismatch
}

/// The outcome of saving an idempotent response.
public enum IdempotencySaveResult: Hashable, Sendable {
    /// The record was stored.
    case saved
    /// A concurrent request with the same key and payload stored first; replay its record.
    case alreadySaved(IdempotencyRecord)
    /// The key is taken by a different payload; answer 409.
    case payloadMismatch
}

/// A token bucket: `capacity` tokens, refilled continuously at `refillTokens` per `refillInterval`.
public struct TokenBucketPolicy: Hashable, Sendable {
    /// The most tokens a client can hold (the burst it may spend at once).
    public let capacity: Int
    /// Tokens added per `refillInterval`.
    public let refillTokens: Int
    /// The interval over which `refillTokens` come back, at least one millisecond.
    public let refillInterval: Duration

    /// Creates a policy, e.g. a burst of 20 challenges and 60 more per minute:
    /// `TokenBucketPolicy(capacity: 20, refillTokens: 60, per: .seconds(60))`.
    ///
    /// - Throws: `StoreError.Code.invalidArgument` unless all three are positive, capacity and refill
    ///   at most one million and the interval at most a day (bounds that keep the integer arithmetic exact).
    public init(capacity: Int, refillTokens: Int, per refillInterval: Duration) throws(StoreError) {
        guard (1...1_000_000).contains(capacity), (1...1_000_000).contains(refillTokens) else {
            throw StoreError.invalid("a token bucket needs a capacity and refill between 1 and 1000000")
        }
        guard refillInterval >= .milliseconds(1), refillInterval <= .seconds(86_400) else {
            throw StoreError.invalid("a token bucket refill interval must be between 1 ms and one day")
        }
        self.capacity = capacity
        self.refillTokens = refillTokens
        self.refillInterval = refillInterval
    }
}

/// Whether a client may proceed now.
public enum RateLimitDecision: Hashable, Sendable {
    /// Allowed; `remaining` whole tokens are left in the bucket.
    case allowed(remaining: Int)
    /// Refused; enough tokens will be back after `retryAfterSeconds` (for `Retry-After`, at least 1).
    case limited(retryAfterSeconds: Int)

    /// Whether the request may proceed.
    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }
}

/// How many records `purgeExpired(now:)` removed, per kind.
public struct PurgeReport: Hashable, Sendable {
    /// Expired challenges (with their offers).
    public var challenges: Int
    /// Consumed challenges whose challenge and grant both expired (with their receipts).
    public var consumedChallenges: Int
    /// Expired idempotency keys.
    public var idempotencyKeys: Int
    /// Rate-limit buckets that have refilled completely (identical to having no bucket).
    public var rateLimitBuckets: Int

    /// Creates a report.
    public init(challenges: Int = 0, consumedChallenges: Int = 0, idempotencyKeys: Int = 0, rateLimitBuckets: Int = 0) {
        self.challenges = challenges
        self.consumedChallenges = consumedChallenges
        self.idempotencyKeys = idempotencyKeys
        self.rateLimitBuckets = rateLimitBuckets
    }
}
