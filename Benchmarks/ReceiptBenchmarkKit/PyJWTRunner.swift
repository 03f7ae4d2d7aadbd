import Foundation
import PayRailCrypto

/// PyJWT over the same token set in a Python process of its own, kept running for the whole
/// algorithm and asked for one repetition at a time: the benchmark interleaves those with its
/// in-process modes, so PyJWT's figures and ours come from neighbouring seconds of the machine.
/// The figure is the one PyJWT's loop reports of itself (no process start-up, no pipe time).
final class PyJWTWorker {
    private let process: Process
    private let requests: FileHandle
    private let replies: FileHandle
    private let directory: URL
    private let errorURL: URL
    private var pending = Data()

    /// Writes the key set and tokens to a temporary folder, starts the loop and waits until it
    /// has loaded them.
    init(python: URL, script: URL, set: ReceiptTokenSet, seconds: Double) throws {
        // A loop that died would make the next request a write to a closed pipe: without this the
        // signal ends the whole benchmark (or test run) before the error can say what happened.
        signal(SIGPIPE, SIG_IGN)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("receipt-bench-\(UUID().uuidString)")
        let jwksURL = directory.appendingPathComponent("jwks.json")
        let tokensURL = directory.appendingPathComponent("tokens.json")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try JSONEncoder().encode(set.jwks).write(to: jwksURL)
            let tokens = set.tokens.map { ["token": $0.compact, "resource": $0.resource] }
            try JSONSerialization.data(withJSONObject: tokens).write(to: tokensURL)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        self.directory = directory
        errorURL = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)

        process = Process()
        process.executableURL = python
        process.arguments = [script.path, jwksURL.path, tokensURL.path, String(seconds)]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorURL)
        requests = input.fileHandleForWriting
        replies = output.fileHandleForReading
        try process.run()
        struct Ready: Decodable { var ready: Bool }
        guard try decode(Ready.self, from: nextLine()).ready else {
            throw BenchmarkError("the PyJWT loop did not start: \(errorText())")
        }
    }

    deinit {
        // End of input ends the loop; one that does not end within five seconds is stopped.
        try? requests.close()
        var waited = 0
        while process.isRunning, waited < 50 {
            usleep(100_000)
            waited += 1
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// One timed repetition, as PyJWT's loop counted and timed it.
    func repetition() throws -> (accepted: Int, refused: Int, seconds: Double) {
        do {
            try requests.write(contentsOf: Data("run\n".utf8))
        } catch {
            throw BenchmarkError("the PyJWT loop stopped taking requests: \(errorText())")
        }
        struct Reply: Decodable { var count: Int; var elapsed: Double; var accepted: Int; var refused: Int }
        let reply = try decode(Reply.self, from: nextLine())
        guard reply.count == reply.accepted + reply.refused, reply.elapsed > 0 else {
            throw BenchmarkError("the PyJWT loop reported \(reply.count) verifications as \(reply.accepted) + \(reply.refused) in \(reply.elapsed) s")
        }
        return (reply.accepted, reply.refused, reply.elapsed)
    }

    /// The next line the loop printed; an error with its standard error if it ended instead.
    private func nextLine() throws -> Data {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[pending.startIndex..<newline]
                pending = Data(pending[(newline + 1)...])
                return Data(line)
            }
            let more = replies.availableData
            guard !more.isEmpty else {
                process.waitUntilExit()
                throw BenchmarkError("the PyJWT loop ended (exit \(process.terminationStatus)): \(errorText())")
            }
            pending.append(more)
        }
    }

    /// A line of the loop's output as `type`; an error quoting the line and the loop's standard error otherwise.
    private func decode<T: Decodable>(_ type: T.Type, from line: Data) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: line)
        } catch {
            throw BenchmarkError("the PyJWT loop answered \(String(decoding: line.prefix(200), as: UTF8.self)) (\(error)): \(errorText())")
        }
    }

    private func errorText() -> String {
        String(decoding: ((try? Data(contentsOf: errorURL)) ?? Data()).suffix(500), as: UTF8.self)
    }
}
