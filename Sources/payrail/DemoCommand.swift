import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts

/// `payrail demo`: one whole payment on the fake rail, in process, ending in a signed receipt.
enum DemoCommand {
    static let all: [CommandSpec] = [demo]

    static let demo = CommandSpec(
        path: ["demo"],
        summary: "Pay for a resource on the fake rail in process and print the signed receipt token.",
        options: [
            OptionSpec(name: "key", valueName: "FILE", help: "receipt signing key from 'payrail keys generate'", isRequired: true),
            OptionSpec(name: "kid", valueName: "KID", help: "its key id", isRequired: true),
            OptionSpec(name: "resource", valueName: "\"METHOD /path\"", help: "the resource paid for (default \"GET /premium\")"),
            OptionSpec(name: "price", valueName: "MONEY", help: "its price, e.g. 100sat or 0.50usd (default 100sat)"),
        ],
        details: """
        Steps (narrated on stderr): a fake processor opens a payer and a payee account and funds the
        payer; the payee rail prepares an offer; the payer rail quotes and pays it, getting a voucher
        signed by the processor; the payee settles the voucher (at most once); the settlement becomes
        receipt claims signed with --key. The token alone goes to stdout, so it can be piped into
        'payrail receipt verify --jwks DIR/jwks.json --resource ... -'.
        """,
        run: { arguments in try await run(arguments) }
    )

    private static func run(_ arguments: ParsedArguments) async throws -> ExitCode {
        let keyPath = try arguments.required("key")
        let keyText: String
        do { keyText = try String(contentsOfFile: keyPath, encoding: .utf8) } catch {
            throw CommandFailure.refused("cannot read key file \(keyPath): check the path and permissions")
        }
        let signer = try ReceiptSigner(key: ReceiptSigningKey(keyFile: keyText), keyID: try arguments.required("kid"))
        let resource = try Resource(parsing: arguments.value("resource") ?? "GET /premium")
        let price = try Money(parsing: arguments.value("price") ?? "100sat")

        let processorKey = try Ed25519.PrivateKey()
        let processor = FakeProcessor(signingKey: processorKey)
        let payerAccount = try await processor.openAccount("agent")
        let payeeAccount = try await processor.openAccount("api")
        try await processor.deposit(try price.multiplied(by: 10), into: "agent")
        narrate("fake processor: accounts 'agent' (funded \(try price.multiplied(by: 10))) and 'api' opened")

        let payee = FakePayeeRail(processor: processor, processorKey: processorKey.publicKey, account: payeeAccount)
        let payer = FakePayerRail(processor: processor, processorKey: processorKey.publicKey, account: payerAccount)
        let challengeID = Base64URL.encode(try SecureRandom.bytes(count: 16))
        let charge = try Charge(amount: price, resource: resource, expiresAt: Date().addingTimeInterval(300), challengeID: challengeID)
        let offer = try await payee.prepare(charge)
        narrate("payee: offer \(offer.id) for \(offer.amount) on rail '\(offer.rail)', expires \(offer.expiresAt)")

        switch await payer.quote(offer) {
        case .payable(let quote): narrate("payer: quote \(quote.total) (fee \(quote.fee))")
        case .refused(let error): throw CommandFailure.refused("payer refused the offer: \(error)")
        }
        let credential = try await payer.pay(offer)
        narrate("payer: paid; voucher signed by the processor")
        let settlement = try await payee.settle(credential, for: offer)
        narrate("payee: settled \(settlement.amount), reference \(settlement.reference)")

        let claims = try ReceiptClaims(settlement: settlement, issuer: "payrail-demo", resource: resource,
                                       challengeID: challengeID, issuedAt: Date(), grantSeconds: 3600)
        let token = try signer.sign(claims)
        narrate("payee: receipt signed with \(signer.algorithm.rawValue) key '\(signer.keyID)'")
        let remaining = await processor.balance(ofAccount: "agent", unit: price.unit)
        let earned = await processor.balance(ofAccount: "api", unit: price.unit)
        narrate("balances: agent \(remaining), api \(earned)")
        print(token)
        return .success
    }

    private static func narrate(_ line: String) {
        FileHandle.standardError.write(Data("  \(line)\n".utf8))
    }
}
