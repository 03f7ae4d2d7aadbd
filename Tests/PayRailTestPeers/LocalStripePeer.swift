import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real local Stripe server for tests: PyPI `localstripe` (pinned in
/// `scripts/peers-requirements.txt`, installed into the peers venv), a stateful fake of Stripe's
/// REST API.
///
/// Its `localstripe` command listens on every interface and pickles its whole state to
/// `/tmp/localstripe.pickle` after every write (and loads it back at start). This launcher instead
/// runs its aiohttp application from Python bound to 127.0.0.1 on a free port, with the store's
/// disk load/dump replaced by no-ops, so nothing is shared between runs or written to /tmp. It is
/// stopped by its PID. A missing package is a failure saying how to install it, never a skip.
///
/// Any `sk_…` key is accepted. What it does and does not imitate: /work/shared/design/PEERS.md.
public final class LocalStripePeer: @unchecked Sendable {
    // @unchecked: everything is immutable except `stopped`, guarded by `lock`.

    /// Why the server could not be started or driven.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong and how to fix it.
        public var description: String

        /// Creates a failure (tests driving the server report their own).
        public init(description: String) { self.description = description }
    }

    /// `http://127.0.0.1:<port>`.
    public let baseURL: URL
    /// The server's PID.
    public let pid: Int32
    private let process: Process
    private let scratch: URL
    private let logURL: URL
    /// Keeps the server on loopback; its record fails the test (`PeerNetworkGuard`).
    private let network: PeerNetworkGuard
    private let lock = NSLock()
    private var stopped = false

    private init(baseURL: URL, process: Process, scratch: URL, logURL: URL, network: PeerNetworkGuard) {
        self.baseURL = baseURL
        self.process = process
        self.pid = process.processIdentifier
        self.scratch = scratch
        self.logURL = logURL
        self.network = network
    }

    deinit { stop() }

    /// The server shared by every test of this process, started on first use and stopped at exit.
    public static func shared() async throws -> LocalStripePeer {
        try await SharedLocalStripe.instance.get()
    }

    /// Starts a new server; waits at most `readyWithin` for it to answer.
    public static func start(readyWithin: Duration = .seconds(30)) async throws -> LocalStripePeer {
        let python: URL
        do { python = try PythonPeer.interpreter() } catch {
            throw Failure(description: "localstripe needs the peers venv: \(error)")
        }
        let port = try LoopbackPort.free()
        guard let baseURL = URL(string: "http://127.0.0.1:\(port)") else { throw Failure(description: "no URL for port \(port)") }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-localstripe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let logURL = scratch.appendingPathComponent("server.log")
        // Loopback only: a connection or lookup elsewhere is refused and fails the next request.
        let (process, network) = try GuardedPythonServer.launch(
            python: python, arguments: ["-c", launcher, String(port)], directory: scratch,
            environment: ProcessInfo.processInfo.environment, logURL: logURL, removing: [scratch])
        let peer = LocalStripePeer(baseURL: baseURL, process: process, scratch: scratch, logURL: logURL, network: network)
        do {
            try await peer.waitUntilReady(within: readyWithin)
        } catch {
            peer.stop()
            throw error
        }
        return peer
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its scratch folder. Idempotent.
    public func stop() {
        let alreadyStopped = lock.withLock {
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        defer { network.remove() }
        if process.isRunning {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Stops the server, then throws when it tried to reach anything but loopback.
    public func stopChecked() throws {
        let tried = network.attempts()
        stop()
        guard tried.isEmpty else {
            throw Failure(description: "localstripe tried to reach beyond loopback (refused): " + tried.joined(separator: "; "))
        }
    }

    /// Whether the server process is running.
    public var isRunning: Bool { process.isRunning }

    /// The last `lines` lines of the server's log, for failure messages.
    public func logTail(lines: Int = 30) -> String {
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Sends one form-encoded request with a test key and returns status and body: for the test
    /// helpers localstripe adds (`POST /v1/payment_intents/{id}/_authenticate`, `/_config/webhooks/{id}`)
    /// and for counting objects.
    public func raw(_ method: String, _ path: String, form: [(String, String)] = []) async throws -> (status: Int, body: Data) {
        try network.check(peer: "localstripe on \(baseURL.absoluteString)")
        guard let url = URL(string: baseURL.absoluteString + path) else { throw Failure(description: "bad path \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Bearer sk_test_localstripe", forHTTPHeaderField: "Authorization")
        if !form.isEmpty {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            let body = form.map { name, value in
                (name.addingPercentEncoding(withAllowedCharacters: allowed) ?? "") + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
            }.joined(separator: "&")
            request.httpBody = Data(body.utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        }
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw Failure(description: "not an HTTP answer from localstripe") }
        return (http.statusCode, data)
    }

    private func waitUntilReady(within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw Failure(description: """
                    localstripe exited with status \(process.terminationStatus) before it was ready (is it installed? \
                    .build/peers/venv/bin/pip install -r scripts/peers-requirements.txt); log tail:
                    \(logTail())
                    """)
            }
            if let (status, _) = try? await raw("GET", "/v1/balance"), status > 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "localstripe was not ready on \(baseURL.absoluteString) within \(limit); log tail:\n\(logTail())")
    }

    /// localstripe's application on loopback, its disk persistence switched off before first use.
    private static let launcher = """
    import sys
    import localstripe.resources as resources
    resources.Store.try_load_from_disk = lambda self: None
    resources.Store.dump_to_disk = lambda self: None
    from aiohttp import web
    import localstripe.server as server
    web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
    """
}

/// The server shared by every test of this process.
private enum SharedLocalStripe {
    static let instance = SharedPeer<LocalStripePeer>(start: { try await LocalStripePeer.start() }, stopChecked: { try $0.stopChecked() })
}
