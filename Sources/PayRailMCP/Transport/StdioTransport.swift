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
///
/// The channel reads and writes duplicates of the descriptors it is given, and closes them itself:
/// the reader thread its input when it stops, the writer its output after the last write. A
/// descriptor number is reused by the next pipe or socket the process opens as soon as its owner
/// closes it, so a thread still holding the bare number would read another connection's messages
/// (a reopened MCP upstream's answers, seen as a hang) or write this one's into it.
final class DescriptorChannel: Sendable {
    private let input: Int32
    private let output: Int32
    private let limit: Int
    private let writer = WriterThread()
    private let state = Locked((started: false, writable: true, outputClosed: false))

    init(input: Int32, output: Int32, limit: Int) {
        // Close-on-exec: a child process started later must not hold our ends open (no end of input then).
        self.input = fcntl(input, F_DUPFD_CLOEXEC, 0)
        self.output = fcntl(output, F_DUPFD_CLOEXEC, 0)
        self.limit = limit
    }

    deinit {
        stopWriting()
        // Never started: the reader thread that would close the input does not exist.
        if !state.withLock({ $0.started }), input >= 0 { close(input) }
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
            if input >= 0 { close(input) }
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
            let queued = writer.enqueue {
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
            if !queued {
                continuation.resume(returning: MCPTransportError(reason: "the output is closed", mayHaveBeenDelivered: false))
            }
        }
        if let failure { throw failure }
    }

    /// Stops writing (later sends fail as undelivered); the output is closed after the writes queued before.
    func stopWriting() {
        let closeOutput = state.withLock { state -> Bool in
            defer { state.writable = false; state.outputClosed = true }
            return !state.outputClosed
        }
        if closeOutput, output >= 0 {
            let output = self.output
            if !writer.enqueue({ close(output) }) { close(output) }
        }
        writer.finish()
    }
}

/// Newline-delimited messages on two file descriptors: the server side of stdio (this process's
/// standard input and output, the defaults), or either side of a pipe pair.
///
/// Nothing else may write to standard output while it runs: use standard error for logs.
public final class MCPStdioTransport: MCPMessageTransport {
    private let channel: DescriptorChannel

    /// Reads `input` and writes `output` (standard input and output by default), refusing messages
    /// over `messageLimit` bytes. The transport works on duplicates of the two descriptors and closes
    /// them itself (its reader when the input ends, its writer on `close()`), so the caller may
    /// close its own at any time without the transport ever touching another file given the same number.
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
    ///   - environment: the child's whole environment (nil: this process's). Pass
    ///     ``defaultEnvironment()`` to give it only the few variables the official SDKs pass, so this
    ///     process's secrets do not reach another program.
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

    /// The variables the official Python SDK's stdio client passes to the server it starts (`HOME`,
    /// `LOGNAME`, `PATH`, `SHELL`, `TERM`, `USER`).
    public static let inheritedVariables = ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"]

    /// This process's values of ``inheritedVariables`` (those that are set).
    public static func defaultEnvironment() -> [String: String] {
        let mine = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for name in inheritedVariables { environment[name] = mine[name] }
        return environment
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

/// Runs writes in order on a thread of its own with SIGPIPE blocked: a write to a pipe whose reader
/// died (a crashed child, a host that went away) must fail with EPIPE, not end this process.
final class WriterThread: Sendable {
    private let jobs = Locked<(queue: [@Sendable () -> Void], started: Bool, finished: Bool)>(([], false, false))
    private let ready = DispatchSemaphore(value: 0)

    /// Queues `job`; false (and `job` is dropped) once the thread was told to finish.
    func enqueue(_ job: @escaping @Sendable () -> Void) -> Bool {
        let (accepted, start) = jobs.withLock { state -> (Bool, Bool) in
            guard !state.finished else { return (false, false) }
            state.queue.append(job)
            defer { state.started = true }
            return (true, !state.started)
        }
        guard accepted else { return false }
        if start { launch() }
        ready.signal()
        return true
    }

    /// Lets the thread end once the jobs already queued are done.
    func finish() {
        jobs.withLock { $0.finished = true }
        ready.signal()
    }

    deinit { finish() }

    private func launch() {
        let jobs = self.jobs, ready = self.ready
        let thread = Thread {
            var pipe = sigset_t()
            sigemptyset(&pipe)
            sigaddset(&pipe, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipe, nil)
            while true {
                ready.wait()
                let (job, done) = jobs.withLock { state -> ((@Sendable () -> Void)?, Bool) in
                    if !state.queue.isEmpty { return (state.queue.removeFirst(), false) }
                    return (nil, state.finished)
                }
                job?()
                if done { break }
            }
        }
        thread.name = "PayRailMCP.stdio.write"
        thread.start()
    }
}
