import Foundation
import LightningRail
import PayRail
import PayRailTestPeers
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension ServeProcess {
    /// `payrail serve --rail lightning` in front of a shop wallet of a real LNbits, its invoice key
    /// given only in the environment.
    static func lightning(lnbits: URL, invoiceKey: String, extra: [String] = []) throws -> ServeProcess {
        try ServeProcess(["--rail", "lightning", "--lnbits-url", lnbits.absoluteString] + extra,
                         environment: ["PAYRAIL_LNBITS_INVOICE_KEY": invoiceKey], captureErrors: true)
    }
}

/// A TCP relay between `payrail fetch` and LNbits that freezes LNbits (SIGSTOP) the moment the agent's
/// payment request passes, so the payment is sent but never answered: "LNbits stopped mid-payment".
final class FreezingRelay: @unchecked Sendable {
    let process = Process()
    let port: Int
    let outputFile: URL
    private let networkGuard: PeerNetworkGuard

    init(python: URL, targetPort: Int, lnbitsPID: Int32) throws {
        outputFile = try temporaryDirectory().appendingPathComponent("relay.log")
        networkGuard = try PeerNetworkGuard.prepare()
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        process.executableURL = python
        process.arguments = ["-c", Self.script, String(targetPort), String(lnbitsPID)]
        // Loopback only, like every Python peer: `stop()` fails the test otherwise.
        process.environment = networkGuard.environment(ProcessInfo.processInfo.environment)
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = FileHandle.standardError
        try process.run()
        // Stopped by PID even if this test process is killed (it holds LNbits stopped otherwise).
        try PeerWatchdog.watch(pid: process.processIdentifier, signal: SIGTERM)
        var found: Int?
        for _ in 0..<200 {
            if let first = Self.read(outputFile).split(separator: "\n").first, let port = Int(first) {
                found = port
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard let found else {
            Foundation.kill(process.processIdentifier, SIGKILL)
            throw ServeTestFailure("the relay did not start: \(Self.read(outputFile))")
        }
        port = found
    }

    static func read(_ file: URL) -> String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }
    var output: String { Self.read(outputFile) }
    var froze: Bool { output.contains("froze") }

    /// Stops the relay by its PID; throws when it tried to reach anything but loopback.
    func stop() throws {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        defer { networkGuard.remove() }
        try networkGuard.check(peer: "the freezing relay")
    }

    /// The agent's side closing never closes the LNbits side: a frozen request must still reach LNbits
    /// when it runs again, as a payment lost in flight would.
    static let script = """
    import os, signal, socket, sys, threading
    target, pid = int(sys.argv[1]), int(sys.argv[2])
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    print(server.getsockname()[1], flush=True)
    frozen = threading.Event()
    def pump(source, sink, from_agent):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_agent and not frozen.is_set() and b"POST /api/v1/payments " in data:
                    frozen.set()
                    os.kill(pid, signal.SIGSTOP)
                    print("froze", flush=True)
                sink.sendall(data)
        except OSError:
            pass
        if not from_agent:
            try:
                sink.close()
            except OSError:
                pass
    while True:
        agent, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=pump, args=(agent, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, agent, False), daemon=True).start()
    """
}

/// The whole flow over processes: `payrail serve --rail lightning` on a shop wallet, `payrail fetch
/// --rail lightning` paying from an agent wallet of the same real LNbits (FakeWallet, mainnet invoices).
@Suite("Lightning end to end: payrail serve and payrail fetch through a real LNbits", .serialized)
struct LightningFlowTests {
    static let priceMsat: Int64 = 100_000

    struct World {
        let lnbits: LNbitsPeer
        let shop: LNbitsPeer.Wallet
        let agent: LNbitsPeer.Wallet
        let server: ServeProcess
        let wallet: String

        init(lnbits: LNbitsPeer, agentSats: Int64, serveExtra: [String] = []) async throws {
            self.lnbits = lnbits
            shop = try await lnbits.createWallet(name: "shop")
            agent = try await lnbits.createWallet(name: "agent")
            if agentSats > 0 { try await lnbits.fund(agent, sats: agentSats) }
            server = try ServeProcess.lightning(lnbits: lnbits.baseURL, invoiceKey: shop.invoiceKey, extra: serveExtra)
            wallet = try temporaryDirectory().appendingPathComponent("wallet.sqlite").path
        }

        /// `payrail fetch --rail lightning --json`, the admin key in the environment only.
        func fetch(_ extra: [String], lnbitsURL: URL? = nil) throws -> AgentRun {
            try AgentRun.run(
                ["fetch", server.url("/premium").absoluteString, "--wallet", wallet, "--rail", "lightning",
                 "--lnbits-url", (lnbitsURL ?? lnbits.baseURL).absoluteString, "--json"] + extra,
                environment: ["PAYRAIL_LNBITS_ADMIN_KEY": agent.adminKey])
        }

        func balances() async throws -> (shop: Int64, agent: Int64) {
            (try await lnbits.balanceMsat(shop), try await lnbits.balanceMsat(agent))
        }

        /// No key appears in anything the processes printed.
        func expectNoKeyPrinted(_ runs: [AgentRun]) {
            let printed = [server.log, server.errors] + runs.flatMap { [$0.stdout, $0.stderr] }
            for text in printed {
                #expect(!text.contains(shop.invoiceKey) && !text.contains(shop.adminKey) && !text.contains(agent.adminKey)
                        && !text.contains(agent.invoiceKey), "a key was printed")
            }
        }
    }

    @Test("402, pay through LNbits, retry, 200 with a verified receipt: exactly the price moves once, in each dialect",
          arguments: [PaymentDialect.payment, .x402, .l402, .plain])
    func paysInEachDialect(_ dialect: PaymentDialect) async throws {
        let world = try await World(lnbits: try await LNbitsPeer.shared(), agentSats: 1_000)
        defer { world.server.kill() }
        #expect(world.server.log.contains("rail=lightning"))
        #expect(world.server.log.contains("backend=lnbits") && world.server.log.contains("network=mainnet"))

        let run = try world.fetch(["--dialect", dialect.rawValue, "--payment-id", "lightning-flow-\(dialect.rawValue)"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.json["status"] as? Int == 200)
        let payment = try #require(run.json["payment"] as? [String: Any], "\(run.stdout)")
        #expect(payment["dialect"] as? String == dialect.rawValue)
        #expect(payment["rail"] as? String == "lightning")
        // x402 prices lnbtc in msat; the others in sat: the same 100 sat either way.
        #expect(payment["amount"] as? String == (dialect == .x402 ? "100000msat" : "100sat"))
        #expect(payment["receiptVerified"] as? Bool == true, "\(payment["receiptProblem"] ?? "")")
        #expect((run.json["body"] as? String)?.contains("\"paidWith\":\"lightning\"") == true)
        var balances = try await world.balances()
        #expect(balances.shop == Self.priceMsat)
        #expect(balances.agent == 1_000_000 - Self.priceMsat)

        // The same payment id again is the same call: answered, nothing more paid.
        let again = try world.fetch(["--dialect", dialect.rawValue, "--payment-id", "lightning-flow-\(dialect.rawValue)"])
        #expect(again.status == 0, "\(again.stderr)")
        balances = try await world.balances()
        #expect(balances.shop == Self.priceMsat && balances.agent == 1_000_000 - Self.priceMsat)
        world.expectNoKeyPrinted([run, again])
    }

    @Test("serve --rail fake,lightning offers both; an agent with both wallets takes the cheaper, one with Lightning only pays on Lightning")
    func bothRails() async throws {
        let world = try await World(lnbits: try await LNbitsPeer.shared(), agentSats: 1_000, serveExtra: ["--rail", "fake"])
        defer { world.server.kill() }
        #expect(world.server.log.contains("rail=lightning,fake"), "\(world.server.log)")
        let payerFile = world.server.data.appendingPathComponent("fake-payer.json").path
        // The fake offer costs 100 sat; the Lightning one up to 110 (its maximum routing fee).
        let both = try world.fetch(["--rail", "lightning,fake", "--fake-payer", payerFile, "--payment-id", "lightning-both-rails-1"])
        #expect(both.status == 0, "\(both.stderr)")
        #expect((both.json["payment"] as? [String: Any])?["rail"] as? String == "fake", "\(both.stdout)")
        var balances = try await world.balances()
        #expect(balances.shop == 0 && balances.agent == 1_000_000)
        let lightningOnly = try world.fetch(["--payment-id", "lightning-both-rails-2"])
        #expect(lightningOnly.status == 0, "\(lightningOnly.stderr)")
        #expect((lightningOnly.json["payment"] as? [String: Any])?["rail"] as? String == "lightning", "\(lightningOnly.stdout)")
        balances = try await world.balances()
        #expect(balances.shop == Self.priceMsat && balances.agent == 1_000_000 - Self.priceMsat)
    }

    @Test("an unfunded agent wallet: refused before paying, exit 3, nothing moves, nothing committed")
    func unfundedWallet() async throws {
        let world = try await World(lnbits: try await LNbitsPeer.shared(), agentSats: 0)
        defer { world.server.kill() }
        let run = try world.fetch([])
        #expect(run.status == 3, "\(run.stdout) \(run.stderr)")
        let error = try #require(run.json["error"] as? [String: Any], "\(run.stdout)")
        #expect(error["code"] as? String == "refusedByPolicy", "\(error)")
        #expect(run.stdout.contains("insufficientFunds") || run.stdout.contains("holds 0 msat"), "\(run.stdout)")
        let balances = try await world.balances()
        #expect(balances.shop == 0 && balances.agent == 0)
        let ledger = try AgentRun.run(["ledger", "--wallet", world.wallet, "--json"])
        let spends = (ledger.json["spends"] as? [[String: Any]]) ?? []
        #expect(!spends.contains { $0["state"] as? String == "committed" || $0["state"] as? String == "paid" }, "\(spends)")
        world.expectNoKeyPrinted([run])
    }

    @Test("a challenge left past its expiry: the agent's rail refuses the invoice; paid anyway behind its back, the server refuses it")
    func expiredInvoice() async throws {
        let world = try await World(lnbits: try await LNbitsPeer.shared(), agentSats: 1_000, serveExtra: ["--challenge-lifetime", "2"])
        defer { world.server.kill() }
        let url = world.server.url("/premium")
        let challenge = try await exchange(url)
        #expect(challenge.status == 402)
        let reading = PaymentResponseReader.read(status: challenge.status, headers: challenge.headers, body: challenge.body, receivedAt: Date(),
                                                 expectedRequest: .http(method: "GET", url: url.absoluteString, body: [], headers: []))
        let read = try #require(reading.offers.first { $0.dialect == .plain && $0.offer.rail == .lightning }, "\(reading.skipped)")
        #expect(read.offer.expiresAt.timeIntervalSinceNow <= 2)
        try await Task.sleep(for: .milliseconds(3_200))

        let agentBackend = LNbitsBackend(baseURL: world.lnbits.baseURL, adminKey: LNbitsAPIKey(world.agent.adminKey), invoiceKey: nil)
        do {
            _ = try await LightningPayerRail(backend: agentBackend, network: .mainnet).pay(read.offer)
            Issue.record("the payer rail paid an expired invoice")
        } catch {
            #expect(error.code == .expired, "\(error)")
        }
        var balances = try await world.balances()
        #expect(balances.shop == 0 && balances.agent == 1_000_000)

        // LNbits itself may pay an expired invoice between its own wallets (asked directly, past every
        // check of ours); the server must still refuse that proof, since the challenge has expired.
        let invoice = try #require(read.offer.details["invoice"])
        var paidBehindTheRail = false
        let direct = try await world.lnbits.raw("POST", "/api/v1/payments", body: try JSONSerialization.data(withJSONObject: ["out": true, "bolt11": invoice]),
                                                headers: ["X-Api-Key": world.agent.adminKey])
        let answer = (try? JSONSerialization.jsonObject(with: direct.body)) as? [String: Any]
        if (200...201).contains(direct.status), let preimage = answer?["preimage"] as? String ?? answer?["payment_preimage"] as? String {
            paidBehindTheRail = true
            let credential = Credential(rail: .lightning, offerID: read.offer.id, payload: ["preimage": preimage])
            let late = try await exchange(url, headers: try read.credentialFields(for: credential))
            #expect(late.status == 402, "an expired challenge was honoured: \(late.status) \(late.text)")
        }
        // Whatever LNbits did, at most the one invoice moved.
        balances = try await world.balances()
        let moved: Int64 = paidBehindTheRail ? Self.priceMsat : 0
        #expect(balances.shop == moved && balances.agent == 1_000_000 - moved, "LNbits paid it: \(paidBehindTheRail)")
        // LNbits 1.6.2 does pay it (201): so the late proof above was really presented and refused.
        #expect(paidBehindTheRail, "LNbits answered \(direct.status) to paying an expired invoice; the server's refusal was not exercised")
    }

    @Test("LNbits frozen while the payment is in flight: exit 4, spend pending; after it is back a rerun finishes without paying twice")
    func lnbitsFrozenMidPayment() async throws {
        // A server of its own: freezing the shared one would stall every other test.
        let lnbits = try await LNbitsPeer.start()
        defer { lnbits.stop() }
        let world = try await World(lnbits: lnbits, agentSats: 1_000)
        defer { world.server.kill() }
        let port = try #require(lnbits.baseURL.port)
        let relay = try FreezingRelay(python: try LNbitsPeer.venv().appendingPathComponent("bin/python"), targetPort: port, lnbitsPID: lnbits.pid)
        defer {
            #expect(throws: Never.self) { try relay.stop() }
            lnbits.resume()
        }
        let viaRelay = try #require(URL(string: "http://127.0.0.1:\(relay.port)"))

        let started = Date()
        let first = try world.fetch(["--payment-id", "lightning-frozen-0001", "--payment-timeout", "3"], lnbitsURL: viaRelay)
        #expect(relay.froze, "the payment request never reached the relay: \(first.stderr)")
        #expect(first.status == 4, "\(first.stdout) \(first.stderr)")
        let error = try #require(first.json["error"] as? [String: Any], "\(first.stdout)")
        #expect(error["code"] as? String == "paymentOutcomeUnknown", "\(error)")
        #expect(Date().timeIntervalSince(started) < 30, "the agent waited too long on a frozen LNbits")
        let pending = try AgentRun.run(["ledger", "--wallet", world.wallet, "--json"])
        let spends = (pending.json["spends"] as? [[String: Any]]) ?? []
        #expect(spends.count == 1 && spends.first?["state"] as? String == "reserved", "\(spends)")

        // LNbits now handles the frozen request (or not); the rerun looks the payment up before paying.
        try await lnbits.resumeAndWait()
        let second = try world.fetch(["--payment-id", "lightning-frozen-0001", "--payment-timeout", "10"])
        #expect(second.status == 0, "\(second.stdout) \(second.stderr)")
        let payment = try #require(second.json["payment"] as? [String: Any], "\(second.stdout)")
        #expect(payment["resumed"] as? Bool == true)
        #expect(payment["receiptVerified"] as? Bool == true)
        let balances = try await world.balances()
        #expect(balances.shop == Self.priceMsat, "shop received \(balances.shop) msat")
        #expect(balances.agent == 1_000_000 - Self.priceMsat, "agent paid \(1_000_000 - balances.agent) msat")
        world.expectNoKeyPrinted([first, second])
    }
}

/// The Lightning settings of `payrail serve` and `payrail fetch` without any LNbits: what is refused,
/// that no secret is ever repeated, and the L402 root key kept across restarts.
@Suite("Lightning settings of payrail serve and fetch (no LNbits needed)", .serialized)
struct LightningSettingsTests {
    static let secret = "s3cret-never-printed-9f2c"

    @Test("a missing key or a bad address is a usage error naming the variable, never the value")
    func refusalsNeverEchoSecrets() throws {
        let data = try temporaryDirectory().appendingPathComponent("data").path
        let noKey = try AgentRun.run(["serve", "--port", "0", "--data", data, "--rail", "lightning", "--lnbits-url", "http://127.0.0.1:9"],
                                     environment: ["PAYRAIL_LNBITS_INVOICE_KEY": ""])
        #expect(noKey.status == 2 && noKey.stderr.contains("PAYRAIL_LNBITS_INVOICE_KEY"), "\(noKey.stderr)")
        let badURL = try AgentRun.run(["serve", "--port", "0", "--data", data, "--rail", "lightning", "--lnbits-url", "ftp://\(Self.secret)@host"],
                                      environment: ["PAYRAIL_LNBITS_INVOICE_KEY": Self.secret])
        #expect(badURL.status == 2 && badURL.stderr.contains("--lnbits-url"), "\(badURL.stderr)")
        let both = try AgentRun.run(["fetch", "http://127.0.0.1:9/premium", "--rail", "lightning", "--lnbits-url", "http://127.0.0.1:9",
                                     "--lnd-url", "https://127.0.0.1:8080"], environment: ["PAYRAIL_LNBITS_ADMIN_KEY": Self.secret])
        #expect(both.status == 2 && both.stderr.contains("not both"), "\(both.stderr)")
        let noAdmin = try AgentRun.run(["fetch", "http://127.0.0.1:9/premium", "--rail", "lightning", "--lnbits-url", "http://127.0.0.1:9"],
                                       environment: ["PAYRAIL_LNBITS_ADMIN_KEY": ""])
        #expect(noAdmin.status == 2 && noAdmin.stderr.contains("PAYRAIL_LNBITS_ADMIN_KEY"), "\(noAdmin.stderr)")
        let plainLND = try AgentRun.run(["serve", "--port", "0", "--data", data, "--rail", "lightning", "--lnd-url", "http://127.0.0.1:8080"])
        #expect(plainLND.status == 2 && plainLND.stderr.contains("--lnd-url"), "\(plainLND.stderr)")
        let lndNoFiles = try AgentRun.run(["serve", "--port", "0", "--data", data, "--rail", "lightning", "--lnd-url", "https://127.0.0.1:8080"])
        #expect(lndNoFiles.status == 2 && lndNoFiles.stderr.contains("--lnd-macaroon"), "\(lndNoFiles.stderr)")
        let lndMissing = try AgentRun.run(["fetch", "http://127.0.0.1:9/premium", "--rail", "lightning", "--lnd-url", "https://127.0.0.1:8080",
                                           "--lnd-macaroon", "/nonexistent/admin.macaroon", "--lnd-cert", "/nonexistent/tls.cert"])
        #expect(lndMissing.status == 2 && lndMissing.stderr.contains("LND settings cannot be used"), "\(lndMissing.stderr)")
        let badRail = try AgentRun.run(["fetch", "http://127.0.0.1:9/premium", "--rail", "fake,card"])
        #expect(badRail.status == 2 && badRail.stderr.contains("'card'"), "\(badRail.stderr)")
        for run in [noKey, badURL, both, noAdmin, plainLND, lndNoFiles, lndMissing, badRail] {
            #expect(!(run.stdout + run.stderr).contains(Self.secret))
        }
    }

    @Test("serve --rail lightning starts from the environment alone, prints no key nor URL credentials, keeps one L402 root key (0600) across restarts")
    func startsAndKeepsTheMacaroonRootKey() throws {
        let scratch = try temporaryDirectory()
        let data = scratch.appendingPathComponent("data")
        let arguments = ["serve", "--port", "0", "--data", data.path, "--rail", "fake,lightning"]
        let environment = ["PAYRAIL_LNBITS_URL": "http://user:\(Self.secret)@127.0.0.1:9", "PAYRAIL_LNBITS_INVOICE_KEY": Self.secret,
                           "PAYRAIL_LIGHTNING_NETWORK": "regtest"]
        var keys: [Data] = []
        for _ in 0..<2 {
            let running = try AgentRun.Running(arguments, environment: environment)
            var log = ""
            for _ in 0..<200 {
                log = AgentRun.read(running.out)
                if log.contains("payrail serve: price") || !running.process.isRunning { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            kill(running.process.processIdentifier, SIGTERM)
            let finished = try running.wait()
            #expect(finished.stdout.contains("rail=fake,lightning"), "\(finished.stdout) \(finished.stderr)")
            #expect(finished.stdout.contains("backend=lnbits http://127.0.0.1:9 network=regtest mode=backend"), "\(finished.stdout)")
            #expect(!(finished.stdout + finished.stderr).contains(Self.secret))
            let file = data.appendingPathComponent("macaroon-root.key")
            let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            keys.append(try Data(contentsOf: file))
        }
        #expect(keys.count == 2 && keys[0] == keys[1] && keys[0].count >= 43)
    }
}

extension AgentRun {
    /// A file's text, empty when unreadable.
    static func read(_ file: URL) -> String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }
}
