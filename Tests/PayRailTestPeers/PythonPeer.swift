import Foundation

/// Runs the Python peers installed by `scripts/test` (a pinned venv under `.build/peers`).
///
/// A missing peer is a failure with a message, never a silent skip. Every peer runs under
/// `PeerNetworkGuard`: one that tries to reach anything but loopback fails the run, listing where.
public enum PythonPeer {
    /// The package root, found from this file's location.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Why a peer could not be run.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong and how to fix it.
        public var description: String

        /// Creates a failure saying what went wrong and how to fix it.
        public init(description: String) { self.description = description }
    }

    /// The venv's interpreter: `PAYRAIL_PEERS_PYTHON`, else `.build/peers/venv/bin/python`.
    public static func interpreter() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["PAYRAIL_PEERS_PYTHON"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let venv = packageRoot.appendingPathComponent(".build/peers/venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: venv.path) else {
            throw Failure(description: "the Python test peers are not installed (\(venv.path) missing): run scripts/test, which installs them")
        }
        return venv
    }

    /// Runs `source` (a Python program given as text) like `run(_:_:input:)`; `name` is used in messages.
    public static func run(source: String, name: String, _ arguments: [String], input: Data = Data()) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-peer-source-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent(name)
        try Data(source.utf8).write(to: script)
        return try run(script, arguments, input: input)
    }

    /// Runs `script` with `arguments`, feeding `input` on stdin; returns stdout, or throws with stderr
    /// when the exit status is not 0, and throws when the script tried to reach beyond loopback
    /// (whatever its exit status: a peer may swallow the refusal).
    public static func run(_ script: URL, _ arguments: [String], input: Data = Data()) throws -> String {
        let process = Process()
        process.executableURL = try interpreter()
        process.arguments = [script.path] + arguments
        let network = try PeerNetworkGuard.prepare()
        defer { network.remove() }
        process.environment = network.environment(ProcessInfo.processInfo.environment)
        // Files rather than pipes: a chatty peer can never block on a full pipe.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-peer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inputURL = scratch.appendingPathComponent("stdin"), outputURL = scratch.appendingPathComponent("stdout")
        let errorURL = scratch.appendingPathComponent("stderr")
        try input.write(to: inputURL)
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.standardInput = try FileHandle(forReadingFrom: inputURL)
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        try process.run()
        process.waitUntilExit()
        let output = try Data(contentsOf: outputURL)
        try network.check(peer: script.lastPathComponent)
        guard process.terminationStatus == 0 else {
            let errorText = (try? Data(contentsOf: errorURL)) ?? Data()
            throw Failure(description: "\(script.lastPathComponent) exited \(process.terminationStatus): \(String(decoding: errorText, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }
}
