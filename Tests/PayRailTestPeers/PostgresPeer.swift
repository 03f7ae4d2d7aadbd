#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// A real PostgreSQL server for the store tests, started by the tests themselves: `initdb` in a
// temporary directory, trust authentication, listening on 127.0.0.1 at a free port and on a unix
// socket in that directory, stopped by PID (SIGINT: fast shutdown) when the test process exits, and
// by a `PeerWatchdog` when the test process is killed or crashes instead.
// PostgreSQL refuses to run as root, and CI runs as root: then the server runs as an unprivileged
// user (`postgres` when the package created one, else `nobody`) through `setpriv`, which execs the
// server in place so the PID we hold is the postmaster's own.
//
// Durability is switched off (`fsync=off`, `synchronous_commit=off`, `full_page_writes=off`): the
// tests check concurrency and semantics, not crash safety, and a throwaway cluster need not sync.

/// One PostgreSQL server run by the tests.
public final class PostgresServer: @unchecked Sendable {
    // @unchecked: `process` is only touched under `lock`.
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The temporary directory: `data/` (the cluster), the unix socket and `postgres.log`.
    public let directory: URL
    /// The superuser the tests connect as (trust authentication, no password needed).
    public static let superuser = "payrail"
    private let binaries: URL
    private let account: (uid: uid_t, gid: gid_t)?
    private let lock = NSLock()
    private var process: Process?

    /// Why the server could not be run; says how to fix it.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong and how to fix it.
        public var description: String
    }

    private init(port: Int, directory: URL, binaries: URL, account: (uid: uid_t, gid: gid_t)?) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
        self.account = account
    }

    /// The installed server binaries: `PAYRAIL_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
    public static func findBinaries() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["PAYRAIL_PG_BIN"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions {
            let bin = URL(fileURLWithPath: "\(root)/\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("postgres").path) { return bin }
        }
        for candidate in ["/opt/homebrew/bin", "/usr/local/bin"]
        where FileManager.default.isExecutableFile(atPath: candidate + "/postgres") {
            return URL(fileURLWithPath: candidate)
        }
        throw Failure(description: "the PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/postgres): run scripts/test, "
                      + "which installs the postgresql package, or set PAYRAIL_PG_BIN")
    }

    /// Creates a cluster in a new temporary directory and starts it.
    public static func start() throws -> PostgresServer {
        let binaries = try findBinaries()
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("payrail-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let account = try unprivilegedAccount()
        if let account, chown(directory.path, account.uid, account.gid) != 0 {
            throw Failure(description: "cannot give \(directory.path) to uid \(account.uid): errno \(errno)")
        }
        let server = PostgresServer(port: try LoopbackPort.free(), directory: directory, binaries: binaries, account: account)
        try server.run(binary: "initdb", ["-D", server.dataPath, "-U", superuser, "--auth=trust", "-E", "UTF8", "--no-locale",
                                          "--no-sync"], asServerUser: true)
        try server.startAgain()
        return server
    }

    /// Starts the (stopped) server again on the same port and data: how tests simulate a restart.
    public func startAgain() throws {
        let logURL = directory.appendingPathComponent("postgres.log")
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()
        let process = Process()
        let arguments = ["-D", dataPath, "-k", directory.path, "-h", "127.0.0.1", "-p", String(port),
                         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                         "-c", "max_connections=300", "-c", "shared_buffers=16MB"]
        configure(process, binary: "postgres", arguments)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        lock.withLock { self.process = process }
        try watch(process)
        try waitUntilReady(process)
    }

    /// The running postmaster's PID, nil while the server is stopped.
    public var pid: Int32? { lock.withLock { process?.processIdentifier } }

    /// Stops the server by PID (SIGINT: fast shutdown, open sessions are ended) and waits for it.
    public func stop() throws {
        guard let process = lock.withLock({ () -> Process? in
            let running = self.process
            self.process = nil
            return running
        }) else { return }
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
        process.waitUntilExit()
    }

    /// Stops the server and removes its directory.
    public func destroy() throws {
        try stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A `postgres://` URL for `database` over TCP (no password: trust authentication).
    public func url(database: String) -> String {
        "postgres://\(Self.superuser)@127.0.0.1:\(port)/\(database)"
    }

    /// Creates a database with a unique name starting with `prefix` and returns the name.
    public func createDatabase(prefix: String) throws -> String {
        let safe = prefix.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "_" }
        let name = "\(safe.prefix(30))_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try psql("CREATE DATABASE \(name)", database: "postgres")
        return name
    }

    /// Runs SQL with `psql` (as the superuser) and returns its unaligned output.
    @discardableResult
    public func psql(_ sql: String, database: String) throws -> String {
        let process = Process()
        configure(process, binary: "psql", psqlArguments(database) + ["-c", sql])
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "psql failed (\(process.terminationStatus)): \(String(decoding: errorText, as: UTF8.self))")
        }
        return String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An interactive `psql` session: another client holding locks while the code under test runs.
    public func session(database: String) throws -> PsqlSession {
        let process = Process()
        configure(process, binary: "psql", psqlArguments(database))
        return try PsqlSession(process)
    }

    // MARK: - Private

    private var dataPath: String { directory.appendingPathComponent("data").path }

    private func psqlArguments(_ database: String) -> [String] {
        ["-h", "127.0.0.1", "-p", String(port), "-U", Self.superuser, "-d", database, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]
    }

    /// Sets `process` up to run one of the server's binaries; the server ones as the unprivileged user.
    private func configure(_ process: Process, binary: String, _ arguments: [String], asServerUser: Bool = false) {
        let path = binaries.appendingPathComponent(binary).path
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        environment["PGCONNECT_TIMEOUT"] = "10"
        process.environment = environment
        if let account, asServerUser || binary == "postgres" {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(account.uid)", "--regid=\(account.gid)", "--clear-groups", "--", path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
        }
        process.currentDirectoryURL = directory
    }

    private func run(binary: String, _ arguments: [String], asServerUser: Bool) throws {
        let process = Process()
        configure(process, binary: binary, arguments, asServerUser: asServerUser)
        let logURL = directory.appendingPathComponent("\(binary).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try? log.close()
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
            throw Failure(description: "\(binary) exited \(process.terminationStatus): \(text)")
        }
    }

    /// Arms `PeerWatchdog` for the postmaster: should the test process die without `stop()`, it
    /// gets SIGINT (fast shutdown, as `stop()` sends) and the directory goes, as `destroy()` does.
    /// Without a watchdog the server is stopped again: one nobody would stop must not run.
    private func watch(_ process: Process) throws {
        do {
            try PeerWatchdog.watch(pid: process.processIdentifier, signal: SIGINT, removing: [directory])
        } catch {
            try stop()
            throw Failure(description: "could not start the watchdog for postgres: \(error)")
        }
    }

    private func waitUntilReady(_ process: Process) throws {
        let ready = binaries.appendingPathComponent("pg_isready").path
        for _ in 0..<600 {
            guard process.isRunning else {
                let text = (try? String(contentsOf: directory.appendingPathComponent("postgres.log"), encoding: .utf8)) ?? ""
                throw Failure(description: "postgres exited \(process.terminationStatus) while starting: \(text.suffix(2000))")
            }
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: ready)
            probe.arguments = ["-q", "-h", "127.0.0.1", "-p", String(port), "-U", Self.superuser, "-d", "postgres"]
            probe.standardOutput = FileHandle.nullDevice
            probe.standardError = FileHandle.nullDevice
            try probe.run()
            probe.waitUntilExit()
            if probe.terminationStatus == 0 { return }
            usleep(100_000)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        throw Failure(description: "postgres did not accept connections on 127.0.0.1:\(port) within 60 s")
    }

    /// When running as root, the account the server runs as: `postgres` if it exists, else `nobody`.
    private static func unprivilegedAccount() throws -> (uid: uid_t, gid: gid_t)? {
        guard geteuid() == 0 else { return nil }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw Failure(description: "running as root, PostgreSQL must be started as another user, and /usr/bin/setpriv "
                          + "(util-linux) is missing: install util-linux or run the tests as a normal user")
        }
        for name in ["postgres", "nobody"] {
            if let entry = getpwnam(name) { return (entry.pointee.pw_uid, entry.pointee.pw_gid) }
        }
        throw Failure(description: "running as root, and neither a postgres nor a nobody account exists to run PostgreSQL as")
    }
}

/// An interactive `psql` whose statements run while the test does something else.
public final class PsqlSession: @unchecked Sendable {
    // @unchecked: used by one test at a time.
    private let process: Process
    private let input = Pipe()
    private let output = Pipe()
    private var printed = Data()

    fileprivate init(_ process: Process) throws {
        self.process = process
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Sends SQL and waits until the session has printed `marker` (e.g. from `SELECT 'locked';`).
    public func send(_ sql: String, until marker: String) throws {
        input.fileHandleForWriting.write(Data((sql + "\n").utf8))
        while !String(decoding: printed, as: UTF8.self).contains(marker) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else {
                throw PostgresServer.Failure(description: "psql exited before printing \(marker): \(String(decoding: printed, as: UTF8.self))")
            }
            printed.append(chunk)
        }
    }

    /// Sends the last SQL (e.g. `COMMIT;`), ends the session and waits for psql to exit.
    public func finish(_ sql: String) throws {
        input.fileHandleForWriting.write(Data((sql + "\n\\q\n").utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// The PostgreSQL server shared by every test of one test process.
public enum PostgresPeer {
    private static let shared = SharedPeer<PostgresServer>(start: { try PostgresServer.start() }, stopChecked: { try $0.destroy() })

    /// The shared server, started on first use and destroyed when the test process exits.
    public static func server() async throws -> PostgresServer {
        try await shared.get()
    }
}
