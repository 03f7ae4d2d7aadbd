import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailServer

/// Which side of a payment a command is on. A rail asks for different settings on each side (an
/// LNbits wallet is paid into with its invoice key but pays with its admin key), so options, help
/// and parsing all depend on it.
enum RailRole: Sendable {
    /// `payrail serve`: issues offers and settles the payments made for them.
    case payee
    /// `payrail fetch`: pays offers.
    case payer
}

/// One option a rail adds to a command, with its place in `--help`.
///
/// Help output is a contract with scripts and documentation, so options that existed before rails
/// brought their own keep the place they had among the command's own options.
struct RailOption: Sendable {
    /// The option itself.
    var spec: OptionSpec
    /// The command's own option this one is listed right after; `nil` lists it after all of them.
    var after: String?

    /// An option listed after the command's option named `after` (after all of them when `nil`).
    init(_ spec: OptionSpec, after: String? = nil) {
        self.spec = spec
        self.after = after
    }
}

/// What `payrail serve` runs in its own process that a payee rail may build on.
///
/// The fake processor lives here rather than in the fake rail because `payrail serve` answers its
/// pay and balance routes whatever `--rail` says.
struct ServeRailServices: Sendable {
    /// The fake processor: the one in this process, or another process's over HTTP (`--fake-processor`).
    let processor: any FakeProcessorAPI
    /// The processor when it lives in this process (purged and closed by it), else `nil`.
    let local: FakeProcessor?
    /// Where payers reach the processor's pay endpoint when it is not this server's own, else `nil`.
    var remotePayURL: URL? = nil
    /// The key that verifies the processor's vouchers.
    let processorKey: Ed25519.PublicKey
    /// The account fake payments are made to.
    let merchant: FakeAccountCredentials
    /// The demo payer's account, funded for every fake price.
    let demoPayer: FakeAccountCredentials
    /// The data directory (already created).
    let data: ServeDataDirectory
}

/// A payment rail's part of the command line: the flags it adds for each role, their help, how
/// they are read from the arguments and the environment, and what they build (the payee rail behind
/// `payrail serve`, the wallet behind `payrail fetch`).
///
/// `ServeCommand` and `AgentCommands` know no rail by name: they go through
/// ``RailCommandRegistry``, so a new rail is one conforming type and one line in the registry.
protocol RailCommandSettings: Sendable {
    /// The rail; its raw value is the name `--rail` takes.
    static var rail: RailID { get }

    /// The options this rail adds to the command of `role`.
    static func options(for role: RailRole) -> [RailOption]

    /// A paragraph for the end of the command's `--help`; `nil` adds none.
    static func details(for role: RailRole) -> String?

    /// Reads and checks the rail's settings, flags winning over `environment`.
    ///
    /// Called only for a rail chosen with `--rail`. `payrail serve` calls it before writing anything,
    /// so a bad setting leaves no data directory behind; `payrail fetch` calls it after opening its
    /// ledger, as it always has. A refusal is a usage error naming the flag (and its variable), never
    /// the value given: it may be a secret.
    init(_ arguments: ParsedArguments, role: RailRole, environment: [String: String]) throws(CommandFailure)

    /// Whether the gate must sign L402 macaroons for this rail's offers, which makes `payrail serve`
    /// keep a macaroon root key in its data directory (tokens already sold must survive a restart).
    var needsMacaroonRootKey: Bool { get }

    /// What `payrail serve` logs about this rail after its listening line, without the
    /// `payrail serve: ` prefix; `nil` logs nothing. Never a secret.
    var startupSummary: String? { get }

    /// The payee rail `payrail serve` offers this rail through.
    func payeeRail(_ services: ServeRailServices) -> any PayeeRail

    /// Called once `payrail serve` listens at `origin`, for what needs the bound address (the fake
    /// rail writes the demo payer's file with its pay URL).
    func payeeDidStart(origin: String, services: ServeRailServices) throws

    /// The wallet `payrail fetch` pays this rail with.
    func payerWallet() throws(CommandFailure) -> any PayerRail
}

extension RailCommandSettings {
    var needsMacaroonRootKey: Bool { false }
    var startupSummary: String? { nil }
    func payeeDidStart(origin: String, services: ServeRailServices) throws {}
}
