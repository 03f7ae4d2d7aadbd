#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import PayRailTestPeers
import Testing

/// A test process that dies without stopping its peers (SIGKILL here; SIGTERM from `timeout`,
/// SIGPIPE and crashes skip the `atexit` hook alike) must not leave them running: `PeerWatchdog`
/// stops them. Each test starts a real peer in a child test process (an exit test), which then
/// kills itself with SIGKILL, and checks the peer's PID is gone within 10 s.
@Suite("Peer watchdog")
struct PeerWatchdogTests {
    @Test("a PostgreSQL server whose test process is SIGKILLed stops within 10 s, and its directory is removed")
    func postgresStopsWhenItsTestProcessIsKilled() async throws {
        let result = try await #require(processExitsWith: .signal(SIGKILL), observing: [\.standardOutputContent]) {
            let server = try PostgresServer.start()
            announce(pid: server.pid ?? 0, directory: server.directory.path)
            kill(getpid(), SIGKILL)
        }
        let peer = try #require(WatchedPeer(result.standardOutputContent), "the child printed no peer")
        await peer.expectGone()
    }

    @Test("a Python peer (localstripe, through the guarded launcher) whose test process is SIGKILLed stops within 10 s")
    func pythonPeerStopsWhenItsTestProcessIsKilled() async throws {
        let result = try await #require(processExitsWith: .signal(SIGKILL), observing: [\.standardOutputContent]) {
            let peer = try await LocalStripePeer.start()
            announce(pid: peer.pid, directory: "")
            kill(getpid(), SIGKILL)
        }
        let peer = try #require(WatchedPeer(result.standardOutputContent), "the child printed no peer")
        await peer.expectGone()
    }

    @Test("a Python peer started from a test's thread ends on SIGTERM (the signals that stop a peer are unblocked), not by SIGKILL")
    func pythonPeerEndsOnSIGTERM() async throws {
        let network = try PeerNetworkGuard.prepare()
        defer { network.remove() }
        let process = Process()
        process.executableURL = try PythonPeer.interpreter()
        process.arguments = ["-c", "import sys, time\nprint('ready', flush=True)\ntime.sleep(60)"]
        process.environment = network.environment(ProcessInfo.processInfo.environment)
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // Once it prints, the interpreter (and the guard's sitecustomize) has started.
        _ = output.fileHandleForReading.availableData
        kill(process.processIdentifier, SIGTERM)
        // A peer whose SIGTERM stays blocked would sleep on: end it after 10 s and say so.
        var waited = 0
        while process.isRunning && waited < 100 {
            try await Task.sleep(for: .milliseconds(100))
            waited += 1
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGTERM,
                "ended by \(process.terminationReason == .uncaughtSignal ? "signal" : "exit") \(process.terminationStatus)")
    }
}

/// Tells the parent test which peer to watch: one line on stdout, written unbuffered because the
/// child is killed right after.
private func announce(pid: Int32, directory: String) {
    FileHandle.standardOutput.write(Data("watched-peer \(pid) \(directory)\n".utf8))
}

/// The peer a child test process announced before it was killed.
private struct WatchedPeer {
    let pid: pid_t
    /// The peer's temporary directory, nil when the test does not check it.
    let directory: String?

    init?(_ output: [UInt8]) {
        let line = String(decoding: output, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("watched-peer ") }
        let fields = line?.split(separator: " ", omittingEmptySubsequences: false) ?? []
        guard fields.count == 3, let pid = pid_t(fields[1]), pid > 0 else { return nil }
        self.pid = pid
        directory = fields[2].isEmpty ? nil : String(fields[2])
    }

    /// Expects the peer gone (and its directory removed) within 10 s; otherwise records an issue and
    /// cleans up by hand, so a failing run leaks nothing either.
    func expectGone() async {
        let deadline = ContinuousClock.now + .seconds(10)
        while (isRunning || directoryExists) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        #expect(!isRunning, "the peer (PID \(pid)) still runs 10 s after its test process was killed")
        #expect(!directoryExists, "the peer's directory \(directory ?? "") is still there")
        if isRunning { kill(pid, SIGKILL) }
        if let directory, directoryExists { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Whether the PID names a live process: a zombie counts as gone (an orphan may never be
    /// reaped when PID 1 is not an init), and it holds no port or memory.
    private var isRunning: Bool {
        guard kill(pid, 0) == 0 else { return false }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return !status.split(separator: "\n").contains { $0.hasPrefix("State:") && $0.contains("Z (zombie)") }
    }

    private var directoryExists: Bool {
        directory.map { FileManager.default.fileExists(atPath: $0) } ?? false
    }
}
