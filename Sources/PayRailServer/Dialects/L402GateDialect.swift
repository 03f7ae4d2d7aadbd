import Foundation
import PayRail
import PayRailStore
import PayRailWire

/// L402 (and LSAT): `Authorization: L402 <macaroon>:<preimage>`, a macaroon minted by this server
/// for one Lightning invoice, paid by its preimage.
///
/// Credentials come back under the invoice's payment hash (`offer:lightning:<hash>`), the key every
/// Lightning dialect shares, so one invoice pays one challenge whichever dialect presents it.
public struct L402GateDialect: GateDialect {
    /// Creates the dialect.
    public init() {}

    /// L402.
    public var wireDialect: PaymentDialect { .l402 }

    /// No: an L402 token (macaroon and preimage) is a bearer token reusable by design (bLIP-26),
    /// so the same token, however it is spelled (`L402`/`LSAT`, `Macaroon` fields), replays its
    /// stored response or re-serves its grant until the grant ends; it never settles twice.
    public var proofIsSingleUse: Bool { false }

    /// Yes: a token is looked up under its invoice's rail offer key (`lookup`), the key a bound offer
    /// is found by. L402 carries Lightning offers only, and those are never bound (each needs its
    /// invoice from the node), so a 402 of bound offers names no L402 key and stores nothing for it.
    public var findsBoundOffers: Bool { true }

    /// The `Authorization: L402`/`LSAT` value (or a `Macaroon` header).
    public func read(_ request: GateRequest) throws(WireError) -> GateReading<L402Credential>? {
        try L402Credential.find(in: request.headers).map { .credential($0) }
    }

    /// Every Lightning offer, when this server mints macaroons at all.
    public func keys(for issued: IssuedChallenge, context: GateDialectContext) -> [ChallengeKey] {
        guard context.configuration.macaroonRootKey != nil else { return [] }
        return issued.record.offers.filter { $0.rail == .lightning }.map(ChallengeKey.offer)
    }

    /// The macaroon's signature, caveats and preimage, then the payment hash it names.
    public func lookup(_ presentation: L402Credential, context: GateDialectContext) async throws(GateRefusal) -> CredentialLookup {
        guard let rootKey = context.configuration.macaroonRootKey else {
            throw GateRefusal(credential: .methodUnsupported, detail: "this server does not accept L402", logReason: "l402-disabled")
        }
        let credential: Credential
        do {
            _ = try presentation.verify(rootKey: rootKey, checker: L402CaveatChecker(service: context.configuration.l402Service, now: context.now))
            credential = try presentation.domainCredential()
        } catch {
            throw GateRefusal(credential: .verificationFailed, detail: "the L402 token does not verify: \(error.reason)", logReason: "l402-verify")
        }
        return CredentialLookup(key: ChallengeKey.railOfferKey(credential.rail, credential.offerID), rail: credential.rail,
                                credential: credential)
    }

    /// The macaroon already proved which invoice it pays; the rail checks the preimage again.
    public func credential(_ presentation: L402Credential, lookup: CredentialLookup, answering offer: Offer, of record: ChallengeRecord,
                           context: GateDialectContext) throws(GateRefusal) -> Credential {
        guard let credential = lookup.credential else {
            throw GateRefusal(credential: .verificationFailed, detail: "the L402 token does not verify", logReason: "l402-verify",
                              challengeID: record.id)
        }
        return credential
    }
}
