import Foundation
import PayRailTestPeers
import Testing

/// The Python scripts that plug the tests' own small methods and wallets into SDKs nobody here wrote
/// (`Fixtures/interop`). The SDKs themselves are the pinned, unmodified PyPI packages of `.build/peers`.
enum InteropFixtures {
    static let directory = PythonPeer.packageRoot.appendingPathComponent("Tests/PayRailCLITests/Fixtures/interop")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Runs a one-shot script and parses the JSON object it prints last.
    static func runJSON(_ script: String, _ arguments: [String]) throws -> [String: Any] {
        let output = try PythonPeer.run(url(script), arguments)
        let last = output.split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            throw ServeTestFailure("\(script) printed no JSON object: \(output.prefix(500))")
        }
        return object
    }
}

/// A Python server from `Fixtures/interop` (an SDK's server side), on a loopback port it picks and prints
/// on its first stdout line; stopped by its PID.
final class PythonServerPeer: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let script: String
    private let networkGuard: PeerNetworkGuard
    private let stdoutFile: URL
    private let stderrFile: URL

    init(_ script: String, _ arguments: [String], readyWithin seconds: Double = 30) throws {
        let scratch = try temporaryDirectory()
        self.script = script
        networkGuard = try PeerNetworkGuard.prepare()
        stdoutFile = scratch.appendingPathComponent("peer.out")
        stderrFile = scratch.appendingPathComponent("peer.err")
        for file in [stdoutFile, stderrFile] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        process.executableURL = try PythonPeer.interpreter()
        process.arguments = [InteropFixtures.url(script).path] + arguments
        process.currentDirectoryURL = InteropFixtures.directory
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        // The SDKs must not find a developer's real wallet or config under $HOME.
        environment["HOME"] = scratch.path
        environment["XDG_CONFIG_HOME"] = scratch.path
        // Loopback only: any other destination is refused and fails the test at `stop()`.
        process.environment = networkGuard.environment(environment)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        try process.run()
        // Stopped by PID even if this test process is killed (a `defer` never runs then).
        try PeerWatchdog.watch(pid: process.processIdentifier, signal: SIGTERM)
        var found: Int?
        let deadline = Date().addingTimeInterval(seconds)
        while found == nil, Date() < deadline, process.isRunning {
            if let line = Self.read(stdoutFile).split(separator: "\n").first, let port = Int(line) { found = port }
            else { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard let found else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw ServeTestFailure("\(script) did not start: \(Self.read(stderrFile).suffix(2000))")
        }
        port = found
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// What the peer wrote on stderr (its tracebacks).
    var errors: String { Self.read(stderrFile) }

    /// Stops the peer by its PID; throws when it tried to reach anything but loopback.
    func stop() throws {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        defer { networkGuard.remove() }
        try networkGuard.check(peer: script)
    }

    private static func read(_ file: URL) -> String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }
}
