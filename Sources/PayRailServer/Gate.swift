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
// Offers are found from a credential through alias records: besides the challenge record itself the
// gate saves one record per offer, id `offer:<rail>:<offer id>`, whose single offer carries the
// challenge id in the reserved detail `payrail.challenge`. Every dialect yields (rail, offer id) —
// Payment through its HMAC-bound echo, x402 through `accepted`, L402 and plain preimages through the
// payment hash — so the same Lightning invoice maps to one challenge whatever dialect pays it, and
// `consume(challengeID:)` makes it pay exactly once across all of them.

/// The paywall: prices a request, issues 402 challenge sets, settles credentials, signs receipts and
/// replays paid responses. Framework-agnostic: see `handle(_:)` and `complete(_:response:)`.
public final class Gate: Sendable {
    /// The configuration this gate runs with.
    public let configuration: GateConfiguration
    private let challengeSet: ChallengeSet
    /// The origin x402 `resource.url`s are written under (the path of the paid route is appended).
    private let origin: String
    /// Verified receipt tokens, so a replay costs a look-up instead of a signature check.
    private let receipts: CachingReceiptVerifier
    /// Stored responses of receipts replayed before, so a replay does not wait on the store.
    private let replays = ReplayCache(capacity: 10_000)
    /// Challenges granted by this process whose response is not stored yet: a credential presented
    /// again meanwhile is asked to retry, not granted twice at once.
    private let granting = GrantsInProgress(grace: 60)

    static let challengeDetail = "payrail.challenge"

    /// Creates a gate.
    public init(configuration: GateConfiguration) {
        self.configuration = configuration
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
            return .respond(problem(400, "bad-request", "Bad Request", "the request target cannot be priced: \(error.reason)"))
        }
        do {
            return try await decide(request, resource: resource, price: price)
        } catch let failure as GateFailure {
            log("\(resource) error \(failure.logReason)")
            return .respond(failure.response)
        } catch {
            log("\(resource) error unexpected")
            return .respond(problem(500, "internal", "Internal Error", "the gate failed unexpectedly"))
        }
    }

    /// Remembers the resource's response for a paid pass, so the receipt token (and any idempotency
    /// key) replays it without a second payment. Call it after serving a `.pass`; free passes are ignored.
    ///
    /// - Throws: `GateError` when the store could not write; the grant itself stays valid.
    public func complete(_ pass: GatePass, response: GateResponse) async throws(GateError) {
        guard let grant = pass.grant else { return }
        defer { granting.end(grant.challengeID) }
        var headers = response.headers
        for field in pass.responseHeaders where headers[field.name] == nil { headers.append(field.name, field.value) }
        let stored = StoredResponse(status: response.status, headers: headers.map { StoredHeader(name: $0.name, value: $0.value) },
                                    body: Data(response.body))
        let now = configuration.clock.now()
        do {
            try await configuration.store.saveResponse(stored, receiptID: grant.challengeID)
            for slot in pass.idempotency {
                _ = try await configuration.store.saveIdempotentResponse(IdempotencyRecord(
                    key: slot.key, payloadHash: slot.payloadHash, response: stored, createdAt: now,
                    expiresAt: now.addingTimeInterval(configuration.idempotencyLifetime)))
            }
        } catch {
            throw GateError(reason: "the response was not stored (\(error.code))", isRetrySafe: error.isRetrySafe)
        }
    }

    /// Says that a paid pass's response will not be stored (it failed, or it was a HEAD): the
    /// payer's next presentation of the same credential is granted again at once instead of being
    /// asked to wait for this one. Free passes are ignored.
    public func abandon(_ pass: GatePass) {
        guard let grant = pass.grant else { return }
        granting.end(grant.challengeID)
    }

    private func decide(_ request: GateRequest, resource: Resource, price: Price) async throws -> GateDecision {
        let now = configuration.clock.now()
        let slots = try idempotencySlots(request, resource: resource) + x402IdentifierSlots(request)
        // Receipt replays are most of a busy gate's paid traffic. A receipt this gate has replayed
        // before (these exact bytes, for this resource, within its grant) is answered from memory,
        // without classifying the credential: `X-Receipt` is the first credential `findCredential`
        // reads, so the answer is the one the full path would give. The replay cache holds only
        // tokens that passed `replay` below (signature, claims, store record) and checks the grant's
        // end, which is the receipt's `exp`, and the resource on every hit; the gate's key set never
        // changes while it runs (a way to remove a key would have to empty this cache too).
        if slots.isEmpty, let value = request.headers[PlainReceipt.fieldName],
           let cached = replays.response(for: value, resource: resource, now: now) {
            log("\(resource) replay receipt challenge=\(Self.short(cached.challengeID))")
            return .replay(cached.response)
        }
        for slot in slots {
            let lookup = try await store { () async throws(StoreError) in
                try await configuration.store.idempotencyLookup(key: slot.key, payloadHash: slot.payloadHash)
            }
            switch lookup {
            case .notFound: continue
            case .replay(let record):
                log("\(resource) replay idempotency-key")
                return .replay(Self.response(record.response))
            case .payloadMismatch:
                if slot.key.hasPrefix(Self.x402IdentifierPrefix) {
                    log("\(resource) refused payment-identifier-reused")
                    return .respond(problem(409, "idempotency-conflict", "Payment Identifier Reused",
                                            "this x402 payment-identifier was used with another payment; use a new identifier"))
                }
                log("\(resource) refused idempotency-key-reused")
                return .respond(problem(409, "idempotency-conflict", "Idempotency Key Reused",
                                        "this Idempotency-Key was used with another request; use a new key"))
            }
        }
        let presented: Presented?
        do { presented = try findCredential(request.headers) } catch {
            if error.error.code == .multipleCredentials {
                return .respond(problem(400, "bad-request", "Bad Request", "send exactly one payment credential"))
            }
            return try await refuse(request, resource: resource, price: price, dialect: error.dialect,
                                    problem: .malformedCredential, detail: "the credential cannot be read: \(error.error.reason)",
                                    logReason: "malformed-credential")
        }
        guard let presented else {
            return try await challenge(request, resource: resource, price: price, now: now)
        }
        if case .receiptToken(let token, let dialect) = presented {
            return try await replay(token: token, dialect: dialect, request: request, resource: resource, price: price, now: now)
        }
        return try await pay(presented, request: request, resource: resource, price: price, slots: slots, now: now)
    }

    // MARK: - 402

    private func challenge(_ request: GateRequest, resource: Resource, price: Price, now: Date) async throws -> GateDecision {
        if let policy = configuration.rateLimit {
            let decision = try await store { () async throws(StoreError) in
                try await configuration.store.take(1, from: "challenge|" + request.clientAddress, policy: policy)
            }
            if case .limited(let seconds) = decision {
                log("\(resource) refused rate-limited retry-after=\(seconds)")
                var response = problem(429, "rate-limited", "Too Many Requests",
                                       "too many payment challenges for this client; retry after \(seconds) seconds")
                response.headers.append("Retry-After", String(seconds))
                return .respond(response)
            }
        }
        let (record, response) = try await issue(request, resource: resource, price: price, failure: nil)
        log("\(resource) 402 challenge=\(Self.short(record.id)) rails=\(record.offers.map(\.rail.rawValue).joined(separator: ","))")
        return .respond(response)
    }

    private struct Failure {
        var dialect: PaymentDialect
        var problem: PaymentProblemType
        var detail: String
        var challengeID: String?
    }

    /// Prepares an offer on every rail that prices this resource, saves the challenge and its
    /// aliases, and renders the 402 (or the failure 402) in every dialect.
    private func issue(_ request: GateRequest, resource: Resource, price: Price, failure: Failure?) async throws -> (ChallengeRecord, GateResponse) {
        let createdAt = StoreTimeRounding.normalized(configuration.clock.now())
        let expiresAt = createdAt.addingTimeInterval(configuration.challengeLifetime)
        let id: String
        do { id = Base64URL.encode(try SecureRandom.bytes(count: 32)) } catch {
            throw GateFailure(problem(500, "internal", "Internal Error", "no randomness for a challenge id"), "no-randomness")
        }
        var offers: [Offer] = []
        var lastError: RailError?
        let binding = requestBinding(request, resource: resource)
        let commitment = try? binding?.requestHashBytes()
        for rail in configuration.rails {
            guard let amount = price.amount(on: rail.id) else { continue }
            do {
                let charge = try Charge(amount: amount, resource: resource, description: resource.description,
                                        expiresAt: expiresAt, challengeID: id, bodyDigest: request.bodyDigest,
                                        commitment: rail.id == .lightning ? commitment : nil)
                offers.append(try await rail.prepare(charge))
            } catch let error as RailError {
                lastError = error
                log("\(resource) rail=\(rail.id) prepare-failed code=\(error.code)")
            }
        }
        guard !offers.isEmpty else {
            let retry = lastError?.code == .unavailable || lastError?.code == .timedOut
            var response = problem(retry ? 503 : 500, "rails-unavailable", "Payment Rails Unavailable",
                                   "no rail could prepare an offer for this resource")
            if retry { response.headers.append("Retry-After", "5") }
            throw GateFailure(response, "no-offer")
        }
        let record = ChallengeRecord(id: id, resource: resource, offers: offers, bodyDigest: request.bodyDigest,
                                     createdAt: createdAt, expiresAt: expiresAt)
        // The challenge and its per-offer aliases in one commit: one disk sync per 402, and never a
        // challenge saved without the alias a credential will be looked up by.
        var records = [record]
        for offer in offers {
            var details = offer.details
            details[Self.challengeDetail] = id
            records.append(ChallengeRecord(
                id: Self.alias(offer.rail, offer.id), resource: resource,
                offers: [Offer(rail: offer.rail, amount: offer.amount, payee: offer.payee, expiresAt: offer.expiresAt,
                               id: offer.id, details: details)],
                bodyDigest: request.bodyDigest, createdAt: createdAt, expiresAt: expiresAt))
        }
        let toSave = records
        try await store { () async throws(StoreError) in try await configuration.store.saveChallenges(toSave) }
        let accept = request.headers.values("Accept-Payment")
        // x402 names the resource being paid for: this route's URL, not the server's.
        var challengeSet = self.challengeSet
        challengeSet.x402Resource = X402ResourceInfo(url: origin + resource.path)
        challengeSet.x402RequestBinding = binding
        let rendered: PaymentRequiredResponse
        do {
            if let failure {
                rendered = try challengeSet.failure(offers: record.offers, acceptPayment: accept, now: record.createdAt, dialect: failure.dialect,
                                                    problem: failure.problem, detail: failure.detail, challengeID: failure.challengeID)
            } else {
                rendered = try challengeSet.paymentRequired(offers: record.offers, acceptPayment: accept, now: record.createdAt)
            }
        } catch {
            throw GateFailure(problem(500, "internal", "Internal Error", "the challenge could not be written"), "render-failed")
        }
        var headers = rendered.headers
        if headers["Cache-Control"] == nil { headers.append("Cache-Control", "no-store") }
        return (record, GateResponse(status: rendered.status, headers: headers, body: rendered.body))
    }

    private func refuse(_ request: GateRequest, resource: Resource, price: Price, dialect: PaymentDialect,
                        problem type: PaymentProblemType, detail: String, challengeID: String? = nil, logReason: String) async throws -> GateDecision {
        let (record, response) = try await issue(request, resource: resource, price: price,
                                                 failure: Failure(dialect: dialect, problem: type, detail: detail, challengeID: challengeID))
        log("\(resource) refused dialect=\(dialect.rawValue) reason=\(logReason) challenge=\(challengeID.map(Self.short) ?? "-") fresh=\(Self.short(record.id))")
        return .respond(response)
    }

    // MARK: - Credentials

    private enum Presented {
        case payment(PaymentCredential, PaymentDialect)
        case x402(X402PaymentPayload, Credential, version1: Bool)
        case l402(L402Credential)
        case plain(PlainReceipt)
        case receiptToken(String, PaymentDialect)
    }

    private func findCredential(_ headers: HTTPFields) throws(WireErrorInDialect) -> Presented? {
        if let value = headers[PlainReceipt.fieldName] {
            let parsed: PlainReceipt
            do throws(WireError) { parsed = try PlainReceipt.parse(value) } catch { throw error.in(.plain) }
            switch parsed {
            case .receiptToken(let token): return .receiptToken(token, .plain)
            case .paymentCredential(let credential): return .payment(credential, .plain)
            default: return .plain(parsed)
            }
        }
        if let value = headers[X402HeaderName.paymentSignature] {
            do throws(WireError) {
                let (payload, credential) = try X402Server.readCredential(value)
                return .x402(payload, credential, version1: false)
            } catch { throw error.in(.x402) }
        }
        if let value = headers[X402HeaderName.xPayment] {
            do throws(WireError) {
                let v1 = try X402Codec.decodeVersion1Payment(value)
                // A v1 payment carries only scheme and network; match it to the offer it answers later.
                let accepted = try X402PaymentRequirements(
                    scheme: v1.scheme, network: v1.network, amount: "0", asset: "", payTo: "", maxTimeoutSeconds: 0, extra: [:])
                return .x402(X402PaymentPayload(accepted: accepted, payload: v1.payload), try Self.v1Credential(v1), version1: true)
            } catch { throw error.in(.x402v1) }
        }
        for field in ["Authorization", "Payment-Authorization"] {
            for value in headers.values(field) {
                let trimmed = value.trimmingCharacters(in: .whitespaces)
                guard trimmed.utf8.count > 8, trimmed.prefix(8).lowercased() == "payment " else { continue }
                let token = String(trimmed.dropFirst(8)).trimmingCharacters(in: .whitespaces)
                if case .receiptToken? = try? PlainReceipt.parse(token) { return .receiptToken(token, .payment) }
            }
        }
        do throws(WireError) {
            if let credential = try PaymentCredential.find(in: headers) { return .payment(credential, .payment) }
        } catch { throw error.in(.payment) }
        do throws(WireError) {
            if let credential = try L402Credential.find(in: headers) { return .l402(credential) }
        } catch { throw error.in(.l402) }
        return nil
    }

    private static func v1Credential(_ payload: X402V1PaymentPayload) throws(WireError) -> Credential {
        guard payload.network == X402Network.fake, case .string(let voucher)? = payload.payload["voucher"], !voucher.isEmpty else {
            throw WireError(.unsupported, "x402 v1 payments are accepted on payrail:fake only")
        }
        guard let rid = GateConfiguration.voucherRequestID(.fake, voucher) else {
            throw WireError(.malformed, "the v1 voucher names no request")
        }
        return Credential(rail: .fake, offerID: rid, payload: ["voucher": voucher])
    }

    /// Resolves any credential to the challenge and offer it pays, then settles, consumes and grants.
    private func pay(_ presented: Presented, request: GateRequest, resource: Resource, price: Price,
                     slots: [IdempotencySlot], now: Date) async throws -> GateDecision {
        var dialect = PaymentDialect.payment
        var credential: Credential
        var paymentChallengeID: String?
        var x402Payload: X402PaymentPayload?
        func refuse(_ type: PaymentProblemType, _ detail: String, _ reason: String, challenge: String? = nil) async throws -> GateDecision {
            try await self.refuse(request, resource: resource, price: price, dialect: dialect, problem: type, detail: detail,
                                  challengeID: challenge, logReason: reason)
        }
        switch presented {
        case .payment(let paymentCredential, let via):
            dialect = via
            paymentChallengeID = paymentCredential.challenge.id
            guard paymentCredential.challenge.realm == configuration.realm else {
                return try await refuse(.invalidChallenge, "the challenge was issued by another realm", "other-realm", challenge: paymentChallengeID)
            }
            do { try configuration.keyring.verify(paymentCredential.challenge, now: now) } catch {
                guard error.code == .expired else {
                    return try await refuse(.invalidChallenge, "the challenge id does not match its parameters", "binding", challenge: paymentChallengeID)
                }
                // A challenge already paid may come back after its lifetime (the payer lost the answer):
                // its binding is checked as of when it was consumed, and the rail decides below.
                let challengeID = paymentCredential.challenge.id
                let consumed = try await store { () async throws(StoreError) in try await configuration.store.consumedChallenge(id: challengeID) }
                guard let consumed, (try? configuration.keyring.verify(paymentCredential.challenge, now: consumed.consumedAt)) != nil else {
                    return try await refuse(.paymentExpired, "the challenge expired; pay the fresh one", "expired", challenge: paymentChallengeID)
                }
            }
            do { credential = try PaymentCharge.domainCredential(from: paymentCredential) } catch {
                return try await refuse(.invalidPayload, "the payload is not valid for this method: \(error.reason)", "invalid-payload", challenge: paymentChallengeID)
            }
        case .x402(let payload, let found, let version1):
            dialect = version1 ? .x402v1 : .x402
            credential = found
            x402Payload = version1 ? nil : payload
        case .l402(let l402):
            dialect = .l402
            guard let rootKey = configuration.macaroonRootKey else {
                return try await refuse(.methodUnsupported, "this server does not accept L402", "l402-disabled")
            }
            do {
                _ = try l402.verify(rootKey: rootKey, checker: L402CaveatChecker(service: configuration.l402Service, now: now))
                credential = try l402.domainCredential()
            } catch {
                return try await refuse(.verificationFailed, "the L402 token does not verify: \(error.reason)", "l402-verify")
            }
        case .plain(let plain):
            dialect = .plain
            if let hash = plain.paymentHash {
                credential = Credential(rail: .lightning, offerID: hash, payload: [:])
            } else if case .railProof(let proof) = plain {
                var found: Credential?
                for rail in configuration.rails {
                    if let offerID = configuration.plainProofOfferID(rail.id, proof) {
                        found = Credential(rail: rail.id, offerID: offerID, payload: [PlainReceipt.proofField(for: rail.id): proof])
                        break
                    }
                }
                guard let found else {
                    return try await refuse(.malformedCredential, "the X-Receipt proof names no offer of this server", "plain-unknown")
                }
                credential = found
            } else {
                return try await refuse(.malformedCredential, "the X-Receipt value is not a payment proof", "plain-malformed")
            }
        case .receiptToken:
            return try await refuse(.malformedCredential, "unexpected receipt", "internal")
        }

        // The challenge and the exact offer it sent on this rail.
        let alias = try await store { () async throws(StoreError) in
            try await configuration.store.challenge(id: Self.alias(credential.rail, credential.offerID))
        }
        guard let alias, let aliasOffer = alias.offers.first, let challengeID = aliasOffer.details[Self.challengeDetail],
              let record = try await store({ () async throws(StoreError) in try await configuration.store.challenge(id: challengeID) }),
              let offer = record.offer(on: credential.rail), offer.id == credential.offerID
        else {
            let type: PaymentProblemType = credential.rail == .lightning ? .Lightning.unknownChallenge : .invalidChallenge
            return try await refuse(type, "this server issued no challenge for that offer", "unknown-challenge", challenge: paymentChallengeID)
        }
        if case .plain(let plain) = presented, credential.payload.isEmpty {
            do { credential = try plain.credential(for: offer) } catch {
                return try await refuse(.Lightning.invalidPreimage, "the preimage does not pay this offer", "preimage", challenge: record.id)
            }
        }
        guard record.resource == resource else {
            return try await refuse(.invalidChallenge, "the credential pays for \(record.resource), not \(resource)", "other-resource", challenge: record.id)
        }
        guard record.bodyDigest == nil || record.bodyDigest == request.bodyDigest else {
            return try await refuse(.invalidChallenge, "the credential pays for another request body", "other-body", challenge: record.id)
        }
        // A consumed challenge skips expiry and price: only the rail's word that this credential is the
        // payment behind it (then `afterLostRace`) can follow, never a new settlement.
        let alreadyConsumed = try await store { () async throws(StoreError) in
            try await configuration.store.consumedChallenge(id: record.id)
        } != nil
        guard alreadyConsumed || (now < record.expiresAt && now < offer.expiresAt) else {
            return try await refuse(.paymentExpired, "the challenge expired; pay the fresh one", "expired", challenge: record.id)
        }
        guard alreadyConsumed || price.amount(on: offer.rail) == offer.amount else {
            return try await refuse(.paymentInsufficient, "the price changed; pay the fresh challenge", "price-changed", challenge: record.id)
        }
        if case .payment(let paymentCredential, _) = presented {
            // The echo is HMAC-bound, but check it still says what the stored offer says.
            guard let echoed = try? PaymentCharge.offer(from: paymentCredential.challenge, defaultExpiry: now),
                  echoed.amount == offer.amount, echoed.payee == offer.payee
            else {
                return try await refuse(.paymentInsufficient, "the credential does not pay the offered amount", "amount", challenge: record.id)
            }
        }
        if let x402Payload {
            let context = X402OfferContext(now: record.createdAt, requestBinding: requestBinding(request, resource: resource),
                                           cardNetworks: challengeSet.x402CardNetworks)
            let offered = (try? X402PaymentRequirements.requirements(for: offer, context: context)) ?? []
            guard offered.contains(where: { X402Server.accepted(x402Payload.accepted, matches: $0) }) else {
                return try await refuse(.paymentInsufficient, "the accepted requirements are not the ones offered", "x402-mismatch", challenge: record.id)
            }
        }
        // A challenge already paid is not refused here: the rail must first prove this credential is
        // the payment behind it (it answers `.alreadySettled` only for the same valid proof), and then
        // the same payer gets its grant again (`afterLostRace`), never a second charge.

        // Settle: the rail moves the money at most once.
        let payeeRail = try rail(offer.rail)
        let settled: Result<Settlement, RailError>
        do throws(RailError) {
            settled = .success(try await payeeRail.settle(credential, for: offer))
        } catch {
            settled = .failure(error)
        }
        switch settled {
        case .success(let settlement):
            return try await grant(settlement, record: record, offer: offer, request: request, resource: resource,
                                   dialect: dialect, paymentChallengeID: paymentChallengeID, x402Payload: x402Payload, slots: slots)
        case .failure(let error):
            if error.code == .alreadySettled {
                guard let recovered = try await unrecordedSettlement(of: offer, record: record, rail: payeeRail) else {
                    return try await afterLostRace(record: record, resource: resource, reference: nil, dialect: dialect)
                }
                // The rail settled this offer but nothing here recorded it (the store failed or the
                // process died between the two): the payer paid once, so grant now, once.
                log("\(resource) recovered settlement challenge=\(Self.short(record.id)) ref=\(recovered.reference)")
                return try await grant(recovered, record: record, offer: offer, request: request, resource: resource,
                                       dialect: dialect, paymentChallengeID: paymentChallengeID, x402Payload: x402Payload, slots: slots)
            }
            if error.code == .unavailable || error.code == .timedOut {
                log("\(resource) rail=\(offer.rail) settle-unavailable challenge=\(Self.short(record.id))")
                var response = problem(503, "rail-unavailable", "Payment Rail Unavailable",
                                       "the \(offer.rail) rail did not answer; retrying the same credential is safe")
                response.headers.append("Retry-After", "2")
                return .respond(response)
            }
            let type: PaymentProblemType = switch error.code {
            case .expired: .paymentExpired
            case .malformed: .invalidPayload
            case .insufficientFunds: .paymentInsufficient
            default: offer.rail == .lightning ? .Lightning.invalidPreimage : .verificationFailed
            }
            return try await refuse(type, "the payment was refused: \(error.code.nextStep)", "settle-\(error.code)", challenge: record.id)
        }
    }

    /// The settlement of an offer the rail reports settled but this server never recorded, or `nil`
    /// when it did record it (a concurrent request is granting it) or the rail cannot tell.
    private func unrecordedSettlement(of offer: Offer, record: ChallengeRecord, rail: any PayeeRail) async throws -> Settlement? {
        let consumed = try await store { () async throws(StoreError) in try await configuration.store.consumedChallenge(id: record.id) }
        guard consumed == nil else { return nil }
        do {
            return try await rail.settlement(of: offer)
        } catch {
            if error.code != .unsupported {
                log("lookup-failed rail=\(offer.rail) challenge=\(Self.short(record.id)) code=\(error.code)")
            }
            return nil
        }
    }

    /// Signs the receipt for a settlement and consumes the challenge atomically; the consumption with
    /// its receipt is durable before any answer. Exactly one request wins the consumption.
    private func grant(_ settlement: Settlement, record: ChallengeRecord, offer: Offer, request: GateRequest, resource: Resource,
                       dialect: PaymentDialect, paymentChallengeID: String?, x402Payload: X402PaymentPayload?,
                       slots: [IdempotencySlot]) async throws -> GateDecision {
        guard settlement.amount == offer.amount, settlement.rail == offer.rail else {
            log("\(resource) refused policy settled-amount-differs challenge=\(Self.short(record.id)) ref=\(settlement.reference)")
            return .respond(problem(403, "payment-refused", "Payment Refused",
                                    "the rail settled \(settlement.amount), not \(offer.amount); contact the operator with reference \(settlement.reference)"))
        }

        // Sign, then consume atomically: the consumption with its receipt is durable before any answer.
        let issuedAt = configuration.clock.now()
        let claims: ReceiptClaims
        let token: String
        do {
            claims = try ReceiptClaims(settlement: settlement, issuer: configuration.realm, resource: resource,
                                       challengeID: record.id, issuedAt: issuedAt, grantSeconds: configuration.grantSeconds)
            token = try configuration.signer.sign(claims)
        } catch {
            log("\(resource) error receipt-signing challenge=\(Self.short(record.id)) ref=\(settlement.reference)")
            throw GateFailure(problem(500, "internal", "Internal Error",
                                      "paid but no receipt could be signed; contact the operator with reference \(settlement.reference)"), "sign")
        }
        let grantEnd = Date(timeIntervalSince1970: TimeInterval(claims.exp))
        let receipt = ReceiptRecord(receiptID: record.id, tokenHash: Data(SHA256.hash(Array(token.utf8))), resource: resource,
                                    issuedAt: issuedAt, grantExpiresAt: grantEnd)
        // Marked before the durable write, so a concurrent presentation that sees the consumption
        // also sees it is being served (and answers 409 instead of granting it again).
        granting.begin(record.id, now: configuration.clock.now())
        let result: ConsumeResult
        do {
            result = try await store { () async throws(StoreError) in
                try await configuration.store.consume(challengeID: record.id, settlement: settlement, receipt: receipt)
            }
        } catch {
            granting.end(record.id)
            throw error
        }
        switch result {
        case .consumed: break
        case .alreadyConsumed(let winner):
            granting.end(record.id)
            return try await afterLostRace(record: record, resource: resource, reference: settlement.reference, dialect: dialect, winner: winner)
        }

        var headers = HTTPFields()
        let paymentReceipt = PaymentReceipt(method: settlement.rail.rawValue, timestamp: settlement.settledAt, reference: settlement.reference,
                                            challengeId: paymentChallengeID ?? record.id, receipt: token)
        if let value = try? paymentReceipt.headerValue() { headers.append(PaymentReceipt.fieldName, value) }
        headers.append(PlainReceipt.fieldName, token)
        if dialect == .x402 || dialect == .x402v1 {
            let network = x402Payload?.accepted.network ?? X402Network.fake
            var extensions: [String: JSONValue] = [:]
            if let x402Payload, let pid = try? X402PaymentIdentifier.extract(from: x402Payload.extensions) {
                extensions = pid.appended(to: [:])
            }
            let response = X402SettlementResponse(success: true, transaction: settlement.reference, network: network, extensions: extensions)
            if let value = try? X402Codec.encodePaymentResponse(response) {
                headers.append(dialect == .x402 ? X402HeaderName.paymentResponse : X402HeaderName.xPaymentResponse, value)
            }
        }
        let allSlots = slots
        log("\(resource) granted dialect=\(dialect.rawValue) rail=\(settlement.rail) challenge=\(Self.short(record.id)) ref=\(settlement.reference)")
        let grant = GateGrant(challengeID: record.id, receiptToken: token, settlement: settlement, dialect: dialect,
                              grantExpiresAt: grantEnd, isRegrant: false)
        return .pass(GatePass(resource: resource, grant: grant, responseHeaders: headers, idempotency: allSlots))
    }

    /// Another request settled or consumed this challenge first: replay its stored response when the
    /// same payment is behind both; while that request is still being served here, ask to retry; once
    /// it is not (its response was never stored: the client lost the answer, the process restarted,
    /// the resource failed), grant the same payment again within its grant. Never settles.
    private func afterLostRace(record: ChallengeRecord, resource: Resource, reference: String?, dialect: PaymentDialect,
                               winner known: ConsumedChallenge? = nil) async throws -> GateDecision {
        let winner: ConsumedChallenge?
        if let known { winner = known } else {
            winner = try await store { () async throws(StoreError) in try await configuration.store.consumedChallenge(id: record.id) }
        }
        if let winner, reference != nil, winner.settlement.reference != reference {
            log("\(resource) refused policy paid-twice challenge=\(Self.short(record.id)) ref=\(reference ?? "-")")
            return .respond(problem(403, "payment-refused", "Payment Refused",
                                    "this challenge was already paid by another payment; contact the operator with reference \(reference ?? "")"))
        }
        if let winner, let response = winner.receipt.response {
            log("\(resource) replay same-payment challenge=\(Self.short(record.id))")
            return .replay(Self.response(response))
        }
        if let winner, !granting.contains(record.id, now: configuration.clock.now()) {
            let now = configuration.clock.now()
            guard now < winner.receipt.grantExpiresAt, winner.receipt.resource == resource else {
                return .respond(problem(402, "grant-over", "Grant Over",
                                        "this payment's grant is over; pay a fresh challenge"))
            }
            let remaining = Int64(winner.receipt.grantExpiresAt.timeIntervalSince(now).rounded(.down))
            guard remaining >= 1,
                  let claims = try? ReceiptClaims(settlement: winner.settlement, issuer: configuration.realm, resource: resource,
                                                  challengeID: record.id, issuedAt: now, grantSeconds: remaining),
                  let token = try? configuration.signer.sign(claims)
            else {
                throw GateFailure(problem(500, "internal", "Internal Error", "the receipt could not be signed again"), "resign")
            }
            log("\(resource) regrant same-payment challenge=\(Self.short(record.id)) ref=\(winner.settlement.reference)")
            return regrant(winner, token: token, dialect: dialect, resource: resource)
        }
        log("\(resource) refused in-progress challenge=\(Self.short(record.id))")
        var response = problem(409, "payment-in-progress", "Payment In Progress",
                               "this payment is being granted to another request; retry shortly (retrying is safe, nothing is charged twice)")
        response.headers.append("Retry-After", "1")
        return .respond(response)
    }

    // MARK: - Replay by receipt

    private func replay(token: String, dialect: PaymentDialect, request: GateRequest, resource: Resource, price: Price, now: Date) async throws -> GateDecision {
        let claims: ReceiptClaims
        do { claims = try receipts.verify(token, resource: resource.description) } catch {
            let type: PaymentProblemType = error.code == .expired ? .paymentExpired : .invalidChallenge
            return try await refuse(request, resource: resource, price: price, dialect: dialect, problem: type,
                                    detail: "the receipt does not grant this resource (\(error.code)); pay the fresh challenge",
                                    logReason: "receipt-\(error.code)")
        }
        // The replay cache is keyed by the token itself (a seeded hash, then a full comparison), so
        // the common case, a receipt replayed again, hashes nothing with SHA-256: the store's key
        // is computed only when the store must be asked.
        if let cached = replays.response(for: token, resource: resource, now: now) {
            log("\(resource) replay receipt challenge=\(Self.short(cached.challengeID))")
            return .replay(cached.response)
        }
        let hash = Data(SHA256.hash(Array(token.utf8)))
        // Tokens are found by hash; a valid token signed again for the same payment (a regrant) is
        // found by its challenge id: its signature already proves this gate issued it.
        var found = try await store { () async throws(StoreError) in try await configuration.store.consumedChallenge(receiptTokenHash: hash) }
        if found == nil {
            found = try await store { () async throws(StoreError) in try await configuration.store.consumedChallenge(id: claims.jti) }
        }
        guard let found, found.receipt.resource == resource, now < found.receipt.grantExpiresAt, found.settlement.reference == claims.ref else {
            return try await refuse(request, resource: resource, price: price, dialect: dialect, problem: .paymentExpired,
                                    detail: "the receipt's grant is over or unknown here; pay the fresh challenge", logReason: "receipt-unknown")
        }
        if let response = found.receipt.response {
            // A stored response never changes once saved: later replays of this receipt skip the store.
            let ready = Self.response(response)
            replays.remember(token, ReplayCache.Entry(challengeID: found.challengeID, resource: found.receipt.resource,
                                                       grantExpiresAt: found.receipt.grantExpiresAt, response: ready))
            log("\(resource) replay receipt challenge=\(Self.short(found.challengeID))")
            return .replay(ready)
        }
        // Paid, but the response was never stored (the upstream failed): serve it again, no new settlement.
        log("\(resource) regrant receipt challenge=\(Self.short(found.challengeID))")
        return regrant(found, token: token, dialect: dialect, resource: resource)
    }

    /// Serves an earlier grant again with `token` (no new settlement): its response was never stored.
    private func regrant(_ found: ConsumedChallenge, token: String, dialect: PaymentDialect, resource: Resource) -> GateDecision {
        var headers = HTTPFields()
        let paymentReceipt = PaymentReceipt(method: found.settlement.rail.rawValue, timestamp: found.settlement.settledAt,
                                            reference: found.settlement.reference, challengeId: found.challengeID, receipt: token)
        if let value = try? paymentReceipt.headerValue() { headers.append(PaymentReceipt.fieldName, value) }
        headers.append(PlainReceipt.fieldName, token)
        granting.begin(found.challengeID, now: configuration.clock.now())
        let grant = GateGrant(challengeID: found.challengeID, receiptToken: token, settlement: found.settlement, dialect: dialect,
                              grantExpiresAt: found.receipt.grantExpiresAt, isRegrant: true)
        return .pass(GatePass(resource: resource, grant: grant, responseHeaders: headers, idempotency: []))
    }

    // MARK: - Helpers

    private func rail(_ id: RailID) throws -> any PayeeRail {
        guard let rail = configuration.rails.first(where: { $0.id == id }) else {
            throw RailError(.unsupported, "rail \(id) is not configured", rail: id)
        }
        return rail
    }

    /// The x402 `lnbtc` request binding (profile `http:1`: method, this route's public URL, body, no
    /// headers) when a Lightning rail is configured; the agent computes the same from its request.
    private func requestBinding(_ request: GateRequest, resource: Resource) -> X402RequestBinding? {
        guard configuration.rails.contains(where: { $0.id == .lightning }) else { return nil }
        return .http(method: resource.method, url: origin + resource.path, body: request.body ?? [], headers: [])
    }

    static let x402IdentifierPrefix = "x402-payment-identifier|"

    /// The x402 `payment-identifier` of a version 2 payment, as a slot whose payload is the request
    /// and the payment itself: the same payment sent again replays, another payment under the same
    /// identifier is a conflict. An unreadable payment has no slot (the credential path refuses it).
    private func x402IdentifierSlots(_ request: GateRequest) -> [IdempotencySlot] {
        guard let value = request.headers[X402HeaderName.paymentSignature],
              let (payload, credential) = try? X402Server.readCredential(value),
              let identifier = try? X402PaymentIdentifier.extract(from: payload.extensions)
        else { return [] }
        var binding = "\(request.method) \(request.path)\n\(request.bodyDigest ?? "")\n\(credential.rail)|\(credential.offerID)"
        for key in credential.payload.keys.sorted() { binding += "\n\(key)=\(credential.payload[key] ?? "")" }
        return [IdempotencySlot(key: Self.x402IdentifierPrefix + identifier.id, payloadHash: Data(SHA256.hash(Array(binding.utf8))))]
    }

    private func idempotencySlots(_ request: GateRequest, resource: Resource) throws -> [IdempotencySlot] {
        guard let key = request.headers["Idempotency-Key"] else { return [] }
        let trimmed = key.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 255 else {
            throw GateFailure(problem(400, "bad-request", "Bad Request", "Idempotency-Key must be 1 to 255 characters"), "idempotency-key")
        }
        return [IdempotencySlot(key: "idempotency-key|\(request.clientAddress)|\(trimmed)", payloadHash: Self.payloadHash(request))]
    }

    static func payloadHash(_ request: GateRequest) -> Data {
        Data(SHA256.hash(Array("\(request.method) \(request.path)\n\(request.bodyDigest ?? "")".utf8)))
    }

    static func alias(_ rail: RailID, _ offerID: String) -> String { "offer:\(rail.rawValue):\(offerID)" }

    /// The first 8 characters: enough to find a challenge in logs, useless to an attacker.
    static func short(_ id: String) -> String { String(id.prefix(8)) + "…" }

    static func response(_ stored: StoredResponse) -> GateResponse {
        GateResponse(status: stored.status, headers: HTTPFields(stored.headers.map { HTTPFields.Field(name: $0.name, value: $0.value) }),
                     body: Array(stored.body))
    }

    private func store<T>(_ body: () async throws(StoreError) -> T) async throws -> T {
        do { return try await body() } catch {
            var response = problem(error.isRetrySafe ? 503 : 500, "store-unavailable", "Store Unavailable",
                                   error.isRetrySafe ? "the gate's store is busy; retrying is safe" : "the gate's store failed")
            if error.isRetrySafe { response.headers.append("Retry-After", "1") }
            throw GateFailure(response, "store-\(error.code)")
        }
    }

    private func problem(_ status: Int, _ slug: String, _ title: String, _ detail: String) -> GateResponse {
        let details = ProblemDetails(type: "https://payrail.dev/problems/\(slug)", title: title, status: status, detail: detail)
        var headers = HTTPFields()
        headers.append("Content-Type", ProblemDetails.mediaType)
        headers.append("Cache-Control", "no-store")
        return GateResponse(status: status, headers: headers, body: (try? details.encoded()) ?? Array(detail.utf8))
    }

    // An autoclosure: without a logger the line is never built (replays log one per request).
    private func log(_ line: @autoclosure () -> String) {
        guard let sink = configuration.log else { return }
        sink("payrail-gate " + line())
    }
}

/// A decision that ends the request early with a ready response (store trouble, bad input).
struct GateFailure: Error {
    let response: GateResponse
    let logReason: String
    init(_ response: GateResponse, _ logReason: String) {
        self.response = response
        self.logReason = logReason
    }
}

/// Whole milliseconds, as the stores keep them, so a record's `createdAt` equals the render time.
enum StoreTimeRounding {
    static func normalized(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}

extension WireError {
    /// Remembers which dialect a malformed credential came in, so the refusal speaks it.
    func `in`(_ dialect: PaymentDialect) -> WireErrorInDialect { WireErrorInDialect(error: self, dialect: dialect) }
}

struct WireErrorInDialect: Error {
    let error: WireError
    let dialect: PaymentDialect
}

/// Responses stored for receipts, kept in memory after their first replay. Bounded (the oldest is
/// forgotten first) and checked against the grant's end on every hit; the store stays the truth.
/// Challenge ids being granted right now, each forgotten after `grace` seconds (a handler that never
/// completes, e.g. a failed upstream, must not block its payer's regrant forever).
final class GrantsInProgress: @unchecked Sendable {
    private struct Entry {
        var count: Int
        var since: Date
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private let grace: TimeInterval

    init(grace: TimeInterval) { self.grace = grace }

    /// Marks `id` as being granted; every `begin` is matched by one `end`.
    func begin(_ id: String, now: Date) {
        lock.withLock {
            if entries.count > 10_000 { entries = entries.filter { now.timeIntervalSince($0.value.since) < grace } }
            var entry = entries[id] ?? Entry(count: 0, since: now)
            entry.count += 1
            entry.since = now
            entries[id] = entry
        }
    }

    func end(_ id: String) {
        lock.withLock {
            guard var entry = entries[id] else { return }
            entry.count -= 1
            entries[id] = entry.count > 0 ? entry : nil
        }
    }

    func contains(_ id: String, now: Date) -> Bool {
        lock.withLock { entries[id].map { $0.count > 0 && now.timeIntervalSince($0.since) < grace } ?? false }
    }
}

/// Responses of receipts replayed recently, by receipt token: a stored response never changes, so
/// later replays skip the store. The entry holds the response ready to send (built once).
final class ReplayCache: @unchecked Sendable {
    struct Entry {
        let challengeID: String
        let resource: Resource
        let grantExpiresAt: Date
        let response: GateResponse
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var order: [String?]
    private var next = 0

    init(capacity: Int) { order = Array(repeating: nil, count: max(1, capacity)) }

    /// The stored response for a receipt token, if remembered, for this resource, within its grant.
    func response(for token: String, resource: Resource, now: Date) -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[token], entry.resource == resource, now < entry.grantExpiresAt else { return nil }
        return entry
    }

    func remember(_ token: String, _ entry: Entry) {
        lock.lock()
        defer { lock.unlock() }
        guard entries[token] == nil else { return }
        if let evicted = order[next] { entries[evicted] = nil }
        order[next] = token
        next = (next + 1) % order.count
        entries[token] = entry
    }
}
