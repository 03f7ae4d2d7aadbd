import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MCP 2025-11-25 basic/transports, "stdio": one JSON-RPC message per line on stdin/stdout, UTF-8,
// no embedded newlines; nothing but messages on stdout (logs go to stderr).

/// Newline-delimited JSON-RPC over a pair of file descriptors: reading on a thread of its own (a
/// blocking `read` must not hold a task), writing in order on a serial queue.
final class DescriptorChannel: Sendable {
    private let input: Int32
    private let output: Int32
    private let limit: Int
    private let writes = DispatchQueue(label: "PayRailMCP.stdio.write")
    private let state = Locked((started: false, writable: true))

    init(input: Int32, output: Int32, limit: Int) {
        self.input = input
        self.output = output
        self.limit = limit
    }

    /// Starts the reader thread; `onEnd` is told why reading stopped (after the last message).
    func start(_ pump: InboundPump, onEnd: @escaping @Sendable (String) -> MCPTransportError) {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let input = self.input, limit = self.limit
        let thread = Thread {
            var framer = LineFramer(limit: limit)
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            var reason = "end of input"
            while true {
                let count = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    if count < 0 { reason = "read failed (errno \(errno))" }
                    break
                }
                for item in framer.feed(chunk[0..<count]) { pump.yieldWaiting(LineFramer.inbound(item, limit: limit)) }
            }
            pump.yieldWaiting(.closed(onEnd(reason)))
        }
        thread.name = "PayRailMCP.stdio.read"
        thread.start()
    }

    /// Writes one message and a newline.
    func send(_ message: JSONRPCMessage) async throws(MCPTransportError) {
        var line = JSONRPCCodec.encode(message)
        line.append(UInt8(ascii: "\n"))
        let bytes = line
        let output = self.output, state = self.state
        let failure: MCPTransportError? = await withCheckedContinuation { continuation in
            writes.async {
                guard state.withLock({ $0.writable }) else {
                    continuation.resume(returning: MCPTransportError(reason: "the output is closed", mayHaveBeenDelivered: false))
                    return
                }
                var offset = 0
                while offset < bytes.count {
                    let written = bytes[offset...].withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else {
                        state.withLock { $0.writable = false }
                        continuation.resume(returning: MCPTransportError(
                            reason: "write failed (errno \(errno))", mayHaveBeenDelivered: offset > 0))
                        return
                    }
                    offset += written
                }
                continuation.resume(returning: nil)
            }
        }
        if let failure { throw failure }
    }

    /// Stops writing (later sends fail as undelivered).
    func stopWriting() {
        state.withLock { $0.writable = false }
    }
}

/// Newline-delimited messages on two file descriptors: the server side of stdio (this process's
/// standard input and output, the defaults), or either side of a pipe pair.
///
/// Nothing else may write to standard output while it runs: use standard error for logs.
public final class MCPStdioTransport: MCPMessageTransport {
    private let channel: DescriptorChannel

    /// Reads `input` and writes `output` (standard input and output by default), refusing messages
    /// over `messageLimit` bytes.
    public init(input: Int32 = 0, output: Int32 = 1, messageLimit: Int = JSONRPCCodec.defaultMessageLimit) {
        channel = DescriptorChannel(input: input, output: output, limit: messageLimit)
    }

    /// Starts reading standard input.
    public func start(_ receive: @escaping @Sendable (MCPInbound) async -> Void) async throws(MCPTransportError) {
        channel.start(InboundPump(receive)) { reason in
            MCPTransportError(reason: "the peer closed its end (\(reason))", mayHaveBeenDelivered: true)
        }
    }

    /// Writes one message line to standard output.
    public func send(_ message: JSONRPCMessage) async throws(MCPTransportError) {
        try await channel.send(message)
    }

    /// Stops writing; the reader ends when the client closes standard input.
    public func close() async {
        channel.stopWriting()
    }
}

/// The client side of stdio: starts an MCP server as a child process and talks to it over its
/// standard input and output (MCP 2025-11-25 basic/transports, "stdio"). The child's standard error
/// goes where `standardError` says (this process's own by default). `close()` closes the child's input,
/// then ends it by its process id (SIGTERM, then SIGKILL) if it has not exited.
public final class MCPChildProcessTransport: MCPMessageTransport {
    private let process: Process
    private let toChild = Pipe()
    private let fromChild = Pipe()
    private let channel: DescriptorChannel
    private let exitStatus = Locked<Int32?>(nil)

    /// Prepares (does not start) `argv[0]` with the rest of `argv` as arguments.
    ///
    /// - Parameters:
    ///   - argv: the program (a path, or a name looked up in `environment`'s `PATH`) and its arguments.
    ///   - environment: the child's whole environment (nil: this process's environment). Pass only what
    ///     the server needs: it is another program.
    ///   - standardError: where the child's standard error goes (nil: this process's).
    public init(argv: [String], environment: [String: String]? = nil, currentDirectory: URL? = nil,
                standardError: FileHandle? = nil, messageLimit: Int = JSONRPCCodec.defaultMessageLimit) throws(MCPTransportError) {
        guard let program = argv.first, !program.isEmpty else {
            throw MCPTransportError(reason: "no program to start", mayHaveBeenDelivered: false)
        }
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard let executable = Self.resolve(program, path: environment["PATH"]) else {
            throw MCPTransportError(reason: "\(program): no such executable", mayHaveBeenDelivered: false)
        }
        process = Process()
        process.executableURL = executable
        process.arguments = Array(argv.dropFirst())
        process.environment = environment
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        process.standardInput = toChild
        process.standardOutput = fromChild
        if let standardError { process.standardError = standardError }
        channel = DescriptorChannel(
            input: fromChild.fileHandleForReading.fileDescriptor, output: toChild.fileHandleForWriting.fileDescriptor, limit: messageLimit)
    }

    /// The child's process id once started (0 before).
    public var processIdentifier: Int32 { process.processIdentifier }

    /// Starts the child and reads its standard output.
    public func start(_ receive: @escaping @Sendable (MCPInbound) async -> Void) async throws(MCPTransportError) {
        let exitStatus = self.exitStatus
        process.terminationHandler = { process in exitStatus.withLock { $0 = process.terminationStatus } }
        do {
            try process.run()
        } catch {
            throw MCPTransportError(reason: "could not start the server: \(error)", mayHaveBeenDelivered: false)
        }
        // Our copies of the child's ends: the child's exit must end our read with EOF.
        try? toChild.fileHandleForReading.close()
        try? fromChild.fileHandleForWriting.close()
        let process = self.process
        channel.start(InboundPump(receive)) { reason in
            // The child closed its output; give it a moment to be reaped so the status can be told.
            for _ in 0..<20 where process.isRunning { usleep(10_000) }
            let status = exitStatus.withLock { $0 }.map { "exited with status \($0)" } ?? "closed its output"
            return MCPTransportError(reason: "the server process \(status) (\(reason))", mayHaveBeenDelivered: true)
        }
    }

    /// Writes one message line to the child's standard input.
    public func send(_ message: JSONRPCMessage) async throws(MCPTransportError) {
        try await channel.send(message)
    }

    /// Closes the child's input, waits up to `grace` for it to exit, then signals it by pid.
    public func close() async {
        channel.stopWriting()
        try? toChild.fileHandleForWriting.close()
        guard process.processIdentifier > 0 else { return }
        let pid = process.processIdentifier
        for signal in [SIGTERM, SIGKILL] {
            for _ in 0..<100 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            guard process.isRunning else { return }
            kill(pid, signal)
        }
        for _ in 0..<100 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    static func resolve(_ program: String, path: String?) -> URL? {
        if program.contains("/") { return URL(fileURLWithPath: program) }
        for directory in (path ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(program)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}
