import Foundation
import PayRailCrypto
import PayRailReceipts

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// `payrail serve` must start with no setting at all and still keep what a restart must not lose: the
// receipt signing key (receipts already handed out must keep verifying), the challenge-id secret
// (challenges already issued must stay payable) and the database. They live in one directory only
// its owner can enter (with the Lightning rail, the L402 macaroon root key too). The keys folder has
// the layout `payrail keys generate` writes (`<kid>.pem` and
// `jwks.json`), so an operator can rotate by generating a new key into it and restarting. The fake
// processor that `payrail serve` hosts keeps its voucher key, its accounts' secrets and its state
// here too, so vouchers paid before a restart are still recognised after it.

/// A setup problem that stops the server from starting; the message says what to fix.
public struct ServeSetupError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong and what to do about it.
    public let reason: String

    /// Creates an error.
    public init(_ reason: String) { self.reason = reason }

    /// The reason.
    public var description: String { reason }
}

/// The receipt keys a server signs and publishes with.
public struct ServeReceiptKeys: Sendable {
    /// Signs new receipts (the newest private key in the keys folder).
    public let signer: ReceiptSigner
    /// Every public key receipts may be verified with, as served at `/.well-known/payrail/jwks.json`
    /// (shared-secret keys are never included).
    public let publicKeySet: JSONWebKeySet
}

/// The server's private data directory (`./.payrail` by default), created with mode 0700.
public struct ServeDataDirectory: Sendable {
    /// The directory.
    public let url: URL

    /// Opens the directory, creating it (mode 0700) when missing.
    ///
    /// - Throws: `ServeSetupError` when it cannot be created or is open to other users.
    public init(path: String) throws(ServeSetupError) {
        url = URL(fileURLWithPath: path, isDirectory: true)
        try Self.makePrivateDirectory(url)
    }

    /// The default database file inside the directory.
    public var databaseURL: URL { url.appendingPathComponent("gate.sqlite") }

    /// The default receipt keys folder inside the directory.
    public var keysURL: URL { url.appendingPathComponent("keys", isDirectory: true) }

    /// Where the demo payer's fake-processor credentials are written for local agents.
    public var fakePayerURL: URL { url.appendingPathComponent("fake-payer.json") }

    /// The in-process fake processor's state (accounts, balances, requests, redemptions): SQLite, mode 0600.
    public var fakeProcessorDatabaseURL: URL { url.appendingPathComponent("fake-processor.sqlite") }

    /// The fake processor's voucher signing key (Ed25519 PEM, mode 0600).
    public var fakeProcessorKeyURL: URL { url.appendingPathComponent("fake-processor.pem") }

    /// The API secrets of the accounts `payrail serve` opens at its fake processor (JSON, mode 0600);
    /// the processor itself keeps only their hashes.
    public var fakeAccountsURL: URL { url.appendingPathComponent("fake-accounts.json") }

    /// The fake processor's voucher signing key, generated on first use. Vouchers already paid keep
    /// verifying across restarts only while this file is kept. A missing key beside an existing
    /// processor database is refused rather than replaced: a new key would refuse every voucher paid.
    public func fakeProcessorKey() throws(ServeSetupError) -> Ed25519.PrivateKey {
        let file = fakeProcessorKeyURL
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            do { return try Ed25519.PrivateKey(pemRepresentation: text) } catch {
                throw ServeSetupError("\(file.path) is not an Ed25519 private key (\(error)): restore it, or move it and "
                    + "\(fakeProcessorDatabaseURL.lastPathComponent) away to start a new fake processor")
            }
        }
        guard !FileManager.default.fileExists(atPath: fakeProcessorDatabaseURL.path) else {
            throw ServeSetupError("\(file.path) is missing but \(fakeProcessorDatabaseURL.path) exists: restore the key, or move "
                + "the database away to start a new fake processor (vouchers paid to the old one are then refused)")
        }
        do {
            let key = try Ed25519.PrivateKey()
            try Self.writePrivate(Data(key.pemRepresentation.utf8), to: file)
            return key
        } catch let error as ServeSetupError {
            throw error
        } catch {
            throw ServeSetupError("cannot create the fake processor key \(file.path): \(error)")
        }
    }

    /// The fake processor API secret of each account in `accountIDs`, kept in `fake-accounts.json`;
    /// an account without one gets a new random secret, written before it is returned. A missing file
    /// beside an existing processor database is refused: new secrets would not open its accounts.
    public func fakeAccountSecrets(for accountIDs: [String]) throws(ServeSetupError) -> [String: String] {
        let file = fakeAccountsURL
        var secrets: [String: String] = [:]
        if let data = try? Data(contentsOf: file) {
            guard let stored = (try? JSONSerialization.jsonObject(with: data)) as? [String: String] else {
                throw ServeSetupError("\(file.path) is not a JSON object of account secrets: restore it, or move it and "
                    + "\(fakeProcessorDatabaseURL.lastPathComponent) away to start a new fake processor")
            }
            secrets = stored
        } else if FileManager.default.fileExists(atPath: fakeProcessorDatabaseURL.path) {
            throw ServeSetupError("\(file.path) is missing but \(fakeProcessorDatabaseURL.path) exists: restore it, or move the "
                + "database away to start a new fake processor (its accounts, balances and payments are then forgotten)")
        }
        let missing = accountIDs.filter { (secrets[$0] ?? "").isEmpty }
        guard !missing.isEmpty else { return secrets }
        for accountID in missing {
            do { secrets[accountID] = "sk_fake_" + Base64URL.encode(try SecureRandom.bytes(count: 32)) } catch {
                throw ServeSetupError("no randomness for a fake processor account secret: \(error)")
            }
        }
        let json: Data
        do { json = try JSONSerialization.data(withJSONObject: secrets, options: [.sortedKeys, .prettyPrinted]) } catch {
            throw ServeSetupError("cannot encode \(file.path): \(error)")
        }
        try Self.replace(file, with: json + Data("\n".utf8), mode: 0o600)
        return secrets
    }

    /// The challenge-id HMAC secret, generated (32 random bytes, mode 0600) on first use.
    public func challengeSecret() throws(ServeSetupError) -> [UInt8] {
        let file = url.appendingPathComponent("challenge-secret")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            // The first line is the current secret; later ones are other accepted secrets (ChallengeKeySet).
            return try ChallengeKeySet.parse(text, file: file.path).current
        }
        let secret: [UInt8]
        do { secret = try SecureRandom.bytes(count: 32) } catch { throw ServeSetupError("no randomness for the challenge secret: \(error)") }
        try Self.writePrivate(Data((Base64URL.encode(secret) + "\n").utf8), to: file)
        return secret
    }

    /// The L402 macaroon root key, generated (32 random bytes, mode 0600, file `macaroon-root.key`) on
    /// first use. Macaroons already handed out stay valid across restarts only while this file is kept;
    /// replacing it revokes every L402 token issued with the old one.
    public func macaroonRootKey() throws(ServeSetupError) -> [UInt8] {
        let file = url.appendingPathComponent("macaroon-root.key")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            guard let key = try? Base64URL.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), key.count >= 32 else {
                throw ServeSetupError("\(file.path) is not a base64url key of at least 32 bytes: move it away to make a new one")
            }
            return key
        }
        let key: [UInt8]
        do { key = try SecureRandom.bytes(count: 32) } catch { throw ServeSetupError("no randomness for the macaroon root key: \(error)") }
        try Self.writePrivate(Data((Base64URL.encode(key) + "\n").utf8), to: file)
        return key
    }

    /// Loads the receipt keys from `folder` (default: `keys` in this directory), generating an
    /// Ed25519 key on first start.
    ///
    /// The signer is the newest key in `jwks.json` publication order that has a `<kid>.pem` beside it.
    public func receiptKeys(folder: URL? = nil) throws(ServeSetupError) -> ServeReceiptKeys {
        let folder = folder ?? keysURL
        try Self.makePrivateDirectory(folder)
        let jwksURL = folder.appendingPathComponent("jwks.json")
        var keySet = JSONWebKeySet(keys: [])
        if FileManager.default.fileExists(atPath: jwksURL.path) {
            do { keySet = try JSONDecoder().decode(JSONWebKeySet.self, from: Data(contentsOf: jwksURL)) } catch {
                throw ServeSetupError("\(jwksURL.path) is not a JWKS: fix it or move the keys folder away")
            }
        }
        for jwk in keySet.keys.reversed() {
            guard let kid = jwk.kid, jwk.kty != "oct" else { continue }
            let pem = folder.appendingPathComponent("\(kid).pem")
            guard let text = try? String(contentsOf: pem, encoding: .utf8) else { continue }
            do {
                let signer = try ReceiptSigner(key: ReceiptSigningKey(keyFile: text), keyID: kid)
                return ServeReceiptKeys(signer: signer, publicKeySet: JSONWebKeySet(keys: keySet.keys.filter { $0.kty != "oct" }))
            } catch {
                throw ServeSetupError("\(pem.path) cannot sign receipts (\(error)): replace it with 'payrail keys generate'")
            }
        }
        // First start (or a folder with public keys only): make a key and publish it.
        do {
            let privateKey = try Ed25519.PrivateKey()
            let kid = "serve-" + String(Base64URL.encode(SHA256.hash(privateKey.publicKey.rawRepresentation)).prefix(12))
            let key = ReceiptSigningKey.ed25519(privateKey)
            try Self.writePrivate(Data(privateKey.pemRepresentation.utf8), to: folder.appendingPathComponent("\(kid).pem"))
            keySet.keys.append(key.verificationJWK(keyID: kid))
            let published = JSONWebKeySet(keys: keySet.keys.filter { $0.kty != "oct" })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try Self.replace(jwksURL, with: encoder.encode(keySet), mode: keySet.keys.contains { $0.kty == "oct" } ? 0o600 : 0o644)
            return ServeReceiptKeys(signer: try ReceiptSigner(key: key, keyID: kid), publicKeySet: published)
        } catch let error as ServeSetupError {
            throw error
        } catch {
            throw ServeSetupError("cannot create a receipt key in \(folder.path): \(error)")
        }
    }

    /// Writes `data` to `name` in this directory with mode 0600, replacing any previous file atomically.
    public func writePrivateFile(_ name: String, _ data: Data) throws(ServeSetupError) {
        try Self.replace(url.appendingPathComponent(name), with: data, mode: 0o600)
    }

    private static func makePrivateDirectory(_ url: URL) throws(ServeSetupError) {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ServeSetupError("cannot create \(url.path): \(error.localizedDescription)")
        }
        var info = stat()
        guard stat(url.path, &info) == 0 else { throw ServeSetupError("cannot read \(url.path): \(String(cString: strerror(errno)))") }
        guard info.st_uid == geteuid() else {
            throw ServeSetupError("\(url.path) belongs to another user: use --data with a directory of your own")
        }
        if info.st_mode & 0o077 != 0 {
            // Keys live here: close the directory rather than refuse, it is ours.
            guard chmod(url.path, 0o700) == 0 else {
                throw ServeSetupError("\(url.path) is open to other users and cannot be made private: chmod 700 it")
            }
        }
    }

    private static func writePrivate(_ data: Data, to url: URL) throws(ServeSetupError) {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw ServeSetupError("cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            throw ServeSetupError("cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    /// Replaces a file atomically with `data` at `mode`.
    static func replaceFile(_ url: URL, with data: Data, mode: mode_t) throws(ServeSetupError) {
        try replace(url, with: data, mode: mode)
    }

    private static func replace(_ url: URL, with data: Data, mode: mode_t) throws(ServeSetupError) {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        _ = unlink(temporary.path)
        try writePrivate(data, to: temporary)
        guard chmod(temporary.path, mode) == 0, rename(temporary.path, url.path) == 0 else {
            _ = unlink(temporary.path)
            throw ServeSetupError("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
