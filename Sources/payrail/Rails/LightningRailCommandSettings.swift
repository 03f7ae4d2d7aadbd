import Bolt11
import Foundation
import LightningRail
import PayRail

/// The Lightning rail on the command line: an LNbits wallet or an LND node, which `payrail serve`
/// issues invoices on and `payrail fetch` pays invoices with.
///
/// A flag wins over its environment variable. Keys are read, handed to the backend and never
/// printed: not in the startup line, not in an error, not in `summary` (flags with secrets show in
/// `ps`, so the help prefers the environment for them).
struct LightningRailCommandSettings: RailCommandSettings {
    static let rail = RailID.lightning

    /// The environment variable behind each flag.
    static let environmentNames: [String: String] = [
        "lnbits-url": "PAYRAIL_LNBITS_URL", "lnbits-invoice-key": "PAYRAIL_LNBITS_INVOICE_KEY",
        "lnbits-admin-key": "PAYRAIL_LNBITS_ADMIN_KEY", "lnd-url": "PAYRAIL_LND_URL", "lnd-macaroon": "PAYRAIL_LND_MACAROON",
        "lnd-cert": "PAYRAIL_LND_CERT", "lightning-network": "PAYRAIL_LIGHTNING_NETWORK", "lightning-mode": "PAYRAIL_LIGHTNING_MODE",
    ]

    let backend: any LightningBackend
    let network: Bolt11Network
    let mode: LightningSettlementMode
    /// What the startup line may say: the backend kind and its address without user information.
    let summary: String
    /// How long one payment may take before it is looked up, in seconds (`payrail fetch --payment-timeout`).
    let paymentTimeout: Int
    /// `payrail fetch --max-fee` in msat; `nil` keeps the wallet's own limit (10 sat or 1 %, whichever is more).
    let maximumFeeMsat: Int64?

    // MARK: - Options and help

    static func options(for role: RailRole) -> [RailOption] {
        var options: [RailOption] = []
        if role == .payer {
            options += [
                RailOption(OptionSpec(name: "max-fee", valueName: "AMOUNT",
                                      help: "Lightning: most routing fee per payment, e.g. 10sat (default 10sat or 1 %, whichever is more)"),
                           after: "rail"),
                RailOption(OptionSpec(name: "payment-timeout", valueName: "SECONDS",
                                      help: "Lightning: how long one payment may take before it is looked up (default 60; backend calls at most 30)"),
                           after: "rail"),
            ]
        }
        return options + backendOptions(for: role).map { RailOption($0) }
    }

    /// The backend's options, listed after the command's own.
    private static func backendOptions(for role: RailRole) -> [OptionSpec] {
        var options = [
            OptionSpec(name: "lnbits-url", valueName: "URL", help: "LNbits address, e.g. http://127.0.0.1:5000 (or $PAYRAIL_LNBITS_URL)"),
        ]
        switch role {
        case .payee:
            options.append(OptionSpec(name: "lnbits-invoice-key", valueName: "KEY",
                                      help: "LNbits invoice key of the receiving wallet; prefer $PAYRAIL_LNBITS_INVOICE_KEY (flags show in ps)"))
        case .payer:
            options.append(OptionSpec(name: "lnbits-admin-key", valueName: "KEY",
                                      help: "LNbits admin key of the paying wallet; prefer $PAYRAIL_LNBITS_ADMIN_KEY (flags show in ps)"))
        }
        options += [
            OptionSpec(name: "lnd-url", valueName: "URL", help: "LND REST address, https only (or $PAYRAIL_LND_URL); instead of LNbits"),
            OptionSpec(name: "lnd-macaroon", valueName: "FILE",
                       help: "LND macaroon file, \(role == .payee ? "invoice" : "admin") rights (or $PAYRAIL_LND_MACAROON)"),
            OptionSpec(name: "lnd-cert", valueName: "FILE", help: "LND tls.cert the node must present (or $PAYRAIL_LND_CERT)"),
            OptionSpec(name: "lightning-network", valueName: "NET",
                       help: "network invoices must be on (default mainnet; or $PAYRAIL_LIGHTNING_NETWORK)",
                       allowedValues: Bolt11Network.allCases.map(\.rawValue)),
        ]
        if role == .payee {
            options.append(OptionSpec(name: "lightning-mode", valueName: "MODE",
                                      help: "backend: preimage and the backend says paid (default); preimage: the preimage alone",
                                      allowedValues: ["backend", "preimage"]))
        }
        return options
    }

    static func details(for role: RailRole) -> String? {
        let key = role == .payee ? "$PAYRAIL_LNBITS_INVOICE_KEY, the invoice key of the wallet paid"
            : "$PAYRAIL_LNBITS_ADMIN_KEY, the admin key of the wallet that pays"
        let common = """
        Lightning (--rail lightning): an LNbits wallet (--lnbits-url, and
        \(key)) or an LND node (--lnd-url,
        --lnd-macaroon, --lnd-cert; TLS pinned to that certificate; not yet run against a live lnd).
        Each flag has the environment variable named in its help; the flag wins. Keys are never
        printed: give them in the environment, since command lines are visible to every user in ps.
        The network is not guessed: invoices on another network than --lightning-network (default
        mainnet, which is also what LNbits' FakeWallet issues) are refused.
        """
        switch role {
        case .payee:
            return common + "\n\n" + """
            The L402 macaroon root key is made on first start and kept in DIR/macaroon-root.key (mode
            0600); each invoice expires with its challenge (--challenge-lifetime).
            """
        case .payer:
            return common + "\n\n" + """
            Budgets given in sat also hold msat offers (x402 prices Lightning in msat): an msat
            total counts against the sat budget, rounded up.
            """
        }
    }

    // MARK: - Reading the settings

    /// Reads the settings for `role`; a missing or malformed setting is a usage error naming the flag
    /// and its variable, never the value given.
    init(_ arguments: ParsedArguments, role: RailRole, environment: [String: String]) throws(CommandFailure) {
        // The payment timeout comes first: it also bounds each call the backend is built to make.
        paymentTimeout = role == .payer ? try Self.paymentTimeout(arguments.value("payment-timeout")) : 60
        func value(_ name: String) -> String? { Self.setting(name, arguments, environment) }
        let networkName = value("lightning-network") ?? Bolt11Network.mainnet.rawValue
        guard let network = Bolt11Network(rawValue: networkName) else {
            throw .usage("--lightning-network ($PAYRAIL_LIGHTNING_NETWORK) must be one of "
                + Bolt11Network.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self.network = network
        switch value("lightning-mode") ?? "backend" {
        case "backend": mode = .backendConfirmed
        case "preimage": mode = .preimageOnly
        default: throw .usage("--lightning-mode ($PAYRAIL_LIGHTNING_MODE) must be backend or preimage")
        }
        let (backend, kind, url) = try Self.backend(value, role: role, requestTimeout: .seconds(min(30, paymentTimeout)))
        self.backend = backend
        summary = "backend=\(kind) \(Self.redacted(url)) network=\(network.rawValue)"
            + (role == .payee ? " mode=\(mode == .backendConfirmed ? "backend" : "preimage")" : "")
        if role == .payer, let text = arguments.value("max-fee") {
            maximumFeeMsat = try Self.feeMsat(text)
        } else {
            maximumFeeMsat = nil
        }
    }

    private static func setting(_ name: String, _ arguments: ParsedArguments, _ environment: [String: String]) -> String? {
        if let value = arguments.value(name) { return value }
        guard let variable = environmentNames[name], let value = environment[variable], !value.isEmpty else { return nil }
        return value
    }

    private static func paymentTimeout(_ text: String?) throws(CommandFailure) -> Int {
        guard let text else { return 60 }
        guard let seconds = Int(text), (1...600).contains(seconds) else {
            throw .usage("--payment-timeout must be a number of seconds from 1 to 600")
        }
        return seconds
    }

    /// The one backend the settings name, its kind for the summary and its address.
    private static func backend(_ value: (String) -> String?, role: RailRole, requestTimeout: Duration)
        throws(CommandFailure) -> (backend: any LightningBackend, kind: String, url: URL) {
        switch (value("lnbits-url"), value("lnd-url")) {
        case (nil, nil):
            throw .usage("--rail lightning needs a backend: --lnbits-url ($PAYRAIL_LNBITS_URL) or --lnd-url ($PAYRAIL_LND_URL)")
        case (.some, .some):
            throw .usage("give either an LNbits backend (--lnbits-url) or an LND one (--lnd-url), not both")
        case (let text?, nil):
            let url = try serviceURL(text, flag: "--lnbits-url ($PAYRAIL_LNBITS_URL)", schemes: ["http", "https"])
            return (try lnbitsBackend(url, value, role: role, requestTimeout: requestTimeout), "lnbits", url)
        case (nil, let text?):
            let url = try serviceURL(text, flag: "--lnd-url ($PAYRAIL_LND_URL)", schemes: ["https"])
            return (try lndBackend(url, value), "lnd", url)
        }
    }

    /// LNbits with the key `role` needs: the invoice key (or the admin key) to be paid, the admin key to pay.
    private static func lnbitsBackend(_ url: URL, _ value: (String) -> String?, role: RailRole,
                                      requestTimeout: Duration) throws(CommandFailure) -> LNbitsBackend {
        let invoiceKey = role == .payee ? value("lnbits-invoice-key") : nil
        let adminKey = value("lnbits-admin-key")
        switch role {
        case .payee:
            guard invoiceKey != nil || adminKey != nil else {
                throw .usage("payrail serve --rail lightning needs the wallet's invoice key in $PAYRAIL_LNBITS_INVOICE_KEY (or --lnbits-invoice-key)")
            }
        case .payer:
            guard adminKey != nil else {
                throw .usage("paying on Lightning needs the wallet's admin key in $PAYRAIL_LNBITS_ADMIN_KEY (or --lnbits-admin-key)")
            }
        }
        return LNbitsBackend(baseURL: url, adminKey: adminKey.map(LNbitsAPIKey.init), invoiceKey: invoiceKey.map(LNbitsAPIKey.init),
                             requestTimeout: requestTimeout)
    }

    /// LND over TLS pinned to the given certificate, with the given macaroon.
    private static func lndBackend(_ url: URL, _ value: (String) -> String?) throws(CommandFailure) -> LNDBackend {
        guard let macaroon = value("lnd-macaroon"), let certificate = value("lnd-cert") else {
            throw .usage("an LND backend needs --lnd-macaroon FILE ($PAYRAIL_LND_MACAROON) and --lnd-cert FILE ($PAYRAIL_LND_CERT)")
        }
        do {
            return try LNDBackend.pinned(baseURL: url, macaroonFile: URL(fileURLWithPath: macaroon),
                                         tlsCertificateFile: URL(fileURLWithPath: certificate))
        } catch {
            throw .usage("the LND settings cannot be used: \(error.reason)")
        }
    }

    /// `--max-fee` in msat: sat or msat only, since Lightning fees are paid in msat.
    private static func feeMsat(_ text: String) throws(CommandFailure) -> Int64 {
        let fee = try AgentCommands.money(text, flag: "--max-fee")
        switch fee.unit {
        case .sat:
            let (product, overflow) = fee.amount.multipliedReportingOverflow(by: 1000)
            guard !overflow else { throw .usage("--max-fee is too large") }
            return product
        case .msat:
            return fee.amount
        default:
            throw .usage("--max-fee must be in sat or msat, such as 10sat")
        }
    }

    /// An http(s) URL with a host; the value is not repeated in the error (it may hold credentials).
    private static func serviceURL(_ text: String, flag: String, schemes: Set<String>) throws(CommandFailure) -> URL {
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text), let scheme = url.scheme?.lowercased(),
              schemes.contains(scheme), let host = url.host, !host.isEmpty
        else {
            throw .usage("\(flag) must be an \(schemes.sorted().joined(separator: " or ")) URL with a host")
        }
        return url
    }

    /// Scheme, host and port only: user information or a path could carry a secret.
    private static func redacted(_ url: URL) -> String {
        var components = URLComponents()
        components.scheme = url.scheme
        components.host = url.host
        components.port = url.port
        return components.string ?? "(address)"
    }

    // MARK: - What the settings build

    /// Lightning offers are also written as L402 challenges, whose macaroons must verify after a restart.
    var needsMacaroonRootKey: Bool { true }

    var startupSummary: String? { "lightning \(summary)" }

    func payeeRail(_ services: ServeRailServices) -> any PayeeRail {
        LightningPayeeRail(backend: backend, network: network, mode: mode)
    }

    func payerWallet() -> any PayerRail {
        guard let maximumFeeMsat else {
            return LightningPayerRail(backend: backend, network: network, paymentTimeout: .seconds(paymentTimeout))
        }
        // A fixed limit: no share of the amount on top, so the flag is the most a payment can cost in fees.
        return LightningPayerRail(backend: backend, network: network, maximumFeeFloorMsat: maximumFeeMsat, maximumFeePPM: 0,
                                  paymentTimeout: .seconds(paymentTimeout))
    }
}
