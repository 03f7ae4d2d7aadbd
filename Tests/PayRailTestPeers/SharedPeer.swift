import Foundation

/// One server of a kind per test process: started on first use, even when many tests ask at the
/// same time, and stopped at exit (Swift Testing has no process-wide teardown).
public actor SharedPeer<Peer: Sendable> {
    private var task: Task<Peer, any Error>?
    private let start: @Sendable () async throws -> Peer
    private let stopChecked: @Sendable (Peer) throws -> Void

    /// `start` makes the server; `stopChecked` stops it at exit and throws when it misbehaved (tried
    /// to reach beyond loopback), which makes the test process exit with status 70.
    public init(start: @escaping @Sendable () async throws -> Peer, stopChecked: @escaping @Sendable (Peer) throws -> Void) {
        self.start = start
        self.stopChecked = stopChecked
    }

    /// The shared server, started now if nobody asked before.
    public func get() async throws -> Peer {
        if let task { return try await task.value }
        let start = self.start, stop = self.stopChecked
        let started = Task { () async throws -> Peer in
            let peer = try await start()
            PeerShutdown.atExit { try stop(peer) }
            return peer
        }
        task = started
        return try await started.value
    }
}

/// Stops shared servers when the test process exits. A server that tried to reach beyond loopback
/// makes the process exit with status 70 (after saying where), so the run fails even when the attempt
/// came after the last request.
enum PeerShutdown {
    nonisolated(unsafe) private static var stops: [@Sendable () throws -> Void] = []
    nonisolated(unsafe) private static var armed = false
    private static let lock = NSLock()

    static func atExit(_ stop: @escaping @Sendable () throws -> Void) {
        lock.withLock {
            stops.append(stop)
            guard !armed else { return }
            armed = true
            atexit { PeerShutdown.runAll() }
        }
    }

    private static func runAll() {
        let all = lock.withLock { stops }
        var failed = false
        for stop in all {
            do { try stop() } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                failed = true
            }
        }
        if failed { _exit(70) }
    }
}

/// A TCP port nobody listens on right now: bind port 0 on loopback, read the port, close.
public enum LoopbackPort {
    /// A free loopback port.
    public static func free() throws -> Int {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw PythonPeer.Failure(description: "socket() failed: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, length) == 0 && getsockname(descriptor, generic, &length) == 0
            }
        }
        guard bound else { throw PythonPeer.Failure(description: "could not bind a free loopback port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Starts a long-running Python server under the loopback guard, its stdout and stderr in `logURL`
/// (a file, not a pipe: a chatty server can never block on a full pipe), watched by `PeerWatchdog`.
public enum GuardedPythonServer {
    /// Runs `python arguments` in `directory` with `environment` (plus `PYTHONUNBUFFERED`), guarded.
    /// Should the test process die without stopping it, the watchdog sends SIGTERM (what every
    /// Python peer's `stop()` sends first), then removes the guard's directory and `removing`.
    public static func launch(python: URL, arguments: [String], directory: URL, environment: [String: String],
                              logURL: URL, removing: [URL] = []) throws -> (process: Process, network: PeerNetworkGuard) {
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let process = Process()
        process.executableURL = python
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var environment = environment
        environment["PYTHONUNBUFFERED"] = "1"
        let network = try PeerNetworkGuard.prepare()
        process.environment = network.environment(environment)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            network.remove()
            throw error
        }
        try? log.close()
        do {
            try PeerWatchdog.watch(pid: process.processIdentifier, signal: SIGTERM, removing: [network.directory] + removing)
        } catch {
            // Unwatched, the server could outlive a killed test: stop it rather than run it so.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            network.remove()
            throw error
        }
        return (process, network)
    }
}
