import Foundation
import PayRail
import PayRailAgent
import PayRailStore
import PayRailWire
#if canImport(Glibc)
import Glibc
#endif

/// `payrail fetch` and `payrail ledger`: the paying agent on the command line.
enum AgentCommands {
    static let all: [CommandSpec] = [fetch, ledger]

    static let defaultMax = "1000sat"
    static let defaultHourBudget = "5000sat"
    static let defaultDayBudget = "20000sat"
    /// `--max-time`, seconds: the whole call, every request of it included.
    static let defaultMaxTime = 300
    /// `--max-filesize`: the response body, 100 MiB.
    static let defaultMaxFilesize = "100M"
    /// `--min-expiry`, seconds: offers expiring sooner are refused.
    static let defaultMinExpiry = 10

    static let fetch = CommandSpec(
        path: ["fetch"],
        summary: "Fetch a URL like curl, paying an HTTP 402 by policy and within budget.",
        options: RailCommandRegistry.options(for: .payer, merging: [
            OptionSpec(name: "request", valueName: "METHOD", help: "HTTP method (default GET, or POST with -d)", short: "X"),
            OptionSpec(name: "data", valueName: "BODY", help: "request body; @FILE reads a file", short: "d"),
            OptionSpec(name: "header", valueName: "\"Name: value\"", help: "request header, repeatable", isRepeatable: true, short: "H"),
            OptionSpec(name: "max", valueName: "AMOUNT", help: "most one request may cost, fees included (default \(defaultMax))"),
            OptionSpec(name: "budget-hour", valueName: "AMOUNT", help: "most spent in any sliding hour (default \(defaultHourBudget))"),
            OptionSpec(name: "budget-day", valueName: "AMOUNT", help: "most spent in any sliding day (default \(defaultDayBudget))"),
            OptionSpec(name: "rail", valueName: "RAIL",
                       help: "wallet to pay with: \(RailCommandRegistry.nameChoice); repeat it (or \(RailCommandRegistry.nameList)) "
                           + "to offer several (default \(RailCommandRegistry.defaultRail.rawValue))",
                       isRepeatable: true),
            OptionSpec(name: "rate", valueName: "AMOUNT=AMOUNT",
                       help: "an exchange rate of the owner's table, as of now, e.g. 0.01usd=10sat; repeatable. Offers in other "
                           + "units are ranked and budgeted in --max's unit through it (rounded up); without one they are refused",
                       isRepeatable: true),
            OptionSpec(name: "dialect", valueName: "DIALECT",
                       help: "pay only in this dialect; repeat for several, best first (default: any, payment first)",
                       isRepeatable: true, allowedValues: PaymentDialect.allCases.map(\.rawValue)),
            OptionSpec(name: "wallet", valueName: "FILE|URL",
                       help: "spend ledger, shared safely by concurrent processes: a SQLite file or a postgres:// URL "
                           + "(default $PAYRAIL_WALLET or ~/.payrail/wallet.sqlite)"),
        ] + StoreLocation.tuningOptions + [
            OptionSpec(name: "payment-id", valueName: "ID",
                       help: "stable id of this call (Idempotency-Key, x402 payment-identifier): the same id never pays twice"),
            OptionSpec(name: "max-time", valueName: "SECONDS",
                       help: "most the whole call may take, every request, retry and key fetch included (default \(defaultMaxTime))"),
            OptionSpec(name: "max-filesize", valueName: "BYTES",
                       help: "most of the response body read, with K, M or G for KiB, MiB, GiB (default \(defaultMaxFilesize))"),
            OptionSpec(name: "min-expiry", valueName: "SECONDS",
                       help: "refuse offers due to expire sooner than this; 0 refuses only expired ones (default \(defaultMinExpiry))"),
            OptionSpec(name: "json", help: "print one JSON object on stdout instead of the body"),
            OptionSpec(name: "explain", help: "print the negotiation on stderr: every offer, taken or refused and why"),
            OptionSpec(name: "verbose", help: "print each step on stderr as it happens", short: "v"),
        ]),
        positionals: [PositionalSpec(name: "URL", help: "absolute http(s) URL")],
        details: RailCommandRegistry.details(for: .payer, after: """
        The response body goes to stdout and a one-line payment summary to stderr. Budgets are kept in
        the wallet (a SQLite file, mode 0600, or a postgres:// database shared across machines) and
        hold across runs and across processes sharing it: a spend is reserved before paying, so
        concurrent runs can never overspend (a run waits its turn on a busy wallet, each call up to
        --db-timeout, retried with backoff up to 60 s or --max-time). Amounts are integers
        with a unit: 500sat, 2msat, 0.50usd. A unit without any budget flag cannot be spent at all.

        If a run dies after paying and before the server answered, the spend stays pending in the
        wallet; running the same command again presents the same proof and never pays twice.

        Every answer is read against a limit while it arrives: a 402's body at most 256 KiB (past
        that its offers are read from the header fields only), the receipt key set 64 KiB, and the
        response body, streamed to stdout as it arrives, --max-filesize (default 100 MiB; with --json
        it is held in memory up to that limit). --max-time (default 300 s) bounds the whole call; it
        is checked before paying and never cuts a wallet's payment half way. Timed out after paying,
        the spend stays pending (exit 4): the same command again finishes it without paying twice.

        Exit codes: 0 the server answered (any HTTP status, like curl); 1 refused by policy or budget
        (nothing paid); 2 usage error; 3 no payment could be made (no payable offer, the wallet
        failed or every wallet refused to quote, e.g. too little money; nothing paid); 4 paid but
        not finished (run the same command again) or paid and refused by the server (recorded in the
        ledger); 5 the request failed before any payment, or --max-time ran out before paying
        (nothing paid); 6 the response body is larger than --max-filesize (output stopped there; a
        payment is committed in the ledger with its receipt: --payment-id with the id the error names
        and a larger --max-filesize fetch it again without paying).

        --json prints {"url","method","status","paid","payment":{"paymentId","rail","dialect","amount",
        "reserved","receipt","receiptVerified","receiptProblem","reference","resumed","standardReceipt"},"negotiation",
        "body" or "bodyBase64"}; on failure {"url","method","error":{"code","reason","retrySafe",
        "paymentId"},"negotiation"}.
        """),
        run: { arguments in try await runFetch(arguments) }
    )

    static let ledger = CommandSpec(
        path: ["ledger"],
        summary: "List the wallet's spends with their receipts, and the totals per sliding window.",
        options: [
            OptionSpec(name: "wallet", valueName: "FILE|URL",
                       help: "spend ledger: a SQLite file or a postgres:// URL (default $PAYRAIL_WALLET or ~/.payrail/wallet.sqlite)"),
            OptionSpec(name: "json", help: "print {\"spends\":[...],\"totals\":[...]} instead of text"),
        ] + StoreLocation.tuningOptions,
        details: """
        Each spend: when it was reserved, its state (reserved, paid, committed, released), the amount
        reserved (price plus the rail's maximum fee), rail, method and URL, the receipt and the rail's
        reference. A server's standard Payment-Receipt (reference, status, time) is shown with how it
        was checked: "verified" (PayRail's signed receipt verified), "unsigned" (only recorded, the
        server's word), "unverifiable" or "invalid". Totals per unit: the last hour, the last day,
        everything committed, and what is still pending. Proofs (credentials) are never printed.
        """,
        run: { arguments in try await runLedger(arguments) }
    )

    // MARK: - fetch

    /// Reads the request and the limits, opens the wallet (creating it on first use), makes one
    /// wallet per rail, then sends. Keep that order: it decides which error a command line with
    /// several mistakes gets, and that a bad `--rail` is found only after the ledger file exists.
    private static func runFetch(_ arguments: ParsedArguments) async throws -> ExitCode {
        let request = try paidRequest(arguments)
        let agent = try await payingAgent(arguments)
        startWatchdog(after: agent.bounds.limits.maxCallDuration)
        return try await send(request, with: PayingClient(configuration: agent.configuration), asJSON: arguments.flag("json"),
                              explain: agent.explain)
    }

    /// A paying client as the budget, wallet and rail flags of `payrail fetch` describe it (shared by
    /// `payrail mcp call` and `payrail mcp bridge`).
    struct PayingAgent: Sendable {
        let configuration: PayingClientConfiguration
        let explain: ExplainedSkips?
        let bounds: FetchBounds
        /// `--max`: the most one call may cost.
        let maximum: Money
    }

    /// Reads the limits, opens the wallet (creating it on first use), makes one wallet per rail, then
    /// the client. Keep that order: it decides which error a command line with several mistakes gets,
    /// and that a bad `--rail` is found only after the ledger file exists.
    static func payingAgent(_ arguments: ParsedArguments, approval: (threshold: Money, approver: any Approver)? = nil,
                            extraEvents: (@Sendable (PayingClientEvent) -> Void)? = nil) async throws -> PayingAgent {
        let maximum = try money(arguments.value("max") ?? defaultMax, flag: "--max")
        let perHour = try money(arguments.value("budget-hour") ?? defaultHourBudget, flag: "--budget-hour")
        let perDay = try money(arguments.value("budget-day") ?? defaultDayBudget, flag: "--budget-day")
        let limits = try spendLimits(maximum: maximum, perHour: perHour, perDay: perDay)
        let bounds = try fetchBounds(arguments)

        // A busy wallet (other processes reserving) is waited for, never longer than the call may take.
        let patience = min(bounds.limits.maxCallDuration, walletPatience)
        let wallet = PatientSpendStore(base: try await openWallet(try walletLocation(arguments), patience: patience), patience: patience)
        let governor = SpendGovernor(store: wallet, limits: limits)
        let rails = try RailCommandRegistry.rails(arguments.values("rail"))
        let wallets = try RailCommandRegistry.payerWallets(for: rails, arguments)
        var fetchPolicy = policy(rails: rails, maximum: maximum, dialects: arguments.values("dialect"))
        fetchPolicy.exchangeRates = try exchangeRates(arguments.values("rate"))
        fetchPolicy.minimumExpiryLeft = bounds.minExpiry
        fetchPolicy.approvalThreshold = approval?.threshold
        let negotiator = Negotiator(policy: fetchPolicy, wallets: WalletRegistry(wallets), priceMemory: LedgerPriceMemory(governor: governor),
                                    approver: approval?.approver)
        let explain = arguments.flag("explain") ? ExplainedSkips(walletRails: Set(negotiator.wallets.rails)) : nil
        let printing = eventHandler(verbose: arguments.flag("verbose"), explain: explain)
        let onEvent: (@Sendable (PayingClientEvent) -> Void)?
        switch (printing, extraEvents) {
        case (let first?, let second?): onEvent = { event in first(event); second(event) }
        case (let first?, nil): onEvent = first
        case (nil, let second?): onEvent = second
        case (nil, nil): onEvent = nil
        }
        let configuration = PayingClientConfiguration(
            negotiator: negotiator, governor: governor, limits: bounds.limits,
            onEvent: onEvent,
            onLedgerWriteFailure: { failure in
                // Said on stderr whatever the verbosity: it changes what the next run will find (a
                // spend left pending or still reserved). The line names no credential.
                FileHandle.standardError.write(Data("payrail: \(failure)\n".utf8))
            })
        return PayingAgent(configuration: configuration, explain: explain, bounds: bounds, maximum: maximum)
    }

    /// What `--explain` adds to the negotiation: the challenges of the last 402 the reader skipped
    /// (the negotiation itself only sees the offers that were read).
    final class ExplainedSkips: @unchecked Sendable {
        let walletRails: Set<RailID>
        private let lock = NSLock()
        private var skipped: [SkippedChallenge] = []

        init(walletRails: Set<RailID>) { self.walletRails = walletRails }

        func record(_ event: PayingClientEvent) {
            if case .challenged(_, let found) = event { lock.withLock { skipped = found } }
        }

        var lines: [String] { SkippedExplanation.lines(lock.withLock { skipped }, walletRails: walletRails) }
    }

    /// `--max-time`, `--max-filesize` and `--min-expiry`, read with the other flags.
    struct FetchBounds {
        var limits: PayingClientLimits
        var minExpiry: Duration
    }

    static func fetchBounds(_ arguments: ParsedArguments) throws(CommandFailure) -> FetchBounds {
        let maxTimeText = arguments.value("max-time") ?? String(defaultMaxTime)
        guard let seconds = Double(maxTimeText), seconds.isFinite, seconds > 0, seconds <= 86_400 * 7 else {
            throw CommandFailure.usage("--max-time must be a number of seconds above 0 (at most a week), not '\(maxTimeText)'")
        }
        let sizeText = arguments.value("max-filesize") ?? defaultMaxFilesize
        guard let bytes = byteCount(sizeText) else {
            throw CommandFailure.usage("--max-filesize must be a number of bytes, with K, M or G for KiB, MiB or GiB, not '\(sizeText)'")
        }
        let expiryText = arguments.value("min-expiry") ?? String(defaultMinExpiry)
        guard let expiry = Int64(expiryText), expiry >= 0, expiry <= 86_400 else {
            throw CommandFailure.usage("--min-expiry must be a whole number of seconds from 0 to 86400, not '\(expiryText)'")
        }
        let limits = PayingClientLimits(maxResponseBodyBytes: bytes, maxCallDuration: .milliseconds(Int64((seconds * 1000).rounded(.up))))
        return FetchBounds(limits: limits, minExpiry: .seconds(expiry))
    }

    /// `1048576`, `512K`, `100M`, `2G` (binary multiples, as curl reads them).
    static func byteCount(_ text: String) -> Int? {
        let multipliers: [Character: Int] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        var digits = Substring(text)
        var multiplier = 1
        if let last = text.last?.lowercased().first, let factor = multipliers[last] {
            multiplier = factor
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = Int(digits), value >= 0 else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// A last resort if the call does not end by itself soon after `--max-time` (a wallet that never
    /// answers): exit 4, since a payment may be pending; the next run finishes it without paying twice.
    static func startWatchdog(after limit: Duration) {
        Task.detached {
            try? await Task.sleep(for: limit + .seconds(30))
            FileHandle.standardError.write(Data(("payrail: --max-time passed and the call did not stop; anything paid stays pending "
                + "in the wallet: run the same command again to finish it without paying twice\n").utf8))
            exit(ExitCode.paidNotDelivered.rawValue)
        }
    }

    /// The URL, method, headers, body and payment id, as curl would read them.
    private static func paidRequest(_ arguments: ParsedArguments) throws(CommandFailure) -> PaidRequest {
        let urlText = arguments.positionals.first ?? ""
        guard let url = URL(string: urlText), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host != nil
        else {
            throw CommandFailure.usage("URL must be an absolute http(s) URL, not '\(urlText)'")
        }
        let body = try readBody(arguments.value("data"))
        let method = (arguments.value("request") ?? (body == nil ? "GET" : "POST")).uppercased()
        var headers = HTTPFields()
        for line in arguments.values("header") {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw CommandFailure.usage("-H needs \"Name: value\", not '\(line)'")
            }
            headers.append(String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                           String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        return PaidRequest(method: method, url: url, headers: headers, body: body, paymentID: arguments.value("payment-id"))
    }

    /// `--rate 0.01usd=10sat`...: the owner's exchange-rate table, each rate as of now.
    static func exchangeRates(_ texts: [String]) throws(CommandFailure) -> ExchangeRates {
        var rates: [ExchangeRate] = []
        for text in texts {
            let sides = text.split(separator: "=", omittingEmptySubsequences: false)
            guard sides.count == 2, let from = try? Money(parsing: String(sides[0])), let to = try? Money(parsing: String(sides[1])),
                  let rate = try? ExchangeRate(from: from.unit, to: to.unit, toAmount: to.amount, perFromAmount: from.amount, asOf: Date())
            else {
                throw CommandFailure.usage("--rate must be AMOUNT=AMOUNT in two different units, such as 0.01usd=10sat, not '\(text)'")
            }
            rates.append(rate)
        }
        return ExchangeRates(rates)
    }

    /// The owner's policy: only the chosen rails, at most `--max` per request, and with `--dialect`
    /// only those dialects, in that order of preference.
    private static func policy(rails: [RailID], maximum: Money, dialects names: [String]) -> Policy {
        var rules: [any PolicyRule] = [AllowedRails(rails), MaximumPerRequest([maximum])]
        var preferences = Preferences(rails: rails)
        let dialects = names.compactMap(PaymentDialect.init(rawValue:))
        if !dialects.isEmpty {
            rules.append(OnlyDialects(dialects))
            preferences.dialects = dialects
        }
        return Policy(unit: maximum.unit, rules: rules, preferences: preferences)
    }

    /// `--verbose` printing, and the crash hook of the fault-injection tests; `nil` when neither is on.
    private static func eventHandler(verbose: Bool, explain: ExplainedSkips? = nil) -> (@Sendable (PayingClientEvent) -> Void)? {
        // Fault injection for the crash tests (see README, "Tests"): PAYRAIL_CRASH_AT=paid kills this
        // process right after the wallet paid (spend still reserved), =presenting right before the
        // credential is sent (spend paid). Nothing else reads it.
        let crashAt = ProcessInfo.processInfo.environment["PAYRAIL_CRASH_AT"]
        guard verbose || crashAt != nil || explain != nil else { return nil }
        return { event in
            explain?.record(event)
            if verbose { Self.printEvent(event) }
            switch (crashAt, event) {
            case ("paid", .paid), ("presenting", .presenting): kill(getpid(), SIGKILL)
            default: break
            }
        }
    }

    /// Sends the request and prints the outcome: the body (or JSON) on stdout, the summary or the
    /// error on stderr, the exit code by what happened to the money.
    private static func send(_ request: PaidRequest, with client: PayingClient, asJSON: Bool, explain: ExplainedSkips?) async throws -> ExitCode {
        do {
            // Without --json the body is streamed to stdout as it arrives, never held whole.
            let response = try await client.send(request, streamingBodyTo: asJSON ? nil : standardOutputSink())
            if let explain { printExplanation(response.negotiation, request: request, skipped: explain.lines) }
            if asJSON {
                try printJSON(success(response, request: request))
            } else {
                FileHandle.standardOutput.write(Data(response.body))
            }
            FileHandle.standardError.write(Data((summary(response) + "\n").utf8))
            return .success
        } catch let error as PayingClientError {
            if let explain { printExplanation(error.negotiation, request: request, skipped: explain.lines) }
            if asJSON { try printJSON(failure(error, request: request)) }
            let exit = exitCode(for: error)
            var message = error.description
            if error.code == .responseTooLarge, let paymentID = error.paymentID {
                message += "; --payment-id \(paymentID) with a larger --max-filesize fetches it again without paying"
            }
            throw CommandFailure(exitCode: exit, message: message)
        }
    }

    /// Writes the body to file descriptor 1 as it arrives; a closed stdout stops reading the answer.
    private static func standardOutputSink() -> ResponseBodySink {
        ResponseBodySink { chunk in
            chunk.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    guard let base = buffer.baseAddress else { return false }
                    let written = Glibc.write(1, base + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return false
                    }
                    offset += written
                }
                return true
            }
        }
    }

    static func exitCode(for error: PayingClientError) -> ExitCode {
        // Offers refused only because every wallet said no (insufficient funds, a wallet down) are a
        // wallet failure, not the owner's policy: exit 3 like any other payment that could not be made.
        if error.code == .refusedByPolicy, let refusals = error.negotiation?.refusals, !refusals.isEmpty,
           refusals.allSatisfy({ $0.rule == Negotiator.RuleName.railQuote }) {
            return .paymentFailed
        }
        switch error.code {
        case .responseTooLarge: return .responseTooLarge
        case .refusedByPolicy, .overBudget, .paymentIDAlreadyPaid: return .refused
        case .paymentFailed, .noOffers: return .paymentFailed
        case .paymentOutcomeUnknown, .paidButUndelivered, .paidButRefused, .paymentInProgress: return .paidNotDelivered
        case .invalidRequest: return .usage
        case .ledger, .ledgerWriteFailed: return .paymentFailed
        default: return .network
        }
    }

    private static func readBody(_ value: String?) throws(CommandFailure) -> [UInt8]? {
        guard let value else { return nil }
        guard value.hasPrefix("@") else { return Array(value.utf8) }
        let path = String(value.dropFirst())
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure.usage("cannot read the body file \(path)")
        }
        return Array(data)
    }

    /// An amount flag: an integer with a unit, never negative. Rails read their amount flags with it too.
    static func money(_ text: String, flag: String) throws(CommandFailure) -> Money {
        do {
            let amount = try Money(parsing: text)
            guard amount.amount >= 0 else { throw CommandFailure.usage("\(flag) cannot be negative") }
            return amount
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure.usage("\(flag) must be an amount with a unit such as 500sat or 0.50usd, not '\(text)'")
        }
    }

    /// The three budget flags as limits per unit; a flag in another unit than --max budgets that unit.
    static func spendLimits(maximum: Money, perHour: Money, perDay: Money) throws(CommandFailure) -> SpendLimits {
        var byUnit: [MoneyUnit: SpendLimits.Limit] = [:]
        byUnit[maximum.unit, default: SpendLimits.Limit()].perRequest = maximum
        byUnit[perHour.unit, default: SpendLimits.Limit()].perHour = perHour
        byUnit[perDay.unit, default: SpendLimits.Limit()].perDay = perDay
        return SpendLimits(byUnit)
    }

    static func walletPath(_ flag: String?) -> String {
        if let flag { return flag }
        if let env = ProcessInfo.processInfo.environment["PAYRAIL_WALLET"], !env.isEmpty { return env }
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        return home + "/.payrail/wallet.sqlite"
    }

    /// `--wallet` or `$PAYRAIL_WALLET` (a file or a postgres:// URL), else the home directory's file.
    static func walletLocation(_ arguments: ParsedArguments) throws(CommandFailure) -> StoreLocation {
        try StoreLocation.parse(walletPath(arguments.value("wallet")), arguments, source: "--wallet")
    }

    /// The longest a wallet call keeps retrying while other processes hold the wallet's lock.
    static let walletPatience = Duration.seconds(60)

    /// Opens the wallet, creating a SQLite file's folder (mode 0700) on first use.
    private static func openWallet(_ location: StoreLocation, patience: Duration) async throws(CommandFailure) -> any SpendStore {
        guard case .sqlite(let path, _) = location else { return try await location.openSpendStore(patience: patience) }
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw CommandFailure.refused("cannot create the wallet folder \(folder)")
            }
        }
        return try await location.openSpendStore(patience: patience)
    }

    // MARK: output

    static func summary(_ response: PaidResponse) -> String {
        guard let payment = response.payment else { return "payrail: HTTP \(response.status), no payment needed" }
        let verb = payment.resumed ? "finished an earlier payment of" : "paid"
        let receipt: String
        switch payment.receiptCheck {
        case .verified: receipt = "receipt verified"
        case .unverifiable(let why): receipt = "receipt not checked (\(why))"
        case .invalid(let why): receipt = "RECEIPT INVALID (\(why))"
        }
        return "payrail: HTTP \(response.status), \(verb) \(payment.amount) on \(payment.rail) (\(payment.dialect.rawValue)), "
            + "\(receipt), payment \(payment.paymentID)"
    }

    /// The negotiation, then what the reader skipped; with no offer read there is no negotiation, but
    /// the skipped challenges still say why nothing was paid.
    static func printExplanation(_ negotiation: Negotiation?, request: PaidRequest, skipped: [String]) {
        var lines: [String] = []
        if let negotiation {
            lines = ["payrail: negotiation for \(negotiation.request.method) \(negotiation.request.host)\(negotiation.request.resourcePath):"]
            lines += negotiation.explanationLines.map { "  " + $0 }
        } else if !skipped.isEmpty {
            lines = ["payrail: negotiation for \(request.method) \(request.url.absoluteString): no offer could be read"]
        }
        lines += skipped.map { "  " + $0 }
        guard !lines.isEmpty else { return }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    private static func printEvent(_ event: PayingClientEvent) {
        let line: String
        switch event {
        case .challenged(let offers, let skipped):
            let dialects = Set(offers.map(\.dialect.rawValue)).sorted().joined(separator: ", ")
            line = "402: \(offers.count) offers (\(dialects))" + (skipped.isEmpty ? "" : ", \(skipped.count) unreadable")
        case .negotiated(let negotiation):
            line = "negotiated: \(negotiation.candidates.count) payable, \(negotiation.refusals.count) refused"
        case .reserved(let id, let amount, let rail, let dialect):
            line = "reserved \(amount) for \(rail)/\(dialect.rawValue) (payment \(id))"
        case .released(let id, let reason): line = "released \(id): \(reason)"
        case .paid(let id, let rail, _): line = "paid on \(rail) (payment \(id))"
        case .presenting(let attempt, let dialect): line = "retrying with the \(dialect.rawValue) credential (attempt \(attempt))"
        case .resuming(let id, let state): line = "finishing payment \(id) left \(state.rawValue) by an earlier run"
        case .receipt(let check):
            switch check {
            case .verified(let claims): line = "receipt verified: \(claims.sub), ref \(claims.ref)"
            case .unverifiable(let why): line = "receipt not checked: \(why)"
            case .invalid(let why): line = "receipt INVALID: \(why)"
            }
        case .committed(let id, let amount): line = "committed \(amount) (payment \(id))"
        }
        FileHandle.standardError.write(Data(("payrail: " + line + "\n").utf8))
    }

    static func negotiationJSON(_ negotiation: Negotiation?) -> Any {
        guard let negotiation, let data = try? negotiation.explanation.jsonData(),
              let object = try? JSONSerialization.jsonObject(with: data) else { return NSNull() }
        return object
    }

    private static func success(_ response: PaidResponse, request: PaidRequest) -> [String: Any] {
        var object: [String: Any] = [
            "url": request.url.absoluteString, "method": request.method, "status": response.status,
            "paid": response.payment != nil, "negotiation": negotiationJSON(response.negotiation),
        ]
        if let text = String(validating: response.body, as: UTF8.self) {
            object["body"] = text
        } else {
            object["bodyBase64"] = Data(response.body).base64EncodedString()
        }
        object["payment"] = response.payment.map(paymentJSON) ?? NSNull()
        return object
    }

    /// The `payment` object of `--json`: what was paid, how, and the receipt's check.
    static func paymentJSON(_ payment: PaymentOutcome) -> [String: Any] {
        var verified = false
        var problem: Any = NSNull()
        switch payment.receiptCheck {
        case .verified: verified = true
        case .unverifiable(let why), .invalid(let why): problem = why
        }
        return [
            "paymentId": payment.paymentID, "rail": payment.rail.rawValue, "dialect": payment.dialect.rawValue,
            "amount": payment.amount.description, "reserved": payment.reserved.description,
            "receipt": payment.receipt ?? NSNull(), "receiptVerified": verified, "receiptProblem": problem,
            "reference": payment.reference ?? NSNull(), "resumed": payment.resumed,
            "standardReceipt": payment.standardReceipt.map(ledgerReceiptObject) ?? NSNull(),
        ]
    }

    private static func failure(_ error: PayingClientError, request: PaidRequest) -> [String: Any] {
        [
            "url": request.url.absoluteString, "method": request.method,
            "error": [
                "code": error.code.rawValue, "reason": error.reason, "retrySafe": error.isRetrySafe,
                "paymentId": error.paymentID ?? NSNull(),
            ] as [String: Any],
            "negotiation": negotiationJSON(error.negotiation),
        ]
    }

    static func printJSON(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    // MARK: - ledger

    private static func runLedger(_ arguments: ParsedArguments) async throws -> ExitCode {
        let location = try walletLocation(arguments)
        // Only ever printed as `display`: a URL's password shows as ***.
        let path = location.display
        guard !location.isMissingFile else {
            throw CommandFailure.refused("no wallet at \(path) yet: 'payrail fetch' creates it on its first payment")
        }
        let governor = SpendGovernor(store: PatientSpendStore(base: try await openWallet(location, patience: walletPatience),
                                                              patience: walletPatience), limits: .none)
        let records: [SpendRecord]
        let totals: [SpendTotals]
        do {
            records = try await governor.ledger()
            totals = try await governor.totals()
        } catch {
            throw CommandFailure.refused("cannot read the wallet \(path): \(location.redact("\(error)"))")
        }
        let formatter = ISO8601DateFormatter()
        if arguments.flag("json") {
            let spends: [[String: Any]] = records.map { record in
                [
                    "paymentId": record.paymentID, "state": record.state.rawValue, "amount": record.amount.description,
                    "rail": record.rail.rawValue, "host": record.host, "method": record.method, "url": record.url,
                    "offerId": record.offerID, "receipt": record.receipt ?? NSNull(), "reference": record.reference ?? NSNull(),
                    "note": record.note ?? NSNull(), "reservedAt": formatter.string(from: record.reservedAt),
                    "updatedAt": formatter.string(from: record.updatedAt),
                    "standardReceipt": record.standardReceipt.map(ledgerReceiptObject) ?? NSNull(),
                ]
            }
            let totalObjects: [[String: Any]] = totals.map { total in
                [
                    "unit": total.unit.code, "lastHour": total.lastHour.description, "lastDay": total.lastDay.description,
                    "committed": total.committed.description, "pending": total.pending.description,
                ]
            }
            try printJSON(["wallet": path, "spends": spends, "totals": totalObjects])
            return .success
        }
        var lines: [String] = []
        for record in records {
            var line = "\(formatter.string(from: record.reservedAt))  \(record.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) "
                + "\(record.amount.description.padding(toLength: 10, withPad: " ", startingAt: 0)) \(record.rail)  \(record.method) \(record.url)"
            if let receipt = record.receipt { line += "  receipt \(receipt.prefix(16))…" }
            if let reference = record.reference { line += "  ref \(reference)" }
            if let standard = record.standardReceipt {
                let how = standard.trust == .verified ? "signed, verified" : standard.trust == .unsigned ? "unsigned, recorded only"
                    : "signed, \(standard.trust.rawValue)"
                line += "  Payment-Receipt \(standard.status) \(standard.timestamp) (\(how))"
            }
            if let note = record.note { line += "  (\(note))" }
            lines.append(line)
        }
        if records.isEmpty { lines.append("no spends yet") }
        lines.append("")
        for total in totals {
            lines.append("\(total.unit.code): last hour \(total.lastHour), last day \(total.lastDay), committed \(total.committed), pending \(total.pending)")
        }
        print(lines.joined(separator: "\n"))
        return .success
    }

    /// A standard receipt as the ledger's JSON shows it (`trust`: verified, unsigned, unverifiable, invalid).
    private static func ledgerReceiptObject(_ receipt: LedgerReceipt) -> [String: Any] {
        [
            "method": receipt.method, "reference": receipt.reference, "status": receipt.status, "timestamp": receipt.timestamp,
            "challengeId": receipt.challengeID ?? NSNull(), "trust": receipt.trust.rawValue,
            "signed": receipt.trust != .unsigned, "verified": receipt.trust == .verified,
        ]
    }
}

/// `--dialect`: offers in any other dialect are refused, so a test or an owner can force one.
struct OnlyDialects: PolicyRule {
    /// The dialects allowed, best first.
    let dialects: [PaymentDialect]

    init(_ dialects: [PaymentDialect]) { self.dialects = dialects }

    var name: String { "only-dialects" }

    func check(_ context: RuleContext) -> RuleVerdict {
        if dialects.contains(context.offer.dialect) { return .allow }
        return .refuse("dialect \(context.offer.dialect.rawValue) is not allowed (--dialect \(dialects.map(\.rawValue).joined(separator: ", ")))")
    }
}
