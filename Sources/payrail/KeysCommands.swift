import Foundation
import PayRailCrypto
import PayRailReceipts
import PayRailServer

/// `payrail keys ...`: receipt signing keys and the public key set.
enum KeysCommands {
    static let all: [CommandSpec] = [generate, rotateChallenge]

    static let rotateChallenge = CommandSpec(
        path: ["keys", "rotate-challenge"],
        summary: "Rotate the challenge-id secret of a data directory (DIR/challenge-secret), shared by every gate.",
        options: [
            OptionSpec(name: "data", valueName: "DIR", help: "data directory of payrail serve (default ./.payrail)"),
            OptionSpec(name: "phase", valueName: "PHASE", help: "prepare, promote, or both at once (default both)",
                       allowedValues: ["prepare", "promote", "both"]),
            OptionSpec(name: "accept-for", valueName: "SECONDS",
                       help: "how long the old secret still verifies after promote (default 86700: the longest default "
                           + "challenge lifetime plus the presentation grace)"),
        ],
        details: """
        The current secret makes challenge ids and bound offers; other lines of the file are secrets
        still accepted. With several gates: --phase prepare (adds the next secret, accepted but not yet
        used), copy the file to every gate and restart each; then --phase promote (the next secret makes
        ids, the old one verifies for --accept-for seconds), copy and restart again. Nothing presented
        in between is refused. Restart the gate to load the file; secrets are never printed.
        """,
        run: { arguments in try runRotateChallenge(arguments) }
    )

    private static func runRotateChallenge(_ arguments: ParsedArguments) throws -> ExitCode {
        let data = try ServeDataDirectory(path: arguments.value("data") ?? ".payrail")
        let acceptText = arguments.value("accept-for") ?? "86700"
        guard let acceptFor = Int(acceptText), (0...2_592_000).contains(acceptFor) else {
            throw CommandFailure.usage("--accept-for must be a number of seconds from 0 to 2592000")
        }
        var set = try data.challengeKeySet()
        let phase = arguments.value("phase") ?? "both"
        if phase == "prepare" || phase == "both" { set = set.prepared(try SecureRandom.bytes(count: 32)) }
        if phase == "promote" || phase == "both" {
            set = set.promoted(fresh: try SecureRandom.bytes(count: 32), now: Date(), acceptFor: TimeInterval(acceptFor))
        }
        try data.saveChallengeKeySet(set)
        let next = set.accepted.contains(where: \.isNext) ? ", 1 next" : ""
        print("payrail: \(data.url.path)/challenge-secret: 1 current\(next), \(set.accepted.filter { !$0.isNext }.count) retired; "
              + "copy it to every gate and restart them")
        return .success
    }

    static let generate = CommandSpec(
        path: ["keys", "generate"],
        summary: "Generate a receipt signing key and add its verification key to DIR/jwks.json.",
        options: [
            OptionSpec(name: "alg", valueName: "ALG", help: "key type", isRequired: true, allowedValues: ["ed25519", "es256", "hs256"]),
            OptionSpec(name: "out", valueName: "DIR", help: "directory for the key files (created if missing)", isRequired: true),
            OptionSpec(name: "kid", valueName: "KID", help: "key id (default: the first 16 characters of the RFC 7638 thumbprint)"),
        ],
        details: """
        Files written:
          DIR/<kid>.pem     ed25519 and es256: the private key, PEM PKCS#8, mode 0600
          DIR/<kid>.secret  hs256: the shared secret (32 random bytes, base64url), mode 0600
          DIR/jwks.json     the key set verifiers load; an existing one gets the new key added.
                            For hs256 it holds the secret itself ('oct' key), so it is written
                            with mode 0600 and must be kept as secret as the key file.
        Existing key files are never overwritten.
        """,
        run: { arguments in try runGenerate(arguments) }
    )

    private static func runGenerate(_ arguments: ParsedArguments) throws -> ExitCode {
        let alg = try arguments.required("alg")
        let directory = URL(fileURLWithPath: try arguments.required("out"))
        let key: ReceiptSigningKey
        switch alg {
        case "ed25519": key = .ed25519(try Ed25519.PrivateKey())
        case "es256": key = .es256(try P256.PrivateKey())
        default: key = .hs256(secret: try SecureRandom.bytes(count: 32))
        }
        let kid = try arguments.value("kid") ?? thumbprint(of: key.verificationJWK(keyID: "-"))
        guard !kid.isEmpty, kid.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw CommandFailure.usage("--kid may hold only letters, digits, '-', '_' and '.'")
        }
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        let jwksURL = directory.appendingPathComponent("jwks.json")
        var keySet = JSONWebKeySet(keys: [])
        if fileManager.fileExists(atPath: jwksURL.path) {
            do {
                keySet = try JSONDecoder().decode(JSONWebKeySet.self, from: Data(contentsOf: jwksURL))
            } catch {
                throw CommandFailure.refused("\(jwksURL.path) exists but is not a JWKS: move it away or fix it")
            }
            if keySet.keys.contains(where: { $0.kid == kid }) {
                throw CommandFailure.refused("\(jwksURL.path) already has a key with kid '\(kid)': choose another --kid")
            }
        }
        let keyURL: URL
        let keyText: String
        switch key {
        case .ed25519(let privateKey):
            keyURL = directory.appendingPathComponent("\(kid).pem")
            keyText = privateKey.pemRepresentation
        case .es256(let privateKey):
            keyURL = directory.appendingPathComponent("\(kid).pem")
            keyText = privateKey.pemRepresentation
        case .hs256(let secret):
            keyURL = directory.appendingPathComponent("\(kid).secret")
            keyText = Base64URL.encode(secret) + "\n"
        }
        try writeNew(keyText, to: keyURL, mode: 0o600)

        keySet.keys.append(key.verificationJWK(keyID: kid))
        let holdsSecret = keySet.keys.contains { $0.kty == "oct" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try replace(jwksURL, with: encoder.encode(keySet), mode: holdsSecret ? 0o600 : 0o644)

        print("kid: \(kid)")
        print("private key: \(keyURL.path)")
        print("key set: \(jwksURL.path)\(holdsSecret ? " (holds a shared secret: mode 0600)" : "")")
        return .success
    }

    /// RFC 7638 thumbprint (SHA-256 of the canonical required members), first 16 characters.
    static func thumbprint(of jwk: JSONWebKey) throws -> String {
        var members: [String: JSONValue] = ["kty": .string(jwk.kty)]
        for (name, value) in [("crv", jwk.crv), ("x", jwk.x), ("y", jwk.y), ("k", jwk.k)] {
            if let value { members[name] = .string(value) }
        }
        let digest = SHA256.hash(try CanonicalJSON.serialize(.object(members)))
        return String(Base64URL.encode(digest).prefix(16))
    }

    /// Creates `url` with `mode` from the start, failing if it exists (no window where a secret is world-readable).
    private static func writeNew(_ text: String, to url: URL, mode: Int) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL, mode_t(mode))
        guard descriptor >= 0 else {
            if errno == EEXIST { throw CommandFailure.refused("\(url.path) already exists: refusing to overwrite a key") }
            throw CommandFailure.refused("cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
    }

    /// Replaces `url` atomically through a temporary file created with `mode`.
    private static func replace(_ url: URL, with data: Data, mode: Int) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        try? FileManager.default.removeItem(at: temporary)
        try writeNew(String(decoding: data, as: UTF8.self) + "\n", to: temporary, mode: mode)
        guard rename(temporary.path, url.path) == 0 else {
            throw CommandFailure.refused("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
        _ = chmod(url.path, mode_t(mode))
    }
}
