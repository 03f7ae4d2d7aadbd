import Foundation
import PayRailCrypto

/// The stateless challenge id of draft -02: base64url(HMAC-SHA256(secret, input)) where input is the
/// seven slots `realm|method|intent|request|expires|digest|opaque` (absent ones empty) and, only when the
/// challenge has `header`, an eighth slot `|Payment-Authorization`.
///
/// `description` is not bound. The delimiter is not escaped (aperture records two parameter sets that
/// collide), which is why ``ChallengeIDKeyring/bind(_:)`` refuses `|` in realm, method and intent.
public enum ChallengeID {
    /// The exact HMAC input for a challenge.
    public static func bindingInput(for challenge: PaymentChallenge) -> String {
        String(decoding: bindingBytes(for: challenge), as: UTF8.self)
    }

    /// `bindingInput` as the bytes the HMAC reads, written once into one buffer (every 402 and every
    /// Payment credential computes it; the request slot alone is hundreds of bytes).
    static func bindingBytes(for challenge: PaymentChallenge) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(
            8 + challenge.realm.utf8.count + challenge.method.utf8.count + challenge.intent.utf8.count + challenge.request.utf8.count
                + (challenge.expires?.utf8.count ?? 0) + (challenge.digest?.utf8.count ?? 0) + (challenge.opaque?.utf8.count ?? 0)
                + (challenge.header?.utf8.count ?? 0))
        // The slots one by one, not through an array of them: every 402 and every credential binds.
        bytes.append(contentsOf: challenge.realm.utf8)
        bytes.append(0x7C)
        bytes.append(contentsOf: challenge.method.utf8)
        bytes.append(0x7C)
        bytes.append(contentsOf: challenge.intent.utf8)
        bytes.append(0x7C)
        bytes.append(contentsOf: challenge.request.utf8)
        bytes.append(0x7C)
        if let expires = challenge.expires { bytes.append(contentsOf: expires.utf8) }
        bytes.append(0x7C)
        if let digest = challenge.digest { bytes.append(contentsOf: digest.utf8) }
        bytes.append(0x7C)
        if let opaque = challenge.opaque { bytes.append(contentsOf: opaque.utf8) }
        if let header = challenge.header {
            bytes.append(0x7C)
            bytes.append(contentsOf: header.utf8)
        }
        return bytes
    }

    /// The id of `challenge` under `key` (43 base64url characters).
    public static func compute(for challenge: PaymentChallenge, key: HMACKey) -> String {
        Base64URL.encode(key.authenticationCode(for: bindingBytes(for: challenge)))
    }
}

/// The server's challenge-id secrets: the current one, which makes and verifies ids, and retired ones,
/// each still verifying until a cut-off, so that rotating the secret does not void challenges already
/// handed out.
///
/// The secrets never leave this value: not in errors, not in descriptions.
public struct ChallengeIDKeyring: Sendable, CustomStringConvertible {
    private let current: HMACKey
    private let retired: [(key: HMACKey, acceptUntil: Date)]
    // The bound-offer key of `current`, derived once: a 402 MACs its bound offers with it, and
    // deriving it costs two more HMACs and a key setup per offer.
    private let currentOfferKey: HMACKey?

    /// Makes a keyring.
    ///
    /// - Parameters:
    ///   - currentSecret: the secret new ids are made with; at least 32 random bytes are recommended.
    ///   - retiredSecrets: earlier secrets, each verifying until `acceptUntil` (set it to the rotation
    ///     time plus the longest challenge lifetime).
    /// - Throws: `.missingField` for an empty secret.
    public init(currentSecret: [UInt8], retiredSecrets: [(secret: [UInt8], acceptUntil: Date)] = []) throws(WireError) {
        current = try Self.key(currentSecret)
        var keys: [(key: HMACKey, acceptUntil: Date)] = []
        for entry in retiredSecrets { keys.append((try Self.key(entry.secret), entry.acceptUntil)) }
        retired = keys
        currentOfferKey = Self.offerKey(current)
    }

    private init(current: HMACKey, retired: [(key: HMACKey, acceptUntil: Date)]) {
        self.current = current
        self.retired = retired
        currentOfferKey = Self.offerKey(current)
    }

    private static func key(_ secret: [UInt8]) throws(WireError) -> HMACKey {
        do { return try HMACKey(secret) } catch {
            throw WireError(.missingField, "a challenge-id secret is empty; configure a random secret of at least 32 bytes")
        }
    }

    /// A keyring whose current secret is `newSecret`; the old current secret keeps verifying until
    /// `rotatedAt + maximumChallengeLifetime`, and retired secrets already past their cut-off are dropped.
    public func rotated(to newSecret: [UInt8], at rotatedAt: Date, maximumChallengeLifetime: TimeInterval) throws(WireError) -> ChallengeIDKeyring {
        let stillValid = retired.filter { $0.acceptUntil > rotatedAt }
        return ChallengeIDKeyring(
            current: try Self.key(newSecret),
            retired: [(current, rotatedAt.addingTimeInterval(maximumChallengeLifetime))] + stillValid)
    }

    /// The challenge with its `id` set from the current secret.
    ///
    /// - Throws: `.malformed` when realm, method or intent contain `|` (two different challenges would
    ///   share an id) or another parameter breaks the draft's grammar.
    public func bind(_ challenge: PaymentChallenge) throws(WireError) -> PaymentChallenge {
        if challenge.realm.utf8.contains(0x7C) || challenge.method.utf8.contains(0x7C) || challenge.intent.utf8.contains(0x7C) {
            let name = challenge.realm.utf8.contains(0x7C) ? "realm" : challenge.method.utf8.contains(0x7C) ? "method" : "intent"
            throw WireError(.malformed, "\(name) must not contain '|': it would make two challenges share one id")
        }
        var bound = challenge
        bound.id = ChallengeID.compute(for: challenge, key: current)
        try bound.validate()
        return bound
    }

    /// The id of a challenge whose other parameters already passed `bind`: the same realm, method,
    /// intent and header, and a request PayRail wrote as base64url (a 402 template,
    /// ChallengeSetTemplate.swift, whose template was made through `bind`). Skips only the grammar
    /// checks those parameters passed.
    func boundID(ofValidated challenge: PaymentChallenge) -> String {
        ChallengeID.compute(for: challenge, key: current)
    }

    /// Checks that `challenge.id` was made by one of the secrets for exactly these parameters, then that
    /// the challenge has not expired.
    ///
    /// - Throws: `.bindingMismatch` when no live secret made this id (forged or altered parameters, or a
    ///   secret retired past its cut-off): answer with a fresh challenge, retrying the same credential
    ///   cannot succeed; `.expired` when `expires` has passed; `.malformed` for an unreadable `expires`.
    public func verify(_ challenge: PaymentChallenge, now: Date) throws(WireError) {
        let presented = Array(challenge.id.utf8)
        var matched = constantTimeEquals(presented, Array(ChallengeID.compute(for: challenge, key: current).utf8))
        for entry in retired where !matched && now < entry.acceptUntil {
            matched = constantTimeEquals(presented, Array(ChallengeID.compute(for: challenge, key: entry.key).utf8))
        }
        guard matched else {
            throw WireError(.bindingMismatch, "the challenge id does not match its parameters under any live secret")
        }
        if let expiry = try challenge.expiryDate(), now >= expiry {
            throw WireError(.expired, "the challenge expired at \(challenge.expires ?? "")")
        }
    }

    /// Says how many secrets there are, never what they are.
    public var description: String { "ChallengeIDKeyring(current + \(retired.count) retired)" }

    // Bound offers (`BoundOfferToken`) are MACed with keys derived from these secrets, never with the
    // secrets themselves: a MAC made for one purpose can then never pass as the other's, whatever a
    // realm or a resource path contains.
    private static func offerKey(_ key: HMACKey) -> HMACKey? {
        try? HMACKey(key.authenticationCode(for: Array("payrail bound offer key v1".utf8)))
    }

    /// The MAC of a bound offer's `macInput` under the current secret, or `nil` when no key could be
    /// derived (the caller then makes no bound offer: fail closed).
    public func offerMAC(_ macInput: [UInt8]) -> [UInt8]? {
        currentOfferKey?.authenticationCode(for: macInput)
    }

    /// Whether `mac` is the MAC of `macInput` under the current secret or a retired one still
    /// verifying at `now` (rotation: the previous secret verifies until its challenges expired).
    ///
    /// `mac` is the whole tag (32 bytes, version 1 ids) or its first 16 bytes (version 2 ids); any
    /// other length never verifies.
    public func verifyOfferMAC(_ macInput: [UInt8], mac: [UInt8], now: Date) -> Bool {
        guard mac.count == 32 || mac.count == 16 else { return false }
        func matches(_ key: HMACKey) -> Bool { constantTimeEquals(mac, Array(key.authenticationCode(for: macInput).prefix(mac.count))) }
        var matched = currentOfferKey.map(matches) ?? false
        for entry in retired where !matched && now < entry.acceptUntil {
            if let derived = Self.offerKey(entry.key) { matched = matches(derived) }
        }
        return matched
    }
}
