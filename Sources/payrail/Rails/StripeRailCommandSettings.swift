import Foundation
import PayRail
import StripeRail

/// The Stripe rail on the command line: the payee account `payrail serve` takes card payments into,
/// and the agent's account and saved payment method `payrail fetch` pays with.
///
/// The secret key comes from `$PAYRAIL_STRIPE_SECRET_KEY` or `--stripe-secret-key-file FILE` (the
/// flag wins), never from a flag value: command lines show in `ps`. It is never printed: not in the
/// startup line, not in an error (errors name the flag, not the value).
///
/// `payrail serve` without `--stripe-network-id` creates one PaymentIntent per 402 (the founding
/// article's plain form); with it, it describes a Payment-scheme `stripe` charge paid with a Shared
/// Payment Token and calls Stripe only at settle time; with `--stripe-x402-card` its 402s offer x402's
/// card `auth-capture` (`card:visa`): the agent presents `{token, paymentId}`, the gate authorizes
/// and captures the hold before granting (its SQLite store cannot keep a pending capture).
struct StripeRailCommandSettings: RailCommandSettings {
    static let rail = RailID.stripe
    /// The only environment variable: the secret key.
    static let secretKeyVariable = "PAYRAIL_STRIPE_SECRET_KEY"
    /// Key files are a key and a newline; anything much larger is the wrong file.
    static let maximumKeyFileBytes = 4096

    let client: StripeClient
    let networkID: String?
    let x402Card: Bool
    /// The payee's Stripe account (`acct_…`), named as `payTo` in offers; `nil` keeps "stripe".
    let account: String?
    let paymentMethod: String?

    // MARK: - Options and help

    static func options(for role: RailRole) -> [RailOption] {
        var options = [
            OptionSpec(name: "stripe-api-base", valueName: "URL",
                       help: "Stripe API address (default https://api.stripe.com; plain http only to loopback, e.g. localstripe)"),
            OptionSpec(name: "stripe-secret-key-file", valueName: "FILE",
                       help: "file holding the Stripe secret key (or $\(secretKeyVariable))"),
        ]
        switch role {
        case .payee:
            options.append(OptionSpec(name: "stripe-network-id", valueName: "ID",
                                      help: "Stripe network id: take Shared Payment Tokens (Payment scheme) instead of a PaymentIntent per 402"))
            options.append(OptionSpec(name: "stripe-account", valueName: "ACCT",
                                      help: "the payee's Stripe account id (acct_...), named as payTo in x402 card entries"))
            options.append(OptionSpec(name: "stripe-x402-card", valueName: nil,
                                      help: "offer x402 card auth-capture (card:visa): authorize the agent's token and capture it before granting"))
        case .payer:
            options.append(OptionSpec(name: "stripe-payment-method", valueName: "PM",
                                      help: "the agent's saved Stripe payment method, pm_... (never card details)"))
        }
        return options.map { RailOption($0) }
    }

    static func details(for role: RailRole) -> String? {
        let common = """
        Stripe (--rail stripe): the secret key is read from $\(secretKeyVariable) or from
        --stripe-secret-key-file and never printed. Tested against localstripe only; no live Stripe
        account was used.
        """
        switch role {
        case .payee:
            return common + "\n" + """
            Without --stripe-network-id every 402 creates a PaymentIntent (plain JSON dialect), and an
            unpaid one is cancelled when its challenge expires; with it, 402s describe a Shared Payment
            Token charge (Payment scheme) and Stripe is called only to settle. Prices are in usd or eur
            (at least 0.50). With --stripe-x402-card, 402s offer x402 card auth-capture instead: no
            Stripe call for a 402; the payment authorizes the presented token (capture_method=manual)
            and captures the hold before granting (the SQLite gate store cannot keep a pending
            capture); a resource that then fails is paid for and refunded as unserved, not voided.
            """
        case .payer:
            return common + "\n" + """
            --stripe-payment-method pm_... pays: it confirms an offered PaymentIntent, issues a
            Shared Payment Token limited to the offer's amount, currency and expiry, or presents it
            as the token of an x402 card auth-capture entry with a paymentId stable per offer.
            """
        }
    }

    // MARK: - Reading the settings

    init(_ arguments: ParsedArguments, role: RailRole, environment: [String: String]) throws(CommandFailure) {
        let key = try Self.secretKey(arguments, environment)
        var base = URL(string: "https://api.stripe.com")
        if let text = arguments.value("stripe-api-base") {
            base = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text)
        }
        guard let base else { throw .usage("--stripe-api-base must be an https URL (http only to a loopback address)") }
        do { client = try StripeClient(apiBase: base, key: key) } catch {
            throw .usage("--stripe-api-base: \(error.reason)")
        }
        networkID = role == .payee ? arguments.value("stripe-network-id") : nil
        if let networkID, networkID.isEmpty || networkID.utf8.count > 200 {
            throw .usage("--stripe-network-id must be a Stripe network id")
        }
        x402Card = role == .payee && arguments.flag("stripe-x402-card")
        account = role == .payee ? arguments.value("stripe-account") : nil
        if let account, !account.hasPrefix("acct_") || account.utf8.count > 255
            || !account.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }) {
            throw .usage("--stripe-account must be a Stripe account id, acct_ followed by letters and digits")
        }
        if x402Card, networkID != nil {
            throw .usage("--stripe-x402-card and --stripe-network-id choose different forms; give one of them")
        }
        if role == .payer {
            guard let method = arguments.value("stripe-payment-method") else {
                throw .usage("paying on Stripe needs --stripe-payment-method pm_...")
            }
            paymentMethod = method
        } else {
            paymentMethod = nil
        }
    }

    /// The key from the file flag, else the environment; errors say where, never what.
    private static func secretKey(_ arguments: ParsedArguments, _ environment: [String: String]) throws(CommandFailure) -> StripeSecretKey {
        let text: String
        if let path = arguments.value("stripe-secret-key-file") {
            let url = URL(fileURLWithPath: path)
            guard let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size <= maximumKeyFileBytes,
                  let data = try? Data(contentsOf: url) else {
                throw .usage("--stripe-secret-key-file cannot be read (or is larger than \(maximumKeyFileBytes) bytes)")
            }
            text = String(decoding: data, as: UTF8.self)
        } else if let value = environment[secretKeyVariable], !value.isEmpty {
            text = value
        } else {
            throw .usage("--rail stripe needs the Stripe secret key in $\(secretKeyVariable) or --stripe-secret-key-file FILE")
        }
        do { return try StripeSecretKey(text) } catch {
            let source = arguments.value("stripe-secret-key-file") != nil ? "--stripe-secret-key-file" : "$\(secretKeyVariable)"
            throw .usage("\(source): \(error.reason)")
        }
    }

    // MARK: - What the settings build

    var startupSummary: String? {
        let form = x402Card ? "x402-card" : networkID == nil ? "paymentintent" : "shared-payment-token"
        return "stripe api=\(client.apiBase.absoluteString) form=\(form) version=\(client.apiVersion)"
    }

    func payeeRail(_ services: ServeRailServices) -> any PayeeRail {
        let form: StripeOfferForm = x402Card ? .x402Card : networkID.map { .sharedPaymentToken(networkID: $0) } ?? .paymentIntent
        // The gate stores record a pending capture (SQLite schema 5, PostgreSQL gate schema 2): the card
        // form grants on the hold and `finish` captures it after serving, or voids it when the gate did
        // not serve (scheme_auth_capture_card.md §4.5; see StripeCardCapture).
        return StripePayeeRail(client: client, form: form, payee: account ?? "stripe", cardCapture: .afterServing)
    }

    func payerWallet() throws(CommandFailure) -> any PayerRail {
        do { return try StripePayerRail(client: client, paymentMethod: paymentMethod ?? "") } catch {
            throw .usage("--stripe-payment-method: \(error.reason)")
        }
    }
}
