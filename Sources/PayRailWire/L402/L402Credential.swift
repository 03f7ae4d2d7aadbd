import Foundation
import PayRail
import PayRailCrypto

/// An L402 credential: `Authorization: L402 <std base64 macaroon>[,<macaroon>…]:<64 hex preimage>`.
///
/// The preimage proves the invoice was paid (its SHA-256 is the payment hash in the macaroon's
/// identifier); the macaroon proves the server issued the token. The preimage is secret until it is
/// presented, so `description` never shows it.
public struct L402Credential: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The scheme it came in (agents write `L402`).
    public var scheme: L402Scheme
    /// The macaroons before the colon; the first is the token, more are allowed by the specification
    /// (aperture refuses them, and verification here refuses them as unsupported discharges).
    public var macaroons: [Macaroon]
    /// The 32-byte payment preimage.
    public var preimage: [UInt8]

    /// The largest credential value accepted; larger ones are refused before decoding.
    public static let maximumValueByteCount = 16 * 1024

    /// Makes a credential from one macaroon and the preimage of the invoice it is bound to.
    ///
    /// - Throws: `WireError` `.malformed` unless the preimage is 32 bytes.
    public init(scheme: L402Scheme = .l402, macaroon: Macaroon, preimage: [UInt8]) throws(WireError) {
        try self.init(scheme: scheme, macaroons: [macaroon], preimage: preimage)
    }

    /// Makes a credential with several macaroons (the specification's form; aperture refuses it).
    ///
    /// - Throws: `WireError` `.malformed` unless the preimage is 32 bytes, `.missingField` for no macaroon.
    public init(scheme: L402Scheme, macaroons: [Macaroon], preimage: [UInt8]) throws(WireError) {
        guard !macaroons.isEmpty else { throw WireError(.missingField, "an L402 credential needs a macaroon") }
        guard preimage.count == 32 else { throw WireError(.malformed, "an L402 preimage is 32 bytes, not \(preimage.count)") }
        self.scheme = scheme
        self.macaroons = macaroons
        self.preimage = preimage
    }

    /// Agent side: the credential answering a Lightning `offer` read from an L402 challenge (its
    /// `macaroon` detail) once the invoice is paid and `preimage` is known.
    ///
    /// - Throws: `WireError` `.missingField` when the offer did not come from an L402 challenge,
    ///   `.bindingMismatch` when the preimage does not pay the macaroon's payment hash (do not send it:
    ///   the server would refuse it), else as `Macaroon(base64:)`, `L402Identifier(bytes:)` and the
    ///   initializers.
    public init(answering offer: Offer, preimage: [UInt8]) throws(WireError) {
        guard let text = offer.details["macaroon"] else {
            throw WireError(.missingField, "the offer carries no L402 macaroon; it did not come from an L402 challenge")
        }
        let macaroon = try Macaroon(base64: text)
        // The macaroon's identifier is what the server checks the preimage against, so check it here.
        let identifier = try L402Identifier(bytes: macaroon.identifier)
        guard constantTimeEquals(SHA256.hash(preimage), identifier.paymentHash) else {
            throw WireError(.bindingMismatch, "the preimage does not match the payment hash of the offer's macaroon")
        }
        try self.init(macaroon: macaroon, preimage: preimage)
    }

    /// The value of the `Authorization` field: `L402 <b64>[,<b64>]:<lowercase hex>`. Agents send one
    /// such field (aperture reads the last one, the specification a single one).
    public var authorizationValue: String {
        scheme.rawValue + " " + macaroons.map(\.base64).joined(separator: ",") + ":" + L402Hex.encode(preimage)
    }

    /// The preimage as lowercase hex (secret until presented).
    public var preimageHex: String { L402Hex.encode(preimage) }

    /// Log-safe: the scheme and the macaroon count, never the preimage or signatures.
    public var description: String { "L402Credential(scheme: \(scheme.rawValue), macaroons: \(macaroons.count))" }

    /// Same as `description`: never the preimage.
    public var debugDescription: String { description }

    /// Hides the preimage from `dump` and debuggers.
    public var customMirror: Mirror {
        Mirror(self, children: ["scheme": scheme, "macaroons": macaroons.map(\.description)])
    }

    /// Parses one `Authorization` value (the fuzzed entry point).
    ///
    /// Accepts `L402` or `LSAT` in any case, one or more comma-separated standard-base64 macaroons
    /// (padding optional), one `:`, and 64 hex digits in either case.
    ///
    /// - Throws: `WireError` `.tooLarge` above `maximumValueByteCount` (checked first),
    ///   `.unsupported` for another scheme, `.malformed` for anything else (an extra colon, a short
    ///   preimage, a token that is not a V2 macaroon). The same value always fails the same way.
    public static func parse(authorization value: String) throws(WireError) -> L402Credential {
        guard value.utf8.count <= maximumValueByteCount else {
            throw WireError(.tooLarge, "the L402 credential is \(value.utf8.count) bytes; at most \(maximumValueByteCount) are accepted")
        }
        let trimmed = value.trimmingWireWhitespace()
        guard let space = trimmed.firstIndex(of: " ") else {
            throw WireError(.malformed, "an L402 credential is 'L402 <macaroon>:<preimage>'")
        }
        guard let scheme = L402Scheme(caseInsensitive: trimmed[..<space]) else {
            throw WireError(.unsupported, "the credential is not of the L402 or LSAT scheme")
        }
        let rest = trimmed[space...].drop { $0 == " " }
        let halves = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard halves.count == 2, let tokens = halves.first, let preimageText = halves.last else {
            throw WireError(.malformed, "an L402 credential has exactly one ':' between macaroons and preimage")
        }
        guard preimageText.utf8.count == 64, let preimage = L402Hex.decode(String(preimageText)) else {
            throw WireError(.malformed, "the L402 preimage must be 64 hex digits")
        }
        var macaroons: [Macaroon] = []
        for token in tokens.split(separator: ",", omittingEmptySubsequences: false) {
            guard !token.isEmpty else { throw WireError(.malformed, "an L402 credential has an empty macaroon") }
            macaroons.append(try Macaroon(base64: String(token)))
        }
        return try L402Credential(scheme: scheme, macaroons: macaroons, preimage: preimage)
    }

    /// Parses the hex macaroon aperture reads from `Grpc-Metadata-Macaroon` or `Macaroon`; the preimage
    /// is then the value of its last `preimage=<hex>` caveat (aperture's `HasCaveat`: last one wins).
    ///
    /// - Throws: `WireError` `.missingField` without a preimage caveat, `.malformed` for a bad preimage
    ///   or hex, else as `Macaroon(hex:)`.
    public static func parse(macaroonHeader value: String) throws(WireError) -> L402Credential {
        let macaroon = try Macaroon(hex: value.trimmingWireWhitespace())
        var preimageText: String?
        for caveat in macaroon.caveats {
            guard let predicate = caveat.predicate, let parsed = try? L402Caveat(parsing: predicate),
                  parsed.condition == "preimage" else { continue }
            preimageText = parsed.value
        }
        guard let preimageText else {
            throw WireError(.missingField, "the macaroon header carries no preimage= caveat")
        }
        guard preimageText.utf8.count == 64, let preimage = L402Hex.decode(preimageText) else {
            throw WireError(.malformed, "the macaroon's preimage caveat is not 64 hex digits")
        }
        return try L402Credential(scheme: .l402, macaroon: macaroon, preimage: preimage)
    }

    /// Finds the L402 credential of a request: `Authorization` values of scheme `L402`/`LSAT` first
    /// (aperture's client sends the same credential under both; they must then agree), otherwise
    /// `Grpc-Metadata-Macaroon`, then `Macaroon`. Returns `nil` when the request carries none.
    ///
    /// - Throws: `WireError` `.multipleCredentials` when two L402 `Authorization` values differ (which
    ///   one the client meant is unknowable), else as the parsers.
    public static func find(in fields: HTTPFields) throws(WireError) -> L402Credential? {
        var found: L402Credential?
        for value in fields.values(CredentialFields.authorization) {
            let scheme = value.trimmingWireWhitespace().prefix { $0 != " " }
            guard L402Scheme(caseInsensitive: scheme) != nil else { continue }
            let credential = try parse(authorization: value)
            if let found, found.macaroons != credential.macaroons || found.preimage != credential.preimage {
                throw WireError(.multipleCredentials, "the request carries different L402 credentials; send one")
            }
            if found == nil || credential.scheme == .l402 { found = credential }
        }
        if let found { return found }
        for name in CredentialFields.macaroonFields {
            if let value = fields[name] { return try parse(macaroonHeader: value) }
        }
        return nil
    }

    /// Server side: checks the credential against the macaroon root key returned by `rootKey` for its
    /// identifier (aperture keeps one random key per token; a single server-wide key also works).
    ///
    /// Order: identifier layout, signature (constant time), `sha256(preimage) == payment hash`
    /// (constant time), then the caveats with `checker`. Returns the identifier so the caller can
    /// match the payment hash to its challenge and refuse replays (that needs state, so it is not here).
    ///
    /// - Throws: `WireError` `.unsupported` for several macaroons (discharges are not supported) or an
    ///   unknown identifier version, `.bindingMismatch` for an unknown token (`rootKey` returned nil),
    ///   a bad signature or a preimage that does not pay this token, `.expired` /
    ///   `.caveatNotSatisfied` from the checker. Never retry the same credential: answer 402 with a
    ///   fresh challenge.
    public func verify(
        rootKey: (L402Identifier) -> [UInt8]?, checker: L402CaveatChecker
    ) throws(WireError) -> L402Identifier {
        guard macaroons.count == 1, let macaroon = macaroons.first else {
            throw WireError(.unsupported, "L402 credentials with several macaroons (discharges) are not supported")
        }
        let identifier = try L402Identifier(bytes: macaroon.identifier)
        guard let key = rootKey(identifier) else {
            throw WireError(.bindingMismatch, "the L402 token was not issued here (no root key for its identifier)")
        }
        let predicates = try macaroon.authenticatedPredicates(rootKey: key)
        guard constantTimeEquals(SHA256.hash(preimage), identifier.paymentHash) else {
            throw WireError(.bindingMismatch, "the preimage does not pay the invoice this L402 token is bound to")
        }
        try checker.check(predicates)
        return identifier
    }

    /// `verify(rootKey:checker:)` with one server-wide root key.
    public func verify(rootKey: [UInt8], checker: L402CaveatChecker) throws(WireError) -> L402Identifier {
        try verify(rootKey: { _ in rootKey }, checker: checker)
    }

    /// The domain credential for the gate: rail `lightning`, offer id = payment hash hex, payload
    /// `preimage` (hex) and `macaroon` (standard base64 of the first macaroon).
    ///
    /// - Throws: `WireError` as `L402Identifier(bytes:)` when the macaroon is not an L402 token.
    public func domainCredential() throws(WireError) -> Credential {
        guard let macaroon = macaroons.first else { throw WireError(.missingField, "an L402 credential needs a macaroon") }
        let identifier = try L402Identifier(bytes: macaroon.identifier)
        return Credential(rail: .lightning, offerID: identifier.paymentHashHex,
                          payload: ["preimage": preimageHex, "macaroon": macaroon.base64])
    }
}
