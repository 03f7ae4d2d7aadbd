import FakeRail
import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailReceipts
import PayRailStore
import PayRailWire

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// The demo is also a test a newcomer can read: every step states what it expects and checks it
// against what the server, the processor and the wallet actually did, never against what the code
// meant to do. A step that does not behave fails the run (exit 1).

/// One run of `payrail demo`.
struct DemoRun {
    static let firstCallID = "demo-premium-call-1"
    static let secondCallID = "demo-premium-call-2"
    static let maxPerRequest: Int64 = 100
    static let perHour: Int64 = 150
    static let perDay: Int64 = 1_000

    private let out = DemoOutput()

    /// Whether `money` is exactly `amount` sat.
    static func isSats(_ money: Money, _ amount: Int64) -> Bool { money.unit == .sat && money.amount == amount }

    func run() async throws -> ExitCode {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-demo-\(UUID().uuidString)", isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CommandFailure.refused("cannot create a temporary directory in \(FileManager.default.temporaryDirectory.path): check TMPDIR")
        }
        defer { try? FileManager.default.removeItem(at: directory) }

        out.say("payrail demo: a gated server and a paying agent in one process, over loopback, on the fake rail")
        var steps: [DemoStep] = []

        // 1. The server.
        var step = DemoStep(number: 1, title: "start a gated server")
        out.heading(step)
        let server: DemoServer
        do {
            server = try await DemoServer(directory: directory)
        } catch {
            step.fail("the server did not start: \(error)")
            out.result(step)
            throw CommandFailure.refused("demo step 1 failed: the server did not start (\(error))")
        }
        let stage = DemoStage(server: server, directory: directory, out: out)
        let outcome = await stage.runSteps(first: &step)
        steps.append(step)
        steps += outcome
        await server.stop()

        // 6. The summary.
        var summary = DemoStep(number: 6, title: "summary")
        out.heading(summary)
        await stage.summarize(&summary)
        stage.checkNoSecretPrinted(&summary)
        await stage.cleanUp(&summary)
        out.result(summary)
        steps.append(summary)

        out.say("")
        let width = (steps.map(\.title.count).max() ?? 0) + 3
        for step in steps {
            let dots = String(repeating: ".", count: width - step.title.count)
            out.say("\(step.number). \(step.title) \(dots) \(step.passed ? "ok" : "FAILED")")
        }
        let failed = steps.filter { !$0.passed }
        guard failed.isEmpty else {
            let list = failed.map { "step \($0.number) (\($0.problems.joined(separator: "; ")))" }.joined(separator: ", ")
            throw CommandFailure.refused("demo failed: \(list)")
        }
        out.say("every step behaved as expected")
        return .success
    }
}

/// One numbered step and what went wrong in it.
struct DemoStep {
    let number: Int
    let title: String
    private(set) var problems: [String] = []

    var passed: Bool { problems.isEmpty }

    mutating func fail(_ problem: String) { problems.append(problem) }

    /// Records `problem` unless `condition` holds.
    mutating func expect(_ condition: Bool, _ problem: @autoclosure () -> String) {
        if !condition { problems.append(problem()) }
    }
}

/// Steps 1 to 5 and the summary, sharing the server, the agent's wallet and what was seen.
final class DemoStage: @unchecked Sendable {
    let server: DemoServer
    let directory: URL
    let out: DemoOutput
    /// Every secret the demo can name; none may appear in what it printed.
    let secrets = DemoSecrets()
    private let events = DemoEventLog()
    private var governor: SpendGovernor?
    private var walletStore: SQLiteSpendStore?
    private var receipts: [String] = []

    init(server: DemoServer, directory: URL, out: DemoOutput) {
        self.server = server
        self.directory = directory
        self.out = out
        secrets.add([server.agentCredentials.secret, server.merchantCredentials.secret,
                     Base64URL.encode(server.challengeSecret), server.challengeSecret.map { String(format: "%02x", $0) }.joined()])
        if let pem = try? String(contentsOfFile: server.signingKeyPath, encoding: .utf8) {
            secrets.add([pem] + pem.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("-----") })
        }
    }

    /// Runs steps 1 (already started) to 5; each later step runs even if an earlier one failed, so
    /// the summary shows everything that went wrong at once.
    func runSteps(first: inout DemoStep) async -> [DemoStep] {
        await describeServer(&first)
        out.result(first)

        var unpaid = DemoStep(number: 2, title: "an unpaid GET gets a 402 in every dialect")
        out.heading(unpaid)
        await unpaidRequest(&unpaid)
        out.result(unpaid)

        var paid = DemoStep(number: 3, title: "the agent negotiates, pays and gets it")
        out.heading(paid)
        let client: PayingClient?
        do {
            client = try makeClient()
        } catch {
            paid.fail("the agent could not be set up: \(error)")
            client = nil
        }
        if let client { await paidRequest(client, &paid) }
        out.result(paid)

        var replay = DemoStep(number: 4, title: "the same call again replays, no new payment")
        out.heading(replay)
        if let client { await replayRequest(client, &replay) } else { replay.fail("no agent") }
        out.result(replay)

        var refused = DemoStep(number: 5, title: "a new call over the hourly budget is refused")
        out.heading(refused)
        if let client { await overBudgetRequest(client, &refused) } else { refused.fail("no agent") }
        out.result(refused)
        return [unpaid, paid, replay, refused]
    }

    // MARK: 1. The server

    private func describeServer(_ step: inout DemoStep) async {
        out.detail("listening on \(server.origin) (libmicrohttpd), fake processor in this process")
        out.detail("price: GET \(DemoServer.resourcePath) = \(DemoServer.price)sat on rail fake")
        out.detail("gate store: SQLite \(server.databasePath)")
        out.detail("receipts: signed \(server.receiptAlgorithm), key id \(server.receiptKeyID), public keys at \(DemoServer.jwksPath)")
        out.detail("temporary directory \(directory.path) (removed at the end)")
        let balances = await server.balances()
        out.detail("fake processor accounts: \(DemoServer.agentAccount) \(balances.agent)sat, \(DemoServer.merchantAccount) \(balances.merchant)sat")
        step.expect(balances.agent == DemoServer.agentFunds && balances.merchant == 0,
                    "the accounts should start at \(DemoServer.agentFunds)sat and 0sat, not \(balances.agent)sat and \(balances.merchant)sat")
        do {
            let jwks = try await DemoHTTP.get(try server.url(DemoServer.jwksPath))
            step.expect(jwks.status == 200, "the JWKS answered \(jwks.status), not 200")
            let keys = try? ReceiptKeySet(jwksJSON: Data(jwks.body))
            step.expect(keys != nil, "the JWKS does not parse as a receipt key set")
            out.detail("GET \(DemoServer.jwksPath): HTTP \(jwks.status), \(jwks.body.count) bytes of public keys")
        } catch {
            step.fail("the JWKS could not be fetched: \(error)")
        }
    }

    // MARK: 2. The 402

    private func unpaidRequest(_ step: inout DemoStep) async {
        let response: DemoHTTP.Response
        do {
            response = try await DemoHTTP.get(try server.url(DemoServer.resourcePath))
        } catch {
            step.fail("the unpaid GET failed: \(error)")
            return
        }
        out.detail("GET \(DemoServer.resourcePath) without payment: HTTP \(response.status)")
        step.expect(response.status == 402, "the unpaid GET answered \(response.status), not 402")
        let payment = response.headers.values("WWW-Authenticate").filter { $0.hasPrefix(PaymentChallenge.scheme) }
        for value in payment { out.detail("  Payment      WWW-Authenticate: \(DemoOutput.shorten(value, to: 84))") }
        step.expect(!payment.isEmpty, "no WWW-Authenticate: Payment challenge")
        let x402 = response.headers["PAYMENT-REQUIRED"]
        if let x402 {
            out.detail("  x402 v2      PAYMENT-REQUIRED: \(DemoOutput.shorten(x402, to: 60)) (\(x402.count) chars of base64 JSON)")
        }
        step.expect(x402 != nil, "no x402 PAYMENT-REQUIRED header")
        let bodyText = String(decoding: response.body, as: UTF8.self)
        out.detail("  plain JSON   body (\(response.headers["Content-Type"] ?? "no type")): \(DemoOutput.shorten(bodyText, to: 60))")

        let reading = PaymentResponseReader.read(status: response.status, headers: response.headers, body: response.body, receivedAt: Date())
        out.detail("read back with PaymentResponseReader: \(reading.offers.count) offers")
        for offer in reading.offers {
            out.detail("  \(offer.dialect.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) rail \(offer.offer.rail)  "
                + "\(offer.offer.amount)  payee \(offer.offer.payee)")
        }
        for skipped in reading.skipped { out.detail("  skipped: \(skipped)") }
        let dialects = Set(reading.offers.map(\.dialect))
        for dialect in [PaymentDialect.payment, .x402, .plain] {
            step.expect(dialects.contains(dialect), "no \(dialect.rawValue) offer could be read back")
        }
        step.expect(reading.offers.allSatisfy { DemoRun.isSats($0.offer.amount, DemoServer.price) && $0.offer.rail == .fake },
                    "an offer is not \(DemoServer.price)sat on fake")
        step.expect(reading.skipped.isEmpty, "\(reading.skipped.count) challenge(s) could not be read")
    }

    // MARK: 3. Paying

    private func makeClient() throws -> PayingClient {
        let agent = try DemoAgentWallet(
            directory: directory, maximum: DemoRun.maxPerRequest, perHour: DemoRun.perHour, perDay: DemoRun.perDay,
            payer: FakePayerRail(processor: server.processor, processorKey: server.processorKey, account: server.agentCredentials),
            secrets: secrets)
        (walletStore, governor) = (agent.store, agent.governor)
        let (negotiator, governor) = (agent.negotiator, agent.governor)
        out.detail("agent: fake wallet '\(DemoServer.agentAccount)' at the same processor, SQLite wallet \(agent.path)")
        out.detail("agent: budgets \(agent.maximum) per request, \(agent.perHour) per hour, \(agent.perDay) per day")
        let events = self.events
        let out = self.out
        return PayingClient(configuration: PayingClientConfiguration(
            negotiator: negotiator, governor: governor, deliveryAttempts: 3, requestTimeout: 10,
            onEvent: { event in
                events.append(event)
                for line in DemoOutput.lines(for: event, replaying: events.replaysReceipt) { out.detail(line) }
            }))
    }

    private func paidRequest(_ client: PayingClient, _ step: inout DemoStep) async {
        events.reset()
        guard let url = try? server.url(DemoServer.resourcePath) else { return step.fail("no URL for the resource") }
        let request = PaidRequest(url: url, paymentID: DemoRun.firstCallID)
        let before = await server.balances()
        let response: PaidResponse
        do {
            response = try await client.send(request)
        } catch {
            step.fail("the paid call failed: \(error)")
            return
        }
        let body = String(decoding: response.body, as: UTF8.self)
        out.detail("HTTP \(response.status): \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
        step.expect(response.status == 200, "the paid call answered \(response.status), not 200")
        step.expect(body == DemoServer.resourceBody, "the body is not the resource")
        let expected = ["challenged", "negotiated", "reserved", "paid", "presenting", "receipt", "committed"]
        step.expect(events.names == expected, "the steps were \(events.names), not \(expected)")
        guard let payment = response.payment else {
            step.fail("the call was not paid")
            return
        }
        step.expect(payment.paymentID == DemoRun.firstCallID, "the ledger id is \(payment.paymentID)")
        step.expect(DemoRun.isSats(payment.amount, DemoServer.price), "paid \(payment.amount), not \(DemoServer.price)sat")
        step.expect(!payment.resumed, "the first call should not resume anything")
        if case .verified = payment.receiptCheck {} else { step.fail("the receipt did not verify: \(payment.receiptCheck)") }
        if let receipt = payment.receipt {
            receipts.append(receipt)
            secrets.add([receipt])
            out.detail("receipt \(DemoOutput.shortToken(receipt)) (shortened)")
            await verifyAgain(receipt, &step)
        } else {
            step.fail("the server sent no receipt")
        }
        let after = await server.balances()
        out.detail("balances: \(DemoServer.agentAccount) \(before.agent)sat -> \(after.agent)sat, "
            + "\(DemoServer.merchantAccount) \(before.merchant)sat -> \(after.merchant)sat")
        step.expect(after.agent == before.agent - DemoServer.price && after.merchant == before.merchant + DemoServer.price,
                    "the processor did not move exactly \(DemoServer.price)sat from agent to merchant")
        let ledger = await ledgerRecords()
        step.expect(ledger.count == 1 && ledger.first?.state == .committed && ledger.first?.receipt == payment.receipt,
                    "the wallet should hold one committed spend with this receipt, it holds \(ledger.map(\.state.rawValue))")
        step.expect(server.witness.handlerCalls == 1, "the resource handler ran \(server.witness.handlerCalls) times, not once")
    }

    /// The demo checks the receipt itself too, with the keys the server publishes, not the client's word.
    private func verifyAgain(_ receipt: String, _ step: inout DemoStep) async {
        do {
            let jwks = try await DemoHTTP.get(try server.url(DemoServer.jwksPath))
            let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwksJSON: Data(jwks.body)))
            let claims = try verifier.verify(receipt, resource: "GET \(DemoServer.resourcePath)")
            out.detail("checked again by the demo with the published JWKS: sub \"\(claims.sub)\", \(claims.amount) \(claims.currency), "
                + "method \(claims.method), ref \(claims.ref)")
            step.expect(claims.amount == String(DemoServer.price) && claims.currency == "sat", "the receipt names \(claims.amount) \(claims.currency)")
        } catch {
            step.fail("the receipt does not verify against the published JWKS: \(error)")
        }
    }

    // MARK: 4. Replay

    private func replayRequest(_ client: PayingClient, _ step: inout DemoStep) async {
        events.reset()
        guard let url = try? server.url(DemoServer.resourcePath) else { return step.fail("no URL for the resource") }
        let request = PaidRequest(url: url, paymentID: DemoRun.firstCallID)
        let before = await server.balances()
        let calls = server.witness.handlerCalls
        out.detail("the same call again, same payment id \(DemoRun.firstCallID)")
        let response: PaidResponse
        do {
            response = try await client.send(request)
        } catch {
            step.fail("the replayed call failed: \(error)")
            return
        }
        let body = String(decoding: response.body, as: UTF8.self)
        out.detail("HTTP \(response.status): \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
        step.expect(response.status == 200, "the replay answered \(response.status), not 200")
        step.expect(body == DemoServer.resourceBody, "the replay's body is not the resource")
        step.expect(response.payment?.resumed == true, "the replay was not answered from the earlier payment")
        step.expect(!events.names.contains("paid") && !events.names.contains("reserved"), "the replay reserved or paid again: \(events.names)")
        let after = await server.balances()
        out.detail("balances \(after == before ? "unchanged" : "MOVED"): \(DemoServer.agentAccount) \(after.agent)sat, "
            + "\(DemoServer.merchantAccount) \(after.merchant)sat")
        step.expect(after == before, "the balances moved: \(before) -> \(after)")
        step.expect(server.witness.handlerCalls == calls, "the resource handler ran again instead of the stored answer replaying")
        let ledger = await ledgerRecords()
        step.expect(ledger.count == 1, "the wallet holds \(ledger.count) spends, not 1")
    }

    // MARK: 5. Over budget

    private func overBudgetRequest(_ client: PayingClient, _ step: inout DemoStep) async {
        events.reset()
        guard let url = try? server.url(DemoServer.resourcePath) else { return step.fail("no URL for the resource") }
        let request = PaidRequest(url: url, paymentID: DemoRun.secondCallID)
        let before = await server.balances()
        out.detail("a new call, payment id \(DemoRun.secondCallID): \(DemoServer.price)sat more would make "
            + "\(DemoServer.price * 2)sat in the hour, over \(DemoRun.perHour)sat")
        do {
            let response = try await client.send(request)
            step.fail("the call over budget was not refused: HTTP \(response.status)")
        } catch {
            out.detail("refused (\(error.code)): \(error.budget?.description ?? error.reason)")
            step.expect(error.code == .overBudget, "refused with \(error.code), not overBudget")
            step.expect(error.budget?.window == .hour, "the refusing budget is \(error.budget.map { $0.window.rawValue } ?? "none"), not the hourly one")
        }
        step.expect(!events.names.contains("reserved") && !events.names.contains("paid"), "budget was reserved or paid: \(events.names)")
        let after = await server.balances()
        out.detail("balances \(after == before ? "unchanged" : "MOVED"): \(DemoServer.agentAccount) \(after.agent)sat, "
            + "\(DemoServer.merchantAccount) \(after.merchant)sat")
        step.expect(after == before, "the balances moved: \(before) -> \(after)")
        let ledger = await ledgerRecords()
        step.expect(ledger.count == 1, "the wallet holds \(ledger.count) spends, not 1")
    }

    // MARK: 6. Summary

    func summarize(_ step: inout DemoStep) async {
        let balances = await server.balances()
        out.detail("payer \(DemoServer.agentAccount): \(balances.agent)sat (started with \(DemoServer.agentFunds)sat)")
        out.detail("payee \(DemoServer.merchantAccount): \(balances.merchant)sat")
        step.expect(balances.agent == DemoServer.agentFunds - DemoServer.price && balances.merchant == DemoServer.price,
                    "exactly one payment of \(DemoServer.price)sat should have moved")
        await DemoChecks.ledger(&step, governor: governor, price: DemoServer.price, out: out)
    }

    /// Fails the step if any secret the demo knows of was printed (a last line of defence).
    func checkNoSecretPrinted(_ step: inout DemoStep) {
        DemoChecks.noSecretPrinted(&step, secrets: secrets, proofs: server.witness.proofValues,
                                   kinds: "account secrets, vouchers, proofs, keys, full receipts", out: out)
    }

    /// Closes the wallet and removes the temporary directory.
    func cleanUp(_ step: inout DemoStep) async {
        await DemoChecks.cleanUp(&step, walletStore: walletStore, directory: directory, out: out)
    }

    private func ledgerRecords() async -> [SpendRecord] {
        (try? await governor?.ledger()) ?? []
    }
}

/// The unpaid requests of the demo, made as any HTTP client would.
enum DemoHTTP {
    struct Response {
        let status: Int
        let headers: HTTPFields
        let body: [UInt8]
    }

    /// The demo's own server answers with a 402, a key set or a small resource: 1 MiB is plenty.
    static let maxBodyBytes = 1 << 20

    /// A GET read bounded like any other (`BoundedGet`): at most 1 MiB, 10 s in all, no redirect.
    static func get(_ url: URL) async throws -> Response {
        let answer: BoundedGet.Answer
        do {
            answer = try await BoundedGet.get(url, limit: maxBodyBytes, timeout: .seconds(10))
        } catch {
            throw CommandFailure.refused("no HTTP answer from \(url): \(error)")
        }
        guard !answer.truncated else { throw CommandFailure.refused("the answer from \(url) is larger than \(maxBodyBytes) bytes") }
        return Response(status: answer.status, headers: answer.headers, body: answer.body)
    }
}

/// The agent's events, in order, for the checks.
final class DemoEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    private var receiptReplay = false

    func append(_ event: PayingClientEvent) {
        let name: String
        switch event {
        case .challenged: name = "challenged"
        case .negotiated: name = "negotiated"
        case .reserved: name = "reserved"
        case .released: name = "released"
        case .paid: name = "paid"
        case .presenting: name = "presenting"
        case .resuming: name = "resuming"
        case .receipt: name = "receipt"
        case .committed: name = "committed"
        }
        lock.withLock {
            storage.append(name)
            if case .resuming(_, .committed) = event { receiptReplay = true }
        }
    }

    func reset() {
        lock.withLock {
            storage = []
            receiptReplay = false
        }
    }

    /// Whether this call finishes a committed one: it presents the receipt, not a payment.
    var replaysReceipt: Bool { lock.withLock { receiptReplay } }
    var names: [String] { lock.withLock { storage } }
}

/// Writes the demo's lines to stdout as they happen and keeps them for the secret check.
final class DemoOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func say(_ line: String) {
        lock.withLock {
            lines.append(line)
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }

    func heading(_ step: DemoStep) {
        say("")
        say("\(step.number). \(step.title.prefix(1).uppercased() + step.title.dropFirst())")
    }

    func detail(_ line: String) { say("   " + line) }

    func result(_ step: DemoStep) {
        if step.passed {
            detail("-> ok")
        } else {
            for problem in step.problems { detail("-> FAILED: \(problem)") }
        }
    }

    var transcript: String { lock.withLock { lines.joined(separator: "\n") } }

    /// A long public value cut to `length` characters, so a line stays readable.
    static func shorten(_ text: String, to length: Int) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count <= length ? flat : String(flat.prefix(length)) + "…"
    }

    /// A receipt token cut so it can be recognised but never replayed from the output.
    static func shortToken(_ token: String) -> String { String(token.prefix(16)) + "…" + String(token.suffix(6)) }

    /// What the agent did, one or more lines per event; never a credential, voucher or proof.
    ///
    /// - Parameter replaying: whether this call is finishing an earlier one (it presents a receipt, not a payment).
    static func lines(for event: PayingClientEvent, replaying: Bool) -> [String] {
        switch event {
        case .challenged(let offers, let skipped):
            let dialects = offers.map(\.dialect.rawValue).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return ["agent: 402 read, \(offers.count) offers (\(dialects.joined(separator: ", ")))"
                + (skipped.isEmpty ? "" : ", \(skipped.count) unreadable")]
        case .negotiated(let negotiation):
            return ["agent: negotiation (policy: rail fake only, at most \(DemoRun.maxPerRequest)sat per request):"]
                + negotiation.explanationLines.map { "  " + $0 }
        case .reserved(let id, let amount, let rail, let dialect):
            return ["agent: reserved \(amount) of budget for \(rail) via \(dialect.rawValue) (payment id \(id))"]
        case .released(let id, let reason):
            return ["agent: released the reservation \(id): \(reason)"]
        case .paid(_, let rail, _):
            return ["agent: paid on \(rail): the processor debited the agent and signed a voucher (not shown)"]
        case .presenting(let attempt, _) where replaying:
            return ["agent: retried GET \(DemoServer.resourcePath) with its receipt in X-Receipt (attempt \(attempt))"]
        case .presenting(let attempt, let dialect):
            return ["agent: retried GET \(DemoServer.resourcePath) with the \(dialect.rawValue) credential (attempt \(attempt))"]
        case .resuming(let id, let state):
            return ["agent: payment id \(id) is already \(state.rawValue) in the wallet: presenting its receipt instead of paying"]
        case .receipt(let check):
            switch check {
            case .verified(let claims):
                return ["agent: receipt verified against the server's JWKS (\(claims.sub), \(claims.amount) \(claims.currency))"]
            case .unverifiable(let why): return ["agent: receipt not checked: \(why)"]
            case .invalid(let why): return ["agent: receipt INVALID: \(why)"]
            }
        case .committed(let id, let amount):
            return ["agent: committed \(amount) to the ledger (payment id \(id))"]
        }
    }
}
