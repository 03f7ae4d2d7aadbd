import PayRailCrypto

// Macaroons as libmacaroons and go-macaroon define them (not as the L402 repository's prose describes
// them: that text omits the root-key derivation and misnumbers the binary fields). Only what L402 needs
// is built: first-party caveats are minted and checked; third-party caveats are parsed and carried so a
// token that has them round-trips, but verification refuses them because we hold no discharge macaroons.

/// One caveat of a macaroon: a first-party predicate such as `services=weather:0`, or a third-party
/// caveat that some other service must discharge.
public struct MacaroonCaveat: Hashable, Sendable {
    /// The caveat id: the predicate text for a first-party caveat, an opaque id for a third-party one.
    public let identifier: [UInt8]
    /// The encrypted verification key of a third-party caveat; `nil` marks a first-party caveat.
    public let verificationID: [UInt8]?
    /// Where a third-party caveat is discharged; first-party caveats have none.
    public let location: String?

    /// A first-party caveat holding `predicate` (by L402 convention `condition=value`).
    public init(firstParty predicate: String) {
        identifier = Array(predicate.utf8)
        verificationID = nil
        location = nil
    }

    /// A first-party caveat whose id bytes came off the wire (they may not be UTF-8).
    init(firstPartyIdentifier identifier: [UInt8]) {
        self.identifier = identifier
        verificationID = nil
        location = nil
    }

    /// A third-party caveat as read from the wire; kept only so that such tokens round-trip.
    public init(thirdPartyIdentifier identifier: [UInt8], verificationID: [UInt8], location: String?) {
        self.identifier = identifier
        self.verificationID = verificationID
        self.location = location
    }

    /// Whether the issuer itself checks this caveat (no verification id).
    public var isFirstParty: Bool { verificationID == nil }

    /// The predicate of a first-party caveat as text, or `nil` for a third-party caveat or bytes that
    /// are not UTF-8 (such a predicate can never be satisfied by a text checker, so it fails closed).
    public var predicate: String? {
        guard isFirstParty else { return nil }
        return String(validating: identifier, as: UTF8.self)
    }
}

/// A macaroon: a bearer token whose holder can add caveats (restrictions) but never remove them,
/// because each caveat re-keys the HMAC chain that ends in `signature`.
///
/// The chain, as in libmacaroons, go-macaroon and pymacaroons:
/// `k = HMAC("macaroons-key-generator", rootKey)`, `sig = HMAC(k, identifier)`, then
/// `sig = HMAC(sig, caveat)` per first-party caveat. The location is not signed.
public struct Macaroon: Hashable, Sendable, CustomStringConvertible {
    /// A hint where the macaroon is used (aperture writes `lsat`); unsigned, so never trust it. Empty
    /// when absent.
    public let location: String
    /// The issuer's id for the token, which also selects its root key (for L402: `L402Identifier`).
    public let identifier: [UInt8]
    /// The caveats in the order they were added; the order matters for the signature.
    public let caveats: [MacaroonCaveat]
    /// The 32-byte end of the HMAC chain; whoever holds it can add caveats, so treat it as secret.
    public let signature: [UInt8]

    /// The fewest root-key bytes `mint` accepts: a shorter key could be guessed offline from any token.
    public static let minimumRootKeyByteCount = 16

    /// Builds a macaroon from parts already on the wire; nothing is checked until `verify`.
    public init(location: String, identifier: [UInt8], caveats: [MacaroonCaveat], signature: [UInt8]) {
        self.location = location
        self.identifier = identifier
        self.caveats = caveats
        self.signature = signature
    }

    /// Mints a new macaroon under `rootKey` with first-party caveats `predicates`, in order.
    ///
    /// - Throws: `WireError` `.malformed` when the root key is shorter than
    ///   `minimumRootKeyByteCount` (use 32 random bytes from `SecureRandom`).
    public static func mint(
        rootKey: [UInt8], identifier: [UInt8], location: String = "", firstPartyCaveats predicates: [String] = []
    ) throws(WireError) -> Macaroon {
        guard rootKey.count >= minimumRootKeyByteCount else {
            throw WireError(.malformed, "a macaroon root key needs at least \(minimumRootKeyByteCount) bytes; use 32 random bytes")
        }
        var macaroon = Macaroon(
            location: location, identifier: identifier, caveats: [],
            signature: HMACSHA256.authenticationCode(for: identifier, key: derivedKey(rootKey: rootKey))
        )
        for predicate in predicates { macaroon = macaroon.addingFirstPartyCaveat(predicate) }
        return macaroon
    }

    /// The same macaroon restricted further by `predicate`; any holder can do this without the root key.
    public func addingFirstPartyCaveat(_ predicate: String) -> Macaroon {
        let caveat = MacaroonCaveat(firstParty: predicate)
        return Macaroon(
            location: location, identifier: identifier, caveats: caveats + [caveat],
            signature: HMACSHA256.authenticationCode(for: caveat.identifier, key: signature)
        )
    }

    /// The key the chain starts from. libmacaroons hashes the root key first so that root keys of any
    /// length and shape give a uniform 32-byte HMAC key; skipping this step (as the L402 repository's
    /// prose does) yields signatures no other implementation accepts.
    public static func derivedKey(rootKey: [UInt8]) -> [UInt8] {
        HMACSHA256.authenticationCode(for: rootKey, key: Array("macaroons-key-generator".utf8))
    }

    /// Checks the signature under `rootKey`, then that `isSatisfied` accepts every first-party caveat
    /// (libmacaroons semantics: an unknown caveat is a failed caveat).
    ///
    /// - Throws: `WireError` `.bindingMismatch` for a wrong signature (the token was forged, altered or
    ///   minted under another key: do not retry with it), `.unsupported` for a third-party caveat, and
    ///   `.bindingMismatch` naming the first caveat that does not hold (time checks belong to the
    ///   caller's predicate).
    public func verify(rootKey: [UInt8], isSatisfied: (String) -> Bool) throws(WireError) {
        let predicates = try authenticatedPredicates(rootKey: rootKey)
        for (index, predicate) in predicates.enumerated() where !isSatisfied(predicate) {
            throw WireError(.bindingMismatch, "macaroon caveat \(index + 1) is not satisfied")
        }
    }

    /// Recomputes the chain, compares it with `signature` in constant time, and only then returns the
    /// first-party predicates, so no caller ever inspects caveats of a forged token.
    func authenticatedPredicates(rootKey: [UInt8]) throws(WireError) -> [String] {
        guard !rootKey.isEmpty else { throw WireError(.malformed, "the macaroon root key is empty") }
        var chain = HMACSHA256.authenticationCode(for: identifier, key: Self.derivedKey(rootKey: rootKey))
        var predicates: [String] = []
        predicates.reserveCapacity(caveats.count)
        for caveat in caveats {
            guard caveat.isFirstParty else {
                throw WireError(.unsupported, "the macaroon has a third-party caveat, which needs discharge macaroons PayRail does not handle")
            }
            chain = HMACSHA256.authenticationCode(for: caveat.identifier, key: chain)
            // Non-UTF-8 predicates cannot be checked as text; an empty marker never satisfies a checker.
            predicates.append(caveat.predicate ?? "\u{FFFD}")
        }
        guard signature.count == HMACSHA256.byteCount, constantTimeEquals(chain, signature) else {
            throw WireError(.bindingMismatch, "the macaroon signature does not verify under this root key")
        }
        return predicates
    }

    /// A log-safe summary: never the signature, which lets its holder derive restricted tokens.
    public var description: String {
        "Macaroon(location: \"\(location)\", identifier: \(identifier.count) bytes, caveats: \(caveats.count))"
    }
}
