import Foundation
import PayRail
import PayRailReceipts
import PayRailStore
import PayRailCrypto
import PayRailWire

// The gate knows nothing about any HTTP framework: a host copies the request parts it needs into a
// `GateRequest`, asks for a `GateDecision`, and writes the answer back with its own types. Bodies are
// never handed over, only their RFC 9530 digest, so the gate never buffers a request body.

/// Where a request's payment credential travels: HTTP header fields, or an MCP request's `_meta`.
public enum GateCredentialSource: Hashable, Sendable {
    /// HTTP header fields (credentials, `Accept-Payment`, `Idempotency-Key`).
    case httpFields(HTTPFields)
    /// The `_meta` object of an MCP `tools/call` request (the MCP payment transports carry the
    /// credential there); such a request has no HTTP fields of its own.
    case mcpMeta([String: JSONValue])
}

/// The parts of a request the gate decides on: an HTTP request, or an MCP tool call priced as one.
public struct GateRequest: Hashable, Sendable {
    /// The uppercase method (`GET`).
    public var method: String
    /// The request target's path, with its query string if the host wants prices to depend on it.
    public var path: String
    /// Where the credential travels.
    public var source: GateCredentialSource
    /// The request's HTTP header fields; empty for an MCP request. Setting them makes the source HTTP.
    public var headers: HTTPFields {
        get {
            if case .httpFields(let fields) = source { return fields }
            return HTTPFields()
        }
        set { source = .httpFields(newValue) }
    }
    /// The binding an x402 `lnbtc` invoice commits to; `nil` lets the gate bind the HTTP request
    /// (method, public URL, body). A transport that is not HTTP (MCP) passes its own.
    public var binding: X402RequestBinding?
    /// Who is asking (an IP address, or an API key id): the rate-limit bucket and idempotency scope.
    public var clientAddress: String
    /// RFC 9530 digest of the body, when a price must cover the body (a POSTed job).
    public var bodyDigest: String?
    /// The body itself, when the caller has it: x402 `lnbtc` binds a Lightning invoice to the request
    /// by hashing method, URL and body, so without it a request with a body cannot be paid that way
    /// (the other dialects still can).
    public var body: [UInt8]?

    /// Creates a request.
    public init(method: String, path: String, headers: HTTPFields = HTTPFields(), clientAddress: String, bodyDigest: String? = nil,
                body: [UInt8]? = nil) {
        self.method = method
        self.path = path
        self.source = .httpFields(headers)
        self.clientAddress = clientAddress
        self.bodyDigest = bodyDigest
        self.body = body
    }

    /// Creates a request whose credential travels in `source`, bound as `binding` for x402.
    public init(method: String, path: String, source: GateCredentialSource, binding: X402RequestBinding? = nil, clientAddress: String,
                bodyDigest: String? = nil, body: [UInt8]? = nil) {
        self.method = method
        self.path = path
        self.source = source
        self.binding = binding
        self.clientAddress = clientAddress
        self.bodyDigest = bodyDigest
        self.body = body
    }
}

/// A complete response the host sends as is.
public struct GateResponse: Hashable, Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The header fields, in order.
    public var headers: HTTPFields
    /// The body bytes.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: HTTPFields = HTTPFields(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// What a paid request was granted: the receipt that proves it and the settlement behind it.
public struct GateGrant: Hashable, Sendable {
    /// The challenge that was paid (also the receipt's `jti`).
    public let challengeID: String
    /// The signed receipt token (a bearer credential: never log it).
    public let receiptToken: String
    /// The rail's confirmation.
    public let settlement: Settlement
    /// The dialect the credential came in.
    public let dialect: PaymentDialect
    /// Until when the receipt replays the response.
    public let grantExpiresAt: Date
    /// Whether this pass re-serves an earlier grant whose response was never stored (no new settlement).
    public let isRegrant: Bool
}

/// A request the gate lets through; hand it to `Gate.complete(_:response:)` with the resource's response.
public struct GatePass: Hashable, Sendable {
    /// The resource the request is for (`METHOD /path`); `nil` for a free route with an odd target.
    public let resource: Resource?
    /// The grant, or `nil` for a free route.
    public let grant: GateGrant?
    /// Header fields to add to the resource's response (`Payment-Receipt`, `X-Receipt`, `PAYMENT-RESPONSE`).
    public let responseHeaders: HTTPFields
    /// Where to remember the response for an `Idempotency-Key` or x402 payment identifier.
    let idempotency: [IdempotencySlot]

    /// Whether the route is free (nothing was paid).
    public var isFree: Bool { grant == nil }
}


/// The gate's answer to one request.
public enum GateDecision: Hashable, Sendable {
    /// Serve the resource, add `GatePass.responseHeaders` to its response, then call `complete`.
    case pass(GatePass)
    /// Send this response instead of the resource: a 402 challenge set, or a 400/403/409/429/5xx problem.
    case respond(GateResponse)
    /// Send this stored response again: the request was already paid and served (no new settlement).
    case replay(GateResponse)
}

/// A failure of `Gate.complete`: the response could not be remembered, so a replay would not find it.
public struct GateError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What failed.
    public let reason: String
    /// Whether calling `complete` again later may succeed (the store was only busy).
    public let isRetrySafe: Bool

    /// Creates an error.
    public init(reason: String, isRetrySafe: Bool) {
        self.reason = reason
        self.isRetrySafe = isRetrySafe
    }

    /// The reason and what to do next.
    public var description: String {
        "gate: \(reason) (\(isRetrySafe ? "calling complete again later is safe" : "the receipt still grants access; the response will not replay"))"
    }
}

/// Everything a gate needs; one value per server.
public struct GateConfiguration: Sendable {
    /// The server's name: the Payment `realm` and the receipts' `iss`.
    public var realm: String
    /// The rails payments are taken on, the preferred first.
    public var rails: [any PayeeRail]
    /// Which routes cost what.
    public var pricing: PricingTable
    /// Where challenges, consumptions, receipts, idempotent responses and buckets live.
    public var store: any GateStore
    /// The challenge-id secrets (rotate with `ChallengeIDKeyring.rotated`; the old secret keeps verifying).
    public var keyring: ChallengeIDKeyring
    /// Signs receipts.
    public var signer: ReceiptSigner
    /// Verifies receipts presented for a replay (must trust `signer`'s key).
    public var verifier: ReceiptVerifier
    /// The L402 macaroon root key; `nil` writes no L402 challenge and refuses L402 credentials.
    public var macaroonRootKey: [UInt8]?
    /// The L402 service name macaroons are scoped to.
    public var l402Service: String
    /// Challenge issuance per client; `nil` disables the limit.
    public var rateLimit: TokenBucketPolicy?
    /// How long a receipt replays the response, in seconds.
    public var grantSeconds: Int64
    /// How long a challenge can be paid, in seconds.
    public var challengeLifetime: TimeInterval
    /// How long after its challenge expired a payment made in time is still accepted, in seconds
    /// (default 24 h): a payer that paid before the expiry and lost the answer, or was slow to
    /// present, is settled and granted then (the rail settles only payments made while the offer
    /// was valid). Challenges are kept this long after they expire.
    public var presentationGrace: TimeInterval = 86_400
    /// How long an `Idempotency-Key` replays, in seconds.
    public var idempotencyLifetime: TimeInterval
    /// The public origin (`https://api.example.com`) the x402 `resource.url` is built from;
    /// `nil` writes `https://<realm>`.
    public var publicOrigin: String?
    /// Decides expiry; tests pass a `ManualClock`.
    public var clock: any PayRailClock
    /// Receives one line per decision; lines never contain a secret, token, preimage or credential.
    public var log: (@Sendable (String) -> Void)?
    /// Finds the offer id inside a plain `X-Receipt` rail proof; the default
    /// (``standardPlainProofOfferID``) reads a Stripe `pi_…` as its own offer and the `rid` claim of a
    /// fake `claims.signature` voucher.
    public var plainProofOfferID: @Sendable (RailID, String) -> String?
    /// The dialects credentials are read in, in the order they are looked for (the first that finds
    /// one decides); every dialect also names its keys on every 402. See `GateDialects.standard`.
    public var dialects: [any GateDialect]
    /// Whether rails that can (`StatelessOfferRail`: the fake processor) make bound offers, so that a
    /// 402 offering only such rails writes nothing to the store (default `true`; see
    /// `Pipeline/GateBoundOffers.swift`). Rails that must create something per 402 (a Lightning
    /// invoice, a PaymentIntent) keep their record whatever this says.
    public var statelessOffers: Bool = true
    /// Where challenge issuance is counted for `rateLimit` (default: in this process; see
    /// `ChallengeRateScope`).
    public var challengeRateScope: ChallengeRateScope = .perProcess(gates: 1)

    /// Creates a configuration with conservative defaults (5-minute challenges, 1-hour grants,
    /// 24-hour idempotency keys).
    public init(
        realm: String, rails: [any PayeeRail], pricing: PricingTable, store: any GateStore, keyring: ChallengeIDKeyring,
        signer: ReceiptSigner, verifier: ReceiptVerifier, macaroonRootKey: [UInt8]? = nil, l402Service: String = "api",
        rateLimit: TokenBucketPolicy? = nil, grantSeconds: Int64 = 3600, challengeLifetime: TimeInterval = 300,
        idempotencyLifetime: TimeInterval = 86_400, publicOrigin: String? = nil, clock: any PayRailClock = SystemClock(),
        log: (@Sendable (String) -> Void)? = nil,
        plainProofOfferID: @escaping @Sendable (RailID, String) -> String? = GateConfiguration.standardPlainProofOfferID,
        dialects: [any GateDialect] = GateDialects.standard
    ) {
        self.realm = realm
        self.rails = rails
        self.pricing = pricing
        self.store = store
        self.keyring = keyring
        self.signer = signer
        self.verifier = verifier
        self.macaroonRootKey = macaroonRootKey
        self.l402Service = l402Service
        self.rateLimit = rateLimit
        self.grantSeconds = grantSeconds
        self.challengeLifetime = challengeLifetime
        self.idempotencyLifetime = idempotencyLifetime
        self.publicOrigin = publicOrigin
        self.clock = clock
        self.log = log
        self.plainProofOfferID = plainProofOfferID
        self.dialects = dialects
    }

    /// The offer a plain rail proof names: on Stripe a PaymentIntent id (`pi_` and letters, digits or
    /// `_`, at most 255 bytes) is the offer's own id (the plain form's offer is its intent; a client
    /// secret, `pi_…_secret_…`, names none); elsewhere the fake voucher's `rid`. It only picks which
    /// challenge to check: the rail retrieves the intent and checks its amount, currency, challenge
    /// metadata and status itself.
    public static let standardPlainProofOfferID: @Sendable (RailID, String) -> String? = { rail, proof in
        guard rail == .stripe else { return voucherRequestID(rail, proof) }
        return stripePaymentIntentID(proof)
    }

    /// `proof` when it is a bare PaymentIntent id, else `nil`.
    static func stripePaymentIntentID(_ proof: String) -> String? {
        let bytes = proof.utf8
        guard proof.hasPrefix("pi_"), bytes.count > 3, bytes.count <= 255, !proof.contains("_secret_"),
              bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ((($0 | 0x20) &- 0x61) < 26) || $0 == 0x5F }) else { return nil }
        return proof
    }

    /// Reads the request id (`rid`) from a `base64url(JSON).signature` voucher, without trusting it:
    /// it only picks which challenge to check; the rail verifies the voucher itself.
    public static let voucherRequestID: @Sendable (RailID, String) -> String? = { _, proof in
        let parts = proof.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count <= 4096 else { return nil }
        var text = String(parts[0]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.utf8.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let rid = object["rid"] as? String, !rid.isEmpty
        else { return nil }
        return rid
    }
}
