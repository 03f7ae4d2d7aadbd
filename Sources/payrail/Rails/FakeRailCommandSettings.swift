import FakeRail
import Foundation
import PayRail
import PayRailCrypto

/// The fake rail on the command line: `payrail serve` is paid through its in-process fake processor
/// and writes the demo payer's credentials to a file; `payrail fetch --fake-payer` pays with them.
/// It needs no setup, which is why it is the default rail.
struct FakeRailCommandSettings: RailCommandSettings {
    static let rail = RailID.fake

    /// The payer file `payrail fetch` reads; unused by `payrail serve`, which writes it.
    private let payerFile: String

    static func options(for role: RailRole) -> [RailOption] {
        switch role {
        case .payee:
            return []
        case .payer:
            return [RailOption(OptionSpec(
                name: "fake-payer", valueName: "FILE",
                help: "fake rail payer file written by 'payrail serve' (default $PAYRAIL_FAKE_PAYER or ./.payrail/fake-payer.json)"),
                after: "wallet")]
        }
    }

    static func details(for role: RailRole) -> String? { nil }

    init(_ arguments: ParsedArguments, role: RailRole, environment: [String: String]) {
        payerFile = arguments.value("fake-payer") ?? environment["PAYRAIL_FAKE_PAYER"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ".payrail/fake-payer.json"
    }

    func payeeRail(_ services: ServeRailServices) -> any PayeeRail {
        FakePayeeRail(processor: services.processor, processorKey: services.processorKey, account: services.merchant)
    }

    /// Writes the demo payer's credentials (mode 0600) now that the pay URL is known: the only place
    /// they appear, so `payrail fetch` in another process can pay. A gate on another process's
    /// processor (`--fake-processor`) names that processor's pay endpoint.
    func payeeDidStart(origin: String, services: ServeRailServices) throws {
        let object: [String: String] = [
            "accountID": services.demoPayer.accountID, "secret": services.demoPayer.secret,
            "processorKey": Base64URL.encode(services.processorKey.rawRepresentation),
            "payURL": services.remotePayURL?.absoluteString ?? origin + ServeContext.fakePayPath,
        ]
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        try services.data.writePrivateFile("fake-payer.json", json + Data("\n".utf8))
    }

    /// The wallet of the payer file; a missing or malformed file is a usage error saying how to get one.
    func payerWallet() throws(CommandFailure) -> any PayerRail {
        do {
            return try FakePayerFile(contentsOf: URL(fileURLWithPath: payerFile)).wallet()
        } catch {
            throw CommandFailure.usage(error.reason)
        }
    }
}
