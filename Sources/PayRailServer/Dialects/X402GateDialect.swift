import Foundation
import PayRail
import PayRailStore
import PayRailCrypto
import PayRailWire

/// x402: version 2 (`PAYMENT-SIGNATURE`, answered with `PAYMENT-RESPONSE`) and version 1
/// (`X-PAYMENT`, read only, answered with `X-PAYMENT-RESPONSE`, `payrail:fake` only).
///
/// Credentials come back under the rail's offer id (`offer:<rail>:<id>`: the invoice's payment hash,
/// the fake request id, a Stripe card offer's `extra.payrailOfferId`), which the echoed `accepted`
/// requirements name; the accepted requirements must then be the ones this server offers for that
/// offer. A card payload `{token, paymentId}` settles as an authorization (scheme_auth_capture_card.md
/// §4.5); the gate's completion captures or voids it through the rail's `finish`.
public struct X402GateDialect: GateDialect {
    /// The x402 protocol version a conformer reads.
    public enum Version: Sendable {
        /// Version 2 (`PAYMENT-SIGNATURE`).
        case v2
        /// Version 1 (`X-PAYMENT`), payrail:fake vouchers only.
        case v1
    }

    /// What is kept of an x402 payment: the payload (version 2 only) and the rail credential.
    public struct Presentation: Sendable {
        /// The decoded `PAYMENT-SIGNATURE`; `nil` for version 1, which carries only scheme and network.
        public let payload: X402PaymentPayload?
        /// The rail credential the payload carries.
        public let credential: Credential
    }

    /// The version this conformer reads.
    public let version: Version

    /// Creates the dialect for one version.
    public init(version: Version) { self.version = version }

    /// `x402` or `x402-v1`.
    public var wireDialect: PaymentDialect { version == .v2 ? .x402 : .x402v1 }

    /// Its credentials name their offer id, so a bound offer is found without a stored record.
    public var findsBoundOffers: Bool { true }

    static let identifierPrefix = "x402-payment-identifier|"

    /// The version's payment header, decoded.
    public func read(_ request: GateRequest) throws(WireError) -> GateReading<Presentation>? {
        if case .mcpMeta(let meta) = request.source {
            // Over MCP the payload is a JSON object in `_meta` (x402 specs/transports-v2/mcp.md); v1 has no MCP form.
            guard version == .v2, let value = try MCPCredentialMeta.x402PaymentSignature(in: meta) else { return nil }
            let (payload, credential) = try X402Server.readCredential(value)
            return .credential(Presentation(payload: payload, credential: credential))
        }
        switch version {
        case .v2:
            guard let value = request.headers[CredentialFields.paymentSignature] else { return nil }
            let (payload, credential) = try X402Server.readCredential(value)
            return .credential(Presentation(payload: payload, credential: credential))
        case .v1:
            guard let value = request.headers[CredentialFields.xPayment] else { return nil }
            return .credential(Presentation(payload: nil, credential: try Self.v1Credential(X402Codec.decodeVersion1Payment(value))))
        }
    }

    /// Every offer, under its rail offer id (version 1 pays fake offers only).
    public func keys(for issued: IssuedChallenge, context: GateDialectContext) -> [ChallengeKey] {
        issued.record.offers.filter { version == .v2 || $0.rail == .fake }.map(ChallengeKey.offer)
    }

    /// The key of the offer the payment names.
    public func lookup(_ presentation: Presentation, context: GateDialectContext) async throws(GateRefusal) -> CredentialLookup {
        let credential = presentation.credential
        return CredentialLookup(key: ChallengeKey.railOfferKey(credential.rail, credential.offerID), rail: credential.rail,
                                credential: credential)
    }

    /// Version 2's `accepted` must be one of the requirements this server writes for the offer
    /// (recomputed with this request's binding); version 1 carries none to compare.
    public func credential(_ presentation: Presentation, lookup: CredentialLookup, answering offer: Offer, of record: ChallengeRecord,
                           context: GateDialectContext) throws(GateRefusal) -> Credential {
        if let payload = presentation.payload {
            let offerContext = X402OfferContext(now: record.createdAt, requestBinding: context.requestBinding,
                                                cardNetworks: context.x402CardNetworks)
            let offered = (try? X402PaymentRequirements.requirements(for: offer, context: offerContext)) ?? []
            guard offered.contains(where: { X402Server.accepted(payload.accepted, matches: $0) }) else {
                throw GateRefusal(credential: .paymentInsufficient, detail: "the accepted requirements are not the ones offered",
                                  logReason: "x402-mismatch", challengeID: record.id)
            }
        }
        return presentation.credential
    }

    /// The settlement response, echoing the payment identifier.
    public func grantFields(_ presentation: Presentation, settlement: Settlement, context: GateDialectContext) -> HTTPFields {
        var fields = HTTPFields()
        let network = presentation.payload?.accepted.network ?? X402Network.fake
        var extensions: [String: JSONValue] = [:]
        if let payload = presentation.payload, let identifier = try? X402PaymentIdentifier.extract(from: payload.extensions) {
            extensions = identifier.appended(to: [:])
        }
        // `amount`: the settled amount in the requirements' atomic units (x402 v2 SettlementResponse);
        // the gate granted only because the settlement equals the offered amount.
        let response = X402SettlementResponse(success: true, transaction: settlement.reference, network: network,
                                              amount: presentation.payload?.accepted.amount, extensions: extensions)
        if let value = try? X402Codec.encodePaymentResponse(response) {
            fields.append(version == .v2 ? X402HeaderName.paymentResponse : X402HeaderName.xPaymentResponse, value)
        }
        return fields
    }

    /// Version 2's `payment-identifier`, as a slot whose payload is the request and the payment
    /// itself: the same payment sent again replays, another payment under the same identifier is a
    /// conflict. An unreadable payment has no slot (the credential path refuses it).
    public func idempotencySlots(_ request: GateRequest) -> [IdempotencySlot] {
        // Over MCP the payload (and its identifier) travels in `_meta["x402/payment"]`.
        var mcpValue: String?
        if case .mcpMeta(let meta) = request.source { mcpValue = try? MCPCredentialMeta.x402PaymentSignature(in: meta) }
        guard version == .v2, let value = mcpValue ?? request.headers[X402HeaderName.paymentSignature],
              let (payload, credential) = try? X402Server.readCredential(value),
              let identifier = try? X402PaymentIdentifier.extract(from: payload.extensions)
        else { return [] }
        var binding = "\(request.method) \(request.path)\n\(request.bodyDigest ?? "")\n\(credential.rail)|\(credential.offerID)"
        for key in credential.payload.keys.sorted() { binding += "\n\(key)=\(credential.payload[key] ?? "")" }
        return [IdempotencySlot(key: Self.identifierPrefix + identifier.id, payloadHash: Data(SHA256.hash(Array(binding.utf8))),
                                conflict: .paymentIdentifierReused)]
    }

    /// A version 1 payment carries only scheme and network; PayRail reads its fake voucher.
    static func v1Credential(_ payload: X402V1PaymentPayload) throws(WireError) -> Credential {
        guard payload.network == X402Network.fake, case .string(let voucher)? = payload.payload["voucher"], !voucher.isEmpty else {
            throw WireError(.unsupported, "x402 v1 payments are accepted on payrail:fake only")
        }
        guard let rid = GateConfiguration.voucherRequestID(.fake, voucher) else {
            throw WireError(.malformed, "the v1 voucher names no request")
        }
        return Credential(rail: .fake, offerID: rid, payload: ["voucher": voucher])
    }
}
