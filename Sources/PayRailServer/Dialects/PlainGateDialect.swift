import Foundation
import PayRail
import PayRailStore
import PayRailWire

/// The founding article's plain dialect: a JSON 402 body, answered with `X-Receipt: <proof>`, where
/// the proof is a Lightning preimage, a rail's own proof (a fake voucher), a Payment-scheme
/// credential, or a PayRail receipt token presented again to replay.
///
/// Preimages come back under their payment hash and rail proofs under the offer id the proof names
/// (`offer:<rail>:<id>`: a fake voucher's `rid`, a Stripe PaymentIntent's own `pi_…`); a Payment
/// credential in `X-Receipt` is checked exactly as the Payment scheme checks it, and only told in
/// this dialect.
public struct PlainGateDialect: GateDialect {
    /// What an `X-Receipt` value carried.
    public enum Presentation: Sendable {
        /// A Payment-scheme credential, checked as `PaymentGateDialect` checks it.
        case payment(PaymentCredential)
        /// A preimage or a rail proof.
        case proof(PlainReceipt)
    }

    private let payment = PaymentGateDialect()

    /// Creates the dialect.
    public init() {}

    /// The plain dialect.
    public var wireDialect: PaymentDialect { .plain }

    /// Its credentials name their offer id, so a bound offer is found without a stored record.
    public var findsBoundOffers: Bool { true }

    /// The `X-Receipt` value, classified.
    public func read(_ request: GateRequest) throws(WireError) -> GateReading<Presentation>? {
        guard let value = request.headers[CredentialFields.receipt] else { return nil }
        switch try PlainReceipt.parse(value) {
        case .receiptToken(let token): return .receiptToken(token)
        case .paymentCredential(let credential): return .credential(.payment(credential))
        case let other: return .credential(.proof(other))
        }
    }

    /// Every offer under its rail offer id.
    public func keys(for issued: IssuedChallenge, context: GateDialectContext) -> [ChallengeKey] {
        issued.record.offers.map(ChallengeKey.offer)
    }

    /// A preimage by its payment hash; a rail proof by the offer id it names (the first configured
    /// rail that can read one).
    public func lookup(_ presentation: Presentation, context: GateDialectContext) async throws(GateRefusal) -> CredentialLookup {
        let plain: PlainReceipt
        switch presentation {
        case .payment(let credential): return try await payment.lookup(credential, context: context)
        case .proof(let proof): plain = proof
        }
        if let hash = plain.paymentHash {
            return CredentialLookup(key: ChallengeKey.railOfferKey(.lightning, hash), rail: .lightning)
        }
        guard case .railProof(let proof) = plain else {
            throw GateRefusal(credential: .malformedCredential, detail: "the X-Receipt value is not a payment proof", logReason: "plain-malformed")
        }
        for rail in context.configuration.rails {
            if let offerID = context.configuration.plainProofOfferID(rail.id, proof) {
                let credential = Credential(rail: rail.id, offerID: offerID, payload: [PlainReceipt.proofField(for: rail.id, proof: proof): proof])
                return CredentialLookup(key: ChallengeKey.railOfferKey(rail.id, offerID), rail: rail.id, credential: credential)
            }
        }
        throw GateRefusal(credential: .malformedCredential, detail: "the X-Receipt proof names no offer of this server", logReason: "plain-unknown")
    }

    /// A preimage must pay the offer's invoice; a rail proof is the rail's to verify.
    public func credential(_ presentation: Presentation, lookup: CredentialLookup, answering offer: Offer, of record: ChallengeRecord,
                           context: GateDialectContext) throws(GateRefusal) -> Credential {
        switch presentation {
        case .payment(let credential):
            return try payment.credential(credential, lookup: lookup, answering: offer, of: record, context: context)
        case .proof(let plain):
            if let credential = lookup.credential { return credential }
            do { return try plain.credential(for: offer) } catch {
                throw GateRefusal(credential: .Lightning.invalidPreimage, detail: "the preimage does not pay this offer", logReason: "preimage",
                                  challengeID: record.id)
            }
        }
    }
}
