import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailAgent
import PayRailWire

/// What both demo servers stand on (`payrail demo` and `payrail demo --mcp`): a data directory with
/// its receipt key and challenge secret, a SQLite gate store, and a fake processor in process with a
/// merchant and a funded agent account.
struct DemoFoundation {
    let keys: ServeReceiptKeys
    let challengeSecret: [UInt8]
    let signingKeyPath: String
    let databasePath: String
    let store: SQLiteGateStore
    let verifier: ReceiptVerifier
    let processor: FakeProcessor
    let processorKey: Ed25519.PublicKey
    let merchantCredentials: FakeAccountCredentials
    let agentCredentials: FakeAccountCredentials
    /// The merchant's side of the fake rail.
    let payee: FakePayeeRail
    /// The public key set, as served at `/.well-known/payrail/jwks.json`.
    let jwks: [UInt8]

    /// Makes everything in `directory/server` (the caller created `directory`, mode 0700).
    init(directory: URL, agentFunds: Int64) async throws {
        let data = try ServeDataDirectory(path: directory.appendingPathComponent("server", isDirectory: true).path)
        keys = try data.receiptKeys()
        challengeSecret = try data.challengeSecret()
        signingKeyPath = data.keysURL.appendingPathComponent("\(keys.signer.keyID).pem").path
        databasePath = data.databaseURL.path
        store = try SQLiteGateStore(path: databasePath)
        verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: keys.publicKeySet))

        let signingKey = try Ed25519.PrivateKey()
        processorKey = signingKey.publicKey
        processor = FakeProcessor(signingKey: signingKey)
        merchantCredentials = try await processor.openAccount(DemoServer.merchantAccount)
        agentCredentials = try await processor.openAccount(DemoServer.agentAccount)
        try await processor.deposit(Money(amount: agentFunds, unit: .sat), into: DemoServer.agentAccount)
        payee = FakePayeeRail(processor: processor, processorKey: processorKey, account: merchantCredentials)

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        jwks = Array(try encoder.encode(keys.publicKeySet))
    }

    /// The gate of a demo server, once its origin is known.
    func gate(realm: String, pricing: PricingTable, origin: String) throws -> Gate {
        Gate(configuration: GateConfiguration(
            realm: realm, rails: [payee], pricing: pricing, store: store,
            keyring: try ChallengeIDKeyring(currentSecret: challengeSecret), signer: keys.signer, verifier: verifier,
            publicOrigin: origin))
    }
}

/// The agent's side both demos pay with: a SQLite wallet in the demo's directory under per-call,
/// hourly and daily budgets in sat, and the fake rail's wallet at the demo server's processor.
struct DemoAgentWallet {
    let path: String
    let store: SQLiteSpendStore
    let governor: SpendGovernor
    let negotiator: Negotiator
    let maximum: Money
    let perHour: Money
    let perDay: Money

    init(directory: URL, maximum: Int64, perHour: Int64, perDay: Int64, payer: FakePayerRail, secrets: DemoSecrets) throws {
        self.maximum = try Money(amount: maximum, unit: .sat)
        self.perHour = try Money(amount: perHour, unit: .sat)
        self.perDay = try Money(amount: perDay, unit: .sat)
        let limits = SpendLimits([.sat: .init(perRequest: self.maximum, perHour: self.perHour, perDay: self.perDay)])
        path = directory.appendingPathComponent("wallet.sqlite").path
        store = try SQLiteSpendStore(path: path)
        governor = SpendGovernor(store: store, limits: limits)
        let policy = Policy(unit: .sat, rules: [AllowedRails([.fake]), MaximumPerRequest([self.maximum])])
        negotiator = Negotiator(policy: policy, wallets: WalletRegistry([DemoWallet(wallet: payer, issued: secrets)]),
                                priceMemory: LedgerPriceMemory(governor: governor))
    }
}
