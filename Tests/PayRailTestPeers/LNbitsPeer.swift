import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real LNbits server (PyPI `lnbits`, pinned in `scripts/lnbits-requirements.txt`) for tests.
///
/// Usage:
/// ```swift
/// let lnbits = try await LNbitsPeer.shared()          // one per test process, stopped at exit
/// let payee = try await lnbits.createWallet(name: "payee")
/// let payer = try await lnbits.createWallet(name: "payer")
/// try await lnbits.fund(payer, sats: 10_000)
/// // LNbitsBackend(baseURL: lnbits.baseURL, adminKey: .init(payer.adminKey), invoiceKey: .init(payer.invoiceKey))
/// ```
/// A test that stops or freezes the server starts its own with `LNbitsPeer.start()` and calls
/// `stop()` (or `suspend()` / `resume()`) on it; never do that to the shared one.
///
/// The server runs with the FakeWallet funding source (payments between wallets of one instance
/// settle internally and return the preimage), SQLite in a fresh temporary data folder, bound to
/// 127.0.0.1 on a free port. It is the LNbits application run by the venv's Python under uvicorn in
/// one process, not the `lnbits` command: that command forks the server into a child process, which
/// stopping by PID would leave running. A missing venv is an error saying to run `scripts/test`.
///
/// It stays on loopback: LNbits' own settings switch off what it would fetch from the internet
/// (`outboundLookupsOff`: the price aggregator, the exchange-rate providers, the extension
/// manifests), and `PeerNetworkGuard` refuses and records anything else. A recorded attempt fails the
/// next request a test makes through this type, `stopChecked()`, and the test process at exit for
/// the shared server.
public final class LNbitsPeer: @unchecked Sendable {
    // @unchecked: the stored properties are immutable except `stopped` and `ownsProcess`, guarded by `lock`.

    /// One LNbits wallet and its keys.
    public struct Wallet: Sendable, Hashable, CustomStringConvertible {
        /// The wallet id (used to fund it).
        public let id: String
        /// The admin key: pays, creates invoices, reads.
        public let adminKey: String
        /// The invoice key: creates invoices and reads, cannot pay.
        public let invoiceKey: String
        /// The name given at creation.
        public let name: String

        /// The name and id, never the keys.
        public var description: String { "LNbits wallet \(name) (\(id))" }
    }

    /// Why the server could not be started or driven.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong and how to fix it.
        public var description: String
    }

    /// `http://127.0.0.1:<port>`.
    public let baseURL: URL
    /// The server process's PID (the uvicorn process that serves requests).
    public let pid: Int32
    /// The temporary data folder (SQLite database, logs); removed by `stop()`.
    public let dataFolder: URL
    private let process: Process
    private let logURL: URL
    private let superUserToken: String
    private let session: URLSession
    private let lock = NSLock()
    private var stopped = false
    /// False for the startup handle, which shares the process and the guard with the returned peer.
    private var ownsProcess = true
    /// Refuses and records every attempt to reach beyond loopback.
    public let network: PeerNetworkGuard

    /// LNbits settings (environment variables of `lnbits.settings`, checked with lnbits 1.6.2) that
    /// stop it fetching from the internet: BTC prices from price.lnbits.com (the aggregator) or, with
    /// that off, from eight exchanges; the extension catalogues from GitHub, normal and WASM. Its
    /// notifications (Nostr, Telegram, e-mail) are off by default; FakeWallet needs no node.
    public static let outboundLookupsOff: [String: String] = [
        "LNBITS_PRICE_AGGREGATOR_ENABLED": "false",
        "LNBITS_EXCHANGE_RATE_PROVIDERS": "[]",
        "LNBITS_EXTENSIONS_MANIFESTS": "[]",
        "LNBITS_WASM_EXTENSIONS_MANIFESTS": "[]",
    ]

    private init(baseURL: URL, process: Process, dataFolder: URL, logURL: URL, superUserToken: String, session: URLSession, network: PeerNetworkGuard) {
        self.baseURL = baseURL
        self.process = process
        self.pid = process.processIdentifier
        self.dataFolder = dataFolder
        self.logURL = logURL
        self.superUserToken = superUserToken
        self.session = session
        self.network = network
    }

    deinit {
        let owner = lock.withLock { ownsProcess }
        stop()
        if owner { network.remove() }
    }

    // MARK: Finding the venv

    /// The LNbits venv: `PAYRAIL_LNBITS_VENV`, else `.build/peers/lnbits` in the package.
    public static func venv() throws -> URL {
        let root: URL
        if let path = ProcessInfo.processInfo.environment["PAYRAIL_LNBITS_VENV"], !path.isEmpty {
            root = URL(fileURLWithPath: path)
        } else {
            root = PythonPeer.packageRoot.appendingPathComponent(".build/peers/lnbits")
        }
        guard FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("bin/python").path) else {
            throw Failure(description: "LNbits is not installed (\(root.path)/bin/python missing): run scripts/test, which installs it")
        }
        return root
    }

    /// The venv's `site-packages`, the working directory LNbits needs (it finds `lnbits/static` there).
    static func sitePackages(of venv: URL) throws -> URL {
        let lib = venv.appendingPathComponent("lib")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []
        for version in versions.sorted() where version.hasPrefix("python") {
            let candidate = lib.appendingPathComponent(version).appendingPathComponent("site-packages")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("lnbits/static").path) { return candidate }
        }
        throw Failure(description: "no lnbits package under \(lib.path): run scripts/test, which installs it")
    }

    // MARK: Starting and stopping

    /// The server shared by every test of this process, started on first use and stopped at exit.
    public static func shared() async throws -> LNbitsPeer {
        try await SharedLNbits.instance.get()
    }

    /// Starts a new server and performs its first install; waits at most `readyWithin`.
    ///
    /// `outboundLookups: true` leaves LNbits' own internet lookups on (the guard still refuses and
    /// records them): only for the test proving the guard sees them.
    public static func start(readyWithin: Duration = .seconds(90), outboundLookups: Bool = false) async throws -> LNbitsPeer {
        let venv = try venv()
        let workingDirectory = try sitePackages(of: venv)
        let port = try LoopbackPort.free()
        guard let baseURL = URL(string: "http://127.0.0.1:\(port)") else { throw Failure(description: "no URL for port \(port)") }
        let dataFolder = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-lnbits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataFolder, withIntermediateDirectories: true)
        let logURL = dataFolder.appendingPathComponent("server.log")
        var environment = ProcessInfo.processInfo.environment
        for name in environment.keys where name.hasPrefix("LNBITS_") { environment[name] = nil }
        environment["LNBITS_BACKEND_WALLET_CLASS"] = "FakeWallet"
        environment["LNBITS_DATA_FOLDER"] = dataFolder.path
        if !outboundLookups { environment.merge(outboundLookupsOff) { _, off in off } }
        let (process, network) = try GuardedPythonServer.launch(
            python: venv.appendingPathComponent("bin/python"), arguments: ["-c", launcher, "127.0.0.1", String(port)],
            directory: workingDirectory, environment: environment, logURL: logURL, removing: [dataFolder])

        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        let session = URLSession(configuration: configuration)
        let startup = LNbitsPeer(baseURL: baseURL, process: process, dataFolder: dataFolder, logURL: logURL, superUserToken: "", session: session, network: network)
        do {
            try await startup.waitUntilReady(within: readyWithin)
            let token = try await startup.firstInstall()
            startup.disarm()
            return LNbitsPeer(baseURL: baseURL, process: process, dataFolder: dataFolder, logURL: logURL, superUserToken: token, session: session, network: network)
        } catch {
            startup.stop()
            network.remove()
            throw error
        }
    }

    /// Stops the server like `stop()`, then throws when it tried to reach beyond loopback while it ran.
    public func stopChecked() throws {
        stop()
        try network.check(peer: "LNbits on \(baseURL.absoluteString)")
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and removes the data folder. Idempotent.
    public func stop() {
        let alreadyStopped = lock.withLock {
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        if process.isRunning {
            kill(pid, SIGTERM)
            kill(pid, SIGCONT)  // a suspended server handles SIGTERM only once it runs again
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dataFolder)
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel but never answered.
    public func suspend() { kill(pid, SIGSTOP) }

    /// Lets a suspended server run again (SIGCONT).
    public func resume() { kill(pid, SIGCONT) }

    /// Lets a suspended server run again and returns once it answers HTTP: requests queued while it
    /// was frozen are then being handled (a test waits on this, not on a fixed sleep).
    public func resumeAndWait(within limit: Duration = .seconds(30)) async throws {
        resume()
        try await waitUntilReady(within: limit)
    }

    /// Whether the server process is running (a suspended one counts as running).
    public var isRunning: Bool { process.isRunning }

    /// The last `lines` lines of the server's log, for failure messages.
    public func logTail(lines: Int = 30) -> String {
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Marks a startup handle as not owning the process, so its deinit does not stop the server.
    private func disarm() {
        lock.withLock {
            stopped = true
            ownsProcess = false
        }
    }

    // MARK: Wallets

    /// `POST /api/v1/account {"name"}`: a new user with one wallet.
    public func createWallet(name: String) async throws -> Wallet {
        let object = try await json("POST", "/api/v1/account", body: ["name": name], expect: [200, 201])
        guard let id = object["id"] as? String, let adminKey = object["adminkey"] as? String, let invoiceKey = object["inkey"] as? String else {
            throw Failure(description: "LNbits created a wallet without id/adminkey/inkey: keys \(object.keys.sorted())")
        }
        return Wallet(id: id, adminKey: adminKey, invoiceKey: invoiceKey, name: name)
    }

    /// `PUT /users/api/v1/balance {"id","amount"}` as the super user: credits `sats` (or debits, when
    /// negative) out of thin air.
    public func fund(_ wallet: Wallet, sats: Int64) async throws {
        let object = try await json(
            "PUT", "/users/api/v1/balance", body: ["id": wallet.id, "amount": sats], expect: [200],
            headers: ["Authorization": "Bearer \(superUserToken)"]
        )
        guard object["success"] as? Bool == true else {
            throw Failure(description: "LNbits did not fund \(wallet): \(object["message"] ?? "no message")")
        }
    }

    /// The wallet's balance in millisatoshi (`GET /api/v1/wallet`).
    public func balanceMsat(_ wallet: Wallet) async throws -> Int64 {
        let object = try await json("GET", "/api/v1/wallet", body: nil, expect: [200], headers: ["X-Api-Key": wallet.invoiceKey])
        guard let balance = (object["balance"] as? NSNumber)?.int64Value else {
            throw Failure(description: "LNbits answered a wallet without a balance")
        }
        return balance
    }

    /// Sends one request and returns the status and body (for tests that record real answers).
    public func raw(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> (status: Int, body: Data) {
        // Every use checks the guard, so an attempt fails the test that is using the server.
        try network.check(peer: "LNbits on \(baseURL.absoluteString)")
        return try await send(method, path, body: body, headers: headers)
    }

    private func send(_ method: String, _ path: String, body: Data?, headers: [String: String]) async throws -> (status: Int, body: Data) {
        guard let url = URL(string: baseURL.absoluteString + path) else { throw Failure(description: "bad path \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw Failure(description: "not an HTTP answer from LNbits") }
        return (http.statusCode, data)
    }

    // MARK: Private

    private func json(
        _ method: String, _ path: String, body: [String: Any]?, expect: Set<Int>, headers: [String: String] = [:]
    ) async throws -> [String: Any] {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let (status, answer) = try await raw(method, path, body: data, headers: headers)
        guard expect.contains(status) else {
            throw Failure(description: "LNbits answered \(status) to \(method) \(path): \(String(decoding: answer.prefix(500), as: UTF8.self))\n\(logTail())")
        }
        guard let object = try JSONSerialization.jsonObject(with: answer) as? [String: Any] else {
            throw Failure(description: "LNbits answered \(method) \(path) with something other than a JSON object")
        }
        return object
    }

    private func waitUntilReady(within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw Failure(description: "LNbits exited with status \(process.terminationStatus) before it was ready; log tail:\n\(logTail())")
            }
            // Any HTTP answer means it serves; before the first install every path redirects (307).
            if let (status, _) = try? await send("GET", "/api/v1/health", body: nil, headers: [:]), status > 0 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Failure(description: "LNbits was not ready on \(baseURL.absoluteString) within \(limit); log tail:\n\(logTail())")
    }

    private func firstInstall() async throws -> String {
        let password = UUID().uuidString
        let object = try await json(
            "PUT", "/api/v1/auth/first_install",
            body: ["username": "payrail", "password": password, "password_repeat": password], expect: [200]
        )
        guard let token = object["access_token"] as? String else {
            throw Failure(description: "LNbits' first install returned no access_token: keys \(object.keys.sorted())")
        }
        return token
    }

    /// What `lnbits --host H --port P` does, minus the child process it forks the server into.
    private static let launcher = """
    import sys
    from pathlib import Path
    import uvicorn
    from lnbits.settings import set_cli_settings, settings
    host, port = sys.argv[1], int(sys.argv[2])
    Path(settings.lnbits_data_folder, "logs").mkdir(parents=True, exist_ok=True)
    Path(settings.lnbits_extensions_path, "extensions").mkdir(parents=True, exist_ok=True)
    settings.wasm_extensions_dir.mkdir(parents=True, exist_ok=True)
    set_cli_settings(host=host, port=port, forwarded_allow_ips=settings.forwarded_allow_ips)
    # asyncio's own loop, not uvloop: uvloop's sockets are out of the loopback guard's sight.
    uvicorn.run("lnbits.__main__:app", host=host, port=port, loop="asyncio")
    """
}

/// The server shared by every test of this process.
private enum SharedLNbits {
    static let instance = SharedPeer<LNbitsPeer>(start: { try await LNbitsPeer.start() }, stopChecked: { try $0.stopChecked() })
}
