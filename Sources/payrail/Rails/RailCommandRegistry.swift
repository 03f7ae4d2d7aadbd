import Foundation
import PayRail

/// Every rail the command line offers, and what `payrail serve` and `payrail fetch` do with all of
/// them: their options and help, `--rail`, and reading the chosen rails' settings.
///
/// A new rail is one ``RailCommandSettings`` type and one line in ``all``.
enum RailCommandRegistry {
    /// In the order help and error messages name them (and options from several rails are listed).
    static let all: [any RailCommandSettings.Type] = [
        FakeRailCommandSettings.self,
        LightningRailCommandSettings.self,
        StripeRailCommandSettings.self,
    ]

    /// The rail without `--rail`: the fake one, the only rail that works with no setup at all.
    static let defaultRail = FakeRailCommandSettings.rail

    /// The rail names as a choice in prose: "fake or lightning".
    static var nameChoice: String {
        // Closures, not `\.rail.rawValue`: Swift 6.3 crashes lowering a key path through an existential metatype.
        let names = all.map { $0.rail.rawValue }
        guard let last = names.last, names.count > 1 else { return names.joined() }
        return names.dropLast().joined(separator: ", ") + " or " + last
    }

    /// Every rail name as one `--rail` value: "fake,lightning".
    static var nameList: String { all.map { $0.rail.rawValue }.joined(separator: ",") }

    /// The command's own options with every rail's options for `role` placed as each asks.
    static func options(for role: RailRole, merging own: [OptionSpec]) -> [OptionSpec] {
        let added = all.flatMap { $0.options(for: role) }
        let ownNames = Set(own.map(\.name))
        var options: [OptionSpec] = []
        for option in own {
            options.append(option)
            options += added.filter { $0.after == option.name }.map(\.spec)
        }
        // An anchor that names none of the command's options lists the option last rather than losing it.
        options += added.filter { $0.after.map { !ownNames.contains($0) } ?? true }.map(\.spec)
        return options
    }

    /// The command's own `--help` details followed by every rail's paragraph for `role`.
    static func details(for role: RailRole, after own: String) -> String {
        ([own] + all.compactMap { $0.details(for: role) }).joined(separator: "\n\n")
    }

    /// The rails named by `--rail` (repeated or comma-separated), in order, without duplicates.
    static func rails(_ values: [String]) throws(CommandFailure) -> [RailID] {
        var rails: [RailID] = []
        for name in (values.isEmpty ? [defaultRail.rawValue] : values).flatMap({ $0.split(separator: ",") }) {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let rail = all.first(where: { $0.rail.rawValue == trimmed })?.rail else {
                throw .usage("--rail must be \(nameChoice) (or \(all.count == 2 ? "both" : "several"): \(nameList)), not '\(trimmed)'")
            }
            if !rails.contains(rail) { rails.append(rail) }
        }
        return rails
    }

    /// The settings of each rail in `rails`, in that order.
    static func settings(
        for rails: [RailID], _ arguments: ParsedArguments, role: RailRole,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(CommandFailure) -> [any RailCommandSettings] {
        var settings: [any RailCommandSettings] = []
        for rail in rails { settings.append(try settingsType(for: rail).init(arguments, role: role, environment: environment)) }
        return settings
    }

    /// One wallet per rail in `rails`, in that order. Each rail's wallet is made before the next
    /// rail's settings are read, so the first rail that cannot pay is the one the error names.
    static func payerWallets(
        for rails: [RailID], _ arguments: ParsedArguments,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(CommandFailure) -> [any PayerRail] {
        var wallets: [any PayerRail] = []
        for rail in rails {
            wallets.append(try settingsType(for: rail).init(arguments, role: .payer, environment: environment).payerWallet())
        }
        return wallets
    }

    /// The settings type of a rail `rails(_:)` accepted (so the error cannot happen from the command line).
    private static func settingsType(for rail: RailID) throws(CommandFailure) -> any RailCommandSettings.Type {
        guard let type = all.first(where: { $0.rail == rail }) else { throw .usage("--rail \(rail.rawValue) is not offered") }
        return type
    }
}
